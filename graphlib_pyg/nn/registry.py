"""The model registry: one :class:`ModelSpec` per CLI model name, with its options and builder.

The baselines are PyG's own ``torch_geometric.nn.models`` (MLP, GCN, GraphSAGE, GAT, GIN), not
rewrites. Full-batch graph convolutions are fed the cached ``torch.sparse_csr`` adjacency of the
task's :class:`~graphlib_pyg.data.graph.GraphIndex` instead of ``edge_index``; each spec says which
normalisation its convolution expects (``adj``), or ``"edge_index"`` for attention layers that
need per-edge scores. A new model is a builder function plus one entry in :data:`MODELS`; its
options (with their defaults, written once) are the spec's ``options``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor, nn

from graphlib_pyg.nn.builders import (
    EDGE_GNN_OPTIONS,
    GMN_OPTIONS,
    GRAPH_MAMBA_OPTIONS,
    LARGEGT_OPTIONS,
    NCN_OPTIONS,
    NCNC_OPTIONS,
    POLYNORMER_OPTIONS,
    SGFORMER_OPTIONS,
    _dagnn,
    _gat,
    _gatedgcn,
    _gcn,
    _gcn2,
    _gin,
    _gine,
    _gmn,
    _gps,
    _graph_mamba,
    _largegt,
    _mlp,
    _ncn,
    _polynormer,
    _sage,
    _sgformer,
    gps_reads_edges,
)
from graphlib_pyg.nn.dropout import InputDropout
from graphlib_pyg.utils import resolve


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
            ``"ncnc"``) that only scores node pairs and reads the graph itself; its builder
            returns ``(encoder, predictor)`` (:func:`build_link_model`).
        hops: ``hops(options)``, the number of hops the model reads when that is not
            ``num_layers`` (DAGNN: its ``K`` propagation steps); used by exact mini-batches.
        seed_batches: with ``batch_size`` the model trains on batches of seed nodes through its
            own ``prepare(x, adj, index)`` / ``forward_seeds(seeds)`` (LargeGT samples around
            each seed itself) instead of sampled subgraphs.
        edge_attr: ``edge_attr(options)``: whether the model built with ``options`` reads edge
            features (``None``: never). The graph-level trainer then encodes the batch's edge
            features (OGB ``BondEncoder`` for categorical bond features, else a linear map) to
            ``hidden`` and calls the model as ``model(x, edge_index, batch=..., edge_attr=e)``;
            other models are called exactly as before.
    """

    name: str
    build: Callable[..., nn.Module] = field(repr=False)
    adj: str | None
    options: dict = field(default_factory=dict)
    link: str | None = None
    hops: Callable[[dict], int] | None = field(default=None, repr=False)
    seed_batches: bool = False
    doc: str = ""  # one line for `graphlib models`
    edge_attr: Callable[[dict], bool] | None = field(default=None, repr=False)


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", _mlp, None, doc="PyG's MLP on the node features (ignores the graph)"),
    "gcn": ModelSpec(
        "gcn",
        _gcn,
        "gcn",
        {"residual": None, "act": None},
        doc="PyG's GCN (Kipf & Welling 2017); residual=true (prenorm): Platonov et al.'s "
        "pre-norm blocks; residual=sum: LRGB's skip-sum layers; act: relu (default) or gelu",
    ),
    "sage": ModelSpec(
        "sage",
        _sage,
        "mean",
        {"residual": False},
        doc="PyG's GraphSAGE (mean), linear-first layers; residual=True as gcn",
    ),
    "gat": ModelSpec(
        "gat",
        _gat,
        "edge_index",
        {"heads": 8, "v2": False, "out_heads": None, "residual": False},
        doc="PyG's GAT (Velickovic et al. 2018) aggregating with one sparse product per layer",
    ),
    "gin": ModelSpec("gin", _gin, "sum", doc="PyG's GIN (Xu et al. 2019)"),
    "dagnn": ModelSpec(
        "dagnn",
        _dagnn,
        "gcn",
        {"K": 10},
        hops=lambda o: o["K"],
        doc="DAGNN (Liu et al. 2020): K propagation steps with adaptive weights",
    ),
    "gcn2": ModelSpec(
        "gcn2",
        _gcn2,
        "gcn",
        {"alpha": 0.1, "theta": 0.5},
        doc="GCNII (Chen et al. 2020) on PyG's GCN2Conv: initial residual, identity map",
    ),
    "gmn": ModelSpec(
        "gmn",
        _gmn,
        "edge_index",
        GMN_OPTIONS,
        doc="GMN (Behrouz & Hashemi 2024): random-walk tokens scanned by bidirectional Mamba",
    ),
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
        edge_attr=gps_reads_edges,
        doc="GraphGPS (Rampasek et al. 2022): PyG's GPSConv, local conv + global attention",
    ),
    "gine": ModelSpec(
        "gine",
        _gine,
        "edge_index",
        EDGE_GNN_OPTIONS,
        edge_attr=lambda o: True,
        doc="GINE (Hu et al. 2020): GIN with edge features, LRGB's layer",
    ),
    "gatedgcn": ModelSpec(
        "gatedgcn",
        _gatedgcn,
        "edge_index",
        EDGE_GNN_OPTIONS,
        edge_attr=lambda o: True,
        doc="GatedGCN (Bresson & Laurent 2017) with edge states, LRGB's layer",
    ),
    "sgformer": ModelSpec(
        "sgformer", _sgformer, "edge_index", SGFORMER_OPTIONS, doc="PyG's SGFormer (Wu et al. 2023)"
    ),
    "largegt": ModelSpec(
        "largegt",
        _largegt,
        "gcn",
        LARGEGT_OPTIONS,
        seed_batches=True,
        doc="LargeGT (Dwivedi et al. 2023): sampled 2-hop tokens + k-means codebook",
    ),
    "polynormer": ModelSpec(
        "polynormer",
        _polynormer,
        "edge_index",
        POLYNORMER_OPTIONS,
        doc="PyG's Polynormer (Deng et al. 2024)",
    ),
    "graph_mamba": ModelSpec(
        "graph_mamba",
        _graph_mamba,
        "edge_index",
        GRAPH_MAMBA_OPTIONS,
        doc="Graph-Mamba (Wang et al. 2024): GPS-style layer with a degree-ordered Mamba",
    ),
    "ncn": ModelSpec(
        "ncn",
        _ncn,
        None,
        NCN_OPTIONS,
        link="ncn",
        doc="NCN (Wang et al. 2024): pair scores from pooled common neighbours (link tasks)",
    ),
    "ncnc": ModelSpec(
        "ncnc",
        _ncn,
        None,
        NCNC_OPTIONS,
        link="ncnc",
        doc="NCNC: NCN with common-neighbour completion (link tasks)",
    ),
}


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
    if spec.link:
        raise TypeError(
            f"model {name!r} is a link predictor (it scores node pairs); use it on a link task "
            "(e.g. --dataset cora task=link, or ogbl-ddi), built by build_link_model"
        )
    model = spec.build(
        in_channels, hidden, out_channels, num_layers, dropout, **{**spec.options, **options}
    )
    return InputDropout(model, input_dropout) if input_dropout > 0 else model


def build_link_model(
    name: str,
    in_channels: int,
    hidden: int,
    num_nodes: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    **options,
) -> tuple[nn.Module, nn.Module]:
    """Build a structural link predictor (``ncn``, ``ncnc``) as ``(encoder, predictor)``.

    ``in_channels=0`` means the graph has no features: the encoder learns an embedding of
    ``num_nodes`` rows.
    """
    spec = resolve(name, MODELS, "model")
    if not spec.link:
        raise TypeError(f"model {name!r} is a node encoder, not a structural link predictor")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise TypeError(
            f"model {name!r} got unexpected options {sorted(unknown)}; "
            f"it accepts {sorted(spec.options)}"
        )
    return spec.build(
        in_channels,
        hidden,
        1,
        num_layers,
        dropout,
        input_dropout=input_dropout,
        num_nodes=num_nodes,
        **{**spec.options, **options},
    )


def graph_input(spec: ModelSpec, index, edge_index: Tensor | None = None):
    """The second argument of ``model(x, ...)`` for ``spec`` given a graph's :class:`GraphIndex`."""
    if spec.adj is None:
        return None
    if spec.adj == "edge_index":
        if edge_index is None:
            raise ValueError(f"model {spec.name!r} needs edge_index")
        return edge_index
    return index.adj_t(spec.adj)


def reads_edge_attr(spec: ModelSpec, options: dict) -> bool:
    """Whether ``spec``'s model built with ``options`` reads edge features (its ``edge_attr``)."""
    return spec.edge_attr is not None and bool(spec.edge_attr(options))
