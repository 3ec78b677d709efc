"""Baseline models from PyG, resolved by name at the CLI edge, plus an OGB-style link predictor.

The baselines are PyG's own ``torch_geometric.nn.models`` (MLP, GCN, GraphSAGE, GAT, GIN), not
rewrites. Full-batch graph convolutions are fed the cached ``torch.sparse_csr`` adjacency of the
task's :class:`~graphlib_pyg.data.graph.GraphIndex` instead of ``edge_index``; each spec says which
normalisation its convolution expects (``adj``), or ``"edge_index"`` for attention layers that
need per-edge scores.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch_geometric.nn import models as pyg_models


def dropout_(x: Tensor, p: float) -> Tensor:
    """Dropout on a tensor that needs no gradient, in place; returns ``x``.

    Each entry is kept when a uniform 16-bit integer is at least ``round(p * 2**16)``, so the
    drop rate is ``p`` rounded to a multiple of ``2**-16`` (exact for 0.5), and kept entries are
    scaled by the inverse of the keep rate actually used: the expectation of ``x`` is preserved.
    Four masks come from one 64-bit draw: on CPU this costs a fraction of ``torch.rand_like``
    (about a quarter of the random-number time on a (3327, 3703) input).
    """
    if x.requires_grad:
        raise ValueError("dropout_ works in place on tensors that need no gradient")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {p}")
    cut = round(p * 65536)
    if cut == 0:
        return x
    n = x.numel()
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    keep = bits.view(torch.int16)[:n].view(x.shape).ge(cut - 32768)
    return x.mul_(keep).mul_(65536 / (65536 - cut))


class InputDropout(nn.Module):
    """Dropout on the input features before a wrapped ``model(x, adj)`` (as in GCN/GAT papers).

    For sparse bag-of-words features (most entries zero) the mask is drawn for the non-zero
    entries only, found once per feature tensor: the same distribution as elementwise dropout
    (a dropped zero is still zero), as the papers' sparse dropout, at a fraction of the cost.

    Args:
        model: any module called as ``model(x, *args)``.
        p: dropout probability on ``x``.
    """

    def __init__(self, model: nn.Module, p: float) -> None:
        super().__init__()
        self.model, self.p = model, p
        self._nz_key: tuple | None = None
        self._nz: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        if self.training and self.p > 0:
            x = self._dropout(x)
        return self.model(x, *args, **kwargs)

    def _dropout(self, x: Tensor) -> Tensor:
        if x.requires_grad or x.layout != torch.strided or x.dim() != 2:
            return nn.functional.dropout(x, self.p, True)
        key = (x.data_ptr(), tuple(x.shape), x._version)
        if key != self._nz_key:
            # count_nonzero is ~27x cheaper than nonzero (4.4 vs 118 ms on a (2708, 2866)
            # input): only index tensors that are sparse.
            sparse = int(x.count_nonzero()) < 0.25 * x.numel()
            self._nz = x.nonzero(as_tuple=True) if sparse else None
            self._nz_key = key
        if self._nz is None:
            # x needs no gradient here: mask a copy in place (dropout_ draws 16-bit masks).
            return dropout_(x.clone(), self.p)
        rows, cols = self._nz
        keep = torch.rand(rows.numel(), device=x.device) >= self.p
        rows, cols = rows[keep], cols[keep]
        out = torch.zeros_like(x)
        out[rows, cols] = x[rows, cols] / (1.0 - self.p)
        return out

    def reset_parameters(self) -> None:
        self.model.reset_parameters()


class _MLPIgnoringGraph(nn.Module):
    """PyG's MLP behind the ``model(x, adj)`` call convention (the graph is ignored)."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, x: Tensor, adj=None, **kwargs) -> Tensor:
        return self.mlp(x)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()


@dataclass(frozen=True)
class ModelSpec:
    """How to build a named model and what graph input it takes.

    Attributes:
        name: CLI name.
        build: ``build(in_channels, hidden, out_channels, num_layers, dropout, **kwargs)``.
        adj: ``"gcn"``, ``"mean"``, ``"sum"`` (sparse ``adj_t`` of that normalisation),
            ``"edge_index"``, or ``None`` (no graph).
        options: extra keyword arguments (config keys) the builder accepts, with defaults.
        link: ``None`` for node encoders (usable on any task; link tasks add an MLP on
            :math:`h_i \\odot h_j`), or the name of a structural link predictor (``"ncn"``,
            ``"ncnc"``) that only scores node pairs and reads the graph itself.
        hops: ``hops(options)``, the number of hops the model reads when that is not
            ``num_layers`` (DAGNN: its ``K`` propagation steps); used by exact mini-batches.
    """

    name: str
    build: Callable[..., nn.Module] = field(repr=False)
    adj: str | None
    options: dict = field(default_factory=dict)
    link: str | None = None
    hops: Callable[[dict], int] | None = field(default=None, repr=False)


def _mlp(i, h, o, layers, dropout, **kw):
    return _MLPIgnoringGraph(
        pyg_models.MLP(
            in_channels=i,
            hidden_channels=h,
            out_channels=o,
            num_layers=layers,
            dropout=float(dropout),  # PyG reads a non-float as a per-layer list
            norm=None,
        )
    )


class ResidualGNN(nn.Module):
    r"""The pre-norm residual GNN of Platonov et al. (ICLR 2023), a strong classic-GNN baseline.

    "A critical look at the evaluation of GNNs under heterophily" reports GCN, SAGE and GAT on
    roman-empire, minesweeper, tolokers, ... in this form (their published baselines):

    .. math::
        h^{(0)} = \mathrm{GELU}(\mathrm{Dropout}(W_{in} x)), \quad
        h^{(l)} = h^{(l-1)} + \mathrm{FFN}(\mathrm{conv}(\mathrm{LN}(h^{(l-1)}))), \quad
        y = W_{out} \mathrm{LN}(h^{(L)})

    with :math:`\mathrm{FFN} = \mathrm{Dropout} \circ W_2 \circ \mathrm{GELU} \circ
    \mathrm{Dropout} \circ W_1` (width ``ffn_mult * hidden``). The convolution is any PyG layer
    mapping ``hidden -> hidden`` (their GCN propagates without a weight; PyG's ``GCNConv`` adds one
    ``hidden x hidden`` map, SAGE and GAT match their modules up to how heads are laid out).

    Args:
        in_channels, hidden_channels, out_channels: widths.
        num_layers: residual blocks.
        make_conv: ``make_conv(hidden_channels)`` builds one block's convolution, called as
            ``conv(h, graph)`` with the graph input the model itself is called with.
        dropout: dropout after the input map and inside each FFN.
        ffn_mult: FFN width as a multiple of ``hidden_channels``.

    Shapes:
        - **input:** x (N, in_channels), graph (sparse adjacency or edge_index)
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int,
        make_conv: Callable[[int], nn.Module],
        dropout: float = 0.2,
        ffn_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        d, f = hidden_channels, int(hidden_channels * ffn_mult)
        self.input_linear = nn.Linear(in_channels, d)
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(num_layers)])
        self.blocks = nn.ModuleList([make_conv(d) for _ in range(num_layers)])
        self.ffns = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Linear(d, f),
                    nn.Dropout(dropout),
                    nn.GELU(),
                    nn.Linear(f, d),
                    nn.Dropout(dropout),
                )
                for _ in range(num_layers)
            ]
        )
        self.dropout = nn.Dropout(dropout)
        self.output_norm = nn.LayerNorm(d)
        self.output_linear = nn.Linear(d, out_channels)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, graph, *args, **kwargs) -> Tensor:
        h = nn.functional.gelu(self.dropout(self.input_linear(x)))
        for norm, conv, ffn in zip(self.norms, self.blocks, self.ffns, strict=True):
            h = h + ffn(conv(norm(h), graph))
        return self.output_linear(self.output_norm(h))


def _gcn(i, h, o, layers, dropout, residual=False, **kw):
    if residual:
        from torch_geometric.nn import GCNConv

        return ResidualGNN(i, h, o, layers, lambda d: GCNConv(d, d, normalize=False), dropout)
    return pyg_models.GCN(i, h, layers, o, dropout=dropout, normalize=False)


def _sage(i, h, o, layers, dropout, residual=False, **kw):
    # Mean aggregation = sum over the row-normalised adjacency D^-1 A. PyG's layers and model,
    # projecting before aggregating where the input is wider than the output.
    from graphlib_pyg.nn.conv.sage import LinearFirstGraphSAGE, LinearFirstSAGEConv

    if residual:
        return ResidualGNN(
            i, h, o, layers, lambda d: LinearFirstSAGEConv(d, d, aggr="sum"), dropout
        )
    return LinearFirstGraphSAGE(i, h, layers, o, dropout=dropout, aggr="sum")


def _gat(i, h, o, layers, dropout, heads=8, v2=False, out_heads=None, residual=False, **kw):
    # PyG's layers and model; GAT (not GATv2) aggregates through one sparse product per layer.
    from graphlib_pyg.nn.conv.gat import CSRGAT, CSRGATConv

    if residual:  # h per head, as below: blocks of width h * heads
        from torch_geometric.nn import GATv2Conv

        conv = GATv2Conv if v2 else CSRGATConv
        return ResidualGNN(i, h * heads, o, layers, lambda d: conv(d, h, heads=heads), dropout)
    model = CSRGAT(i, h * heads, layers, o, dropout=dropout, heads=heads, v2=v2)
    if out_heads is not None and out_heads != heads:
        # The GAT paper averages `out_heads` heads in the output layer (1 on Cora/CiteSeer);
        # PyG's model uses `heads` everywhere, so only the last convolution is replaced.
        last = model.convs[-1]
        model.convs[-1] = type(last)(
            last.in_channels, o, heads=out_heads, concat=False, dropout=dropout
        )
    return model


def _gin(i, h, o, layers, dropout, **kw):
    return pyg_models.GIN(i, h, layers, o, dropout=dropout)


def _gcn2(i, h, o, layers, dropout, alpha=0.1, theta=0.5, **kw):
    from graphlib_pyg.nn.conv.gcnii import GCNII

    return GCNII(i, h, o, num_layers=layers, alpha=alpha, theta=theta, dropout=dropout)


def _dagnn(i, h, o, layers, dropout, K=10, **kw):
    from graphlib_pyg.nn.conv.dagnn_conv import DAGNN

    return DAGNN(i, h, o, K=K, dropout=dropout)


def _graph_mamba(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.mamba import GraphMamba

    return GraphMamba(i, h, o, num_layers=layers, dropout=dropout, **kw)


#: Options of Graph-Mamba in the harness (:class:`~graphlib_pyg.nn.mamba.GraphMambaLayer`).
GRAPH_MAMBA_OPTIONS: dict = {
    "local_conv": "gcn",
    "d_state": 16,
    "noise": True,
    "eval_orderings": 5,
    "bucket_size": None,
}


class LayerStack(nn.Module):
    """Linear encoder, layers called as ``layer(h, edge_index, batch)``, linear head.

    The shared frame of the GPS-style node models (:class:`GPS`, ``GraphMamba``).

    Args:
        in_channels, hidden_channels, out_channels: widths.
        layers: the hidden -> hidden layers.

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, layers) -> None:
        super().__init__()
        self.encoder = nn.Linear(in_channels, hidden_channels)
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(hidden_channels, out_channels)

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        h = self.encoder(x)
        for layer in self.layers:
            h = layer(h, edge_index, batch)
        return self.head(h)


class GPS(LayerStack):
    """PyG's ``GPSConv`` stacked for node tasks: linear encoder, ``num_layers`` GPS layers, head.

    Each layer is ``GPSConv(hidden, local_conv, heads, attn_type)`` (PyG's own layer): a local
    MPNN branch plus global attention over each graph's nodes (``attn_type="multihead"`` or
    ``"performer"``; ``attn_dropout`` is the attention's own dropout, GraphGPS's
    ``attn_dropout``). With ``lap_pe=K`` the last ``2K`` input columns are Laplacian eigenvector
    entries and eigenvalues (``pe=lapeig:K`` in ``load_task``): they go through a
    :class:`~graphlib_pyg.nn.transformer.LapPEEncoder` (``pe_encoder`` deepset or linear, signs
    flipped at random at every training step) into ``pe_dim`` of the ``hidden`` channels, the
    other features into the rest (GraphGPS's layout).

    Shapes:
        - **input:** x (N, in_channels), edge_index (2, E), batch (N,) or None
        - **output:** (N, out_channels)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        local_conv: str | None = "gcn",
        heads: int = 4,
        attn_type: str = "multihead",
        lap_pe: int = 0,
        pe_dim: int = 16,
        pe_encoder: str = "deepset",
        attn_dropout: float = 0.0,
    ) -> None:
        from torch_geometric.nn import GPSConv

        from graphlib_pyg.nn.mamba.graph_mamba import _local_conv

        layers = [
            GPSConv(
                hidden_channels,
                _local_conv(local_conv, hidden_channels),
                heads=heads,
                dropout=dropout,
                attn_type=attn_type,
                attn_kwargs={"dropout": attn_dropout},
            )
            for _ in range(num_layers)
        ]
        super().__init__(in_channels, hidden_channels, out_channels, layers)
        self.lap_pe = int(lap_pe)
        if self.lap_pe:
            from graphlib_pyg.nn.transformer import LapPEEncoder

            if in_channels <= 2 * self.lap_pe or not 0 < pe_dim < hidden_channels:
                raise ValueError(
                    f"lap_pe={lap_pe} needs more than {2 * self.lap_pe} input columns (got "
                    f"{in_channels}; load the task with pe=lapeig:{lap_pe}) and "
                    f"0 < pe_dim < hidden (got pe_dim={pe_dim}, hidden={hidden_channels})"
                )
            self.encoder = nn.Linear(in_channels - 2 * self.lap_pe, hidden_channels - pe_dim)
            self.pe = LapPEEncoder(self.lap_pe, pe_dim, pe_encoder)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.lap_pe:
            self.pe.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None) -> Tensor:
        if not self.lap_pe:
            return super().forward(x, edge_index, batch)
        k = self.lap_pe
        feats, vecs, vals = x[:, : -2 * k], x[:, -2 * k : -k], x[:, -k:]
        h = torch.cat([self.encoder(feats), self.pe(vecs, vals)], dim=1)
        for layer in self.layers:
            h = layer(h, edge_index, batch)
        return self.head(h)


def _gps(i, h, o, layers, dropout, **kw):
    return GPS(i, h, o, num_layers=layers, dropout=dropout, **kw)


def _sgformer(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.transformer import SGFormerNode

    return SGFormerNode(i, h, o, gnn_num_layers=layers, gnn_dropout=dropout, **kw)


#: Options of SGFormer (PyG's ``SGFormer``; ``num_layers``/``dropout`` are its GNN branch's).
SGFORMER_OPTIONS: dict = {
    "trans_num_layers": 1,
    "trans_num_heads": 1,
    "trans_dropout": 0.5,
    "graph_weight": 0.5,
    "aggregate": "add",
}


def _polynormer(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.transformer import PolynormerNode

    return PolynormerNode(i, h, o, local_layers=layers, dropout=dropout, **kw)


#: Options of Polynormer (PyG's ``Polynormer``; ``num_layers`` is its local layers).
POLYNORMER_OPTIONS: dict = {
    "global_layers": 2,
    "heads": 1,
    "beta": 0.9,
    "in_dropout": 0.15,
    "global_dropout": 0.5,
    "local_epochs": 100,
}


def _largegt(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.transformer import LargeGT

    return LargeGT(i, h, o, num_layers=layers, dropout=dropout, **kw)


#: Options of LargeGT (:class:`~graphlib_pyg.nn.transformer.LargeGT`).
LARGEGT_OPTIONS: dict = {
    "num_samples": 20,
    "heads": 4,
    "num_centroids": 256,
    "decay": 0.99,
    "attn_dropout": 0.0,
    "seed_batch": 1024,
    "hop_dtype": "float32",
    "hop_cache": True,
}


def _gmn(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.mamba import GMN

    return GMN(i, h, o, num_layers=layers, dropout=dropout, **kw)


#: Options of GMN in the harness (:class:`~graphlib_pyg.nn.mamba.GMN`).
GMN_OPTIONS: dict = {
    "num_walks": 4,
    "walk_length": 3,
    "num_samples": 2,
    "token_encoder": "mpnn",
    "global_mixer": True,
    "local_conv": "gcn",
    "node_layers": 1,
    "d_state": 16,
    "expand": 1,
    "noise": True,
}


def _link_only(name: str) -> Callable[..., nn.Module]:
    def build(*args, **kw):
        raise TypeError(
            f"model {name!r} is a link predictor (it scores node pairs); use it on a link task "
            "(e.g. --dataset cora task=link, or ogbl-ddi)"
        )

    return build


#: Options of the NCN model in the harness (NCN paper's argument names in brackets).
NCN_OPTIONS: dict = {
    "aggr": "gcn",  # encoder propagation: gcn (puregcn), sum (puresum), mean
    "tail_dropout": 0.0,  # [tdp]
    "residual": False,  # [res]
    "jk": False,  # [jk]
    "pred_dropout": 0.0,  # [predp]
    "pred_edge_dropout": 0.0,  # [preedp]
    "pred_lr": None,  # [prelr]; None = lr
    "ln": True,  # [lnnn]
    "use_xlin": True,
    "tailact": True,
    "twolayerlin": False,
    "beta": 1.0,
    "cn_max": None,  # [cndeg]
    "target_removal": True,  # [maskinput]
}
#: Extra options of NCNC (completion calibration and candidate caps).
NCNC_OPTIONS: dict = {
    **NCN_OPTIONS,
    "depth": 1,
    "alpha": 1.0,
    "pt": 0.5,
    "prob_scale": 5.0,
    "prob_offset": 3.0,
    "train_res_max": None,  # [trndeg]
    "test_res_max": None,  # [tstdeg]
}

MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", _mlp, None),
    "gcn": ModelSpec("gcn", _gcn, "gcn", {"residual": False}),
    "sage": ModelSpec("sage", _sage, "mean", {"residual": False}),
    "gat": ModelSpec(
        "gat", _gat, "edge_index", {"heads": 8, "v2": False, "out_heads": None, "residual": False}
    ),
    "gin": ModelSpec("gin", _gin, "sum"),
    "dagnn": ModelSpec("dagnn", _dagnn, "gcn", {"K": 10}, hops=lambda o: o["K"]),
    "gcn2": ModelSpec("gcn2", _gcn2, "gcn", {"alpha": 0.1, "theta": 0.5}),
    "gmn": ModelSpec("gmn", _gmn, "edge_index", GMN_OPTIONS),
    "gps": ModelSpec(
        "gps",
        _gps,
        "edge_index",
        {
            "local_conv": "gcn",
            "heads": 4,
            "attn_type": "multihead",
            "lap_pe": 0,
            "pe_dim": 16,
            "pe_encoder": "deepset",
            "attn_dropout": 0.0,
        },
    ),
    "sgformer": ModelSpec("sgformer", _sgformer, "edge_index", SGFORMER_OPTIONS),
    "largegt": ModelSpec("largegt", _largegt, "gcn", LARGEGT_OPTIONS),
    "polynormer": ModelSpec("polynormer", _polynormer, "edge_index", POLYNORMER_OPTIONS),
    "graph_mamba": ModelSpec("graph_mamba", _graph_mamba, "edge_index", GRAPH_MAMBA_OPTIONS),
    "ncn": ModelSpec("ncn", _link_only("ncn"), None, NCN_OPTIONS, link="ncn"),
    "ncnc": ModelSpec("ncnc", _link_only("ncnc"), None, NCNC_OPTIONS, link="ncnc"),
}


def resolve(name: str, table: dict, what: str):
    """Look ``name`` up in ``table``; the error lists the valid choices."""
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=2)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise KeyError(f"unknown {what} {name!r}.{hint} Valid: {', '.join(sorted(table))}")


def build_model(
    name: str,
    in_channels: int,
    hidden: int,
    out_channels: int,
    num_layers: int = 2,
    dropout: float = 0.5,
    input_dropout: float = 0.0,
    **options,
) -> nn.Module:
    """Build a named baseline; unknown names raise a ``KeyError`` listing the valid ones."""
    spec = resolve(name, MODELS, "model")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise TypeError(
            f"model {name!r} got unexpected options {sorted(unknown)}; "
            f"it accepts {sorted(spec.options) or 'none'}"
        )
    model = spec.build(
        in_channels, hidden, out_channels, num_layers, dropout, **{**spec.options, **options}
    )
    return InputDropout(model, input_dropout) if input_dropout > 0 else model


class LinkPredictor(nn.Module):
    r"""OGB's link predictor: an MLP on the Hadamard product :math:`h_i \odot h_j`.

    Args:
        in_channels: node embedding size.
        hidden_channels: MLP width.
        num_layers: MLP depth (default 3).
        dropout: dropout between MLP layers.

    Shapes:
        - **input:** h_i (P, F), h_j (P, F)
        - **output:** (P,) logits
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, num_layers: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.mlp = pyg_models.MLP(
            in_channels=in_channels,
            hidden_channels=hidden_channels,
            out_channels=1,
            num_layers=num_layers,
            dropout=float(dropout),  # PyG reads a non-float as a per-layer list (CLI gives 0)
            norm=None,
        )

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, h_i: Tensor, h_j: Tensor) -> Tensor:
        return self.mlp(h_i * h_j).view(-1)


class GraphLevel(nn.Module):
    """A node model made graph-level: input encoder, node model, mean pooling, MLP head.

    Args:
        body: node model called as ``body(h, graph, batch=batch)`` (hidden -> hidden).
        in_channels: input features (atom feature columns when ``categorical``).
        hidden_channels: width of the encoder output and of the head.
        out_channels: targets (or classes) per graph.
        categorical: integer atom features, embedded with OGB's ``AtomEncoder``.

    Shapes:
        - **input:** x (N, in_channels), graph, batch (N,)
        - **output:** (G, out_channels)
    """

    def __init__(
        self,
        body: nn.Module,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        categorical: bool = False,
    ) -> None:
        super().__init__()
        if categorical:
            from ogb.graphproppred.mol_encoder import AtomEncoder

            self.encoder: nn.Module = AtomEncoder(hidden_channels)
        else:
            self.encoder = nn.Linear(in_channels, hidden_channels)
        self.body = body
        self.head = pyg_models.MLP(
            [hidden_channels, hidden_channels, out_channels], norm=None, dropout=0.0
        )

    def reset_parameters(self) -> None:
        for mod in (self.encoder, self.body, self.head):
            if hasattr(mod, "reset_parameters"):
                mod.reset_parameters()

    def forward(self, x: Tensor, graph, batch: Tensor) -> Tensor:
        from torch_geometric.nn import global_mean_pool

        h = self.body(self.encoder(x), graph, batch=batch)  # (N, hidden)
        return self.head(global_mean_pool(h, batch))


def count_parameters(*modules: nn.Module | None) -> int:
    return sum(p.numel() for m in modules if m is not None for p in m.parameters())


def graph_input(spec: ModelSpec, index, edge_index: Tensor | None = None):
    """The second argument of ``model(x, ...)`` for ``spec`` given a graph's :class:`GraphIndex`."""
    if spec.adj is None:
        return None
    if spec.adj == "edge_index":
        if edge_index is None:
            raise ValueError(f"model {spec.name!r} needs edge_index")
        return edge_index
    return index.adj_t(spec.adj)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
