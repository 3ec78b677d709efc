import math

import pytest
import torch

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.nn.link.heuristics import common_neighbors, heuristic_scores


def _dense_reference(edge_index, n, pairs, kind):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[1], edge_index[0]] = 1.0  # duplicates count once
    deg = a.sum(1)
    if kind == "cn":
        w = torch.ones(n, dtype=torch.float64)
    elif kind == "aa":
        w = torch.tensor([1 / math.log(d) if d > 1 else 0.0 for d in deg.tolist()])
    else:
        w = torch.where(deg > 0, 1 / deg, torch.zeros_like(deg))
    return (a[pairs[0]] * a[pairs[1]] * w).sum(1)


@pytest.mark.parametrize("kind", ["cn", "aa", "ra"])
def test_heuristics_match_dense_reference(kind):
    data = csbm(num_nodes=200, avg_degree=12, seed=3)
    ei = torch.cat([data.edge_index, data.edge_index[:, :50]], 1)  # with duplicate edges
    index = GraphIndex(ei, 200)
    g = torch.Generator().manual_seed(0)
    pairs = torch.randint(0, 200, (2, 500), generator=g)
    ours = heuristic_scores(index, pairs, kind)
    ref = _dense_reference(ei, 200, pairs, kind)
    assert torch.allclose(ours, ref, atol=1e-9)
    assert (ref > 0).any()


def test_chunking_does_not_change_common_neighbors():
    data = csbm(num_nodes=150, avg_degree=10, seed=1)
    index = GraphIndex(data.edge_index, 150)
    pairs = torch.randint(0, 150, (2, 300))
    whole = torch.cat([torch.stack(c) for c in common_neighbors(index, pairs)], 1)
    small = torch.cat([torch.stack(c) for c in common_neighbors(index, pairs, chunk=7)], 1)
    assert torch.equal(whole, small)


def test_symmetric_in_pair_order():
    data = csbm(num_nodes=100, seed=2)
    index = GraphIndex(data.edge_index, 100)
    pairs = torch.randint(0, 100, (2, 200))
    assert torch.equal(heuristic_scores(index, pairs), heuristic_scores(index, pairs.flip(0)))
