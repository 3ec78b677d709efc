r"""Graph-aware weight initialisation: Virgo, and the Xavier baseline it is compared with.

Virgo ("On the Initialization of Graph Neural Networks", Li, Song, Song and Wipf, ICML 2023,
https://proceedings.mlr.press/v202/li23y.html) sets the variance of every weight matrix of a GNN so
that, at initialisation, the second moment of the embeddings (forward) and of the gradients
(backward) stays the same from one layer to the next. Unlike Xavier/Kaiming it accounts for the
message passing: how much one propagation step :math:`P` shrinks (mean/normalised aggregation) or
inflates (sum aggregation) a signal on *this* graph.

The analysis (ours, following the paper): a stack of linear stages
:math:`H_l = \sum_b P^{k_b}\,\phi_l(H_{l-1})\,W_{l,b}` with independent zero-mean weights of
variance :math:`c_l`, one branch per weight matrix: GCN ``k=1``; GraphSAGE a neighbour branch
``k=1`` and a root branch ``k=0``; a GIN layer ``k=1`` with :math:`P = A + (1+\epsilon) I`, then a
dense ``k=0`` stage for each further MLP linear. The activation in front of stage ``l`` scales
second moments by :math:`1/\gamma_l` forward (ReLU: :math:`E[\mathrm{relu}(z)^2] = E[z^2]/2`) and
backward (:math:`E[\mathrm{relu}'(z)^2] = 1/2`): :math:`\gamma = 2` for ReLU, 1 for the raw input.
Through the graph, signals are followed linearly, which is exact for a linear network: the
node-covariance :math:`K` of a stage input maps to :math:`\sum_b P^{k_b} K P^{k_b\top}`, so after
``l`` stages its trace is :math:`s_l = \sum_j f_l[j]\,\|P^j X\|_F^2`, :math:`f_l` being the product
of the stages' polynomials :math:`\sum_b z^{k_b}` (GraphSAGE: binomial weights). Backward, the same
with :math:`P^\top` applied to the output gradient, taken as a constant signal over nodes (as in
the authors' code): :math:`u_l = \sum_j g_l[j]\,\|(P^\top)^j \mathbf{1}\|^2`. Keeping the moments
equal across stage ``l`` gives two constraints

.. math::
    c^{\mathrm{fwd}}_l = \frac{\gamma_l}{n_{\mathrm{in}}}\,\frac{s_{l-1}}{s_l}, \qquad
    c^{\mathrm{bwd}}_l = \frac{\gamma_l}{n_{\mathrm{out}}}\,
    \frac{u_{\mathrm{out}}}{u_{\mathrm{in}}},

and ``mode`` combines them: ``"mean"`` (default, the arithmetic mean, as in the authors' Planetoid
scripts), ``"harmonic"`` (Glorot's compromise :math:`2/(1/c^f + 1/c^b)`), ``"forward"`` or
``"backward"``. Weights are drawn from :math:`U(-\sqrt{3c}, \sqrt{3c})`; biases are zeroed.

What is taken from the graph: only the moments :math:`\|P^j X\|_F^2` of the propagated input
features and :math:`\|(P^\top)^j \mathbf{1}\|^2` of the propagated constant, ``j`` up to the number
of propagation stages, computed with sparse products (never a dense ``N x N`` matrix), ``P`` being
exactly what the convolutions multiply by.

Differences from the authors' code, on purpose: the forward moments use every feature column
(:math:`\|P^j X\|_F^2`, exact for a linear network) rather than the per-node feature mean; ``P`` is
each model's own propagation (their code uses the symmetric GCN one for every model); the first
layer's forward constraint uses :math:`\gamma = 1` (its input is not activated) and the graph term,
where theirs uses Kaiming's :math:`2/n_{\mathrm{in}}`; the last layer's backward constraint has the
same form as the others (theirs is :math:`N / ((C-1)\|P\mathbf{1}\|^2)`).

Limits of the approximations (both the paper's): (1) forward, a ReLU output keeps a positive
mean that aggregation does not shrink; the linear propagation ignores it. With non-negative,
graph-smooth features (bag-of-words: Cora) the predicted moments match the measured ones (8-layer
GCN, ``forward`` mode: flat within 1.2x, ``benchmarks/virgo_variance.py``); with zero-mean
i.i.d. features the output moment drifts upward (about 5x over 8 layers on a contextual SBM with
Gaussian features). (2) backward, the output gradient is assumed constant over nodes; in
semi-supervised node classification it lives on the training nodes only, so the first backward
aggregation shrinks it more than predicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GINConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import MLP
from torch_geometric.nn.models.basic_gnn import BasicGNN

from graphlib_pyg.data.graph import SparseAdj, adjacency
from graphlib_pyg.nn.dropout import InputDropout

MODES = ("mean", "harmonic", "forward", "backward")


@dataclass(frozen=True)
class LayerVariance:
    """One weight stage of a model and the variances Virgo computes for it.

    Attributes:
        name: where the stage's weights live, e.g. ``convs.0`` or ``convs.1.nn.lins.1``.
        fan_in, fan_out: weight matrix shape (in, out).
        forward, backward: :math:`c^{fwd}`, :math:`c^{bwd}`.
        variance: the combined variance that is used.
        output_moment: predicted mean square of the stage's output at initialisation.
    """

    name: str
    fan_in: int
    fan_out: int
    forward: float
    backward: float
    variance: float
    output_moment: float


@dataclass
class _Stage:
    name: str
    branches: list[tuple[int, Tensor]]  # (propagation power k_b, weight (out, in))
    biases: list[Tensor]
    gain: float  # gamma of the activation in front of the stage

    @property
    def fan_in(self) -> int:
        return self.branches[0][1].size(1)

    @property
    def fan_out(self) -> int:
        return self.branches[0][1].size(0)


def _act_gain(act, where: str) -> float:
    if act is None or isinstance(act, nn.Identity):
        return 1.0
    if isinstance(act, nn.ReLU):
        return 2.0
    if isinstance(act, nn.LeakyReLU):
        return 2.0 / (1.0 + act.negative_slope**2)
    raise TypeError(
        f"virgo_: unsupported activation {type(act).__name__} in {where} "
        "(supported: ReLU, LeakyReLU, none)"
    )


def _no_norms(norms, where: str) -> None:
    for norm in norms:
        if not isinstance(norm, nn.Identity):
            raise TypeError(
                f"virgo_: normalisation layer {type(norm).__name__} in {where} is not supported: "
                "the variance analysis assumes no normalisation between layers"
            )


def _weight(lin: nn.Module, where: str) -> Tensor:
    w = lin.weight
    if isinstance(w, nn.parameter.UninitializedParameter):
        raise TypeError(f"virgo_: {where} has a lazy (uninitialised) weight; run a forward first")
    return w


def _unwrap(model: nn.Module) -> BasicGNN:
    net = model
    while isinstance(net, InputDropout):
        net = net.model
    if not isinstance(net, BasicGNN):
        raise TypeError(
            f"virgo_: unsupported model {type(net).__name__}; supported: PyG GCN, GraphSAGE and "
            "GIN stacks (torch_geometric.nn.models), optionally wrapped in InputDropout"
        )
    if net.jk_mode is not None:
        raise TypeError(f"virgo_: jumping knowledge (jk={net.jk_mode!r}) is not supported")
    _no_norms(net.norms, type(net).__name__)
    return net


def _stages(net: BasicGNN) -> list[_Stage]:
    """The model's weight stages in forward order. Unsupported layers raise a ``TypeError``."""
    act_gain = _act_gain(net.act, type(net).__name__)
    stages = []
    kinds = {type(c) for c in net.convs}
    for i, conv in enumerate(net.convs):
        name, gain = f"convs.{i}", 1.0 if i == 0 else act_gain
        if isinstance(conv, GCNConv):
            stages.append(_Stage(name, [(1, _weight(conv.lin, name))], [conv.bias], gain))
        elif isinstance(conv, SAGEConv):
            if conv.project or conv.normalize:
                raise TypeError(f"virgo_: SAGEConv with project/normalize ({name}) not supported")
            branches = [(1, _weight(conv.lin_l, name))]
            biases = [conv.lin_l.bias]
            if conv.root_weight:
                branches.append((0, _weight(conv.lin_r, name)))
                biases.append(conv.lin_r.bias)
            stages.append(_Stage(name, branches, biases, gain))
        elif isinstance(conv, GINConv):
            if not isinstance(conv.nn, MLP):
                raise TypeError(
                    f"virgo_: GINConv ({name}) needs a torch_geometric MLP, got "
                    f"{type(conv.nn).__name__}"
                )
            mlp, mlp_gain = conv.nn, _act_gain(conv.nn.act, f"{name}.nn")
            _no_norms(mlp.norms, f"{name}.nn")
            for j, lin in enumerate(mlp.lins):
                where = f"{name}.nn.lins.{j}"
                hop, g = (1, gain) if j == 0 else (0, mlp_gain)
                stages.append(_Stage(where, [(hop, _weight(lin, where))], [lin.bias], g))
        else:
            raise TypeError(
                f"virgo_: unsupported layer {type(conv).__name__} ({name}); "
                "supported: GCNConv, SAGEConv, GINConv"
            )
    if len(kinds) > 1:
        raise TypeError(f"virgo_: mixed layer types {sorted(k.__name__ for k in kinds)}")
    return stages


class _Propagation:
    """``y -> P y`` and ``y -> P^T y`` with sparse CSR products; ``P = adj + self_weight * I``."""

    def __init__(self, adj: Tensor, self_weight: float = 0.0) -> None:
        self.adj = adj if isinstance(adj, SparseAdj) else SparseAdj(adj.to_sparse_csr())
        self.self_weight = self_weight

    def __call__(self, y: Tensor, transpose: bool = False) -> Tensor:
        p = self.adj.transposed() if transpose else self.adj.plain
        out = torch.sparse.mm(p, y)
        return out + self.self_weight * y if self.self_weight else out

    def moments(self, y: Tensor, hops: int, transpose: bool = False) -> list[float]:
        """``[||P^j y||_F^2 for j in 0..hops]``, a block of columns at a time (<= 2^24 entries)."""
        out = [0.0] * (hops + 1)
        chunk = max(1, 2**24 // max(y.size(0), 1))
        for cols in y.split(chunk, dim=1):
            z = cols.float().contiguous()  # (N, <=chunk)
            for j in range(hops + 1):
                if j:
                    z = self(z, transpose)
                out[j] += float(torch.linalg.vector_norm(z)) ** 2
        return out


def _propagation(net: BasicGNN, adj, num_nodes: int) -> _Propagation:
    """The matrix the model's convolutions multiply by, built from what the model is called with."""
    conv = net.convs[0]
    if getattr(conv, "flow", "source_to_target") != "source_to_target":
        raise TypeError(f"virgo_: flow {conv.flow!r} is not supported")
    self_weight = 1.0 + float(conv.eps) if isinstance(conv, GINConv) else 0.0
    if isinstance(conv, GINConv) and any(float(c.eps) != float(conv.eps) for c in net.convs):
        raise TypeError("virgo_: GINConv layers with different eps are not supported")
    aggr = conv.aggr if isinstance(conv.aggr, str) else type(conv.aggr).__name__
    if aggr not in ("add", "sum", "mean"):
        raise TypeError(f"virgo_: aggregation {aggr!r} of {type(conv).__name__} is not supported")
    renorm = isinstance(conv, GCNConv) and conv.normalize
    if not isinstance(adj, Tensor):
        raise TypeError(f"virgo_: adj must be a sparse adjacency or edge_index, got {type(adj)}")
    if adj.layout != torch.strided:  # a sparse adj_t (rows = targets)
        if renorm:
            plain = adj.plain if isinstance(adj, SparseAdj) else adj
            adj = gcn_norm(plain, None, num_nodes, conv.improved, conv.add_self_loops)[0]
        elif aggr == "mean":
            csr = (adj.plain if isinstance(adj, SparseAdj) else adj).to_sparse_csr()
            deg = csr.crow_indices().diff().clamp(min=1).to(csr.values().dtype)
            rows = torch.repeat_interleave(torch.arange(num_nodes), csr.crow_indices().diff())
            adj = torch.sparse_csr_tensor(
                csr.crow_indices(), csr.col_indices(), csr.values() / deg[rows], csr.shape
            )
        return _Propagation(adj, self_weight)
    if adj.dim() != 2 or adj.size(0) != 2 or adj.is_floating_point():
        raise TypeError(f"virgo_: edge_index must be an integer (2, E) tensor, got {adj.shape}")
    if renorm:
        ei, w = gcn_norm(adj, None, num_nodes, conv.improved, conv.add_self_loops)
        mat = torch.sparse_coo_tensor(ei.flip(0), w, (num_nodes, num_nodes)).coalesce()
        return _Propagation(mat.to_sparse_csr(), self_weight)
    kind = "mean" if aggr == "mean" else "sum"
    return _Propagation(adjacency(adj, num_nodes, kind), self_weight)


def _times(poly: list[float], hops: list[int]) -> list[float]:
    """``poly(z) * sum_b z^{hops[b]}``."""
    out = [0.0] * (len(poly) + max(hops))
    for j, a in enumerate(poly):
        for k in hops:
            out[j + k] += a
    return out


def _dot(poly: list[float], moments: list[float]) -> float:
    return sum(a * m for a, m in zip(poly, moments, strict=False))


def virgo_variances(model: nn.Module, x: Tensor, adj, mode: str = "mean") -> list[LayerVariance]:
    """Per-stage Virgo variances of ``model`` for input ``x`` on graph ``adj`` (nothing changed).

    Args:
        model: a PyG ``GCN``/``GraphSAGE``/``GIN`` (optionally inside ``InputDropout``).
        x: (N, F) input features (a learnable embedding weight is fine; it is not modified).
        adj: what the model is called with: a sparse ``adj_t`` (rows = targets) or an edge_index.
        mode: ``"mean"``, ``"harmonic"``, ``"forward"`` or ``"backward"`` (see the module doc).

    Shapes:
        - **x:** (N, F); **adj:** (N, N) sparse or (2, E)
    """
    if mode not in MODES:
        raise ValueError(f"unknown Virgo mode {mode!r}; valid: {', '.join(MODES)}")
    net = _unwrap(model)
    stages = _stages(net)
    x = x.detach()
    x = x.to_dense() if x.layout != torch.strided else x
    n = x.size(0)
    prop = _propagation(net, adj, n)
    hops = sum(max(k for k, _ in s.branches) for s in stages)
    with torch.no_grad():
        fwd_m = prop.moments(x, hops)  # ||P^j X||_F^2
        bwd_m = prop.moments(torch.ones(n, 1), hops, transpose=True)  # ||(P^T)^j 1||^2
    if fwd_m[0] <= 0:
        raise ValueError("virgo_: the input features are all zero")
    polys = [[1.0]]  # forward: f_0, f_1, ...
    for s in stages:
        polys.append(_times(polys[-1], [k for k, _ in s.branches]))
    back = [[1.0]]  # backward: polynomials from the output down to each stage's input
    for s in reversed(stages):
        back.append(_times(back[-1], [k for k, _ in s.branches]))
    back.reverse()  # back[l] = gradient polynomial at the input of stage l; back[-1] = output
    out, moment = [], fwd_m[0] / (n * x.size(1))
    for l, s in enumerate(stages):
        s_in, s_out = _dot(polys[l], fwd_m), _dot(polys[l + 1], fwd_m)
        u_out, u_in = _dot(back[l + 1], bwd_m), _dot(back[l], bwd_m)
        cf = s.gain / s.fan_in * s_in / s_out
        cb = s.gain / s.fan_out * u_out / u_in
        c = {
            "mean": (cf + cb) / 2,
            "harmonic": 2 * cf * cb / (cf + cb),
            "forward": cf,
            "backward": cb,
        }[mode]
        moment = moment * c * s.fan_in / s.gain * s_out / s_in
        out.append(LayerVariance(s.name, s.fan_in, s.fan_out, cf, cb, c, moment))
    return out


def virgo_(model: nn.Module, x: Tensor, adj, mode: str = "mean") -> nn.Module:
    """Re-initialise ``model``'s weights in place with Virgo; biases are zeroed. Returns ``model``.

    Each weight is drawn from :math:`U(-\\sqrt{3 c_l}, \\sqrt{3 c_l})`, :math:`c_l` from
    :func:`virgo_variances` (``mode="mean"``: the average of the forward and backward
    constraints). Unsupported layers, activations or normalisations raise a ``TypeError``
    naming them.
    """
    variances = virgo_variances(model, x, adj, mode)
    stages = _stages(_unwrap(model))
    with torch.no_grad():
        for stage, v in zip(stages, variances, strict=True):
            bound = math.sqrt(3.0 * v.variance)
            for _, w in stage.branches:
                w.uniform_(-bound, bound)
            for b in stage.biases:
                if b is not None:
                    b.zero_()
    return model


def xavier_(model: nn.Module, x: Tensor | None = None, adj=None) -> nn.Module:
    """Glorot-uniform weights, zero biases, on the same stages as :func:`virgo_` (the baseline).

    ``x`` and ``adj`` are accepted for a common signature with :func:`virgo_` and ignored.
    """
    with torch.no_grad():
        for stage in _stages(_unwrap(model)):
            for _, w in stage.branches:
                nn.init.xavier_uniform_(w)
            for b in stage.biases:
                if b is not None:
                    b.zero_()
    return model


def glorot_linears_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases for every ``nn.Linear`` inside ``module``: the
    TensorFlow/Keras default, which the reference code of RRN and of ParetoGNN trains from."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    m.bias.zero_()
    return module


#: Initialisations by name, each ``init_(model, x, adj) -> model`` (the ``init=`` run option).
INITS = {"xavier": xavier_, "virgo": virgo_}
