"""ForwardGNN's SF with top-down signals: Top-To-Input and Top-To-Loss (node classification).

Park et al., "Forward Learning of Graph Neural Networks", ICLR 2024, section on incorporating
top-down signals. Both keep a state per layer (its last L2-normalised output) and update every
layer at every step from the states of the previous step, on SF's graph with class nodes and
with SF's per-layer loss (cross-entropy of node/class-node dot products):

- **Top-To-Input**: layer ``l``'s input is ``[norm(below), norm(above)]``, where ``below`` is the
  state of layer ``l-1`` (the features for the first layer) and ``above`` the state of layer
  ``l+1``; above the top layer is the label matrix (one-hot for training nodes and for each class
  node, uniform 1/C for the other nodes). Training and inference start with a bottom-up pass
  with zero top-down inputs. Updates alternate: even layers from the old states, then odd
  layers with the new states of their neighbours. To predict, 10 recurrent steps follow the
  bottom-up pass and the softmax of every layer at steps 2..9 is summed.
- **Top-To-Loss**: the input is the bottom-up state only; the top-down signal enters the loss,
  whose embedding is the mean of the layer's output and the (detached) states of the layers
  above it. Gradients are clipped to norm 1. To predict, one bottom-up pass, then one pass of
  every layer with the loss's averaging; the layers' softmaxes are summed.

The parts of an input are normalised separately, and GCN/SAGE propagation is linear, so the part
that never changes (the features of the first layer, the label matrix of the top one) is
propagated once per run and only the changing part at every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.data.tasks import LinkTask
from graphlib_pyg.train.base import Curve, RunResult, median
from graphlib_pyg.train.forward import SFLinkObjective, SFObjective
from graphlib_pyg.train.local import (
    LOCAL_DEFAULTS,
    EarlyStopping,
    LocalConv,
    gat_defaults,
    l2_rows,
    trainer_config,
)
from graphlib_pyg.utils import seed_everything

#: Top-down variants; ForwardGNN's scripts use 10 recurrent steps and steps 2..9 for prediction.
TOPDOWN_MODES = ("top2input", "top2loss")
TOPDOWN_OPTIONS: dict = {"test_steps": 10, "first_step": 2, "temperature": 1.0}


def _cat_prep(a: tuple, b: tuple) -> tuple:
    """``prepare([x_a, x_b])`` from ``prepare(x_a)`` and ``prepare(x_b)`` (linear, per column)."""
    pairs = zip(a, b, strict=True)
    return tuple(torch.cat([u, v], 1) if u.is_floating_point() else u for u, v in pairs)


class TopDownSF:
    """One run of Top-To-Input or Top-To-Loss (see the module docstring).

    Args:
        task, split: the node task and the run's split.
        kind: ``"gcn"``, ``"sage"`` or ``"gat"``.
        mode: ``"top2input"`` or ``"top2loss"``.
        cfg: :data:`LOCAL_DEFAULTS` plus :data:`TOPDOWN_OPTIONS` (and ``heads`` for GAT).
        progress: optional ``progress(step, loss, val)`` callback.
    """

    def __init__(self, task, split, kind: str, mode: str, cfg: dict, progress=None):
        self.task, self.split, self.kind, self.mode, self.cfg = task, split, kind, mode, cfg
        self.progress = progress
        L, hid = cfg["num_layers"], cfg["hidden"]
        self.labels = None
        if isinstance(task, LinkTask):  # per-layer BCE of pair dot products; no label matrix
            if split.test_graph is not split.graph:
                raise ValueError(
                    "top-down link training scores val and test on one graph; "
                    "load the task without val_as_input"
                )
            self.obj = obj = SFLinkObjective(task, split, cfg["temperature"])
        else:
            self.obj = obj = SFObjective(task, split, cfg["temperature"])
            n, k = obj.n, obj.k
            labels = torch.full((n + k, k), 1.0 / k)
            labels[split.train] = F.one_hot(task.data.y[split.train], k).float()
            labels[n:] = torch.eye(k)
            self.labels = l2_rows(labels)
        self.graph = obj.streams["graph"].graph
        self.x0 = l2_rows(obj.streams["graph"].x.float())  # (N [+ C], F)
        self.rows = obj.loss_rows("graph")
        top = self.labels.size(1) if self.labels is not None else 0
        top_in = mode == "top2input"
        self.layers, self.opts = [], []
        for i in range(L):
            below = self.x0.size(1) if i == 0 else hid
            above = (top if i == L - 1 else hid) if top_in else 0
            conv = LocalConv(kind, below + above, hid, cfg.get("heads", 1))
            self.layers.append(conv)
            self.opts.append(
                torch.optim.Adam(conv.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
            )
        with torch.no_grad():  # the parts that never change, propagated once
            self.prep_x0 = self.layers[0].prepare(self.x0, self.graph)
            self.prep_labels = None
            if self.labels is not None:
                self.prep_labels = self.layers[-1].prepare(self.labels, self.graph)

    # -- one layer ---------------------------------------------------------------------------
    def _prep(self, i: int, x: Tensor) -> tuple:
        return self.layers[i].prepare(x, self.graph)

    def _parts(self, i: int, states: list | None) -> list[tuple[tuple | None, bool, int]]:
        """Layer ``i``'s input parts in column order: (prepared part, fixed for the run, width).
        ``states=None``: the fixed parts only (the others are None)."""
        hid, L = self.cfg["hidden"], len(self.layers)

        def var(x: Tensor | None) -> tuple[tuple | None, bool, int]:
            return (None if states is None else self._prep(i, x), False, hid)

        if i == 0:
            below = (self.prep_x0, True, self.x0.size(1))
        else:
            below = var(None if states is None else states[i - 1])
        if self.mode == "top2loss":
            return [below]
        if i == L - 1:  # above the top layer: the label matrix (node tasks), nothing (links)
            if self.labels is None:
                return [below]
            return [below, (self.prep_labels, True, self.labels.size(1))]
        if states is not None and states[i + 1] is None:  # bottom-up pass: no top-down input
            return [below, var(torch.zeros(self.x0.size(0), hid))]
        return [below, var(None if states is None else states[i + 1])]

    def _linear(self, i: int, parts: list, fixed: bool) -> Tensor:
        """Pre-activation of the fixed parts (bias included) or of the others (GCN, SAGE: the
        linear maps split by column blocks)."""
        conv, out, col = self.layers[i], 0.0, 0
        lin_r = conv.lin_r.weight if conv.lin_r is not None else None
        for prep, is_fixed, width in parts:
            if fixed == is_fixed:
                out = out + prep[0] @ conv.lin.weight[:, col : col + width].t()
                if lin_r is not None:
                    out = out + prep[1] @ lin_r[:, col : col + width].t()
            col += width
        return out + conv.lin.bias if fixed else out

    def _forward(self, i: int, states: list[Tensor | None], fixed: dict | None = None) -> Tensor:
        """Layer ``i`` on the current states (``None`` above = zero top-down input). ``fixed``
        maps layers to the pre-activation of their fixed parts (from :meth:`_fixed`)."""
        parts = self._parts(i, states)
        if fixed is not None and i in fixed:
            if all(f for _, f, _ in parts):
                return fixed[i].relu()
            return (fixed[i] + self._linear(i, parts, False)).relu()
        prep = parts[0][0]
        for p, _, _ in parts[1:]:
            prep = _cat_prep(prep, p)
        return self.layers[i](*prep)

    def _fixed(self) -> dict[int, Tensor]:
        """Pre-activations of the fixed input parts under the current weights, for the layers
        that have one (GCN and SAGE; GAT attention is not linear in its input)."""
        if not self.layers[0].cacheable:
            return {}
        out = {}
        for i in range(len(self.layers)):
            parts = self._parts(i, None)
            if any(f for _, f, _ in parts):
                out[i] = self._linear(i, parts, True)
        return out

    def _embedding(self, i: int, out: Tensor, states: list[Tensor]) -> Tensor:
        if self.mode == "top2input" or i == len(self.layers) - 1:
            return out
        return torch.stack([out] + [s for s in states[i + 1 :]]).mean(0)

    # -- schedules ---------------------------------------------------------------------------
    def _bottom_up(self, fixed: dict | None = None) -> list[Tensor]:
        states: list[Tensor | None] = [None] * len(self.layers)
        for i in range(len(self.layers)):
            states[i] = l2_rows(self._forward(i, states, fixed))
        return states

    def _order(self) -> list[int]:
        idx = list(range(len(self.layers)))
        return idx[0::2] + idx[1::2] if self.mode == "top2input" else idx

    def step(self, states: list[Tensor]) -> float:
        """Update every layer once; ``states`` is updated in place. Returns the summed loss."""
        obj, total = self.obj, 0.0
        old = list(states)
        for i in self._order():
            src = states if self.mode == "top2input" else old  # alternating vs synchronous
            out = self._forward(i, src)
            emb = self._embedding(i, out, old)
            loss = obj.loss(i, None, {"graph": emb if self.rows is None else emb[self.rows]})
            self.opts[i].zero_grad()
            loss.backward()
            if self.mode == "top2loss":
                torch.nn.utils.clip_grad_norm_(self.layers[i].parameters(), 1.0)
            self.opts[i].step()
            states[i] = l2_rows(out.detach())
            total += float(loss.detach())
        return total

    @torch.no_grad()
    def predict(self) -> Tensor:
        """The summed scores of the layers (over recurrent steps for Top-To-Input): (N, C)
        softmax over the class nodes, or the sigmoid scores of the evaluation pairs."""
        for conv in self.layers:
            conv.eval()
        fixed = self._fixed()  # the weights do not change while predicting
        states = self._bottom_up(fixed)
        probs = 0.0
        if self.mode == "top2loss":
            for i in range(len(self.layers)):
                out = self._forward(i, states, fixed)
                probs = probs + self.obj.score(i, None, {"graph": self._embedding(i, out, states)})
            return probs
        for t in range(self.cfg["test_steps"]):
            for i in self._order():
                states[i] = l2_rows(self._forward(i, states, fixed))
            if t >= self.cfg["first_step"]:
                for i, state in enumerate(states):
                    probs = probs + self.obj.score(i, None, {"graph": state})
        return probs

    def fit(self) -> RunResult:
        c = self.cfg
        with torch.no_grad():
            states = self._bottom_up()
        stopper, times = EarlyStopping(self.layers, c["patience"]), []
        epoch, curve = 0, Curve("step")
        for epoch in range(1, c["epochs"] + 1):
            t0 = time.perf_counter()
            for conv in self.layers:
                conv.train()
            loss = self.step(states)
            times.append(time.perf_counter() - t0)
            if epoch % c["eval_every"]:
                continue
            val = self.obj.metric(self.predict(), "val")
            curve.add(epoch, val, loss=loss)
            if self.progress:
                self.progress(epoch, loss, val)
            if stopper.step(val):
                break
        stopper.restore()
        probs = self.predict()
        params = sum(p.numel() for conv in self.layers for p in conv.parameters())
        val, test = self.obj.metric(probs, "val"), self.obj.metric(probs, "test")
        # every step updates every layer: a step is one optimiser step of all layers
        return RunResult(val, test, epoch, "step", median(times), params, curve)


class TopDownTrainer:
    """``graphlib bench --trainer sf-top2input`` / ``sf-top2loss``: SF with top-down signals.

    Args:
        task: a single-label :class:`NodeTask` or a :class:`LinkTask`.
        model: ``"gcn"``, ``"sage"`` or ``"gat"``.
        config: options (:data:`LOCAL_DEFAULTS`, :data:`TOPDOWN_OPTIONS`; GAT: ``heads``).
        progress: optional ``progress(step, loss, val)`` callback.
    """

    mode = "top2input"
    own_defaults = True  # ForwardGNN's (LOCAL_DEFAULTS, TOPDOWN_OPTIONS)

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return {**LOCAL_DEFAULTS, **TOPDOWN_OPTIONS, **gat_defaults(model)}

    def __init__(
        self,
        task,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> None:
        # their own schedule (every layer, every step, from the states): no "schedule" option
        defaults = {**LOCAL_DEFAULTS, **TOPDOWN_OPTIONS}
        self.cfg, _ = trainer_config(f"sf-{self.mode}", task, model, defaults, config, link=True)
        self.task, self.kind, self.progress = task, model, progress

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        seed_everything(seed)
        split = self.task.split(seed if run is None else run)
        return TopDownSF(self.task, split, self.kind, self.mode, self.cfg, self.progress).fit()


class Top2InputTrainer(TopDownTrainer):
    """SF with top-down signals fed back as layer inputs (ForwardGNN SF-Top2Input)."""

    mode = "top2input"


class Top2LossTrainer(TopDownTrainer):
    """SF with top-down signals in the layers' losses (ForwardGNN SF-Top2Loss)."""

    mode = "top2loss"


TOPDOWN_TRAINERS = {"sf-top2input": Top2InputTrainer, "sf-top2loss": Top2LossTrainer}
