"""Stage 1 of GNN-to-MLP distillation: train the teacher, keep its outputs, cache them.

The teacher is any node model of the registry (``teacher=sage|gcn|gat|gmn|...``), trained
full-batch with the shared fit loop (:func:`~graphlib_pyg.train.base.fit`: the epoch with the
best validation accuracy is selected, patience counts evaluations without a better one). For
VQGraph it is a :class:`VQTeacher`: a one-layer model encodes each node, a
:class:`~graphlib_pyg.nn.vq.VectorQuantizer` turns the encoding into a structure token, and a
second one-layer model and a linear classifier read the decoded tokens.
What the student needs (the selected model's logits, and for VQGraph its encodings and
codebook) is a :class:`TeacherOutputs`, cached as tensors under ``$GRAPHLIB_CACHE/distill/``
keyed by everything that determines it, so several student settings reuse one teacher.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphlib_pyg.data.cache import cache_root
from graphlib_pyg.data.safe_io import torch_load
from graphlib_pyg.data.splits import NodeSplit, sample_non_edges
from graphlib_pyg.nn.registry import build_model
from graphlib_pyg.nn.vq import VectorQuantizer
from graphlib_pyg.train.base import RunResult, fit
from graphlib_pyg.train.common import ModelTrainer
from graphlib_pyg.utils import count_parameters, seed_everything

#: The teacher's training options where the run gives none: GLNN's SAGE teacher on the CPF
#: datasets (graphless-neural-networks train.conf.yaml: 2 layers, hidden 128, lr 0.01,
#: dropout 0, weight decay 5e-4; experiments/sage_cpf.sh: 200 epochs, patience 50). Ours trains
#: full-batch; the reference samples 5 neighbours per hop in batches of 512 (with its layers,
#: amazon-photo seeds 0-2: 90.0 sampled, 90.8 full-batch; benchmarks/results/distill/
#: teacher_layers.py). Its layers are GCN-like (DGL SAGEConv's "gcn" aggregator), hence GLNN's
#: default ``teacher=gcn`` (distill.GLNN_DEFAULTS).
TEACHER_DEFAULTS: dict = {
    "hidden": 128,
    "num_layers": 2,
    "lr": 0.01,
    "dropout": 0.0,
    "weight_decay": 5e-4,
    "epochs": 200,
    "patience": 50,
}
#: VQGraph's teacher trains 100 epochs, patience 50 (its README's train_teacher.py command);
#: the rest as GLNN's SAGE (VQGraph's train.conf.yaml has the same SAGE entries).
VQ_TEACHER_DEFAULTS: dict = {**TEACHER_DEFAULTS, "epochs": 100}


def accuracy(out: Tensor, y: Tensor, idx: Tensor) -> float:
    """Share of the nodes ``idx`` whose arg-max output is their label (0 for no nodes)."""
    if idx.numel() == 0:
        return 0.0
    return float((out[idx].argmax(-1) == y[idx]).float().mean())


def edge_reconstruction(
    z: Tensor, edge_index: Tensor, num_nodes: int, dense_max: int, generator: torch.Generator
) -> Tensor:
    """VQGraph's edge loss, :math:`\\sqrt{\\mathrm{MSE}(A + I, \\hat A)}` with :math:`\\hat A`
    the min-max normalised :math:`Z Z^\\top`. The target has ones on its diagonal, as the
    reference's (its CPF graphs are loaded with self-loops, data_preprocess.normalize_adj).

    Up to ``dense_max`` nodes it is computed on the dense N x N matrices (at most
    ``dense_max**2`` floats, 64 MiB for 4096). Above, the mean over all N^2 entries is
    estimated from every edge, the diagonal and as many sampled non-edges as edges, each
    weighted by its share of the N^2 entries; the min-max range is taken over those pairs.
    ``edge_index`` holds both directions and no self-loops.

    Shapes:
        z (N, D), edge_index (2, E) -> ()
    """
    n = num_nodes
    if n <= dense_max:
        adj = torch.eye(n, device=z.device)  # (N, N) with self-loops
        adj[edge_index[0], edge_index[1]] = 1.0
        s = z @ z.t()  # (N, N)
        s = (s - s.min()) / (s.max() - s.min()).clamp_min(1e-12)
        return torch.sqrt(F.mse_loss(s, adj))
    num_edges = edge_index.size(1)
    neg = sample_non_edges(n, num_edges, edge_index.cpu(), generator).to(z.device)  # (2, E)
    s_pos = (z[edge_index[0]] * z[edge_index[1]]).sum(-1)  # (E,)
    s_neg = (z[neg[0]] * z[neg[1]]).sum(-1)  # (E,)
    s_self = (z * z).sum(-1)  # (N,) the diagonal, often the largest scores: all of it
    both = torch.cat([s_pos, s_neg, s_self])
    lo, hi = both.min(), both.max()
    s_pos, s_neg, s_self = ((s - lo) / (hi - lo).clamp_min(1e-12) for s in (s_pos, s_neg, s_self))
    rest = n * n - num_edges - n  # non-edges off the diagonal
    mse = (num_edges * (1 - s_pos).pow(2).mean() + n * (1 - s_self).pow(2).mean()
           + rest * s_neg.pow(2).mean()) / (n * n)  # fmt: skip
    return torch.sqrt(mse)


class VQTeacher(nn.Module):
    """VQGraph's tokenizer-teacher: a codebook between two graph convolutions, trained with
    classification and VQGraph's auxiliary losses (YangLing0818/VQGraph, models.py ``SAGE`` and
    ``GCN``, both built from two ``GraphConv`` layers: ``teacher=gcn`` matches them).

    ``h = dropout(relu(conv1(x)))`` (N, D) is quantised (``q``: its codes, straight-through in
    training); ``e = edge_decoder(q)`` and the logits are ``classifier(relu(conv2(e)))``, so
    in evaluation the class is read from the codes alone. :meth:`loss` adds ``lamb_node *
    MSE(h, node_decoder(q))`` (reconstruction of the encoding), ``lamb_edge *``
    :func:`edge_reconstruction` of ``e`` and the quantizer's commitment loss. ``conv1`` and
    ``conv2`` are one-layer registry models, so any node model of the registry can be the
    teacher.

    Args:
        conv1: ``F -> D``; conv2: ``D -> hidden``.
        channels, hidden, num_classes: D, the width of ``conv2`` and C.
        vq: the quantizer (``channels`` wide).
        lamb_node, lamb_edge: the reconstruction weights.
        dense_max: largest graph whose edge loss uses dense N x N matrices.
        dropout: on ``h``, before the codebook.
    """

    def __init__(
        self,
        conv1: nn.Module,
        conv2: nn.Module,
        channels: int,
        hidden: int,
        num_classes: int,
        vq: VectorQuantizer,
        lamb_node: float,
        lamb_edge: float,
        dense_max: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1, self.conv2, self.vq = conv1, conv2, vq
        self.node_decoder = nn.Linear(channels, channels)
        self.edge_decoder = nn.Linear(channels, channels)
        self.classifier = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.lamb_node, self.lamb_edge, self.dense_max = lamb_node, lamb_edge, dense_max

    def encode(self, x: Tensor, graph) -> Tensor:
        """The encodings the codebook quantises. (N, D)"""
        return self.dropout(F.relu(self.conv1(x, graph)))

    def _classify(self, e: Tensor, graph) -> Tensor:
        return self.classifier(F.relu(self.conv2(e, graph)))  # (N, C)

    def forward(self, x: Tensor, graph) -> Tensor:
        q = self.vq(self.encode(x, graph))[0]
        return self._classify(self.edge_decoder(q), graph)

    def loss(self, x: Tensor, graph, edge_index: Tensor, generator: torch.Generator):
        """``(logits, auxiliary loss)`` of one training step."""
        h = self.encode(x, graph)
        q, _, commit, _ = self.vq(h)
        e = self.edge_decoder(q)
        feature = F.mse_loss(self.node_decoder(q), h)
        edge = edge_reconstruction(e, edge_index, x.size(0), self.dense_max, generator)
        aux = self.lamb_node * feature + self.lamb_edge * edge + commit
        return self._classify(e, graph), aux


@dataclass
class TeacherOutputs:
    """What the student learns from, for the nodes of the graph the teacher trained on.

    Attributes:
        logits: (N_obs, C) the selected teacher's outputs on its training graph.
        logits_full: (N, C) its outputs on the full graph (inductive setting), else empty.
        hidden: (N_obs, D) the encodings the VQ teacher quantises, else empty.
        codebook: (K, D) the VQ teacher's codes, else empty.
        val, test: its accuracy on the validation and test nodes of its training graph.
        test_ind: its accuracy on the held-out nodes, on the full graph (inductive), else nan.
        best_step, step_time_s, params: as in :class:`~graphlib_pyg.train.base.RunResult`.
    """

    logits: Tensor
    logits_full: Tensor
    hidden: Tensor
    codebook: Tensor
    val: float
    test: float
    test_ind: float
    best_step: int
    step_time_s: float
    params: int

    def save(self, path: Path) -> None:
        """Write tensors and numbers only (atomically: a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({f.name: getattr(self, f.name) for f in fields(self)}, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TeacherOutputs | None:
        """The outputs saved at ``path`` (read weights-only), or ``None`` with a warning when
        the file is unreadable or not a teacher's."""
        try:
            state = torch_load(path, map_location="cpu")
            return cls(**{f.name: state[f.name] for f in fields(cls)})
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is retrained
            warnings.warn(f"ignoring teacher cache {path}: {err}", stacklevel=2)
            return None


def cache_path(ident: dict) -> Path:
    """``$GRAPHLIB_CACHE/distill/<task>-<teacher>-<hash of ident>.pt``."""
    blob = json.dumps(ident, sort_keys=True, default=str)
    digest = hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]
    return cache_root() / "distill" / f"{ident['task']}-{ident['teacher']}-{digest}.pt"


class TeacherTrainer(ModelTrainer):
    """Trains one teacher: a registry node model, or with ``vq`` options a :class:`VQTeacher`
    around it. ``config`` holds the teacher's training and model options (checked by
    :meth:`~graphlib_pyg.train.options.RunOptions.parse`: an unknown key is an error naming
    it); it trains full-batch."""

    def __init__(self, task, teacher: str, config: dict, vq: dict | None = None) -> None:
        super().__init__(task, teacher, config)
        if self.spec.link or self.spec.seed_batches:
            raise ValueError(f"teacher={teacher!r}: the teacher must be a full-batch node model")
        if self.cfg.batch_size:
            raise ValueError("teacher_options: the teacher trains full-batch; drop batch_size")
        self.vq = vq

    def train(self, seed: int, data: Data, split: NodeSplit) -> tuple[nn.Module, RunResult]:
        """Train on ``data`` with ``split`` (indices into ``data``); the model comes back with
        the weights of the epoch of best validation accuracy."""
        seed_everything(seed)
        c, device = self.cfg, self.device
        x, y = data.x.float().to(device), data.y.to(device)
        g = self._graph_arg(data)
        g = g.to(device) if g is not None else None
        edge_index, train = data.edge_index.to(device), split.train.to(device)
        num_classes = self.task.num_classes
        if self.vq is None:
            model = self._build(x.size(1), num_classes)
            self._init(model, x, g)
        else:
            v = self.vq
            quantizer = VectorQuantizer(
                v["vq_dim"] or x.size(1),
                v["codebook_size"],
                v["vq_distance"],
                v["vq_decay"],
                v["commitment"],
                v["dead_threshold"],
                data_init=bool(v.get("vq_data_init", False)),
            )
            dim = v["vq_dim"] or x.size(1)  # 0: the features' width, as VQGraph
            convs = [build_model(self.spec.name, i, o, o, 1, c.dropout, **self.model_options)
                     for i, o in ((x.size(1), dim), (dim, c.hidden))]  # fmt: skip
            model = VQTeacher(*convs, dim, c.hidden, num_classes, quantizer, v["lamb_node"],
                              v["lamb_edge"], v["edge_dense_max"], c.dropout)  # fmt: skip
        model = model.to(device)
        opt = self._optimizer(model.parameters())
        generator = torch.Generator().manual_seed(seed)
        best = {"val": -1.0, "state": copy.deepcopy(model.state_dict())}

        def step() -> float:
            model.train()
            opt.zero_grad()
            if self.vq is None:
                out, aux = model(x, g), 0.0
            else:
                out, aux = model.loss(x, g, edge_index, generator)
            loss = F.cross_entropy(out[train], y[train]) + aux
            loss.backward()
            opt.step()
            return float(loss.detach())

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            model.eval()
            out = model(x, g)
            val, test = accuracy(out, y, split.val), accuracy(out, y, split.test)
            if val > best["val"]:  # the Selector's rule: strictly better
                best.update(val=val, state=copy.deepcopy(model.state_dict()))
            return val, test

        params = count_parameters(model)
        step, evaluate = self._scheduled(step, evaluate, opt, {})
        result = fit(step, evaluate, epochs=c.epochs, eval_every=c.eval_every,
                     patience=c.patience, params=params)  # fmt: skip
        model.load_state_dict(best["state"])
        model.eval()
        return model, result

    @torch.no_grad()
    def outputs(self, model: nn.Module, data: Data) -> tuple[Tensor, Tensor]:
        """``(logits, encodings)`` of ``model`` on ``data`` (encodings empty without VQ)."""
        x = data.x.float().to(self.device)
        g = self._graph_arg(data)
        g = g.to(self.device) if g is not None else None
        if isinstance(model, VQTeacher):
            return model(x, g).cpu(), model.encode(x, g).cpu()
        return model(x, g).cpu(), torch.empty(0)
