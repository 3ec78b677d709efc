"""Forward learning of GNNs: the single-forward (SF) trainer of ForwardGNN, node classification.

Park et al., "Forward Learning of Graph Neural Networks", ICLR 2024
(https://arxiv.org/abs/2403.11004). No error is backpropagated through the network: every layer
has its own optimiser and objective, and sees its input L2-normalised per row and detached.

SF adds one virtual node per class, linked in both directions to the training nodes of that
class (validation and test nodes get no virtual edges); the virtual nodes' input features are
fixed random normal vectors drawn with the run's seed. Layer ``l`` is trained greedily, after
layers ``< l`` are frozen: its loss is the cross-entropy of the dot products between training
nodes' and class nodes' embeddings (divided by ``temperature``). Prediction sums, over layers,
the softmax of each real node's dot products with the class nodes. Each layer stops early on the
validation accuracy of the ensemble of layers ``0..l`` and keeps its best checkpoint.

Cached fast path: a frozen input makes a GCN layer's propagation a constant, so
``relu(Â X W + b)`` is trained as ``relu((Â X) W + b)`` with ``Â X`` computed once per layer (the
same function; PyG's ``GCNConv`` would propagate at every step). SAGE caches its mean aggregation
the same way.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.tasks import NodeTask
from graphlib_pyg.nn.models import seed_everything
from graphlib_pyg.train.backprop import RunResult

#: Options of the SF trainer, with the defaults of ForwardGNN's node-classification script.
SF_DEFAULTS: dict = {
    "hidden": 128,
    "num_layers": 4,
    "lr": 0.001,
    "weight_decay": 5e-4,
    "epochs": 1000,  # per layer
    "eval_every": 2,
    "patience": 100,  # evaluations without a strictly better validation accuracy
    "temperature": 1.0,
    "dropout": 0.0,  # on the cached aggregation and the root input (the reference has none)
}

#: Backbones with an SF layer (convolutions whose propagation is cached for a frozen input).
SF_MODELS = ("gcn", "sage")


def _l2_rows(x: Tensor) -> Tensor:
    return x / (x.norm(dim=1, keepdim=True) + 1e-8)


def add_class_nodes(
    edge_index: Tensor, num_nodes: int, y: Tensor, train: Tensor, num_classes: int
) -> Tensor:
    """Edges of the graph plus ``train <-> N + y[train]`` in both directions.

    Shapes:
        - **input:** edge_index (2, E), y (N,), train (T,) node ids
        - **output:** (2, E + 2T), virtual node ``c`` has id ``num_nodes + c``
    """
    vn = num_nodes + y[train]
    extra = torch.stack([torch.cat([train, vn]), torch.cat([vn, train])])
    return torch.cat([edge_index, extra], dim=1)


class SFLayer(nn.Module):
    """One SF layer on a cached aggregation: ``relu(lin(agg))`` (GCN) or plus a root term (SAGE).

    Args:
        in_channels, out_channels: widths.
        kind: ``"gcn"`` (``agg = Â x``) or ``"sage"`` (``agg = mean_j x_j``, plus ``lin_r(x)``).
    """

    def __init__(self, in_channels: int, out_channels: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.lin = nn.Linear(in_channels, out_channels)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False) if kind == "sage" else None

    def forward(self, agg: Tensor, x: Tensor) -> Tensor:
        out = self.lin(agg)
        if self.lin_r is not None:
            out = out + self.lin_r(x)
        return out.relu()


class SFTrainer:
    """Single-forward training (ForwardGNN SF) of a GCN or GraphSAGE on a node task.

    Args:
        task: a single-label :class:`NodeTask`.
        model: ``"gcn"`` or ``"sage"``.
        config: options (see :data:`SF_DEFAULTS`).
        progress: optional ``progress(epoch, loss, val)`` callback.
    """

    def __init__(
        self,
        task,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
    ) -> None:
        if model not in SF_MODELS:
            raise ValueError(
                f"trainer 'sf' supports the models {', '.join(SF_MODELS)}, not {model!r}"
            )
        if not isinstance(task, NodeTask) or task.multilabel:
            raise TypeError(
                f"trainer 'sf' needs a single-label node task; {task.name!r} is not one"
            )
        unknown = set(config or {}) - set(SF_DEFAULTS)
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for trainer 'sf'; "
                f"valid: {sorted(SF_DEFAULTS)}"
            )
        self.task, self.kind, self.progress = task, model, progress
        self.cfg = {**SF_DEFAULTS, **(config or {})}

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        seed_everything(seed)
        task, c = self.task, self.cfg
        split = task.split(seed if run is None else run)
        data, n, k = task.data, task.num_nodes, task.num_classes
        edge_index = add_class_nodes(data.edge_index, n, data.y, split.train, k)
        adj = GraphIndex(edge_index, n + k).adj_t("gcn" if self.kind == "gcn" else "mean")
        vn_x = torch.randn(k, data.x.size(1))  # fixed random class-node inputs (seeded)
        h = _l2_rows(torch.cat([data.x.float(), vn_x]))  # (N + C, F)
        y_train = data.y[split.train]
        layer_probs: list[Tensor] = []  # (N, C) softmax of each frozen layer
        params, times, total_epochs = 0, [], 0

        def probs(out: Tensor) -> Tensor:
            return torch.softmax(out[:n] @ out[n:].t() / c["temperature"], dim=-1)

        in_dim = h.size(1)
        for _ in range(c["num_layers"]):
            layer = SFLayer(in_dim, c["hidden"], self.kind)
            params += sum(p.numel() for p in layer.parameters())
            opt = torch.optim.Adam(layer.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
            agg = adj @ h  # cached: the input is frozen while this layer trains  (N + C, F_in)
            prev = sum(layer_probs) if layer_probs else 0.0
            best, best_state, bad = -math.inf, copy.deepcopy(layer.state_dict()), 0
            for epoch in range(1, c["epochs"] + 1):
                t0 = time.perf_counter()
                layer.train()
                a, x_in = agg, h
                if c["dropout"] > 0:
                    a = F.dropout(agg, c["dropout"], True)
                    x_in = F.dropout(h, c["dropout"], True)
                out = layer(a, x_in)
                logits = out[split.train] @ out[n:].t() / c["temperature"]
                loss = F.cross_entropy(logits, y_train)
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - t0)
                total_epochs += 1
                if epoch % c["eval_every"]:
                    continue
                layer.eval()
                with torch.no_grad():
                    val = task.evaluate(prev + probs(layer(agg, h)), split.val)
                if self.progress:
                    self.progress(total_epochs, float(loss.detach()), val)
                if val > best:
                    best, best_state, bad = val, copy.deepcopy(layer.state_dict()), 0
                else:
                    bad += 1
                    if c["patience"] and bad >= c["patience"]:
                        break
            layer.load_state_dict(best_state)
            layer.eval()
            with torch.no_grad():
                out = layer(agg, h)
            layer_probs.append(probs(out))
            h, in_dim = _l2_rows(out), out.size(1)  # frozen, detached input of the next layer
        ensembles = torch.stack(layer_probs).cumsum(0)  # (L, N, C): layers 1..l summed
        curve = {
            "layer": list(range(1, len(layer_probs) + 1)),
            "val": [task.evaluate(p, split.val) for p in ensembles],
            "test": [task.evaluate(p, split.test) for p in ensembles],
        }
        times.sort()
        return RunResult(
            curve["val"][-1],
            curve["test"][-1],
            total_epochs,
            times[len(times) // 2],
            params,
            curve,
        )
