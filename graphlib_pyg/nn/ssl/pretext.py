"""Self-supervised pretext tasks as modules that share one encoder.

Each task owns its head(s) and its augmentation, never the encoder: ``task(encoder, x,
edge_index)`` returns the task's loss on that (sub)graph, so any set of tasks can train one
encoder together (:mod:`~graphlib_pyg.nn.ssl.combine`) and each is usable alone. The five are the
pretext tasks of ParetoGNN (Ju et al., ICLR 2023; official code ``jumxglhf/ParetoGNN``,
``src/model.py``: ``p_link``, ``p_ming``, ``p_minsg``, ``p_decor``, ``p_recon``), each following
its own paper where the two differ (stated per class). Augmentations are PyG's
(``dropout_edge``, ``mask_feature``, ``negative_sampling``) and DGI's loss is PyG's
``DeepGraphInfomax``.

``sample`` says which subgraph the trainer draws for a task: ``"khop"`` (the k-hop neighbourhood
of random seed nodes) or ``"nodes"`` (the subgraph induced by random nodes; ParetoGNN's SAINT node
sampler for CCA-SSG).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DeepGraphInfomax, GCNConv
from torch_geometric.utils import dropout_edge, mask_feature, negative_sampling

from graphlib_pyg.data.graph import adjacency
from graphlib_pyg.nn.init import glorot_linears_  # ParetoGNN's weights_init
from graphlib_pyg.nn.ssl.encoder import SSLEncoder


def _mlp(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, out_channels))


def _graph_for(encoder: nn.Module, edge_index: Tensor, num_nodes: int) -> Tensor:
    """What to pass ``encoder`` for several passes over one graph: :class:`SSLEncoder` takes the
    normalised adjacency, built once; any other encoder gets ``edge_index``."""
    if isinstance(encoder, SSLEncoder):
        return adjacency(edge_index, num_nodes, "gcn")
    return edge_index


class Pretext(nn.Module):
    """Base of the pretext tasks: ``forward(encoder, x, edge_index) -> loss`` (a scalar)."""

    name: str = ""
    sample: str = "khop"

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class LinkPretext(Pretext):
    r"""Link prediction: the subgraph's edges against as many uniform non-edges,

    .. math::
        \mathcal{L} = -\log \sigma(s_{uv}) - \log(1 - \sigma(s_{u'v'})), \quad
        s_{uv} = w^\top \mathrm{ReLU}(W \bar{h}_u) \odot \mathrm{ReLU}(W \bar{h}_v),

    with :math:`\bar{h} = h / \lVert h \rVert` from features under dropout ``feat_drop``
    (ParetoGNN's ``p_link`` and ``link_prediction_data_process``).

    Args:
        hidden: encoder output size.
        predictor_dim: head width (ParetoGNN ``--predictor_dim 512``).
        neg_ratio: negatives per positive (``--lp_neg_ratio 1``).
        feat_drop: feature dropout on the input (0.4 in ParetoGNN).
        max_edges: positives per step, drawn from the subgraph's edges (``None``: all).

    Shapes:
        - input: :math:`(N, F)`, :math:`(2, E)`; output: scalar loss.
    """

    name = "link"

    def __init__(
        self,
        hidden: int,
        predictor_dim: int = 512,
        neg_ratio: int = 1,
        feat_drop: float = 0.4,
        max_edges: int | None = None,
    ) -> None:
        super().__init__()
        self.neg_ratio, self.feat_drop, self.max_edges = neg_ratio, feat_drop, max_edges
        self.hid = nn.Linear(hidden, predictor_dim)
        self.out = nn.Linear(predictor_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot_linears_(self)

    def score(self, h: Tensor, pairs: Tensor) -> Tensor:
        """Logits :math:`s_{uv}` of the ``(2, P)`` node ``pairs``. On a small (sub)graph the
        :math:`(N, N)` matrix of all scores, one matrix product, is cheaper than gathering
        :math:`2P` rows of width ``predictor_dim``; the two give the same :math:`s_{uv}`."""
        a = F.relu(self.hid(h))  # (N, predictor_dim)
        if a.size(0) ** 2 <= pairs.size(1) * a.size(1):
            every = (a * self.out.weight) @ a.t() + self.out.bias  # (N, N)
            return every[pairs[0], pairs[1]]  # (P,)
        return self.out(a[pairs[0]] * a[pairs[1]]).view(-1)  # (P,)

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        pos = edge_index
        if self.max_edges is not None and pos.size(1) > self.max_edges:
            pos = pos[:, torch.randperm(pos.size(1), device=pos.device)[: self.max_edges]]
        neg = negative_sampling(edge_index, x.size(0), pos.size(1) * self.neg_ratio)
        h = F.normalize(encoder(F.dropout(x, self.feat_drop, self.training), edge_index), dim=1)
        logits = self.score(h, torch.cat([pos, neg], dim=1))  # (P + P',)
        target = torch.zeros_like(logits)
        target[: pos.size(1)] = 1.0
        return F.binary_cross_entropy_with_logits(logits, target)


class DGIPretext(Pretext):
    r"""Deep Graph Infomax (Velickovic et al., ICLR 2019): a bilinear discriminator tells node
    embeddings of the graph from those of the graph with shuffled features, against the summary
    :math:`s = \sigma(\frac{1}{N}\sum_i h_i)`; the loss is PyG's ``DeepGraphInfomax.loss``
    (ParetoGNN's ``p_ming`` is the same on a k-hop subgraph).

    Args:
        hidden: encoder output size.

    Shapes:
        - input: :math:`(N, F)`, :math:`(2, E)`; output: scalar loss.
    """

    name = "dgi"

    def __init__(self, hidden: int) -> None:
        super().__init__()
        # Only DGI's discriminator weight and loss are used: the shared encoder stays outside.
        self.dgi = DeepGraphInfomax(hidden, encoder=nn.Identity(), summary=_summary,
                                    corruption=_shuffle)  # fmt: skip
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.dgi.reset_parameters()

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        graph = _graph_for(encoder, edge_index, x.size(0))  # one graph, two passes
        pos = encoder(x, graph)  # (N, hidden)
        neg = encoder(_shuffle(x), graph)  # (N, hidden)
        return self.dgi.loss(pos, neg, _summary(pos))


def _summary(z: Tensor, *args) -> Tensor:
    return torch.sigmoid(z.mean(dim=0))


def _shuffle(x: Tensor, *args) -> Tensor:
    return x[torch.randperm(x.size(0), device=x.device)]


class GRACEPretext(Pretext):
    r"""GRACE (Zhu et al., 2020): two views by edge dropping and feature masking, an MLP
    projection :math:`g`, and the symmetric InfoNCE with intra- and inter-view negatives,

    .. math::
        \ell(u_i, v_i) = -\log \frac{e^{\theta(u_i, v_i)/\tau}}{e^{\theta(u_i, v_i)/\tau}
        + \sum_{k \ne i} e^{\theta(u_i, v_k)/\tau} + \sum_{k \ne i} e^{\theta(u_i, u_k)/\tau}},

    :math:`\theta` the cosine similarity (ParetoGNN's ``p_minsg``).

    Args:
        hidden: encoder output size.
        proj_dim: projection width (ParetoGNN ``--predictor_dim 512``).
        tau: temperature (``--temperature_minsg 0.1``).
        edge_drop, feat_drop: drop rates of both views (``--minsg_der/--minsg_dfr``, 0.3).

    Shapes:
        - input: :math:`(N, F)`, :math:`(2, E)`; output: scalar loss.
    """

    name = "grace"

    def __init__(
        self,
        hidden: int,
        proj_dim: int = 512,
        tau: float = 0.1,
        edge_drop: float = 0.3,
        feat_drop: float = 0.3,
    ) -> None:
        super().__init__()
        self.tau, self.edge_drop, self.feat_drop = tau, edge_drop, feat_drop
        self.proj = _mlp(hidden, proj_dim, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot_linears_(self)

    def view(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        edge_index, _ = dropout_edge(edge_index, p=self.edge_drop, training=self.training)
        x, _ = mask_feature(x, p=self.feat_drop, mode="col", training=self.training)
        return F.normalize(self.proj(encoder(x, edge_index)), dim=1)  # (N, hidden)

    def half(self, u: Tensor, v: Tensor) -> Tensor:
        refl = torch.exp(u @ u.t() / self.tau)  # (N, N)
        between = torch.exp(u @ v.t() / self.tau)  # (N, N)
        denom = refl.sum(1) + between.sum(1) - refl.diag()
        return -torch.log(between.diag() / denom)  # (N,)

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        u, v = self.view(encoder, x, edge_index), self.view(encoder, x, edge_index)
        return 0.5 * (self.half(u, v) + self.half(v, u)).mean()


class CCASSGPretext(Pretext):
    r"""CCA-SSG (Zhang et al., NeurIPS 2021): two augmented views, standardised embeddings
    :math:`Z_1, Z_2` (zero mean, unit variance per dimension), an invariance and a
    decorrelation term,

    .. math::
        \mathcal{L} = \lVert Z_1 - Z_2 \rVert_F^2 / N + \lambda \left(\lVert I - Z_1^\top Z_1 / N
        \rVert_F^2 + \lVert I - Z_2^\top Z_2 / N \rVert_F^2\right)

    (the CCA-SSG paper's Eq. 3 and code, ``form="ccassg"``). ParetoGNN's ``p_decor``
    (``form="paretognn"``) takes the unsquared norms, :math:`\lVert Z_1 - Z_2 \rVert_F / N +
    \lambda (\lVert I - Z_1^\top Z_1 / N \rVert_F + \lVert I - Z_2^\top Z_2 / N \rVert_F)`, whose
    gradient is orders of magnitude smaller: this matters when MGDA's weights multiply the raw
    task gradients. No head: the loss is on the encoder output.

    Args:
        lambd: decorrelation weight (1e-3, both papers).
        edge_drop, feat_drop: drop rates of both views (ParetoGNN ``--decor_der/--decor_dfr``).
        form: ``"ccassg"`` (squared norms) or ``"paretognn"`` (unsquared, as ``p_decor``).

    Shapes:
        - input: :math:`(N, F)`, :math:`(2, E)`; output: scalar loss.
    """

    name = "ccassg"
    sample = "nodes"

    def __init__(
        self,
        lambd: float = 1e-3,
        edge_drop: float = 0.2,
        feat_drop: float = 0.2,
        form: str = "ccassg",
    ) -> None:
        super().__init__()
        if form not in ("ccassg", "paretognn"):
            raise ValueError(f"form must be 'ccassg' or 'paretognn', got {form!r}")
        self.lambd, self.edge_drop, self.feat_drop, self.form = lambd, edge_drop, feat_drop, form

    def reset_parameters(self) -> None:
        pass

    def view(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        edge_index, _ = dropout_edge(edge_index, p=self.edge_drop, training=self.training)
        x, _ = mask_feature(x, p=self.feat_drop, mode="col", training=self.training)
        h = encoder(x, edge_index)  # (N, D)
        return (h - h.mean(0)) / h.std(0).clamp_min(1e-8)

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        z1, z2 = self.view(encoder, x, edge_index), self.view(encoder, x, edge_index)
        n, eye = z1.size(0), torch.eye(z1.size(1), device=z1.device)
        if self.form == "paretognn":
            inv = torch.linalg.matrix_norm((z1 - z2) / n)
            dec = torch.linalg.matrix_norm(eye - z1.t() @ z1 / n)
            return inv + self.lambd * (dec + torch.linalg.matrix_norm(eye - z2.t() @ z2 / n))
        inv = (z1 - z2).pow(2).sum() / n
        dec = (eye - z1.t() @ z1 / n).pow(2).sum() + (eye - z2.t() @ z2 / n).pow(2).sum()
        return inv + self.lambd * dec


class MaskedFeaturePretext(Pretext):
    r"""GraphMAE-style masked feature reconstruction (Hou et al., KDD 2022): the features of a
    random ``mask_rate`` of the nodes are replaced by a learned token, the encoder output is
    re-masked and decoded by a GCN layer, and the scaled cosine error is taken on masked nodes,

    .. math::
        \mathcal{L} = \frac{1}{|\mathcal{M}|} \sum_{i \in \mathcal{M}}
        \left(1 - \frac{x_i^\top \hat{x}_i}{\lVert x_i \rVert \lVert \hat{x}_i \rVert}\right)^\alpha

    (ParetoGNN's ``p_recon``: mask rate 0.5, edges dropped with 0.35, alpha 3).

    Args:
        in_channels: feature size (reconstructed).
        hidden: encoder output size.
        mask_rate: fraction of nodes masked.
        edge_drop: edge drop rate of the input graph.
        alpha: the error's exponent.

    Shapes:
        - input: :math:`(N, F)`, :math:`(2, E)`; output: scalar loss.
    """

    name = "graphmae"

    def __init__(
        self,
        in_channels: int,
        hidden: int,
        mask_rate: float = 0.5,
        edge_drop: float = 0.35,
        alpha: float = 3.0,
    ) -> None:
        super().__init__()
        self.mask_rate, self.edge_drop, self.alpha = mask_rate, edge_drop, alpha
        self.token = nn.Parameter(torch.zeros(1, in_channels))
        self.enc_dec = nn.Linear(hidden, hidden, bias=False)
        self.decoder = GCNConv(hidden, in_channels, normalize=False)  # on the "gcn" adjacency
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.token)
        glorot_linears_(self.enc_dec)
        self.decoder.reset_parameters()

    def forward(self, encoder: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor:
        edge_index, _ = dropout_edge(edge_index, p=self.edge_drop, training=self.training)
        n = x.size(0)
        masked = torch.randperm(n, device=x.device)[: max(1, int(self.mask_rate * n))]
        keep = torch.ones(n, 1, device=x.device)
        keep[masked] = 0.0
        adj_t = adjacency(edge_index, n, "gcn")  # the decoder's, and the encoder's if it is ours
        graph = adj_t if isinstance(encoder, SSLEncoder) else edge_index
        h = encoder(x * keep + self.token * (1 - keep), graph)  # (N, hidden)
        h = self.enc_dec(h) * keep  # re-mask before decoding
        x_hat = self.decoder(h, adj_t)[masked]  # (M, F)
        cos = F.cosine_similarity(x_hat, x[masked], dim=1, eps=1e-8)
        return (1 - cos).pow(self.alpha).mean()


#: Pretext tasks by name, built as ``PRETEXTS[name](in_channels, hidden, **options)``.
PRETEXTS: dict[str, object] = {
    "link": lambda f, h, **kw: LinkPretext(h, **kw),
    "dgi": lambda f, h, **kw: DGIPretext(h, **kw),
    "grace": lambda f, h, **kw: GRACEPretext(h, **kw),
    "ccassg": lambda f, h, **kw: CCASSGPretext(**kw),
    "graphmae": lambda f, h, **kw: MaskedFeaturePretext(f, h, **kw),
}
