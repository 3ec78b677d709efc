"""``GraphIndex.adj_t(kind)`` in PyG convolutions: the same outputs as ``edge_index``, or an error.

``adj_t("sum")`` is the drop-in for ``edge_index``; ``adj_t("gcn")``/``adj_t("mean")`` are already
normalised and only stand in where the layer's own normalisation is off (``GCNConv(normalize=
False)``, ``SAGEConv(aggr="sum")``); every other pairing must raise naming ``adj_t('sum')``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_edge_index

from graphlib_pyg.data.graph import GraphIndex

N, F = 50, 8


def simple_graph(seed: int = 0) -> torch.Tensor:
    """A random directed 50-node graph without self-loops or duplicate edges. (2, E)"""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, 300), generator=g)
    return torch.unique(ei[:, ei[0] != ei[1]], dim=1)


def messy_graph(seed: int = 0) -> torch.Tensor:
    """The same kind of graph with self-loops and duplicate edges added. (2, E)"""
    ei = simple_graph(seed)
    return torch.cat([ei, ei[:, :15], torch.tensor([[3, 3, 7], [3, 3, 7]])], 1)


def features(seed: int = 1) -> torch.Tensor:
    return torch.randn(N, F, generator=torch.Generator().manual_seed(seed))


def gin() -> GINConv:
    return GINConv(nn.Sequential(nn.Linear(F, 8), nn.ReLU(), nn.Linear(8, 4)))


def twin(conv: nn.Module, make) -> nn.Module:
    """``make()`` with ``conv``'s parameters."""
    other = make()
    other.load_state_dict(conv.state_dict())
    return other


def refused(conv: nn.Module, x: torch.Tensor, adj) -> str:
    with pytest.raises(ValueError) as info:
        conv(x, adj)
    msg = str(info.value)
    assert "adj_t('sum')" in msg and type(conv).__name__ in msg, msg
    return msg


def same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_gcnconv_gets_sum_or_refuses_a_second_normalisation():
    ei, x = simple_graph(), features()
    index = GraphIndex(ei, N)
    torch.manual_seed(0)
    conv = GCNConv(F, 4)
    same(conv(x, index.adj_t("sum")), conv(x, ei))
    assert "normalised twice" in refused(conv, x, index.adj_t("gcn"))
    refused(conv, x, index.adj_t("mean"))
    # The library's own use: the cached GCN normalisation into GCNConv(normalize=False).
    plain = twin(conv, lambda: GCNConv(F, 4, normalize=False))
    same(plain(x, index.adj_t("gcn")), conv(x, ei))
    same(plain(x, index.adj_t("sum")), plain(x, ei))
    assert "GCNConv()" in refused(plain, x, index.adj_t("mean"))
    edges, values = to_edge_index(index.adj_t("gcn"))  # outside a layer: plain data, no error
    assert edges.size(1) == values.numel() == ei.size(1) + N


@pytest.mark.parametrize("aggr", ["mean", "max", "min"])
def test_sageconv_that_aggregates_itself_gets_sum_or_refuses(aggr):
    ei, x = simple_graph(), features()
    index = GraphIndex(ei, N)
    torch.manual_seed(0)
    conv = SAGEConv(F, 4, aggr=aggr)
    same(conv(x, index.adj_t("sum")), conv(x, ei))
    for kind in ("gcn", "mean"):
        assert f"aggregate with '{aggr}'" in refused(conv, x, index.adj_t(kind))


def test_summing_sageconv_stands_for_mean_aggregation_only():
    ei, x = simple_graph(), features()
    index = GraphIndex(ei, N)
    torch.manual_seed(0)
    conv = SAGEConv(F, 4, aggr="sum")
    same(conv(x, index.adj_t("sum")), conv(x, ei))
    mean = twin(conv, lambda: SAGEConv(F, 4))  # the library's use: sum over D^-1 A
    same(conv(x, index.adj_t("mean")), mean(x, ei))
    assert "adj_t('mean')" in refused(conv, x, index.adj_t("gcn"))


def test_ginconv_sums_by_definition_so_only_sum():
    ei, x = simple_graph(), features()
    index = GraphIndex(ei, N)
    torch.manual_seed(0)
    conv = gin()
    same(conv(x, index.adj_t("sum")), conv(x, ei))
    refused(conv, x, index.adj_t("gcn"))
    refused(conv, x, index.adj_t("mean"))


def test_gatconv_gets_sum_or_refuses():
    ei, x = simple_graph(), features()
    index = GraphIndex(ei, N)
    torch.manual_seed(0)
    conv = GATConv(F, 4, heads=2)
    same(conv(x, index.adj_t("sum")), conv(x, ei))
    for kind in ("gcn", "mean"):
        assert "read the edges" in refused(conv, x, index.adj_t(kind))


def test_sum_adjacency_with_self_loops_or_duplicates():
    # PyG's sparse path adds self-loops without removing existing ones (GCNConv) and merges
    # duplicate edges (GATConv): where that changes the outputs, it is refused; else equal.
    ei, x = messy_graph(), features()
    adj = GraphIndex(ei, N).adj_t("sum")
    torch.manual_seed(0)
    for conv in (GCNConv(F, 4), GATConv(F, 4, heads=2)):
        assert "self-loops or duplicate edges" in refused(conv, x, adj)
    for conv in (SAGEConv(F, 4), SAGEConv(F, 4, aggr="max"), gin()):
        same(conv(x, adj), conv(x, ei))


def test_adj_t_values_are_computed_in_the_requested_dtype():
    ei = messy_graph()
    index = GraphIndex(ei, N)
    a64 = index.adj_t("gcn", dtype=torch.float64)
    assert a64.dtype == torch.float64 and index.adj_t("gcn", dtype=torch.float64) is a64
    assert index.adj_t("gcn").dtype == torch.get_default_dtype()  # its own cache entry
    # PyG's gcn_norm in float64 on edge_index, as a dense (target, source) matrix.
    loops, w = gcn_norm(ei, None, N, add_self_loops=True, dtype=torch.float64)
    ref = torch.zeros(N, N, dtype=torch.float64).index_put_((loops[1], loops[0]), w, True)
    torch.testing.assert_close(a64.to_dense(), ref, atol=1e-15, rtol=0)
    cast = index.adj_t("gcn", dtype=torch.float32).to_dense().double()
    assert float((cast - ref).abs().max()) > 1e-10  # what casting float32 values gives
    torch.testing.assert_close(index.adj_t("gcn").to(torch.float64).to_dense(), ref)  # recomputed
    mean = index.adj_t("mean", dtype=torch.float64).to_dense()
    deg = torch.bincount(ei[1], minlength=N).clamp(min=1).double()
    counts = torch.zeros(N, N, dtype=torch.float64).index_put_(
        (ei[1], ei[0]), torch.ones(ei.size(1), dtype=torch.float64), True
    )
    torch.testing.assert_close(mean, counts / deg[:, None], atol=1e-15, rtol=0)
    # A float64 model on the float64 adjacency: GCNConv() on edge_index to float64 precision.
    x = features().double()
    torch.manual_seed(0)
    conv = GCNConv(F, 4).double()
    plain = twin(conv, lambda: GCNConv(F, 4, normalize=False).double())
    simple = simple_graph()
    out = plain(x, GraphIndex(simple, N).adj_t("gcn", dtype=torch.float64))
    torch.testing.assert_close(out, conv(x, simple), atol=1e-12, rtol=1e-12)
    with pytest.raises(TypeError, match="floating"):
        index.adj_t("sum", dtype=torch.long)


def test_exact_mini_batches_keep_their_kind_and_its_checks():
    """An exact mini-batch's adjacency is rows of adj_t(kind): the same pairing rules apply."""
    from graphlib_pyg.data.adj_checks import AdjacencyKindError
    from graphlib_pyg.data.loaders import exact_batch

    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 60, (2, 300), generator=g)
    index = GraphIndex(edge_index, 60)
    n_id, adj = exact_batch(index, torch.arange(5), 1, "mean")
    assert adj.kind == "mean"
    x = torch.randn(n_id.numel(), 4, generator=g)
    SAGEConv(4, 3, aggr="sum")(x, adj)  # the library's pairing: the mean over edge_index
    with pytest.raises(AdjacencyKindError, match="adj_t"):
        SAGEConv(4, 3)(x, adj)  # mean over a row-normalised adjacency: normalised twice
