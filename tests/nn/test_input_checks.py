"""Malformed inputs get the package's named error; empty graphs give empty outputs.

Every layer that takes an ``edge_index`` reports a bad one the way the data layer's
``validate_graph`` does (message prefixed by the layer's name), instead of an ``IndexError`` from
deep inside a scatter, a shape error, or, worse, a silently wrong result.
"""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GCNConv

from graphlib_pyg.nn.conv import CSRGATConv, DAGNNConv, LinearFirstSAGEConv
from graphlib_pyg.nn.mamba import GMN, BiMamba, GraphMambaLayer, Mamba

N, F = 6, 16
#: (edge_index, exception, message) for each kind of malformed graph on N = 6 nodes.
BAD_GRAPHS = {
    "out_of_range": (
        torch.tensor([[0, 1, 6], [1, 2, 3]]),
        ValueError,
        "refers to node 6 but the graph has 6 nodes",
    ),
    "negative": (torch.tensor([[0, -1, 2], [1, 2, 3]]), ValueError, "has negative node indices"),
    "float": (torch.tensor([[0.0, 1.0], [1.0, 2.0]]), TypeError, "must be an integer tensor"),
    "transposed": (
        torch.tensor([[0, 1], [1, 2], [2, 3]]),  # (E, 2) with E = 3
        ValueError,
        r"must have shape \(2, E\), got \(3, 2\) \(did you pass \(E, 2\)",
    ),
}

LAYERS = {
    "LinearFirstSAGEConv": lambda: LinearFirstSAGEConv(F, 4),  # the linear-first path
    "LinearFirstSAGEConv-narrow": lambda: LinearFirstSAGEConv(F, 32),  # PyG's path
    "DAGNNConv": lambda: DAGNNConv(F, K=2),
    "GraphMambaLayer": lambda: GraphMambaLayer(F, GCNConv(F, F)),
    "CSRGATConv": lambda: CSRGATConv(F, 4, heads=2),
    "GMN": lambda: GMN(F, 8, 3),
}


@pytest.mark.parametrize("bad", sorted(BAD_GRAPHS))
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_malformed_edge_index_gets_the_named_error(layer, bad):
    edge_index, error, match = BAD_GRAPHS[bad]
    module = LAYERS[layer]()
    name = "GAT edge_index" if layer == "CSRGATConv" else layer.split("-")[0]
    with pytest.raises(error, match=f"^{name}: edge_index {match}"):
        module(torch.randn(N, F), edge_index)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_wrong_feature_count_names_expected_and_given(layer):
    module = LAYERS[layer]()
    with pytest.raises(ValueError, match=f"x has 9 features per node, but the layer expects {F}"):
        module(torch.randn(N, 9), torch.tensor([[0, 1], [1, 2]]))


def test_sage_bipartite_graph_is_checked_per_side():
    conv = LinearFirstSAGEConv((F, 8), 4)
    src, dst = torch.randn(10, F), torch.randn(3, 8)
    ok = torch.tensor([[9, 0], [2, 0]])  # source 9 of 10, target 2 of 3
    assert conv((src, dst), ok).shape == (3, 4)
    with pytest.raises(ValueError, match="edge_index\\[1\\] refers to target node 3 but there"):
        conv((src, dst), torch.tensor([[0], [3]]))
    with pytest.raises(ValueError, match="x_dst has 9 features per node, but the layer expects 8"):
        conv((src, torch.randn(3, 9)), ok)


def test_a_valid_graph_is_checked_once_per_tensor_and_again_after_a_change(monkeypatch):
    import graphlib_pyg.nn.checks as checks

    calls = []
    validate = checks.validate_graph
    monkeypatch.setattr(
        checks, "validate_graph", lambda *a, **k: calls.append(1) or validate(*a, **k)
    )
    conv = DAGNNConv(F, K=1)
    x, ei = torch.randn(N, F), torch.tensor([[0, 1, 2], [1, 2, 3]])
    conv(x, ei)
    conv(x, ei)
    assert len(calls) == 1  # the same unmodified tensor: checked once
    ei[0, 0] = 7  # modified in place: checked again
    with pytest.raises(ValueError, match="refers to node 7"):
        conv(x, ei)
    with torch.inference_mode():  # inference tensors have no version counter: always checked
        bad = torch.tensor([[0, 9], [1, 2]])
    with pytest.raises(ValueError, match="refers to node 9"):
        conv(x, bad)


# --------------------------------------------------------------------------- empty graphs
@pytest.mark.parametrize("training", [True, False])
def test_graph_without_nodes_gives_an_empty_output(training):
    from graphlib_pyg.data.graph import adjacency
    from graphlib_pyg.nn.transformer import LargeGT

    x, ei = torch.randn(0, 8), torch.empty(2, 0, dtype=torch.long)
    layer = GraphMambaLayer(8, GCNConv(8, 8)).train(training)
    assert layer(x, ei).shape == (0, 8)
    assert GMN(8, 8, 3).train(training)(x, ei).shape == (0, 3)
    model = LargeGT(8, 8, 3, num_samples=4, heads=2, num_centroids=4).train(training)
    before = model.codebook.counts.clone()
    assert model(x, adjacency(ei, 0)).shape == (0, 3)
    assert torch.equal(model.codebook.counts, before)  # an empty batch moves no centroid


@pytest.mark.parametrize("cls", [Mamba, BiMamba])
def test_mamba_on_empty_sequences(cls):
    block = cls(8)
    x = torch.randn(2, 0, 8, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 0, 8)
    out.sum().backward()  # connected to the parameters, with zero gradients
    assert block(torch.randn(2, 0, 8), torch.zeros(2, 0, dtype=torch.bool)).shape == (2, 0, 8)
    assert block(torch.randn(0, 5, 8), torch.zeros(0, 5, dtype=torch.bool)).shape == (0, 5, 8)


def test_gmn_with_no_seeds_and_bad_seeds():
    x, ei = torch.randn(N, F), torch.tensor([[0, 1, 2], [1, 2, 3]])
    model = GMN(F, 8, 3).eval()
    assert model(x, ei, seeds=torch.empty(0, dtype=torch.long)).shape == (0, 3)
    with pytest.raises(ValueError, match=r"GMN: seeds must lie in \[0, 6\)"):
        model(x, ei, seeds=torch.tensor([0, 6]))


# --------------------------------------------------------------------------- NeighborSets
QUERIES = {
    "without": lambda sets, pairs: sets.without(pairs),
    "common": lambda sets, pairs: list(sets.common(pairs)),
    "overlap": lambda sets, pairs: sets.overlap(pairs, residual=True),
    "lookup": lambda sets, pairs: list(sets.lookup(pairs[0], pairs[1])),
}


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("bad", sorted(BAD_GRAPHS))
def test_neighbor_set_queries_reject_malformed_pairs(bad, query):
    """Out-of-range, negative or (P, 2) pairs used to answer for other pairs: ``without``
    removed other edges, in one direction."""
    from graphlib_pyg.nn.link.neighbors import NeighborSets

    sets = NeighborSets.from_edge_index(torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]), N)
    pairs, error, match = BAD_GRAPHS[bad]
    if bad == "out_of_range":
        pairs = torch.tensor([[0], [8]])  # 0 * 6 + 8 is the key of edge 1 -> 2
        match = "refers to node 8 but the graph has 6 nodes"
    elif bad == "negative":
        pairs = torch.tensor([[3], [-3]])  # 3 * 6 - 3 is the key of edge 2 -> 3
    elif bad == "transposed" and query == "lookup":
        pytest.skip("lookup takes src and dst vectors")
    with pytest.raises(error, match=f"^NeighborSets.{query} pairs: edge_index {match}"):
        QUERIES[query](sets, pairs)
    kept = sets.without(torch.tensor([[1], [2]]))  # a valid pair: both directions removed
    assert sets.num_entries - kept.num_entries == 2
    with pytest.raises(ValueError, match="src and dst must be"):
        list(sets.lookup(torch.tensor([0, 1]), torch.tensor([2])))


def test_heuristic_scores_reject_transposed_pairs():
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.nn.link.heuristics import heuristic_scores

    index = GraphIndex(torch.tensor([[0, 1, 2, 1, 2, 3], [1, 2, 3, 0, 1, 2]]), 4)
    pairs = torch.tensor([[0, 2], [1, 3], [0, 3]])  # (P, 2) with P = 3
    with pytest.raises(ValueError, match=r"must have shape \(2, E\), got \(3, 2\)"):
        heuristic_scores(index, pairs)
    assert heuristic_scores(index, pairs.t()).tolist() == [1.0, 1.0, 0.0]  # path 0-1-2-3


# --------------------------------------------------------------------------- module layout
def test_split_modules_keep_their_public_import_paths_and_size():
    from pathlib import Path

    import graphlib_pyg.nn.link.neighbors as neighbors
    import graphlib_pyg.nn.mamba.scan as scan
    from graphlib_pyg.nn.link import pool, sample_per_pair
    from graphlib_pyg.nn.link.neighbors import POOL_METHODS, NeighborSets
    from graphlib_pyg.nn.link.neighbors import pool as pool2
    from graphlib_pyg.nn.link.neighbors import sample_per_pair as sample2
    from graphlib_pyg.nn.mamba.scan import BACKENDS, flip_within, selective_scan

    assert (
        pool is pool2 and sample_per_pair is sample2 and POOL_METHODS == ("embedding_bag", "sparse")
    )
    assert callable(selective_scan) and callable(flip_within) and "parallel" in BACKENDS
    assert NeighborSets.__module__ == neighbors.__name__
    for module in (neighbors, scan):
        assert len(Path(module.__file__).read_text().splitlines()) < 400, module.__name__
