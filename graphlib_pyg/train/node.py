"""The node trainer: node classification with backpropagation, one batching strategy per run.

How the training nodes reach the model is a strategy object (:class:`NodeBatching`), chosen once
from the options and the model's registry entry:

- :class:`FullBatch` (no ``batch_size``): the whole graph per step, with the cached adjacency;
- :class:`SubgraphBatches` (``batch_size``): mini-batches of seeds with their sampled
  (``sampler=neighbor``, ``fanouts``) or exact k-hop (``sampler=exact``) subgraphs;
- :class:`SeedBatches` (``batch_size`` and a model whose spec has ``seed_batches``, LargeGT):
  the model samples around each seed itself.

Each strategy gives one epoch's training step and the model's outputs for evaluation. A
distributed run is the same code under another :class:`~graphlib_pyg.distributed.Runtime`: the
seeds are sharded, the model is wrapped in DDP, and evaluation is sharded and gathered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.graph import adjacency
from graphlib_pyg.distributed import Runtime
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.common import ModelTrainer, _to
from graphlib_pyg.train.options import TrainOptions
from graphlib_pyg.utils import count_parameters, seed_everything


@dataclass
class NodeRun:
    """What a batching strategy needs of one run."""

    trainer: NodeTrainer
    model: nn.Module  # the model itself (evaluation)
    train_model: nn.Module  # what training calls: the model, or its DDP wrapper
    opt: torch.optim.Optimizer
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    y: Tensor
    train: Tensor
    graph: object  # the model's graph input for the whole graph
    runtime: Runtime

    @property
    def cfg(self) -> TrainOptions:
        return self.trainer.cfg


class NodeBatching:
    """A batching strategy: ``step()`` trains one epoch, ``outputs(nodes)`` evaluates;
    ``state_dict()``/``load_state_dict()``: its counters and generators (checkpoints)."""

    def __init__(self, r: NodeRun) -> None:
        self.r = r

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def step(self) -> float:
        raise NotImplementedError

    def outputs(self, nodes: Tensor) -> Tensor:
        """(N, C) outputs on the CPU with the rows of ``nodes`` filled."""
        raise NotImplementedError


class FullBatch(NodeBatching):
    """The whole graph every step (features and cached adjacency moved to the device once)."""

    def __init__(self, r: NodeRun) -> None:
        super().__init__(r)
        data, device = r.trainer.task.data, r.runtime.device
        self.x, self.g = data.x.to(device), _to(r.graph, device)
        self.y, self.train = r.y.to(device), r.train.to(device)

    def step(self) -> float:
        r, aug = self.r, self.r.trainer.augment
        r.model.train()
        r.opt.zero_grad()
        with r.trainer.autocast():  # precision=bf16: forward and loss under autocast
            if aug is None:
                loss = r.loss_fn(r.model(self.x, self.g)[self.train], self.y[self.train])
            else:
                loss = aug.loss(
                    lambda: r.model(self.x, self.g),
                    lambda out: r.loss_fn(out[self.train], self.y[self.train]),
                )
        loss.backward()
        r.opt.step()
        return float(loss.detach())

    def outputs(self, nodes: Tensor) -> Tensor:
        return self.r.model(self.x, self.g).cpu()


class SubgraphBatches(NodeBatching):
    """Mini-batches of training seeds with their subgraphs.

    ``sampler="neighbor"`` samples ``fanouts`` neighbours per hop and normalises the adjacency
    on the sampled subgraph (PyG's ``NeighborLoader``); ``"exact"`` takes every neighbour within
    the model's hops with the full graph's normalisation
    (:func:`~graphlib_pyg.data.loaders.exact_batch`), so each seed's output equals the
    full-graph one. Evaluation runs on the full graph, or in exact chunks of ``eval_batch``
    nodes with ``sampler=exact`` and in distributed runs (what a graph too large for one forward
    pass needs; equal to the full-graph outputs for message passing).
    """

    def __init__(self, r: NodeRun) -> None:
        super().__init__(r)
        self.batches, self.epoch = self._batches(), 0
        self.exact_eval = r.runtime.distributed or (
            r.cfg.sampler == "exact" and r.trainer.augment is None
        )
        if not self.exact_eval:
            data, device = r.trainer.task.data, r.runtime.device
            self.x, self.g = data.x.to(device), _to(r.graph, device)

    def _graph_of(self, batch) -> object:
        adj = self.r.trainer.spec.adj
        if adj in (None, "edge_index"):
            return batch.edge_index if adj else None
        return adjacency(batch.edge_index, batch.num_nodes, adj)

    def _batches(self):
        """``batches(epoch)``: the epoch's ``(x, graph, seeds)``; in a distributed run each
        rank gets its shard of the seeds."""
        from graphlib_pyg.data.loaders import NodeLoader, exact_batch

        r, c = self.r, self.r.cfg
        task, runtime, train = r.trainer.task, r.runtime, r.train
        seed = int(torch.initial_seed()) % 2**31
        index, data, device = task.index(), task.data, runtime.device
        fanouts = c.fanouts or [10] * c.num_layers
        self.loader = loader = NodeLoader(
            data, index, train, fanouts, c.batch_size, shuffle=True, seed=seed + runtime.rank
        )
        table = torch.full((index.num_nodes,), -1, dtype=torch.long)
        hops, adj = r.trainer._hops(), r.trainer.spec.adj

        def batches(epoch: int):
            if not runtime.distributed and c.sampler == "neighbor":  # the loader's shuffle
                for batch in loader:
                    g = _to(self._graph_of(batch), device)
                    yield batch.x.to(device), g, batch.n_id[: batch.batch_size]
                return
            order = runtime.shard(torch.arange(train.numel()), epoch, seed)
            for chunk in order.split(c.batch_size):
                if c.sampler == "exact":
                    n_id, g = exact_batch(index, train[chunk], hops, adj, table)
                    yield data.x[n_id].to(device), _to(g, device), train[chunk]
                else:
                    batch = loader.sample(chunk)
                    seeds = batch.n_id[: batch.batch_size]
                    yield batch.x.to(device), _to(self._graph_of(batch), device), seeds

        return batches

    def state_dict(self) -> dict:
        """The epoch (it seeds each epoch's seed order) and the loader's generator (its
        shuffles and neighbour samples)."""
        return {"epoch": self.epoch, "loader": self.loader.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.loader.generator.set_state(state["loader"])

    def step(self) -> float:
        r, aug = self.r, self.r.trainer.augment
        self.epoch += 1
        r.train_model.train()
        total, count = 0.0, 0
        for x, g, seeds in self.batches(self.epoch):
            r.opt.zero_grad()
            b = seeds.numel()
            target = r.y[seeds].to(x.device)
            with r.trainer.autocast():
                if aug is None:
                    loss = r.loss_fn(r.train_model(x, g)[:b], target)
                else:  # consistency over the batch's seed nodes, as the reference's SAGE path
                    loss = aug.loss(
                        lambda g=g, x=x, b=b: r.train_model(x, g)[:b],
                        lambda out, target=target: r.loss_fn(out, target),
                    )
            loss.backward()
            r.opt.step()
            total, count = total + float(loss.detach()) * b, count + b
        return r.runtime.mean(total / max(count, 1))  # the value itself in one process

    def outputs(self, nodes: Tensor) -> Tensor:
        if not self.exact_eval:
            return self.r.model(self.x, self.g).cpu()
        from graphlib_pyg.data.loaders import exact_batch

        r = self.r
        task, device = r.trainer.task, r.runtime.device
        index, x = task.index(), task.data.x
        table = torch.full((index.num_nodes,), -1, dtype=torch.long)
        chunks = nodes.split(r.cfg.eval_batch)
        hops, adj = r.trainer._hops(), r.trainer.spec.adj

        def compute(k: int) -> Tensor:
            n_id, g = exact_batch(index, chunks[k], hops, adj, table)
            return r.model(x[n_id].to(device), _to(g, device))[: chunks[k].numel()]

        empty = torch.zeros(0, task.num_classes, device=device)
        return r.runtime.gather_chunks(list(chunks), compute, empty, task.num_nodes)


class SeedBatches(NodeBatching):
    """Mini-batches of training seeds for models that sample around each seed themselves
    (``prepare(x, adj, index)`` once, then ``forward_seeds(seeds)``)."""

    def __init__(self, r: NodeRun) -> None:
        super().__init__(r)
        task, device = r.trainer.task, r.runtime.device
        # hop features once per run, on the model's device (the CSR index stays on the CPU,
        # where the seeds' neighbourhoods are sampled)
        r.model.prepare(task.data.x.to(device), _to(r.graph, device), task.index())
        self.seed, self.epoch = int(torch.initial_seed()) % 2**31, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}  # each epoch's seed order is drawn from (seed, epoch)

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])

    def step(self) -> float:
        r = self.r
        self.epoch += 1
        r.model.train()
        total, count = 0.0, 0
        for seeds in r.runtime.shard(r.train, self.epoch, self.seed).split(r.cfg.batch_size):
            r.opt.zero_grad()
            with r.trainer.autocast():
                loss = r.loss_fn(r.train_model(seeds), r.y[seeds].to(r.runtime.device))
            loss.backward()
            r.opt.step()
            total, count = total + float(loss.detach()) * seeds.numel(), count + seeds.numel()
        return r.runtime.mean(total / max(count, 1))

    def outputs(self, nodes: Tensor) -> Tensor:
        """Chunk ``k`` of ``eval_batch`` nodes samples with a generator seeded ``k``, so every
        evaluation of the same weights agrees, whatever the number of ranks."""
        r = self.r
        task, model = r.trainer.task, r.model
        chunks = nodes.split(r.cfg.eval_batch)
        model.eval()
        return r.runtime.gather_chunks(
            list(chunks),
            lambda k: model.forward_seeds(chunks[k], generator=torch.Generator().manual_seed(k)),
            torch.zeros(0, task.num_classes, device=r.runtime.device),
            task.num_nodes,
        )


class _SeedForward(nn.Module):
    """``forward(seeds) = model.forward_seeds(seeds)``: what DDP wraps for seed-batched models."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, seeds: Tensor) -> Tensor:
        return self.model.forward_seeds(seeds)


class NodeTrainer(ModelTrainer):
    """Node classification (single- or multi-label) with any node model of the registry."""

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``); mid-run checkpoints go to
        ``self.checkpoint`` (see :mod:`graphlib_pyg.train.base`)."""
        seed_everything(seed)
        run = seed if run is None else run
        task, c, aug, runtime = self.task, self.cfg, self.augment, self.runtime()
        self._check(runtime)
        data, split = task.data, task.split(run)
        if data.x is None:
            raise ValueError(f"node task {task.name!r} has no node features")
        model = self._model(split)
        y = data.y.float() if task.multilabel else data.y
        loss_fn = F.binary_cross_entropy_with_logits if task.multilabel else F.cross_entropy
        g = self._graph_arg(data)
        self._init(model, data.x, g)
        model = model.to(runtime.device)  # before the optimiser: it must hold the moved params
        seeded = bool(c.batch_size) and self.spec.seed_batches and aug is None
        if seeded:  # DDP must wrap the call that runs: forward_seeds; buffers sync themselves
            train_model = runtime.wrap(_SeedForward(model), broadcast_buffers=False)
        else:
            train_model = runtime.wrap(model)  # broadcasts rank 0's parameters
        opt = self._optimizer(model.parameters())
        r = NodeRun(self, model, train_model, opt, loss_fn, y, split.train, g, runtime)
        if seeded:
            batching: NodeBatching = SeedBatches(r)
        elif c.batch_size:
            batching = SubgraphBatches(r)
        else:
            batching = FullBatch(r)
        runtime.own_streams()
        nodes = torch.unique(torch.cat([split.val, split.test]))

        @torch.no_grad()
        def evaluate() -> tuple[float, float, float]:
            model.eval()
            with self.autocast():
                out = batching.outputs(nodes).float()
            val_loss = float(loss_fn(out[split.val], y[split.val]))
            return task.evaluate(out, split.val), task.evaluate(out, split.test), val_loss

        # the model's state dict holds LA's evaluation counter too (its extra state)
        parts = {"model": model, "opt": opt, "batching": batching}
        step, evaluate = self._scheduled(batching.step, evaluate, opt, parts)
        ckpt = self._checkpoint(seed, run, parts)
        return self._fit(step, evaluate, count_parameters(model), ckpt)

    def _check(self, runtime: Runtime) -> None:
        c, aug = self.cfg, self.augment
        if c.sampler not in ("neighbor", "exact"):
            raise ValueError(f"sampler must be 'neighbor' or 'exact', got {c.sampler!r}")
        if aug is not None and c.init not in (None, "default"):
            raise ValueError("init= is not supported together with --augment la")
        if aug is not None and runtime.device.type != "cpu":
            raise ValueError(f"--augment la trains on the CPU only; drop device={c.device}")
        if runtime.distributed and aug is not None:
            raise ValueError("--augment la is not supported in distributed runs")
        if runtime.distributed and not c.batch_size:
            raise ValueError(
                "distributed training shards mini-batches over ranks: set batch_size=B "
                "(seeds per rank and step)"
            )
        if c.batch_size and self.spec.seed_batches and aug is None and c.input_dropout:
            raise ValueError(
                f"{self.spec.name} with batch_size trains on seed batches from features it "
                "precomputes once, so input_dropout cannot apply; use dropout instead (or drop "
                "batch_size to train full-graph with input dropout)"
            )

    def _model(self, split) -> nn.Module:
        """The named model, or with ``--augment la`` the backbone wrapped to take generated
        features (its generator pre-trained, or read from the cache, first)."""
        task, aug = self.task, self.augment
        if aug is None:
            return self._build(task.data.x.size(1), task.num_classes)
        if task.multilabel and aug.o["la_lam"] > 0:
            raise ValueError(
                f"{task.name!r} is multi-label; LA's consistency loss compares class "
                "distributions: pass la_lam=0"
            )
        gen = aug.generator(task, split.train) if aug.o["la_source"] == "generator" else None
        return aug.wrap(
            lambda width, p: self._build(width, task.num_classes, p),
            self.spec.name,
            {**self.model_options, **self.cfg.as_dict()},
            task.data.x.size(1),
            gen,
        )
