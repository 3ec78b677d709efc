import pytest
import torch

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.nn.conv import DAGNN, DAGNNConv


def _dense_gcn(edge_index, n):
    a = torch.zeros(n, n)
    a[edge_index[1], edge_index[0]] = 1.0
    a.fill_diagonal_(1.0)
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


@pytest.fixture
def graph():
    return csbm(num_nodes=80, num_features=6, seed=4)


def test_matches_dense_definition(graph):
    torch.manual_seed(0)
    conv = DAGNNConv(6, K=4)
    x = graph.x
    a = _dense_gcn(graph.edge_index, 80)
    hops = [x]
    for _ in range(4):
        hops.append(a @ hops[-1])
    h = torch.stack(hops, 1)  # (N, K + 1, C)
    s = torch.sigmoid(h @ conv.proj.weight.t() + conv.proj.bias)  # (N, K + 1, 1)
    ref = (s * h).sum(1)
    assert torch.allclose(conv(x, graph.edge_index), ref, atol=1e-5)
    # The cached normalised adjacency gives the same result as edge_index.
    adj = GraphIndex(graph.edge_index, 80).adj_t("gcn")
    assert torch.allclose(conv(x, adj), ref, atol=1e-5)


def test_k0_is_gated_identity(graph):
    conv = DAGNNConv(6, K=0)
    x = graph.x
    assert torch.allclose(conv(x, graph.edge_index), torch.sigmoid(conv.proj(x)) * x)


def test_permutation_equivariant(graph):
    torch.manual_seed(1)
    model = DAGNN(6, 16, 3, K=5).eval()
    perm = torch.randperm(80)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(80)
    out = model(graph.x, graph.edge_index)
    out_p = model(graph.x[perm], inv[graph.edge_index])
    assert torch.allclose(out[perm], out_p, atol=1e-5)


def test_retention_scores_in_unit_interval_and_deep_k_stays_finite(graph):
    conv = DAGNNConv(6, K=40)
    r = conv.retention(graph.x, graph.edge_index)
    assert r.shape == (80, 41) and bool(((r > 0) & (r < 1)).all())
    out = conv(graph.x, graph.edge_index)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="K"):
        DAGNNConv(6, K=-1)


def test_learns_through_the_harness():
    from graphlib_pyg.bench.harness import run_benchmark

    data = {"num_nodes": 400, "homophily": 0.9, "signal": 1.0}
    rows = run_benchmark(
        "dagnn",
        "csbm",
        runs=1,
        epochs=60,
        data=data,
        progress=False,
        config={"dropout": 0.5, "patience": None},
    )
    assert rows[0]["test"] > 0.8
