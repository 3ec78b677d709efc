"""Epistemic GNN (Khalid & Schockaert, ICLR 2025): node states as sets of probability vectors
over primitive relations, composed along edges by a positive normalised bilinear map and
aggregated by an element-wise minimum or product, like algebraic closure."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

EPS = 1e-12


class EpiGNN(MessagePassing):
    r"""The Epistemic GNN from `"Systematic Relational Reasoning With Epistemic Graph Neural
    Networks" <https://openreview.net/forum?id=qNp86ByQlN>`_ (Khalid & Schockaert, ICLR 2025).

    A node state is :math:`F` facets, each a probability vector over :math:`d` primitive
    relations; entry 0 is the identity relation. Relation :math:`r` is the prototype
    :math:`\mathbf{p}_r = \mathrm{softmax}(\mathbf{w}_r)` (per facet). Two states compose
    through a positive bilinear map whose slices :math:`A_{:ij}` are probability vectors
    (a softmax over the output index) and whose identity rows are fixed,
    :math:`A_{p0j} = \delta_{pj}`, :math:`A_{pi0} = \delta_{pi}`:

    .. math::
        (\mathbf{x} \circ \mathbf{y})_p = \sum_{i,j} x_i \, A_{pij} \, y_j ,

    so composing probability vectors gives a probability vector and :math:`\mathbf{e}_0` is
    neutral. Query-conditioned from a head :math:`h`, a forward run starts from
    :math:`\mathbf{x}_h = \mathbf{e}_0` (every other node uniform) and repeats

    .. math::
        \mathbf{x}_v \leftarrow \mathrm{normalise}\Big(\epsilon +
            \underset{(u, v, r) \in \mathcal{E}}{\mathrm{min}\ \text{or}\ \prod}
            \mathbf{x}_u \circ \mathbf{p}_r\Big), \qquad \mathbf{x}_h \leftarrow \mathbf{e}_0 ,

    element-wise over the incoming edges (an intersection of the relation sets each path
    allows); a backward run from the tail :math:`t` composes :math:`\mathbf{p}_r \circ
    \mathbf{y}_v` against the edge direction. The answer combines both runs at every node of
    the query graph, :math:`\mathbf{o} = \mathrm{normalise}(\epsilon + \min_v \mathbf{x}_v
    \circ \mathbf{y}_v)` (or the product), and relation :math:`r` scores
    :math:`s_r = -\frac{1}{F}\sum_{f} \mathrm{CE}(\mathbf{p}_{r,f}, \mathbf{o}_f)`.
    Parameters are shared across steps, so the step count is a forward argument.

    Args:
        num_relations (int): primitive relations :math:`R` (edge types and answers).
        facets (int, optional): :math:`F`. (default: :obj:`8`, the paper's RCC-8 setting)
        facet_dim (int, optional): :math:`d`. (default: :obj:`4`: hidden 32 = 8 x 4)
        aggr (str, optional): ``"min"`` or ``"mul"``. (default: :obj:`"min"`)

    Shapes:
        - **input:** edge indices :math:`(2, |\mathcal{E}|)`, edge types
          :math:`(|\mathcal{E}|,)`, heads and tails :math:`(B,)`, the query of each node
          :math:`(|\mathcal{V}|,)`
        - **output:** relation scores :math:`(B, R)`
    """

    def __init__(
        self, num_relations: int, facets: int = 8, facet_dim: int = 4, aggr: str = "min"
    ) -> None:
        super().__init__(aggr=None, node_dim=0)
        if aggr not in ("min", "mul"):
            raise ValueError(f"aggr must be 'min' or 'mul', got {aggr!r}")
        if num_relations < 1 or facets < 1 or facet_dim < 2:
            raise ValueError(
                f"need num_relations >= 1, facets >= 1, facet_dim >= 2; got "
                f"{num_relations}, {facets}, {facet_dim}"
            )
        self.num_relations, self.facets, self.facet_dim = num_relations, facets, facet_dim
        self.reduce = aggr
        self.relation_logits = nn.Parameter(torch.empty(num_relations, facets, facet_dim))
        d = facet_dim  # the learned block of A: outputs p, inputs i, j >= 1
        self.compose_logits = nn.Parameter(torch.empty(facets, d, d - 1, d - 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.relation_logits)
        nn.init.xavier_uniform_(self.compose_logits)

    def prototypes(self) -> Tensor:
        """Relation prototypes, (R, F, d) probability vectors."""
        return self.relation_logits.softmax(-1)

    def composition(self) -> Tensor:
        """The bilinear map :math:`A`, (F, d, d, d) indexed (facet, out p, left i, right j)."""
        f, d = self.facets, self.facet_dim
        eye = torch.eye(d, device=self.compose_logits.device)
        a = torch.zeros(f, d, d, d, device=eye.device, dtype=self.compose_logits.dtype)
        a[:, :, 0, :] = eye  # e_0 o y = y
        a[:, :, :, 0] = eye  # x o e_0 = x
        a[:, :, 1:, 1:] = self.compose_logits.softmax(1)  # each slice a probability vector
        return a

    def compose(self, x: Tensor, y: Tensor) -> Tensor:
        """:math:`x \\circ y` of states (n, F, d) and (n, F, d)."""
        return torch.einsum("nfi,fpij,nfj->nfp", x, self.composition(), y)

    def _normalise(self, x: Tensor) -> Tensor:
        x = x + EPS
        return x / x.sum(-1, keepdim=True)

    def run(
        self,
        edge_index: Tensor,
        edge_type: Tensor,
        start: Tensor,
        num_nodes: int,
        steps: int,
        reverse: bool = False,
    ) -> Tensor:
        """States (N, F, d) after ``steps`` rounds from ``e_0`` at nodes ``start`` (B,):
        forward along the edges, or backward (``reverse``) against them."""
        f, d = self.facets, self.facet_dim
        proto, a = self.prototypes(), self.composition()  # (R, F, d), (F, d, d, d)
        # a composition with a fixed relation is linear in the state: x -> x @ M_r
        if reverse:  # p_r o y: M_r[f, j, p] = sum_i p_r[f, i] A[f, p, i, j]
            mats = torch.einsum("rfi,fpij->rfjp", proto, a)  # (R, F, d, d)
            edge_index = edge_index.flip(0)  # messages from the edge's target to its source
        else:  # x o p_r: M_r[f, i, p] = sum_j A[f, p, i, j] p_r[f, j]
            mats = torch.einsum("fpij,rfj->rfip", a, proto)  # (R, F, d, d)
        boundary = torch.zeros(f, d, device=proto.device, dtype=proto.dtype)
        boundary[:, 0] = 1.0  # (F, d): e_0 in every facet
        x = torch.full((num_nodes, f, d), 1.0 / d, device=proto.device, dtype=proto.dtype)
        x[start] = boundary
        for _ in range(steps):
            x = self.propagate(edge_index, x=x, mats=mats[edge_type], size=(num_nodes, num_nodes))
            x = x.clone()
            x[start] = boundary
        return x  # (N, F, d)

    def message(self, x_j: Tensor, mats: Tensor) -> Tensor:
        return torch.einsum("efi,efip->efp", x_j, mats)  # (E, F, d)

    def aggregate(self, inputs: Tensor, index: Tensor, dim_size: int | None = None) -> Tensor:
        # nodes without incoming messages get 0 (min) or 1 (mul): uniform after normalising
        return self._normalise(scatter(inputs, index, 0, dim_size=dim_size, reduce=self.reduce))

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor,
        head: Tensor,
        tail: Tensor,
        batch: Tensor,
        steps: int = 9,
    ) -> Tensor:
        """Relation scores (B, R) for the queries (``head[b]``, ``tail[b]``); ``batch`` (N,)
        names each node's query."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if edge_type.numel() and int(edge_type.max()) >= self.num_relations:
            raise ValueError(f"edge_type must be < num_relations={self.num_relations}")
        n = batch.numel()
        fwd = self.run(edge_index, edge_type, head, n, steps)  # (N, F, d)
        bwd = self.run(edge_index, edge_type, tail, n, steps, reverse=True)  # (N, F, d)
        both = self.compose(fwd, bwd)  # (N, F, d): head -> v -> tail at every node v
        out = self._normalise(scatter(both, batch, 0, dim_size=head.numel(), reduce=self.reduce))
        return self.score(out)

    def score(self, out: Tensor) -> Tensor:
        """Scores (B, R) of answer states (B, F, d): minus the cross-entropy of each relation
        prototype against the state, averaged over facets."""
        logs = out.clamp_min(EPS).log()  # (B, F, d)
        return torch.einsum("rfp,bfp->br", self.prototypes(), logs) / self.facets

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.num_relations}, facets={self.facets}, "
            f"facet_dim={self.facet_dim}, aggr={self.reduce!r})"
        )
