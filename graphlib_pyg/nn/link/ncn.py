"""Neural Common Neighbour link predictors (NCN) and NCN with completion (NCNC).

Wang, Yang, Zhang: "Neural Common Neighbor with Completion for Link Prediction", ICLR 2024
(https://arxiv.org/abs/2302.00890). Node states ``h`` come from any MPNN run once per batch; a
pair ``(i, j)`` is scored as

.. math::
    s(i, j) = \\mathrm{MLP}\\Big(\\beta \\, \\mathrm{MLP}_{cn}\\big(\\textstyle\\sum_{u \\in N(i)
    \\cap N(j)} h_u\\big) + \\mathrm{MLP}_{ij}(h_i \\odot h_j)\\Big).

NCNC also pools the neighbours that only one endpoint has, each weighted by the probability that
the missing edge exists, as predicted by the same model one completion level lower (NCN at depth
0), calibrated as :math:`p = \\alpha \\, p_t p_0 / (p_t p_0 + 1 - p_0)` with
:math:`p_0 = \\sigma(\\mathrm{scale} \\cdot (s - \\mathrm{offset}))`.

Common neighbours come from :class:`~graphlib_pyg.nn.link.neighbors.NeighborSets` (sorted keys +
``torch.searchsorted``) and pooling is a sparse CSR product: no torch-sparse, no dense N x N.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphlib_pyg.nn.link.neighbors import NeighborSets
from graphlib_pyg.nn.link.pooling import pool, sample_per_pair


def _norm(dim: int, ln: bool) -> nn.Module:
    return nn.LayerNorm(dim) if ln else nn.Identity()


class PropagationEncoder(nn.Module):
    """NCN's MPNN: an input projection, then parameter-free propagation layers.

    ``x -> dropout -> Linear (or a learnable embedding for featureless graphs) -> dropout ->
    [propagate -> tail dropout (+ residual)] * num_layers``, optionally a learnable weighted sum of
    the layers' outputs (jumping knowledge). This is the "pure" GCN/sum encoder of the NCN paper.

    Args:
        in_channels: input feature size (ignored when ``num_embeddings`` is set).
        hidden_channels: output size.
        num_layers: propagation steps (default 1).
        aggr: ``"gcn"``, ``"sum"`` or ``"mean"`` (see :meth:`NeighborSets.propagate`).
        input_dropout: dropout on ``x`` before the projection.
        dropout: dropout after the projection.
        tail_dropout: dropout after each propagation.
        residual: add each layer's input to its output.
        jk: weighted sum of all layers' outputs with learnable weights (initialised to 1).
        num_embeddings: learn an embedding per node instead of projecting features.

    Shapes:
        - **x:** (N, F), or ignored (may be ``None``) with ``num_embeddings``
        - **output:** (N, hidden_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int = 1,
        aggr: str = "gcn",
        input_dropout: float = 0.0,
        dropout: float = 0.0,
        tail_dropout: float = 0.0,
        residual: bool = False,
        jk: bool = False,
        num_embeddings: int | None = None,
    ) -> None:
        super().__init__()
        if aggr not in ("gcn", "sum", "mean"):
            raise ValueError(f"unknown aggregation {aggr!r}; valid: gcn, sum, mean")
        self.aggr, self.num_layers, self.residual = aggr, num_layers, residual
        self.input_dropout = nn.Dropout(input_dropout)
        self.emb = nn.Embedding(num_embeddings, hidden_channels) if num_embeddings else None
        self.lin = None if num_embeddings else nn.Linear(in_channels, hidden_channels)
        self.dropout = nn.Dropout(dropout)
        self.tail_dropout = nn.Dropout(tail_dropout)
        self.jk = nn.Parameter(torch.ones(num_layers)) if jk and num_layers > 0 else None
        self._nz_key: tuple | None = None
        self._nz: tuple[Tensor, Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.emb is not None:
            nn.init.orthogonal_(self.emb.weight)
        else:
            self.lin.reset_parameters()
        if self.jk is not None:
            nn.init.ones_(self.jk)

    def forward(self, x: Tensor | None, graph: NeighborSets) -> Tensor:
        if self.emb is not None:
            h = self.dropout(self.emb.weight)
        else:
            h = self.dropout(self._project(x))
        outs = []
        for _ in range(self.num_layers):
            out = self.tail_dropout(graph.propagate(h, self.aggr))
            h = out + h if self.residual else out
            outs.append(h)
        if self.jk is not None:
            h = (torch.stack(outs) * self.jk.view(-1, 1, 1)).sum(0)
        return h

    def _project(self, x: Tensor) -> Tensor:
        """``lin(dropout(x))``; for mostly-zero inputs (bag-of-words) as a sparse product.

        The non-zero pattern of ``x`` is found once per feature tensor; dropout is drawn for the
        non-zeros only (a dropped zero is still zero), and the projection multiplies a sparse
        matrix, so the cost follows the number of non-zeros instead of N x F.
        """
        if x.requires_grad or x.dim() != 2 or x.layout != torch.strided:
            return self.lin(self.input_dropout(x))
        key = (x.data_ptr(), tuple(x.shape), x._version)
        if key != self._nz_key:
            nz = x.nonzero().t()
            self._nz = (nz, x[nz[0], nz[1]]) if nz.size(1) < 0.1 * x.numel() else None
            self._nz_key = key
        if self._nz is None:
            return self.lin(self.input_dropout(x))
        idx, val = self._nz
        p = self.input_dropout.p
        if self.training and p > 0:
            keep = torch.rand(val.numel()) >= p
            idx, val = idx[:, keep], val[keep] / (1.0 - p)
        xs = torch.sparse_coo_tensor(idx, val, x.shape, is_coalesced=True, check_invariants=False)
        with torch.autocast(x.device.type, enabled=False):  # sparse products stay float32
            return torch.sparse.mm(xs, self.lin.weight.t()) + self.lin.bias

    def __repr__(self) -> str:
        src = f"emb={self.emb.num_embeddings}" if self.emb is not None else f"{self.lin}"
        return f"{self.__class__.__name__}({src}, aggr={self.aggr}, layers={self.num_layers})"


class NCNPredictor(nn.Module):
    r"""Neural Common Neighbour: score node pairs from their states and common neighbours.

    Args:
        in_channels: node state size F.
        hidden_channels: MLP width.
        dropout: dropout inside the MLPs.
        ln: LayerNorm inside the MLPs (default True).
        use_xlin: add a residual MLP to the states before pooling them over common neighbours.
        tailact: end the pair and common-neighbour MLPs with an activation (no last linear).
        twolayerlin: two hidden layers in the output MLP instead of one.
        beta: initial weight of the common-neighbour term (learnable).
        edge_dropout: during training, drop each adjacency entry with this probability before
            finding common neighbours.
        cn_max: cap the common neighbours pooled per pair (unbiased reweighted sampling);
            ``None`` pools all of them.

    Shapes:
        - **h:** (N, F) node states
        - **pairs:** (2, P)
        - **output:** (P,) logits
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        dropout: float = 0.0,
        ln: bool = True,
        use_xlin: bool = True,
        tailact: bool = True,
        twolayerlin: bool = False,
        beta: float = 1.0,
        edge_dropout: float = 0.0,
        cn_max: int | None = None,
    ) -> None:
        super().__init__()
        hid, p = hidden_channels, dropout
        self.beta0, self.edge_dropout, self.cn_max = beta, edge_dropout, cn_max
        self.beta = nn.Parameter(torch.full((1,), float(beta)))
        self.xlin = None
        if use_xlin:
            self.xlin = nn.Sequential(
                nn.Linear(in_channels, hid), nn.Dropout(p), nn.ReLU(),
                nn.Linear(hid, in_channels), _norm(in_channels, ln), nn.Dropout(p), nn.ReLU(),
            )  # fmt: skip
        tail = [] if tailact else [nn.Linear(hid, hid)]
        self.cn_mlp = nn.Sequential(
            nn.Linear(in_channels, hid), nn.Dropout(p), nn.ReLU(),
            nn.Linear(hid, hid), _norm(hid, ln), nn.Dropout(p), nn.ReLU(), *tail,
        )  # fmt: skip
        self.ij_mlp = nn.Sequential(
            nn.Linear(in_channels, hid), _norm(hid, ln), nn.Dropout(p), nn.ReLU(), *tail
        )
        second = [nn.Linear(hid, hid), _norm(hid, ln), nn.Dropout(p), nn.ReLU()]
        self.out_mlp = nn.Sequential(
            nn.Linear(hid, hid), _norm(hid, ln), nn.Dropout(p), nn.ReLU(),
            *(second if twolayerlin else []), nn.Linear(hid, 1),
        )  # fmt: skip

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        nn.init.constant_(self.beta, self.beta0)

    def _graph(self, graph: NeighborSets) -> NeighborSets:
        if self.training and self.edge_dropout > 0:
            return graph.drop_entries(self.edge_dropout)
        return graph

    def _pooled_states(self, h: Tensor) -> Tensor:
        return h + self.xlin(h) if self.xlin is not None else h

    def _score(self, h: Tensor, pairs: Tensor, xcn: Tensor) -> Tensor:
        xij = self.ij_mlp(h[pairs[0]] * h[pairs[1]])
        return self.out_mlp(self.cn_mlp(xcn) * self.beta + xij).view(-1)

    def _cn_pool(self, cn: tuple[Tensor, Tensor], num_pairs: int, hx: Tensor) -> Tensor:
        pid, u, w = sample_per_pair(*cn, num_pairs, self.cn_max if self.training else None)
        return pool(pid, u, num_pairs, hx, w)

    def forward(self, h: Tensor, graph: NeighborSets, pairs: Tensor) -> Tensor:
        _check_pairs(h, graph, pairs)
        graph = self._graph(graph)
        (cn,) = graph.overlap(pairs)
        xcn = self._cn_pool(cn, pairs.size(1), self._pooled_states(h))
        return self._score(h, pairs, xcn)

    @torch.no_grad()
    def predict(self, h: Tensor, graph: NeighborSets, pairs: Tensor, batch: int = 65536) -> Tensor:
        """Logits for many pairs in batches, without gradients. (2, P) -> (P,)."""
        if pairs.size(1) == 0:
            return torch.empty(0)
        return torch.cat([self(h, graph, part) for part in pairs.split(batch, dim=1)])


class NCNCPredictor(NCNPredictor):
    r"""NCN with completion: also pools likely-but-missing common neighbours.

    For a pair ``(i, j)``, every ``k`` in ``N(i) \ N(j)`` is weighted by the calibrated probability
    that edge ``(j, k)`` exists, as scored by this model at completion depth ``depth - 1`` (depth
    0 is plain NCN), and symmetrically for ``N(j) \ N(i)``; those weighted states are added to the
    common-neighbour sum. The completion probabilities carry no gradient (as in the paper).

    Args:
        depth: completion depth (default 1).
        alpha, pt, scale, offset: calibration
            :math:`p = \alpha\, p_t p_0 / (p_t p_0 + 1 - p_0)`, :math:`p_0 = \sigma(
            \mathrm{scale}(s - \mathrm{offset}))`.
        train_res_max, test_res_max: cap the completion candidates per pair and side during
            training / evaluation (reweighted sampling); ``None`` keeps all.
        split_size: score completion candidates in chunks of this many pairs (memory bound).
        **kwargs: :class:`NCNPredictor` arguments.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        depth: int = 1,
        alpha: float = 1.0,
        pt: float = 0.5,
        scale: float = 5.0,
        offset: float = 3.0,
        train_res_max: int | None = None,
        test_res_max: int | None = None,
        split_size: int = 262144,
        **kwargs,
    ) -> None:
        super().__init__(in_channels, hidden_channels, **kwargs)
        self.depth, self.alpha, self.pt = depth, alpha, pt
        self.scale, self.offset = scale, offset
        self.train_res_max, self.test_res_max = train_res_max, test_res_max
        self.split_size = split_size

    def calibrate(self, logits: Tensor) -> Tensor:
        """Edge probability used to weight a completion candidate. (C,) -> (C,) in [0, alpha]."""
        p0 = torch.sigmoid(self.scale * (logits - self.offset))
        return self.alpha * self.pt * p0 / (self.pt * p0 + 1 - p0)

    def forward(
        self, h: Tensor, graph: NeighborSets, pairs: Tensor, depth: int | None = None
    ) -> Tensor:
        _check_pairs(h, graph, pairs)
        depth = self.depth if depth is None else depth
        return self._complete(h, self._pooled_states(h), self._graph(graph), pairs, depth)

    def _complete(
        self, h: Tensor, hx: Tensor, graph: NeighborSets, pairs: Tensor, depth: int
    ) -> Tensor:
        p = pairs.size(1)
        if depth <= 0:
            (cn,) = graph.overlap(pairs)
            return self._score(h, pairs, self._cn_pool(cn, p, hx))
        cn, only_i, only_j = graph.overlap(pairs, residual=True)
        xcn = self._cn_pool(cn, p, hx)
        cap = self.train_res_max if self.training else self.test_res_max
        i, j = pairs[0].long(), pairs[1].long()
        for (pid, k), other in ((only_i, j), (only_j, i)):
            pid, k, w = sample_per_pair(pid, k, p, cap)
            prob = self._completion_prob(h, hx, graph, torch.stack([other[pid], k]), depth - 1)
            xcn = xcn + pool(pid, k, p, hx, prob if w is None else prob * w)
        return self._score(h, pairs, xcn)

    @torch.no_grad()
    def _completion_prob(
        self, h: Tensor, hx: Tensor, graph: NeighborSets, pairs: Tensor, depth: int
    ) -> Tensor:
        hx = hx.detach()
        logits = [
            self._complete(h, hx, graph, part, depth)
            for part in pairs.split(self.split_size, dim=1)
        ]
        return self.calibrate(torch.cat(logits) if logits else torch.empty(0))


def _check_pairs(h: Tensor, graph: NeighborSets, pairs: Tensor) -> None:
    if h.dim() != 2 or h.size(0) != graph.num_nodes:
        raise ValueError(
            f"node states must have shape (num_nodes={graph.num_nodes}, F), got {tuple(h.shape)}"
        )
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"pairs must have shape (2, P), got {tuple(pairs.shape)}")
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= graph.num_nodes):
        raise ValueError(
            f"pairs refer to node {int(pairs.max())} (min {int(pairs.min())}) but the graph has "
            f"{graph.num_nodes} nodes"
        )


__all__ = ["NCNCPredictor", "NCNPredictor", "PropagationEncoder"]
