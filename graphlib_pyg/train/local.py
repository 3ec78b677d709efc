"""The layer-local training engine behind the forward-learning and auxiliary-network trainers.

No error crosses a layer boundary: every layer has its own optimiser and its own objective, and
sees its input L2-normalised per row and detached. What differs between methods is the
*objective* (:class:`LocalObjective`): which graphs and inputs the layers see (``streams``: the
positive graph, the negative graphs, one graph per candidate label, ...), each layer's loss, an
optional trainable head per layer (an auxiliary network), and how a layer's output turns into a
prediction. The engine runs one of two schedules:

- ``greedy``: layer ``l`` trains alone until it early-stops, then is frozen; layers ``> l`` see
  its output as a constant. With GCN or SAGE layers the propagation of a frozen input is computed
  once per layer (``Â·X``) and only ``(Â·X)·W`` is recomputed per step (the cached fast path).
- ``joint``: every step runs all layers, each on its predecessor's detached current output, and
  updates all of them (local learning in the style of AugLocal/MAN). Nothing can be cached.

A prediction combines the layers' scores (``objective.combine``; by default their running sum, as
ForwardGNN's ensemble over layers); early stopping watches its validation metric.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from graphlib_pyg.data.tasks import LinkTask, NodeTask
from graphlib_pyg.train.base import Curve, RunResult, Selector
from graphlib_pyg.train.local_layers import (  # noqa: F401  (the engine's public names)
    LOCAL_CONVS,
    ConvFactory,
    LocalConv,
    LocalGraph,
    Stream,
    _check_kind,
    _dropout,
    l2_rows,
)
from graphlib_pyg.train.local_objective import LocalObjective, NodeObjective  # noqa: F401

SCHEDULES = ("greedy", "joint")
#: Options shared by the layer-local trainers (ForwardGNN's experiment scripts' values).
LOCAL_DEFAULTS: dict = {
    "hidden": 128,
    "num_layers": 4,
    "lr": 0.001,
    "weight_decay": 5e-4,
    "epochs": 1000,  # per layer for the greedy schedule
    "eval_every": 2,
    "patience": 100,  # evaluations without a strictly better validation metric
    "dropout": 0.0,  # on the cached aggregation and the root input (the reference has none)
}
#: GAT's extra option (ForwardGNN: ``GATConv(in, 128 // 4, heads=4)``).
GAT_DEFAULTS: dict = {"heads": 4}


@dataclass
class LocalResult:
    val: float
    test: float
    steps: int  # optimiser steps, summed over layers for the greedy schedule
    step_time_s: float  # median seconds per step (one layer for greedy, all layers for joint)
    params: int
    curve: dict = field(default_factory=dict)
    layer_step_s: list[float] = field(default_factory=list)  # greedy: median step per layer

    def run_result(self) -> RunResult:
        """The trainer contract's result: steps are optimiser steps (summed over layers for the
        greedy schedule); the curve is the metric of the prediction of layers ``1..l``."""
        c = self.curve
        curve = Curve("layer", list(c["layer"]), list(c["val"]), list(c["test"]))
        return RunResult(
            self.val, self.test, self.steps, "step", self.step_time_s, self.params, curve
        )


class LocalEngine:
    """Trains ``num_layers`` local layers on an objective.

    Args:
        kind: layer kind (:data:`LOCAL_CONVS`) or a ``make_conv(in, out)`` factory.
        num_layers, hidden: depth and width.
        schedule: ``"greedy"`` or ``"joint"``.
        lr, weight_decay: per-layer Adam.
        epochs: steps per layer (greedy) or in all (joint).
        eval_every, patience: validation every ``eval_every`` steps; stop after ``patience``
            evaluations without a strictly better metric (0 = never) and keep the best weights.
        dropout: on every float input of a layer's trainable part.
        heads: GAT heads.
        cache: use the cached path for frozen inputs (greedy GCN/SAGE); False recomputes the
            propagation at every step (same numbers, for measuring the cache).
        progress: optional ``progress(step, loss, val)`` callback.
    """

    def __init__(
        self,
        kind: str | ConvFactory,
        num_layers: int,
        hidden: int,
        *,
        schedule: str = "greedy",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 1000,
        eval_every: int = 1,
        patience: int = 100,
        dropout: float = 0.0,
        heads: int = 1,
        cache: bool = True,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        _check_kind(kind)
        if num_layers < 1 or hidden < 1 or epochs < 1 or eval_every < 1:
            raise ValueError("num_layers, hidden, epochs and eval_every must be >= 1")
        self.kind, self.num_layers, self.hidden, self.heads = kind, num_layers, hidden, heads
        self.schedule, self.lr, self.wd = schedule, lr, weight_decay
        self.epochs, self.eval_every, self.patience = epochs, eval_every, patience
        self.dropout, self.progress, self.cache = dropout, progress, cache

    def _layer(self, obj: LocalObjective, index: int, in_dim: int):
        conv = LocalConv(self.kind, in_dim, self.hidden, self.heads)
        head = obj.head(index, self.hidden)
        params = list(conv.parameters()) + (list(head.parameters()) if head else [])
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.wd)
        return conv, head, opt, sum(p.numel() for p in params)

    def fit(self, obj: LocalObjective) -> LocalResult:
        if self.schedule == "greedy":
            return self._greedy(obj)
        return self._joint(obj)

    def _greedy(self, obj: LocalObjective) -> LocalResult:
        h = {k: l2_rows(s.x.float()) for k, s in obj.streams.items()}
        ensemble, curve = None, _Curve(obj)
        params, times, steps, layer_step_s = 0, [], 0, []
        for index in range(self.num_layers):
            layer = _GreedyLayer(self, obj, index, h)
            params += layer.params
            out, score, layer_times = layer.fit(ensemble, steps)
            ensemble = curve.add(ensemble, score)
            times += layer_times
            steps += len(layer_times)
            layer_step_s.append(statistics.median(layer_times))
            h = obj.next_input(index, out)
            del layer, out, score
        result = self._result(curve, steps, times, params)
        result.layer_step_s = layer_step_s
        return result

    def _joint(self, obj: LocalObjective) -> LocalResult:
        train_names, eval_names = obj.train_streams, obj.eval_streams
        names = tuple(dict.fromkeys(train_names + eval_names))
        x0 = {k: l2_rows(s.x.float()) for k, s in obj.streams.items()}
        graphs = {k: obj.streams[k].graph for k in names}
        layers, params, in_dim = [], 0, next(iter(x0.values())).size(1)
        for index in range(self.num_layers):
            conv, head, opt, n_params = self._layer(obj, index, in_dim)
            layers.append((conv, head, opt))
            params += n_params
            in_dim = self.hidden
        modules = [m for conv, head, _ in layers for m in (conv, head) if m is not None]

        def forward(which, training):
            h, outs = {k: x0[k] for k in which}, []
            for index, (conv, _, _) in enumerate(layers):
                out = {
                    k: conv(*_dropout(conv.prepare(h[k], graphs[k]), self.dropout, training))
                    for k in which
                }
                outs.append(out)
                h = obj.next_input(index, out)
            return outs

        def predict():
            with torch.no_grad():
                outs = forward(eval_names, False)
                return [obj.score(i, layers[i][1], o) for i, o in enumerate(outs)]

        stopper, times, steps = EarlyStopping(modules, self.patience), [], 0
        rows = {k: obj.loss_rows(k) for k in train_names}
        for epoch in range(1, self.epochs + 1):
            t0 = time.perf_counter()
            for m in modules:
                m.train()
            outs = forward(train_names, True)
            outs = [{k: v if rows[k] is None else v[rows[k]] for k, v in o.items()} for o in outs]
            losses = [obj.loss(i, layers[i][1], o) for i, o in enumerate(outs)]
            for _, _, opt in layers:
                opt.zero_grad()
            torch.stack(losses).sum().backward()  # inputs are detached: each loss is local
            for _, _, opt in layers:
                opt.step()
            obj.after_step([conv for conv, _, _ in layers], [head for _, head, _ in layers])
            times.append(time.perf_counter() - t0)
            steps += 1
            if epoch % self.eval_every:
                continue
            for m in modules:
                m.eval()
            val = obj.metric(_combine_all(obj, predict()), "val")
            if self.progress:
                self.progress(steps, float(losses[-1].detach()), val)
            if stopper.step(val):
                break
        stopper.restore()
        for m in modules:
            m.eval()
        ensemble, curve = None, _Curve(obj)
        for score in predict():
            ensemble = curve.add(ensemble, score)
        return self._result(curve, steps, times, params)

    def _result(self, curve: _Curve, steps, times, params) -> LocalResult:
        c = curve.curve
        times.sort()
        return LocalResult(c["val"][-1], c["test"][-1], steps, times[len(times) // 2], params, c)


class _Curve:
    """Metrics of the running prediction after each layer."""

    def __init__(self, obj: LocalObjective) -> None:
        self.obj, self.curve = obj, {"layer": [], "val": [], "test": []}

    def add(self, ensemble: Tensor | None, score: Tensor) -> Tensor:
        ensemble = self.obj.combine(ensemble, score)
        self.curve["layer"].append(len(self.curve["layer"]) + 1)
        for part in ("val", "test"):
            self.curve[part].append(self.obj.metric(ensemble, part))
        return ensemble


def _combine_all(obj: LocalObjective, scores: list[Tensor]) -> Tensor:
    ensemble = None
    for score in scores:
        ensemble = obj.combine(ensemble, score)
    return ensemble


def engine_from_config(kind: str, c: dict, schedule: str = "greedy", progress=None) -> LocalEngine:
    """A :class:`LocalEngine` from a trainer config (``num_layers, hidden, lr, weight_decay,
    epochs, eval_every, patience, dropout`` and optionally ``heads``)."""
    return LocalEngine(
        kind,
        c["num_layers"],
        c["hidden"],
        schedule=schedule,
        lr=c["lr"],
        weight_decay=c["weight_decay"],
        epochs=c["epochs"],
        eval_every=c["eval_every"],
        patience=c["patience"],
        dropout=c["dropout"],
        heads=c.get("heads", 1),
        progress=progress,
    )


def gat_defaults(model) -> dict:
    """GAT's extra option (:data:`GAT_DEFAULTS`) where the model is GAT."""
    return dict(GAT_DEFAULTS) if model == "gat" else {}


def trainer_config(
    name: str, task, model: str, defaults: dict, config: dict | None, link: bool = False
) -> tuple[dict, str]:
    """Check a layer-local trainer's model, task and options; returns (config, ``"node"`` or
    ``"link"``). GAT adds :data:`GAT_DEFAULTS`; ``link`` allows link tasks."""
    if model not in LOCAL_CONVS:
        raise ValueError(
            f"trainer {name!r} supports the models {', '.join(LOCAL_CONVS)}, not {model!r}"
        )
    if link and isinstance(task, LinkTask):
        kind = "link"
    elif isinstance(task, NodeTask) and not task.multilabel:
        kind = "node"
    else:
        what = "single-label node or link" if link else "single-label node"
        raise TypeError(f"trainer {name!r} needs a {what} task; {task.name!r} is not one")
    defaults = {**defaults, **gat_defaults(model)}
    unknown = set(config or {}) - set(defaults)
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for trainer {name!r} with model "
            f"{model!r}; valid: {sorted(defaults)}"
        )
    return {**defaults, **(config or {})}, kind


class EarlyStopping:
    """:class:`~graphlib_pyg.train.base.Selector` that keeps a copy of ``modules``' weights at
    every strictly better validation metric; :meth:`step` says to stop after ``patience``
    evaluations without one (0 = never)."""

    def __init__(self, modules: list[nn.Module], patience: int | None) -> None:
        self.modules, self.selector = modules, Selector(patience)
        self.state = [copy.deepcopy(m.state_dict()) for m in modules]

    @property
    def best(self) -> float:
        return self.selector.best_val

    def step(self, val: float) -> bool:
        if self.selector.update(val):
            self.state = [copy.deepcopy(m.state_dict()) for m in self.modules]
        return self.selector.stop

    def restore(self) -> None:
        """Load the best weights back."""
        for m, s in zip(self.modules, self.state, strict=True):
            m.load_state_dict(s)


class _GreedyLayer:
    """One layer of the greedy schedule: trained on frozen inputs ``h``, then frozen itself."""

    def __init__(self, engine: LocalEngine, obj: LocalObjective, index: int, h: dict) -> None:
        self.engine, self.obj, self.index, self.h = engine, obj, index, h
        self.train_names, self.eval_names = obj.train_streams, obj.eval_streams
        self.names = tuple(dict.fromkeys(self.train_names + self.eval_names))
        self.graphs = {k: obj.streams[k].graph for k in self.names}
        in_dim = next(iter(h.values())).size(1)
        self.conv, self.head, self.opt, self.params = engine._layer(obj, index, in_dim)
        self.modules = [m for m in (self.conv, self.head) if m is not None]
        self.cache = engine.cache and self.conv.cacheable
        self.rows = {k: obj.loss_rows(k) for k in self.train_names}
        self.prepared, self.loss_in = {}, {}
        if self.cache:  # the input is frozen while this layer trains
            with torch.no_grad():
                self.prepared = {k: self.conv.prepare(h[k], self.graphs[k]) for k in self.names}
            for k in self.train_names:  # the cached rows the loss reads
                p, r = self.prepared[k], self.rows[k]
                self.loss_in[k] = p if r is None else tuple(t[r] for t in p)

    def run(self, which, training: bool) -> dict[str, Tensor]:
        out, p = {}, self.engine.dropout
        for k in which:
            prep = self.prepared[k] if self.cache else self.conv.prepare(self.h[k], self.graphs[k])
            out[k] = self.conv(*_dropout(prep, p, training))
        return out

    def train_out(self) -> dict[str, Tensor]:
        if self.cache:  # only the rows the loss reads: (Â X)[rows] W
            p = self.engine.dropout
            return {k: self.conv(*_dropout(v, p, True)) for k, v in self.loss_in.items()}
        out = self.run(self.train_names, True)
        return {k: v if self.rows[k] is None else v[self.rows[k]] for k, v in out.items()}

    def fit(self, prev: Tensor | None, steps: int):
        """Train with early stopping; returns (outputs on all streams, score, step times)."""
        e, obj, modules = self.engine, self.obj, self.modules
        stopper, times = EarlyStopping(modules, e.patience), []
        for epoch in range(1, e.epochs + 1):
            t0 = time.perf_counter()
            for m in modules:
                m.train()
            loss = obj.loss(self.index, self.head, self.train_out())
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            times.append(time.perf_counter() - t0)
            if epoch % e.eval_every:
                continue
            for m in modules:
                m.eval()
            with torch.no_grad():
                s = obj.score(self.index, self.head, self.run(self.eval_names, False))
                val = obj.metric(obj.combine(prev, s), "val")
            if e.progress:
                e.progress(steps + epoch, float(loss.detach()), val)
            if stopper.step(val):
                break
        stopper.restore()
        for m in modules:
            m.eval()
        with torch.no_grad():
            out = self.run(self.names, False)
            score = obj.score(self.index, self.head, {k: out[k] for k in self.eval_names})
        return out, score, times
