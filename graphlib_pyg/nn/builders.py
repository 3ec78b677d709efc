"""Builders of the registry's models and their options, each default written once.

A builder is ``build(in_channels, hidden, out_channels, num_layers, dropout, **options)``; the
options it reads come with their defaults from its :class:`~graphlib_pyg.nn.registry.ModelSpec`
(the ``*_OPTIONS`` tables here), so a builder's signature carries no defaults of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torch_geometric.nn import models as pyg_models

from graphlib_pyg.nn.conv.gatedgcn import ACTIVATIONS
from graphlib_pyg.nn.conv.resolver import EDGE_CONVS, ConvFactory, conv_factory
from graphlib_pyg.nn.residual import ResidualGNN, SkipSumGNN


class _MLPIgnoringGraph(nn.Module):
    """PyG's MLP behind the ``model(x, adj)`` call convention (the graph is ignored)."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, x: Tensor, adj=None, **kwargs) -> Tensor:
        return self.mlp(x)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()


def _square(make: ConvFactory) -> Callable[[int], nn.Module]:
    """``make(d, d)`` as the ``make_conv(d)`` of :class:`ResidualGNN`."""
    return lambda d: make(d, d)


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


#: Values of gcn's ``residual`` option: no skips (``None``/``False``: PyG's GCN), Platonov et
#: al.'s pre-norm blocks with an FFN (``True``/``"prenorm"``: :class:`ResidualGNN`), or LRGB's
#: skip-sum layers (``"sum"``: :class:`SkipSumGNN`, the tuned GCN of Tönshoff et al. 2023).
GCN_RESIDUALS = (None, False, True, "prenorm", "sum")


def _gcn(i, h, o, layers, dropout, residual, act, **kw):
    if residual not in GCN_RESIDUALS or type(residual) is int:  # 1 == True, 0 == False
        raise ValueError(f"gcn: residual must be one of {GCN_RESIDUALS}, got {residual!r}")
    prenorm = residual is True or residual == "prenorm"
    if prenorm and act not in (None, "gelu"):
        raise ValueError(f"gcn: the pre-norm blocks (residual={residual!r}) use gelu, got "
                         f"act={act!r}")  # fmt: skip
    if act not in (None, *ACTIVATIONS):
        raise ValueError(f"gcn: act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    act = act or "relu"
    if residual == "sum":
        return SkipSumGNN(i, h, o, layers, _square(conv_factory("gcn", graph="gcn")), dropout, act)
    if prenorm:
        return ResidualGNN(i, h, o, layers, _square(conv_factory("gcn", graph="gcn")), dropout)
    from graphlib_pyg.nn.branching import BranchableGCN  # PyG's GCN with the branching hook

    return BranchableGCN(i, h, layers, o, dropout=dropout, normalize=False, act=act)


def _sage(i, h, o, layers, dropout, residual, **kw):
    # Mean aggregation = sum over the row-normalised adjacency D^-1 A. PyG's layers and model,
    # projecting before aggregating where the input is wider than the output.
    from graphlib_pyg.nn.conv.sage import LinearFirstGraphSAGE

    if residual:
        return ResidualGNN(i, h, o, layers, _square(conv_factory("sage", graph="mean")), dropout)
    return LinearFirstGraphSAGE(i, h, layers, o, dropout=dropout, aggr="sum")


def _gat(i, h, o, layers, dropout, heads, v2, out_heads, residual, **kw):
    # PyG's layers and model; GAT (not GATv2) aggregates through one sparse product per layer.
    from graphlib_pyg.nn.conv.gat import CSRGAT

    if residual:  # h per head, as below: blocks of width h * heads
        make = conv_factory("gatv2" if v2 else "gat", heads=heads)
        return ResidualGNN(i, h * heads, o, layers, _square(make), dropout)
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


def _gcn2(i, h, o, layers, dropout, alpha, theta, **kw):
    from graphlib_pyg.nn.conv.gcnii import GCNII

    return GCNII(i, h, o, num_layers=layers, alpha=alpha, theta=theta, dropout=dropout)


def _dagnn(i, h, o, layers, dropout, K, **kw):
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


def _gps(i, h, o, layers, dropout, **kw):
    from graphlib_pyg.nn.transformer.gps import GPS

    return GPS(i, h, o, num_layers=layers, dropout=dropout, **kw)


def gps_reads_edges(options: dict) -> bool:
    """Whether GPS with ``options`` reads edge features (its local branch is ``gine`` or
    ``gatedgcn``): the registry's ``edge_attr`` of ``gps``."""
    return options["local_conv"] in EDGE_CONVS


def _gine(i, h, o, layers, dropout, residual, act, **kw):
    from graphlib_pyg.nn.edge_models import EdgeGNN

    return EdgeGNN(i, h, o, layers, "gine", dropout=dropout, residual=residual, act=act)


def _gatedgcn(i, h, o, layers, dropout, residual, act, **kw):
    from graphlib_pyg.nn.edge_models import EdgeGNN

    return EdgeGNN(i, h, o, layers, "gatedgcn", dropout=dropout, residual=residual, act=act)


#: Options of the edge-feature models ``gine`` and ``gatedgcn`` (LRGB's ``custom_gnn``:
#: skip connections around every layer, ReLU).
EDGE_GNN_OPTIONS: dict = {"residual": True, "act": "relu"}


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


def _ncn(i, h, o, layers, dropout, input_dropout=0.0, num_nodes=None, **o_):
    """NCN/NCNC as (encoder, predictor): a structural link predictor, built by the link
    trainer with the graph's node count (a learnt embedding when there are no features)."""
    from graphlib_pyg.nn.link.ncn import NCNCPredictor, NCNPredictor, PropagationEncoder

    encoder = PropagationEncoder(
        i,
        h,
        layers,
        o_["aggr"],
        input_dropout=input_dropout,
        dropout=dropout,
        tail_dropout=o_["tail_dropout"],
        residual=o_["residual"],
        jk=o_["jk"],
        num_embeddings=num_nodes if i == 0 else None,
    )
    kw = dict(
        dropout=o_["pred_dropout"],
        ln=o_["ln"],
        use_xlin=o_["use_xlin"],
        tailact=o_["tailact"],
        twolayerlin=o_["twolayerlin"],
        beta=o_["beta"],
        edge_dropout=o_["pred_edge_dropout"],
        cn_max=o_["cn_max"],
    )
    if "depth" not in o_:
        return encoder, NCNPredictor(h, h, **kw)
    predictor = NCNCPredictor(
        h,
        h,
        depth=o_["depth"],
        alpha=o_["alpha"],
        pt=o_["pt"],
        scale=o_["prob_scale"],
        offset=o_["prob_offset"],
        train_res_max=o_["train_res_max"],
        test_res_max=o_["test_res_max"],
        **kw,
    )
    return encoder, predictor
