"""SF (ForwardGNN single-forward) trainer: class nodes, cached layers, learning, errors."""

import pytest
import torch
from torch_geometric.nn import GCNConv, SAGEConv

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.train.forward import SFLayer, add_class_nodes


def test_class_nodes_link_training_nodes_both_ways():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    y, train = torch.tensor([1, 0, 1, 0]), torch.tensor([0, 1, 2])
    out = add_class_nodes(edge_index, 4, y, train, 2)
    extra = {tuple(e) for e in out[:, 2:].t().tolist()}
    assert extra == {(0, 5), (5, 0), (1, 4), (4, 1), (2, 5), (5, 2)}  # node 3 is not training
    assert torch.equal(out[:, :2], edge_index)


@pytest.mark.parametrize("kind", ["gcn", "sage"])
def test_cached_layer_equals_the_pyg_convolution(kind):
    torch.manual_seed(0)
    x, edge_index = torch.randn(7, 5), torch.randint(0, 7, (2, 20))
    layer = SFLayer(5, 3, kind)
    index = GraphIndex(edge_index, 7)
    agg = index.adj_t("gcn" if kind == "gcn" else "mean") @ x
    if kind == "gcn":
        conv = GCNConv(5, 3)
        conv.lin.weight.data.copy_(layer.lin.weight)
        conv.bias.data.copy_(layer.lin.bias)
    else:
        conv = SAGEConv(5, 3)
        conv.lin_l.weight.data.copy_(layer.lin.weight)
        conv.lin_l.bias.data.copy_(layer.lin.bias)
        conv.lin_r.weight.data.copy_(layer.lin_r.weight)
    assert torch.allclose(layer(agg, x), conv(x, edge_index).relu(), atol=1e-5)


def test_sf_learns_through_the_harness_and_layers_add_up():
    from graphlib_pyg.bench.harness import run_benchmark

    rows = run_benchmark(
        "gcn", "csbm", trainer="sf", runs=1, progress=False,
        config={"hidden": 32, "num_layers": 2, "epochs": 100, "lr": 0.01},
        data={"num_nodes": 400, "homophily": 0.9},
    )  # fmt: skip
    row = rows[0]
    assert row["trainer"] == "sf" and row["test"] > 0.8
    assert row["curve"]["layer"] == [1, 2] and row["curve"]["test"][-1] == row["test"]


def test_sf_rejects_what_it_cannot_train():
    from graphlib_pyg.bench.harness import run_benchmark

    with pytest.raises(ValueError, match="supports the models gcn, sage"):
        run_benchmark("gat", "csbm", trainer="sf", runs=1, progress=False)
    with pytest.raises(TypeError, match="single-label node task"):
        run_benchmark("gcn", "sbm-link", trainer="sf", runs=1, progress=False)
    with pytest.raises(TypeError, match="unknown option"):
        run_benchmark("gcn", "csbm", trainer="sf", runs=1, config={"heads": 2}, progress=False)
