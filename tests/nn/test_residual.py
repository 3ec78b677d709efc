"""ResidualGNN: the pre-norm residual GCN/SAGE/GAT baselines of Platonov et al. (2023)."""

from __future__ import annotations

import pytest
import torch

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.nn.models import MODELS, ResidualGNN, build_model


def _graph(n=30, e=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    return ei, GraphIndex(ei, n)


def _input(name, ei, index):
    adj = MODELS[name].adj
    return ei if adj == "edge_index" else index.adj_t(adj)


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_residual_option_builds_the_pre_norm_residual_model(name):
    ei, index = _graph()
    x = torch.randn(30, 12)
    model = build_model(name, 12, 8, 3, num_layers=3, dropout=0.2, residual=True)
    assert isinstance(model, ResidualGNN) and len(model.blocks) == 3
    width = 8 * 8 if name == "gat" else 8  # GAT's hidden is per head (8 heads)
    assert model.hidden_channels == width
    graph = _input(name, ei, index)
    out = model(x, graph)
    assert out.shape == (30, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(model(x, graph), model(x, graph))  # no dropout at evaluation


def test_each_block_adds_to_the_residual_stream():
    ei, index = _graph()
    x = torch.randn(30, 12)
    model = build_model("gcn", 12, 16, 4, num_layers=2, dropout=0.0, residual=True).eval()
    adj = index.adj_t("gcn")
    with torch.no_grad():
        for ffn in model.ffns:  # zero each block's output: only the skip path is left
            ffn[3].weight.zero_()
            ffn[3].bias.zero_()
        skip = model.output_linear(
            model.output_norm(torch.nn.functional.gelu(model.input_linear(x)))
        )
        assert torch.allclose(model(x, adj), skip, atol=1e-6)
        other = GraphIndex(_graph(seed=1)[0], 30).adj_t("gcn")
        assert torch.allclose(model(x, other), skip, atol=1e-6)  # the graph is not read
        model.reset_parameters()  # blocks active again: the graph now matters
        assert not torch.allclose(model(x, adj), model(x, other), atol=1e-4)


def test_residual_gnn_validates_depth_and_plain_models_are_unchanged():
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        ResidualGNN(4, 8, 2, 0, lambda d: torch.nn.Identity())
    from torch_geometric.nn.models import GCN

    assert isinstance(build_model("gcn", 12, 8, 3), GCN)  # residual=False: PyG's own model


def test_harness_trains_residual_baselines_and_la_branches_their_input_map():
    from graphlib_pyg.bench.harness import run_benchmark

    data = {"num_nodes": 200, "homophily": 0.9}
    opts = {"epochs": 30, "residual": True, "hidden": 16, "input_dropout": 0.0, "lr": 0.01}
    rows = run_benchmark("gcn", "csbm", runs=1, config=opts, data=data, progress=False)
    assert rows[0]["val"] > 0.8  # a homophilous 4-class SBM: chance is 0.25
    la_opts = {**opts, "epochs": 3, "la_pretrain_epochs": 1, "la_select": "none", "la_hidden": 8}
    la = run_benchmark(
        "gcn", "csbm", augment="la", runs=1, config=la_opts, data=data, progress=False
    )
    assert la[0]["params"] == rows[0]["params"]  # input map split into branches, same width


def test_heterophilous_datasets_default_to_the_published_residual_baselines():
    from graphlib_pyg.bench.defaults import resolve_config

    gcn = resolve_config("gcn", "minesweeper")
    assert gcn["residual"] and gcn["hidden"] == 512 and gcn["num_layers"] == 5
    assert gcn["patience"] is None and gcn["lr"] == 3e-5
    gat = resolve_config("gat", "tolokers")
    assert gat["residual"] and gat["hidden"] * gat["heads"] == 512 and gat["input_dropout"] == 0
    assert not resolve_config("gcn", "cora").get("residual")  # Planetoid keeps Kipf's GCN


def test_skip_sum_gcn_is_lrgbs_layer_computed_by_hand():
    """residual=sum: h + dropout(act(GCNConv(h))) per layer (LRGB's gcn_conv_layer.py), no norm,
    linear maps only where the widths differ."""
    from graphlib_pyg.nn.residual import SkipSumGNN

    ei, index = _graph()
    x, adj = torch.randn(30, 16), index.adj_t("gcn")
    model = build_model("gcn", 16, 16, 16, num_layers=3, dropout=0.1, residual="sum", act="gelu")
    assert isinstance(model, SkipSumGNN) and len(model.convs) == 3
    identity = torch.nn.Identity
    assert isinstance(model.encoder, identity) and isinstance(model.head, identity)
    assert sum(p.numel() for p in model.parameters()) == 3 * (16 * 16 + 16)  # convs only
    model.eval()
    h = x
    for conv in model.convs:
        h = h + torch.nn.functional.gelu(adj @ (h @ conv.lin.weight.T) + conv.bias)
    assert torch.allclose(model(x, adj), h, atol=1e-5)
    relu = build_model("gcn", 12, 16, 3, num_layers=2, dropout=0.0, residual="sum").eval()
    assert relu(torch.randn(30, 12), adj).shape == (30, 3)  # maps in and out of width 16
    assert relu.act is torch.nn.functional.relu


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"residual": "skip"}, "residual must be one of"),
        ({"residual": 1}, "residual must be one of"),
        ({"residual": "sum", "act": "tanh"}, "act must be one of"),
        ({"residual": True, "act": "relu"}, "pre-norm blocks .* use gelu"),
    ],
)
def test_gcn_residual_and_act_options_are_checked(options, match):
    with pytest.raises(ValueError, match=match):
        build_model("gcn", 12, 8, 3, **options)
