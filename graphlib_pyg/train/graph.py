"""The graph-level trainer: whole graphs in mini-batches, a node model with pooling and a head.

The node model (any registry model) runs on a batch of graphs inside
:class:`~graphlib_pyg.nn.heads.GraphLevel` (input encoder, mean pooling, MLP head). Models
whose registry entry reads edge features (``ModelSpec.edge_attr``: ``gine``, ``gatedgcn``, GPS
with such a local branch) also get the batch's ``edge_attr``, encoded by ``GraphLevel``.
``batch_order=size`` batches graphs of similar size (:class:`SizeBucketSampler`), so models that
pad each batch to its largest graph do less padded work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.loader import DataLoader

from graphlib_pyg.data.graph import adjacency
from graphlib_pyg.data.loaders import SizeBucketSampler
from graphlib_pyg.nn.heads import GraphLevel
from graphlib_pyg.nn.registry import reads_edge_attr
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.train.checkpoint import GeneratorState
from graphlib_pyg.train.common import ModelTrainer, _to
from graphlib_pyg.utils import count_parameters, seed_everything


class GraphTrainer(ModelTrainer):
    """Graph classification or multi-label graph prediction (``batch_size`` graphs, default
    128)."""

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``); mid-run checkpoints go to
        ``self.checkpoint`` (see :mod:`graphlib_pyg.train.base`)."""
        seed_everything(seed)
        run = seed if run is None else run
        self._check_runtime(self.runtime())
        task, c = self.task, self.cfg
        split = task.split(run)
        hidden = c.hidden
        edges = reads_edge_attr(self.spec, self.model_options)  # the spec says, not the model
        model = GraphLevel(
            self._build(hidden, hidden),
            task.num_features,
            hidden,
            task.num_classes,
            task.categorical,
            edge_channels=task.num_edge_features if edges else None,
            head_layers=c.head_layers,
            head_dropout=c.head_dropout,
        )
        device = self.device
        model = model.to(device)
        opt = self._optimizer(model.parameters())
        loss_fn = F.binary_cross_entropy_with_logits if task.multilabel else F.cross_entropy
        bs = c.batch_size or 128
        gen = torch.Generator().manual_seed(seed)
        order = c.batch_order
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
        kind = self.spec.adj  # None, edge_index, or the kind of sparse adjacency it reads
        sparse = kind not in (None, "edge_index")
        undirected = sparse and task.undirected  # then a batch's adjacency is its own transpose

        def forward(batch) -> Tensor:
            if not sparse:
                g = batch.edge_index if kind else None
            else:  # built on the CPU, where the CSR index lives, then moved
                g = adjacency(batch.edge_index, batch.num_nodes, kind, undirected=undirected)
            x, b = batch.x.to(device), batch.batch.to(device)
            if not edges:
                return model(x, _to(g, device), b)
            return model(x, _to(g, device), b, edge_attr=_to(batch.edge_attr, device))

        def target(batch) -> Tensor:
            return batch.y.float() if task.multilabel else batch.y.view(-1)

        def step() -> float:
            model.train()
            total, count = 0.0, 0
            for batch in train:
                opt.zero_grad()
                with self.autocast():  # precision=bf16: forward and loss under autocast
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
                with self.autocast():
                    out = torch.cat([forward(b).float().cpu() for b in loader])
                y = torch.cat([target(b) for b in loader])
                if i == 0:
                    val_loss = float(loss_fn(out, y))
                scores.append(task.evaluate(out, y))
            return scores[0], scores[1], val_loss

        parts = {"model": model, "opt": opt, "order": GeneratorState(gen)}  # gen: the batches
        step, evaluate = self._scheduled(step, evaluate, opt, parts)
        ckpt = self._checkpoint(seed, run, parts)
        return self._fit(step, evaluate, count_parameters(model), ckpt)
