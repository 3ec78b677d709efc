"""The backprop trainer: node tasks (full-batch or sampled mini-batches) and link tasks.

One call of :meth:`BackpropTrainer.run` trains a fresh model on one split with one seed, evaluates
every ``eval_every`` epochs, keeps the epoch with the best validation score (the OGB protocol:
test is reported at that epoch), and stops early after ``patience`` evaluations without a gain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.graph import adjacency
from graphlib_pyg.data.tasks import LinkTask, NodeTask
from graphlib_pyg.nn.dropout import InputDropout
from graphlib_pyg.nn.heads import LinkPredictor
from graphlib_pyg.nn.registry import MODELS, build_link_model, build_model, graph_input
from graphlib_pyg.utils import count_parameters, resolve, seed_everything

#: Options the trainer reads from a run's config, with their defaults.
TRAIN_DEFAULTS: dict = {
    "epochs": 200,
    "lr": 0.01,
    "weight_decay": 5e-4,
    "hidden": 64,
    "num_layers": 2,
    "dropout": 0.5,
    "input_dropout": 0.0,
    "eval_every": 1,
    "patience": None,
    "batch_size": None,
    "fanouts": None,
    "num_neg": 1,
    "pred_layers": 3,
    "eval_batch": 65536,
    "emb_dim": None,
    "init": None,
    "select": "metric",
    "sampler": "neighbor",  # mini-batches: neighbor (sampled, fanouts) | exact (full k-hop)
    "batch_order": "random",  # graph-level batches: random | size (similar sizes, less padding)
    "device": "cpu",  # where the model trains in one process: cpu | cuda | cuda:K | auto
}


def resolve_device(name: str) -> torch.device:
    """The ``device`` option as a ``torch.device``; ``auto`` is CUDA when torch sees a GPU.

    A CUDA device on a machine without one is an error that says so, not a silent CPU run.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device must be cpu, cuda, cuda:K or auto; got {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r}, but torch sees no CUDA device on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda, cuda:K or auto; got {name!r}")
    return device


def _to(g, device: torch.device):
    """Move a graph input (sparse adjacency, edge_index or None) to ``device``."""
    return g if g is None else g.to(device)


class _SeedForward(nn.Module):
    """``forward(seeds) = model.forward_seeds(seeds)``: what DDP wraps for seed-batched models."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, seeds: Tensor) -> Tensor:
        return self.model.forward_seeds(seeds)


class _LinkModel(nn.Module):
    """Encoder + pair predictor (+ learnt embedding) as one module, for one DDP wrapper."""

    def __init__(
        self, encoder: nn.Module, predictor: nn.Module, emb: nn.Embedding | None, x
    ) -> None:
        super().__init__()
        self.encoder, self.predictor, self.emb, self.x = encoder, predictor, emb, x

    def features(self) -> Tensor:
        return self.emb.weight if self.emb is not None else self.x

    def encode(self, g) -> Tensor:
        return self.encoder(self.features(), g)

    def forward(self, g, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encode(g)
        return self.predictor(h[pos[0]], h[pos[1]]), self.predictor(h[neg[0]], h[neg[1]])


def _gather_chunks(
    ids: list[Tensor], compute: Callable[[int], Tensor], empty: Tensor, size: int, info
) -> Tensor:
    """Rows ``compute(k)`` for id chunks ``ids[k]``, chunk ``k`` on rank ``k % world``.

    Every rank gets all rows, placed at their ids in an output of ``size`` rows (rows no chunk
    covers stay zero). The chunks do not depend on the number of ranks, so a distributed run
    computes exactly what one process does. ``empty`` is a zero-row tensor of the rows' shape,
    dtype and device (what a rank without chunks contributes).
    """
    from graphlib_pyg.distributed import all_gather_rows

    rank, world = (0, 1) if info is None else (info.rank, info.world_size)
    mine = range(rank, len(ids), world)
    device = empty.device
    none = torch.zeros(0, dtype=torch.long)
    where = all_gather_rows(torch.cat([none, *(ids[k] for k in mine)]).to(device)).cpu()
    rows = all_gather_rows(torch.cat([empty, *(compute(k) for k in mine)])).cpu()
    out = torch.zeros(size, *rows.shape[1:], dtype=rows.dtype)
    out[where] = rows
    return out


def _chunked_scores(
    score: Callable[[Tensor], Tensor], pairs: Tensor, c: dict, info, device: torch.device
) -> Tensor:
    """``score`` of (2, P) ``pairs`` in chunks of ``eval_batch`` (:func:`_gather_chunks`), in
    pair order on every rank: a distributed evaluation gives the scores of one process."""
    chunks = pairs.split(c["eval_batch"], dim=1)
    positions = torch.arange(pairs.size(1)).split(c["eval_batch"])
    return _gather_chunks(
        list(positions),
        lambda k: score(chunks[k].to(device)).view(-1),
        torch.zeros(0, device=device),
        pairs.size(1),
        info,
    )


@dataclass
class RunResult:
    """What one training run produced."""

    val: float
    test: float
    best_epoch: int
    epoch_time_s: float
    params: int
    curve: dict = field(default_factory=dict)


class BackpropTrainer:
    """Train a named model on a task with backpropagation.

    Args:
        task: the :class:`NodeTask` or :class:`LinkTask`.
        model: model name (see :data:`graphlib_pyg.nn.models.MODELS`).
        config: options (see :data:`TRAIN_DEFAULTS`) plus model options (e.g. ``heads``).
        progress: optional callback ``progress(epoch, loss, val)`` for progress bars.
        augment: ``"none"`` or ``"la"`` (local augmentation, node tasks; its ``la_*`` options
            are read from ``config``, see :data:`graphlib_pyg.augment.la.LA_OPTIONS`).
    """

    def __init__(
        self,
        task: NodeTask | LinkTask,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
        augment: str = "none",
    ) -> None:
        self.task, self.spec = task, resolve(model, MODELS, "model")
        cfg = {**TRAIN_DEFAULTS, **(config or {})}
        self.augment = None
        if augment == "la":
            from graphlib_pyg.augment.la import LA_OPTIONS, LocalAugmentationPlan

            self.augment = LocalAugmentationPlan(
                {k: cfg.pop(k) for k in list(cfg) if k in LA_OPTIONS or k.startswith("la_")}
            )
        elif augment != "none":
            raise KeyError(f"unknown augmentation {augment!r}. Valid: la, none")
        self.model_options = {k: cfg.pop(k) for k in list(cfg) if k in self.spec.options}
        unknown = set(cfg) - set(TRAIN_DEFAULTS)
        if unknown:
            valid = sorted(set(TRAIN_DEFAULTS) | set(self.spec.options))
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for model {model!r}; "
                f"valid: {', '.join(valid)}"
            )
        self.cfg, self.progress = cfg, progress
        self.device = resolve_device(str(cfg["device"]))

    # ------------------------------------------------------------------ shared
    def _build(
        self, in_channels: int, out_channels: int, input_dropout: float | None = None
    ) -> nn.Module:
        c = self.cfg
        if input_dropout is None:
            input_dropout = c["input_dropout"]
        return build_model(
            self.spec.name,
            in_channels,
            c["hidden"],
            out_channels,
            c["num_layers"],
            c["dropout"],
            input_dropout,
            **self.model_options,
        )

    def _init(self, model: nn.Module, x: Tensor, graph_arg) -> None:
        """Re-initialise ``model`` by the ``init`` option (None: the layers' own defaults)."""
        kind = self.cfg["init"]
        if kind is None or kind == "default":
            return
        from graphlib_pyg.nn.init import INITS

        resolve(kind, INITS, "init")(model, x, graph_arg)

    def _graph_arg(self, graph) -> object:
        return graph_input(self.spec, self.task.index(graph), graph.edge_index)

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``)."""
        seed_everything(seed)
        run = seed if run is None else run
        if self.augment is not None and getattr(self.task, "kind", None) != "node":
            raise ValueError(
                f"--augment la works on node tasks; {self.task.name!r} is a "
                f"{getattr(self.task, 'kind', '?')} task"
            )
        if self.augment is not None and self.cfg["init"] not in (None, "default"):
            raise ValueError("init= is not supported together with --augment la")
        if self.device.type != "cpu" and (self.augment is not None or self.spec.link):
            what = "--augment la" if self.augment is not None else f"model {self.spec.name!r}"
            raise ValueError(f"{what} trains on the CPU only; drop device={self.cfg['device']}")
        if getattr(self.task, "kind", None) == "graph" or self.spec.link:
            from graphlib_pyg.distributed import current

            if current() is not None:
                raise ValueError(
                    "distributed runs support node tasks and link tasks with a node encoder, "
                    f"not {self.spec.name!r} on {self.task.name!r}"
                )
        if isinstance(self.task, LinkTask):
            return self._run_ncn(run) if self.spec.link else self._run_link(run)
        if getattr(self.task, "kind", None) == "graph":
            if self.spec.link:
                self._build(1, 1)  # raises: a structural link predictor has no graph-task form
            return self._run_graph(seed, run)
        if self.spec.link:
            self._build(1, 1)  # raises: a structural link predictor has no node-task form
        return self._run_node(run)

    def _loop(
        self, step: Callable[[], float], evaluate: Callable[[], tuple], params: int
    ) -> RunResult:
        """Train, evaluate, keep the best-validation epoch, stop after ``patience`` evaluations.

        ``evaluate()`` returns ``(val, test)`` or ``(val, test, val_loss)``. With a validation
        loss, patience is reset when either the metric or the loss improves (the GAT paper's
        rule); the reported epoch is the one with the best validation metric, or with
        ``select="loss"`` the one with the lowest validation loss (PyG's citation benchmark
        protocol, used by APPNP/DAGNN code), patience then counting evaluations without a lower
        loss.
        """
        c = self.cfg
        if c["select"] not in ("metric", "loss"):
            raise ValueError(f"select must be 'metric' or 'loss', got {c['select']!r}")
        select_loss = c["select"] == "loss"
        best = (-math.inf, -math.inf, 0)
        best_loss = math.inf
        times, bad = [], 0
        curve: dict[str, list] = {"epoch": [], "train_loss": [], "val": [], "test": []}
        for epoch in range(1, c["epochs"] + 1):
            t0 = time.perf_counter()
            loss = step()
            times.append(time.perf_counter() - t0)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at epoch {epoch}")
            if epoch % c["eval_every"] and epoch != c["epochs"]:
                continue
            val, test, *val_loss = evaluate()
            for k, v in zip(curve, (epoch, loss, val, test), strict=True):
                curve[k].append(v)
            if self.progress:
                self.progress(epoch, loss, val)
            if select_loss:  # report the epoch with the lowest validation loss
                if not val_loss:
                    raise ValueError("select='loss' needs a validation loss; this task has none")
                improved = val_loss[0] < best_loss
                if improved:
                    best, best_loss = (val, test, epoch), val_loss[0]
            else:
                improved = val > best[0]
                if improved:
                    best = (val, test, epoch)
                if val_loss and val_loss[0] < best_loss:
                    best_loss, improved = val_loss[0], True
            if improved:
                bad = 0
            else:
                bad += 1
                if c["patience"] and bad >= c["patience"]:
                    break
        times.sort()
        return RunResult(best[0], best[1], best[2], times[len(times) // 2], params, curve)

    # ------------------------------------------------------------------ node
    def _run_node(self, run: int) -> RunResult:
        task, c = self.task, self.cfg
        data, split = task.data, task.split(run)
        if data.x is None:
            raise ValueError(f"node task {task.name!r} has no node features")
        aug = self.augment
        if c["sampler"] not in ("neighbor", "exact"):
            raise ValueError(f"sampler must be 'neighbor' or 'exact', got {c['sampler']!r}")
        from graphlib_pyg.distributed import current

        info = current()
        if info is not None:
            return self._run_node_ddp(run, info)
        if aug is None:
            model = self._build(data.x.size(1), task.num_classes)
        else:
            if task.multilabel and aug.o["la_lam"] > 0:
                raise ValueError(
                    f"{task.name!r} is multi-label; LA's consistency loss compares class "
                    "distributions: pass la_lam=0"
                )
            gen = None
            if aug.o["la_source"] == "generator":
                gen = aug.generator(task, split.train)
            model = aug.wrap(
                lambda width, p: self._build(width, task.num_classes, p),
                self.spec.name,
                {**self.spec.options, **self.model_options, **c},
                data.x.size(1),
                gen,
            )
        y = data.y.float() if task.multilabel else data.y
        loss_fn = F.binary_cross_entropy_with_logits if task.multilabel else F.cross_entropy
        g = self._graph_arg(data)
        self._init(model, data.x, g)
        device = self.device
        model = model.to(device)  # before the optimiser: it must hold the moved parameters
        opt = torch.optim.Adam(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        seeded = c["batch_size"] and hasattr(model, "forward_seeds") and aug is None
        # full-graph inputs on the device; seed-batched models get theirs in _seed_step
        # (prepare), mini-batches are moved batch by batch
        x, g_dev = (data.x, g) if seeded else (data.x.to(device), _to(g, device))
        y_dev, train_dev = y.to(device), split.train.to(device)

        def full_step() -> float:
            model.train()
            opt.zero_grad()
            if aug is None:
                loss = loss_fn(model(x, g_dev)[train_dev], y_dev[train_dev])
            else:
                loss = aug.loss(
                    lambda: model(x, g_dev),
                    lambda out: loss_fn(out[train_dev], y_dev[train_dev]),
                )
            loss.backward()
            opt.step()
            return float(loss.detach())

        step = full_step
        if (
            c["batch_size"]
            and isinstance(model, InputDropout)
            and hasattr(model.model, "forward_seeds")
        ):
            raise ValueError(
                f"{self.spec.name} with batch_size trains on seed batches from features it "
                "precomputes once, so input_dropout cannot apply; use dropout instead (or drop "
                "batch_size to train full-graph with input dropout)"
            )
        if seeded:  # LargeGT-style: the model samples around each seed itself
            step = self._seed_step(model, opt, loss_fn, y, split.train, g)
        elif c["batch_size"]:
            step = self._minibatch_step(model, opt, loss_fn, y, split.train)

        exact_eval = c["batch_size"] and c["sampler"] == "exact" and aug is None
        nodes = torch.unique(torch.cat([split.val, split.test]))

        @torch.no_grad()
        def evaluate() -> tuple[float, float, float]:
            model.eval()
            # sampler=exact also evaluates in exact mini-batches (what a graph too large for
            # one forward pass needs; equal to the full-graph outputs for message passing)
            if seeded:
                out = self._seed_outputs(model, nodes)
            elif exact_eval:
                out = self._chunked_outputs(model, nodes)
            else:
                out = model(x, g_dev).cpu()
            val_loss = float(loss_fn(out[split.val], y[split.val]))
            return task.evaluate(out, split.val), task.evaluate(out, split.test), val_loss

        return self._loop(step, evaluate, count_parameters(model))

    def _batches(self, train: Tensor, info=None):
        """``batches(epoch)``: the epoch's training mini-batches ``(x, graph, seeds)``.

        ``sampler="neighbor"`` samples ``fanouts`` neighbours per hop and normalises the
        adjacency on the sampled subgraph (PyG's ``NeighborLoader``); ``"exact"`` takes every
        neighbour within ``num_layers`` hops with the full graph's normalisation
        (:func:`~graphlib_pyg.data.loaders.exact_batch`), so each seed's output equals the
        full-graph one. In a distributed run each rank gets its shard of the seeds
        (:func:`~graphlib_pyg.distributed.shard`).
        """
        from graphlib_pyg.data.loaders import NodeLoader, exact_batch
        from graphlib_pyg.distributed import shard

        task, c = self.task, self.cfg
        seed = int(torch.initial_seed()) % 2**31
        index, data, device = task.index(), task.data, self._device(info)
        fanouts = c["fanouts"] or [10] * c["num_layers"]
        loader = NodeLoader(
            data,
            index,
            train,
            fanouts,
            c["batch_size"],
            shuffle=True,
            seed=seed + (info.rank if info is not None else 0),
        )
        table = torch.full((index.num_nodes,), -1, dtype=torch.long)

        def graph_of(batch) -> object:
            if self.spec.adj in (None, "edge_index"):
                return batch.edge_index if self.spec.adj else None
            return adjacency(batch.edge_index, batch.num_nodes, self.spec.adj)

        def batches(epoch: int):
            if info is None and c["sampler"] == "neighbor":  # the loader's own shuffle
                for batch in loader:
                    g = _to(graph_of(batch), device)
                    yield batch.x.to(device), g, batch.n_id[: batch.batch_size]
                return
            order = shard(torch.arange(train.numel()), info, epoch, seed)
            for chunk in order.split(c["batch_size"]):
                if c["sampler"] == "exact":
                    n_id, g = exact_batch(index, train[chunk], self._hops(), self.spec.adj, table)
                    yield data.x[n_id].to(device), _to(g, device), train[chunk]
                else:
                    batch = loader.sample(chunk)
                    seeds = batch.n_id[: batch.batch_size]
                    yield batch.x.to(device), _to(graph_of(batch), device), seeds

        return batches

    def _seed_step(self, model, opt, loss_fn, y: Tensor, train: Tensor, g, info=None, run=None):
        """Mini-batches of training seeds for models with ``prepare``/``forward_seeds``.

        ``run(seeds)`` computes the outputs (default ``model.forward_seeds``; in a distributed
        run the DDP wrapper); each rank takes its :func:`~graphlib_pyg.distributed.shard`.
        """
        from graphlib_pyg.distributed import all_reduce_mean, shard

        data, c = self.task.data, self.cfg
        # hop features once per run, on the model's device (the CSR index stays on the CPU,
        # where the seeds' neighbourhoods are sampled)
        device = self._device(info)
        model.prepare(data.x.to(device), _to(g, device), self.task.index())
        run = run or model.forward_seeds
        seed, epoch = int(torch.initial_seed()) % 2**31, 0

        def step() -> float:
            nonlocal epoch
            epoch += 1
            model.train()
            total, count = 0.0, 0
            for seeds in shard(train, info, epoch, seed).split(c["batch_size"]):
                opt.zero_grad()
                target = y[seeds].to(self._device(info))
                loss = loss_fn(run(seeds), target)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * seeds.numel(), count + seeds.numel()
            return all_reduce_mean(total / max(count, 1))

        return step

    def _seed_outputs(self, model, nodes: Tensor, info=None) -> Tensor:
        """Outputs (N, C) for ``nodes`` from ``forward_seeds`` in chunks of ``eval_batch``
        (:func:`_gather_chunks`); chunk ``k`` samples with a generator seeded ``k``, so every
        evaluation of the same weights agrees, whatever the number of ranks."""
        task = self.task
        chunks = nodes.split(self.cfg["eval_batch"])
        model.eval()
        return _gather_chunks(
            list(chunks),
            lambda k: model.forward_seeds(chunks[k], generator=torch.Generator().manual_seed(k)),
            torch.zeros(0, task.num_classes, device=self._device(info)),
            task.num_nodes,
            info,
        )

    def _chunked_outputs(self, model: nn.Module, nodes: Tensor, info=None) -> Tensor:
        """Model outputs (N, C) for ``nodes`` (other rows zero) from exact mini-batches.

        ``nodes`` is cut into chunks of ``eval_batch`` nodes, each evaluated on its exact
        neighbourhood (:func:`~graphlib_pyg.data.loaders.exact_batch`) and gathered by
        :func:`_gather_chunks`: the outputs of one process, whatever the number of ranks; for
        message-passing models they are the full-graph outputs.
        """
        from graphlib_pyg.data.loaders import exact_batch

        task = self.task
        index, x, device = task.index(), task.data.x, self._device(info)
        table = torch.full((index.num_nodes,), -1, dtype=torch.long)
        chunks = nodes.split(self.cfg["eval_batch"])

        def compute(k: int) -> Tensor:
            n_id, g = exact_batch(index, chunks[k], self._hops(), self.spec.adj, table)
            return model(x[n_id].to(device), _to(g, device))[: chunks[k].numel()]

        model.eval()
        return _gather_chunks(
            list(chunks),
            compute,
            torch.zeros(0, task.num_classes, device=device),
            task.num_nodes,
            info,
        )

    def _hops(self) -> int:
        """How many hops of neighbourhood the model reads (its number of propagation steps)."""
        if self.spec.hops is not None:
            return int(self.spec.hops({**self.spec.options, **self.model_options, **self.cfg}))
        return int(self.cfg["num_layers"])

    def _device(self, info=None) -> torch.device:
        """The rank's device in a distributed run, else the ``device`` option."""
        return info.device if info is not None else self.device

    def _minibatch_step(self, model, opt, loss_fn, y: Tensor, train: Tensor, info=None):
        from graphlib_pyg.distributed import all_reduce_mean

        batches = self._batches(train, info)
        epoch = 0

        def step() -> float:
            nonlocal epoch
            epoch += 1
            model.train()
            total, count = 0.0, 0
            for x, g, seeds in batches(epoch):
                opt.zero_grad()
                b = seeds.numel()
                target = y[seeds].to(x.device)
                if self.augment is None:
                    loss = loss_fn(model(x, g)[:b], target)
                else:  # consistency over the batch's seed nodes, as the reference's SAGE path
                    loss = self.augment.loss(
                        lambda g=g, x=x, b=b: model(x, g)[:b],
                        lambda out, target=target: loss_fn(out, target),
                    )
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * b, count + b
            return all_reduce_mean(total / max(count, 1))  # the value itself in one process

        return step

    def _run_node_ddp(self, run: int, info) -> RunResult:
        """Data-parallel node training: sharded seeds, DDP gradients, sharded exact evaluation."""
        from torch.nn.parallel import DistributedDataParallel

        task, c = self.task, self.cfg
        data, split = task.data, task.split(run)
        if self.augment is not None:
            raise ValueError("--augment la is not supported in distributed runs")
        if not c["batch_size"]:
            raise ValueError(
                "distributed training shards mini-batches over ranks: set batch_size=B "
                "(seeds per rank and step)"
            )
        device = info.device
        model = self._build(data.x.size(1), task.num_classes)
        self._init(model, data.x, self._graph_arg(data))
        model = model.to(device)
        y = data.y.float() if task.multilabel else data.y
        loss_fn = F.binary_cross_entropy_with_logits if task.multilabel else F.cross_entropy
        seeded = hasattr(model, "forward_seeds")  # LargeGT-style: samples around its seeds
        if seeded:  # DDP must wrap the call that runs: forward_seeds; buffers sync themselves
            ddp = DistributedDataParallel(_SeedForward(model), broadcast_buffers=False)
        else:
            ddp = DistributedDataParallel(model)  # broadcasts rank 0's parameters
        opt = torch.optim.Adam(ddp.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        if seeded:
            g = self._graph_arg(data)
            step = self._seed_step(model, opt, loss_fn, y, split.train, g, info, ddp)
        else:
            step = self._minibatch_step(ddp, opt, loss_fn, y, split.train, info)
        torch.manual_seed(int(torch.initial_seed()) + 7919 * info.rank)  # own random streams
        nodes = torch.unique(torch.cat([split.val, split.test]))

        @torch.no_grad()
        def evaluate() -> tuple[float, float, float]:
            if seeded:
                out = self._seed_outputs(model, nodes, info)
            else:
                out = self._chunked_outputs(model, nodes, info)
            val_loss = float(loss_fn(out[split.val], y[split.val]))
            return task.evaluate(out, split.val), task.evaluate(out, split.test), val_loss

        return self._loop(step, evaluate, count_parameters(model))

    # ------------------------------------------------------------------ graph
    def _run_graph(self, seed: int, run: int) -> RunResult:
        """Graph-level task: mini-batches of whole graphs (``batch_size`` graphs, default 128)."""
        from torch_geometric.loader import DataLoader

        from graphlib_pyg.data.loaders import SizeBucketSampler
        from graphlib_pyg.nn.heads import GraphLevel

        task, c = self.task, self.cfg
        split = task.split(run)
        hidden = c["hidden"]
        model = GraphLevel(
            self._build(hidden, hidden),
            task.num_features,
            hidden,
            task.num_classes,
            task.categorical,
        )
        device = self.device
        model = model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        loss_fn = F.binary_cross_entropy_with_logits if task.multilabel else F.cross_entropy
        bs = c["batch_size"] or 128
        gen = torch.Generator().manual_seed(seed)
        order = c["batch_order"]
        if order not in ("random", "size"):
            raise ValueError(f"batch_order must be 'random' or 'size', got {order!r}")
        graphs = [task.graphs[i] for i in split.train]
        evals = [split.val, split.test]
        if order == "size":  # batches of similar graph sizes: models that pad do less work
            sizes = torch.tensor([g.num_nodes for g in task.graphs])
            sampler = SizeBucketSampler(sizes[split.train], bs, generator=gen)
            train = DataLoader(graphs, batch_sampler=sampler)
            # evaluation scores do not depend on the order of the graphs
            evals = [idx[torch.argsort(sizes[idx])] for idx in evals]
        else:
            train = DataLoader(graphs, batch_size=bs, shuffle=True, generator=gen)
        evals = [DataLoader([task.graphs[i] for i in idx], batch_size=4 * bs) for idx in evals]

        def forward(batch) -> Tensor:
            if self.spec.adj in (None, "edge_index"):
                g = batch.edge_index if self.spec.adj else None
            else:  # built on the CPU, where the CSR index lives, then moved
                g = adjacency(batch.edge_index, batch.num_nodes, self.spec.adj)
            return model(batch.x.to(device), _to(g, device), batch.batch.to(device))

        def target(batch) -> Tensor:
            return batch.y.float() if task.multilabel else batch.y.view(-1)

        def step() -> float:
            model.train()
            total, count = 0.0, 0
            for batch in train:
                opt.zero_grad()
                loss = loss_fn(forward(batch), target(batch).to(device))
                loss.backward()
                opt.step()
                total += float(loss.detach()) * batch.num_graphs
                count += batch.num_graphs
            return total / max(count, 1)

        @torch.no_grad()
        def evaluate() -> tuple[float, float, float]:
            model.eval()
            scores, val_loss = [], 0.0
            for i, loader in enumerate(evals):
                outs, ys = zip(*[(forward(b).cpu(), target(b)) for b in loader], strict=True)
                out, y = torch.cat(outs), torch.cat(ys)
                if i == 0:
                    val_loss = float(loss_fn(out, y))
                scores.append(task.evaluate(out, y))
            return scores[0], scores[1], val_loss

        return self._loop(step, evaluate, count_parameters(model))

    # ------------------------------------------------------------------ link
    def _run_link(self, run: int) -> RunResult:
        from graphlib_pyg.distributed import all_reduce_mean, current, shard

        task, c = self.task, self.cfg
        info = current()
        split = task.split(run)
        graph, test_graph = split.graph, split.test_graph
        x = getattr(graph, "x", None)
        emb = None
        if x is None:  # featureless graph (e.g. ogbl-ddi): learn a node embedding
            emb = nn.Embedding(graph.num_nodes, c["emb_dim"] or c["hidden"])
            nn.init.xavier_uniform_(emb.weight)
        in_dim = emb.embedding_dim if emb is not None else x.size(1)
        encoder = self._build(in_dim, c["hidden"])
        predictor = LinkPredictor(c["hidden"], c["hidden"], c["pred_layers"], c["dropout"])
        net = _LinkModel(encoder, predictor, emb, x)
        g, g_test = self._graph_arg(graph), self._graph_arg(test_graph)
        self._init(encoder, net.features(), g)
        device = self._device(info)
        net = net.to(device)
        if net.x is not None:  # a plain attribute (not a buffer DDP would broadcast): move once
            net.x = net.x.to(device)
        same = g_test is g  # the evaluation below reuses the training encoding when so
        g = _to(g, device)
        g_test = g if same else _to(g_test, device)
        if info is not None:  # replicas: each rank takes its shard of the positive edges
            from torch.nn.parallel import DistributedDataParallel
        train_net = DistributedDataParallel(net) if info is not None else net
        opt = torch.optim.Adam(net.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        pos_all = split.train_pos
        bs = c["batch_size"] or -(-pos_all.size(1) // (info.world_size if info else 1))
        seed, epoch = int(torch.initial_seed()) % 2**31, 0
        if info is not None:  # the shuffle and negatives use `seed`; dropout masks differ by rank
            torch.manual_seed(seed + 7919 * info.rank)

        def step() -> float:
            nonlocal epoch
            epoch += 1
            net.train()
            # one shuffle and one set of negatives per epoch, the same on every rank: batch k
            # of size b on w ranks covers the pairs of batch k of size w b in one process
            order = shard(torch.arange(pos_all.size(1)), info, epoch, seed)
            gen = torch.Generator().manual_seed(seed * 7919 + epoch)
            negs = torch.randint(
                0, graph.num_nodes, (2, pos_all.size(1), c["num_neg"]), generator=gen
            )
            total, count = 0.0, 0
            for perm in order.split(bs):
                opt.zero_grad()
                pos = pos_all[:, perm].to(device)
                neg = negs[:, perm].reshape(2, -1).to(device)
                pos_out, neg_out = train_net(g, pos, neg)
                loss = F.softplus(-pos_out).mean() + F.softplus(neg_out).mean()
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * perm.numel(), count + perm.numel()
            return all_reduce_mean(total / max(count, 1))  # the value itself in one process

        @torch.no_grad()
        def scores(h: Tensor, pairs: Tensor) -> Tensor:
            return _chunked_scores(
                lambda p: net.predictor(h[p[0]], h[p[1]]), pairs, c, info, device
            )

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            net.eval()
            h = net.encode(g)
            val = task.evaluate(
                scores(h, split.val_pos), scores(h, split.val_neg), split.neg_per_pos
            )
            h_test = h if g_test is g else net.encode(g_test)
            test = task.evaluate(
                scores(h_test, split.test_pos), scores(h_test, split.test_neg), split.neg_per_pos
            )
            return val, test

        return self._loop(step, evaluate, count_parameters(encoder, predictor, emb))

    # ------------------------------------------------------------------ NCN / NCNC
    def _build_ncn(self, x: Tensor | None, num_nodes: int) -> tuple[nn.Module, nn.Module]:
        c = self.cfg
        return build_link_model(
            self.spec.name,
            x.size(1) if x is not None else 0,
            c["hidden"],
            num_nodes,
            c["num_layers"],
            c["dropout"],
            c["input_dropout"],
            **self.model_options,
        )

    def _run_ncn(self, run: int) -> RunResult:
        """Link training of a structural predictor (NCN/NCNC) with target-link removal.

        Each batch of training edges is removed from the graph the encoder and the common
        neighbours see (``target_removal``), so the model never reads the edge it must predict;
        evaluation uses the whole message-passing graph.
        """
        from graphlib_pyg.nn.link.neighbors import NeighborSets

        task, c = self.task, self.cfg
        o = {**self.spec.options, **self.model_options}
        split = task.split(run)
        n = split.graph.num_nodes
        graph = NeighborSets.from_edge_index(split.graph.edge_index, n)
        test_graph = graph
        if split.test_graph is not split.graph:
            test_graph = NeighborSets.from_edge_index(split.test_graph.edge_index, n)
        x = getattr(split.graph, "x", None)
        encoder, predictor = self._build_ncn(x, n)
        self._init(encoder, x, graph)
        opt = torch.optim.Adam(
            [
                {"params": encoder.parameters(), "lr": c["lr"]},
                {"params": predictor.parameters(), "lr": o["pred_lr"] or c["lr"]},
            ],
            weight_decay=c["weight_decay"],
        )
        pos_all = split.train_pos
        bs = c["batch_size"] or pos_all.size(1)

        def step() -> float:
            encoder.train()
            predictor.train()
            total, count = 0.0, 0
            for perm in torch.randperm(pos_all.size(1)).split(bs):
                opt.zero_grad()
                pos = pos_all[:, perm]
                g = graph.without(pos) if o["target_removal"] else graph
                h = encoder(x, g)
                neg = torch.randint(0, n, (2, perm.numel() * c["num_neg"]))
                out = predictor(h, g, torch.cat([pos, neg], 1))  # one pass: shared pooled states
                loss = F.softplus(-out[: pos.size(1)]).mean()
                loss = loss + F.softplus(out[pos.size(1) :]).mean()
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * perm.numel(), count + perm.numel()
            return total / count

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            encoder.eval()
            predictor.eval()
            bs_eval = c["eval_batch"]
            h = encoder(x, graph)
            val = task.evaluate(
                predictor.predict(h, graph, split.val_pos, bs_eval),
                predictor.predict(h, graph, split.val_neg, bs_eval),
                split.neg_per_pos,
            )
            h_test = h if test_graph is graph else encoder(x, test_graph)
            test = task.evaluate(
                predictor.predict(h_test, test_graph, split.test_pos, bs_eval),
                predictor.predict(h_test, test_graph, split.test_neg, bs_eval),
                split.neg_per_pos,
            )
            return val, test

        return self._loop(step, evaluate, count_parameters(encoder, predictor))
