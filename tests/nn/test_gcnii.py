"""GCNII on PyG's GCN2Conv: initial residual, deep stacks, harness."""

import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.nn.conv.gcnii import GCNII


def test_alpha_one_ignores_the_graph_and_alpha_below_one_does_not():
    torch.manual_seed(0)
    x = torch.randn(30, 6)
    a = GraphIndex(torch.randint(0, 30, (2, 90)), 30).adj_t("gcn")
    b = GraphIndex(torch.randint(0, 30, (2, 90)), 30).adj_t("gcn")
    only_x0 = GCNII(6, 8, 3, num_layers=4, alpha=1.0, dropout=0.0).eval()
    assert torch.allclose(only_x0(x, a), only_x0(x, b), atol=1e-6)
    mixing = GCNII(6, 8, 3, num_layers=4, alpha=0.1, dropout=0.0).eval()
    assert not torch.allclose(mixing(x, a), mixing(x, b), atol=1e-3)


def test_deep_gcnii_trains_through_the_harness():
    (row,) = run_benchmark(
        "gcn2",
        "csbm",
        runs=1,
        epochs=40,
        config={"num_layers": 16, "hidden": 32, "dropout": 0.2, "input_dropout": 0.0},
        data={"num_nodes": 300, "homophily": 0.9},
        progress=False,
    )
    assert row["test"] > 0.7  # 4 classes
