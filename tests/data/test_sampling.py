"""Samplers and loaders: sampled edges are real, fan-outs hold, draws are uniform and seeded."""

from __future__ import annotations

from collections import Counter, deque
from itertools import combinations

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.loaders import LinkLoader, NodeLoader
from graphlib_pyg.data.sampling import (
    _sample_subgraph,
    k_hop_nodes,
    random_walk,
    sample_neighbors,
    sample_subgraph,
)
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.data.tasks import load_task

METHODS = ["floyd", "sort"]
HUB, HUB_DEG = 0, 20


def hub_graph() -> Data:
    """Hub 0 <-> 1..20, a ring over 1..20, a path 23 -> 24 -> 25, isolated 21, 22, 26..29."""
    ring = torch.arange(1, 21)
    src = [
        torch.arange(1, 21),
        torch.zeros(20, dtype=torch.long),
        ring,
        ring % 20 + 1,
        torch.tensor([23, 24]),
    ]
    dst = [
        torch.zeros(20, dtype=torch.long),
        torch.arange(1, 21),
        ring % 20 + 1,
        ring,
        torch.tensor([24, 25]),
    ]
    return Data(
        edge_index=torch.stack([torch.cat(src), torch.cat(dst)]),
        num_nodes=30,
        x=torch.randn(30, 4),
        y=torch.arange(30) % 3,
    )


GRAPHS = {"csbm": lambda: csbm(num_nodes=300, seed=1), "hub": hub_graph}


def edge_set(edge_index: Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


def in_lists(data: Data) -> list[set[int]]:
    nbrs: list[set[int]] = [set() for _ in range(data.num_nodes)]
    for s, d in data.edge_index.t().tolist():
        nbrs[d].add(s)
    return nbrs


@pytest.fixture(params=list(GRAPHS))
def graph(request) -> tuple[Data, GraphIndex]:
    data = GRAPHS[request.param]()
    return data, GraphIndex.from_data(data)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fanout", [0, 1, 3, 5, 25, -1])
def test_sample_neighbors_real_edges_and_fanout(graph, method, fanout):
    data, index = graph
    edges = edge_set(data.edge_index)
    seeds = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(0))
    nbr, row = sample_neighbors(
        index, seeds, fanout, generator=torch.Generator().manual_seed(1), method=method
    )
    assert nbr.shape == row.shape
    assert all((s, int(seeds[r])) in edges for s, r in zip(nbr.tolist(), row.tolist(), strict=True))
    assert bool((row[1:] >= row[:-1]).all())
    deg = index.in_degree[seeds]
    want = deg if fanout == -1 else deg.clamp(max=fanout)
    assert torch.equal(torch.bincount(row, minlength=seeds.numel()), want)
    pairs = row * data.num_nodes + nbr
    assert torch.unique(pairs).numel() == pairs.numel()  # distinct neighbours per seed


def test_sample_neighbors_with_replacement(graph):
    data, index = graph
    edges = edge_set(data.edge_index)
    seeds = torch.arange(data.num_nodes)
    nbr, row = sample_neighbors(
        index, seeds, 7, replace=True, generator=torch.Generator().manual_seed(0)
    )
    assert all((s, int(seeds[r])) in edges for s, r in zip(nbr.tolist(), row.tolist(), strict=True))
    want = torch.where(index.in_degree > 0, 7, 0)
    assert torch.equal(torch.bincount(row, minlength=data.num_nodes), want)


def test_sample_neighbors_rejects_bad_arguments():
    index = GraphIndex.from_data(hub_graph())
    with pytest.raises(ValueError, match="fanout"):
        sample_neighbors(index, torch.tensor([0]), -2)
    with pytest.raises(ValueError, match="method"):
        sample_neighbors(index, torch.tensor([0]), 3, method="magic")


def hops_of(seeds: Tensor, n_id: Tensor, edge_index: Tensor) -> dict[int, int]:
    """Hop at which every local node is first reached, following sampled edges backwards."""
    hop = {i: 0 for i in range(seeds.numel())}
    sources: dict[int, list[int]] = {}
    for s, d in edge_index.t().tolist():
        sources.setdefault(d, []).append(s)
    queue = deque(range(seeds.numel()))
    while queue:
        d = queue.popleft()
        for s in sources.get(d, []):
            if s not in hop:
                hop[s] = hop[d] + 1
                queue.append(s)
    return hop


@pytest.mark.parametrize("fanouts", [[3, 2], [5, 4, 2], [-1, 2]])
def test_sample_subgraph(graph, fanouts):
    data, index = graph
    edges = edge_set(data.edge_index)
    seeds = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(2))[:12]
    n_id, ei, batch_size = sample_subgraph(
        index, seeds, fanouts, generator=torch.Generator().manual_seed(3)
    )
    assert batch_size == 12 and torch.equal(n_id[:12], seeds)
    assert torch.unique(n_id).numel() == n_id.numel()
    assert ei.shape[0] == 2 and int(ei.max()) < n_id.numel()
    glob = n_id[ei]  # (2, E_s)
    assert edge_set(glob) <= edges
    assert torch.unique(ei[0] * n_id.numel() + ei[1]).numel() == ei.size(1)  # no duplicate edge
    # Every node reached before the last hop is expanded once with min(fanout, degree) edges.
    hop = hops_of(seeds, n_id, ei)
    assert set(hop) == set(range(n_id.numel()))
    counts = torch.bincount(ei[1], minlength=n_id.numel())
    for v, h in hop.items():
        deg = int(index.in_degree[n_id[v]])
        want = 0 if h >= len(fanouts) else (deg if fanouts[h] == -1 else min(fanouts[h], deg))
        assert int(counts[v]) == want, (v, h)


@pytest.mark.parametrize("fanouts", [[3, 2], [-1, 4, 1]])
def test_table_relabel_matches_unique_reference(graph, fanouts):
    data, index = graph
    seeds = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(4))[:9]
    table = torch.full((data.num_nodes,), -1, dtype=torch.long)
    ref = _sample_subgraph(index, seeds, fanouts, False, torch.Generator().manual_seed(5), "auto")
    fast = _sample_subgraph(
        index, seeds, fanouts, False, torch.Generator().manual_seed(5), "auto", table
    )
    assert all(torch.equal(a, b) for a, b in zip(ref, fast, strict=True))
    assert bool((table == -1).all())  # restored for the next batch


def test_sample_subgraph_isolated_seeds():
    index = GraphIndex.from_data(hub_graph())
    n_id, ei, b = sample_subgraph(index, torch.tensor([21, 22, 26]), [5, 5])
    assert b == 3 and torch.equal(n_id, torch.tensor([21, 22, 26])) and ei.shape == (2, 0)


def test_random_walk(graph):
    data, index = graph
    edges = edge_set(data.edge_index)
    start = torch.arange(data.num_nodes).repeat(3)
    walk = random_walk(index, start, 6, generator=torch.Generator().manual_seed(0))
    assert walk.shape == (start.numel(), 7) and torch.equal(walk[:, 0], start)
    isolated = index.in_degree == 0
    for path in walk.tolist():
        for cur, nxt in zip(path[:-1], path[1:], strict=True):
            assert (nxt, cur) in edges or (bool(isolated[cur]) and nxt == cur)
    stuck = walk[isolated[start]]
    assert torch.equal(stuck, stuck[:, :1].expand_as(stuck))


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_k_hop_nodes_matches_bfs(graph, k):
    data, index = graph
    nbrs = in_lists(data)
    seeds = torch.tensor([0, 5, 23, 21, 5])
    dist = {s: 0 for s in seeds.tolist()}
    queue = deque(dist)
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if u not in dist and dist[v] < k:
                dist[u] = dist[v] + 1
                queue.append(u)
    assert k_hop_nodes(index, seeds, k).tolist() == sorted(dist)


def test_node_loader_covers_seeds_once():
    task = load_task("csbm", num_nodes=300)
    data = task.data
    edges = edge_set(data.edge_index)
    train = task.split(0).train
    loader = NodeLoader(task, None, train, [4, 3], batch_size=32, seed=0)
    assert len(loader) == (train.numel() + 31) // 32
    for _ in range(2):
        seen = []
        for batch in loader:
            b = batch.batch_size
            assert torch.equal(batch.x, data.x[batch.n_id])
            assert torch.equal(batch.y, data.y[batch.n_id])
            assert batch.num_nodes == batch.n_id.numel() and b <= 32
            assert torch.equal(batch.n_id[:b], train[batch.input_id])
            assert edge_set(batch.n_id[batch.edge_index]) <= edges
            assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
            seen.append(batch.n_id[:b])
        assert sorted(torch.cat(seen).tolist()) == sorted(train.tolist())


def test_node_loader_full_neighbourhood_and_mask():
    data = hub_graph()
    index = GraphIndex.from_data(data)
    mask = torch.zeros(30, dtype=torch.bool)
    mask[[0, 3, 21, 24]] = True
    batches = list(NodeLoader(data, index, mask, [-1], batch_size=3, shuffle=False))
    assert [b.batch_size for b in batches] == [3, 1]
    first = batches[0]
    assert first.n_id[:3].tolist() == [0, 3, 21]
    counts = torch.bincount(first.edge_index[1], minlength=first.num_nodes)
    assert counts[:3].tolist() == [HUB_DEG, 3, 0]


def test_link_loader_covers_positives_once():
    pos = torch.randint(0, 50, (2, 103), generator=torch.Generator().manual_seed(0))
    loader = LinkLoader(pos, num_nodes=50, batch_size=16, num_neg=3, seed=0)
    assert len(loader) == 7
    got, sizes = [], []
    for p, n in loader:
        assert p.shape[0] == 2 and n.shape == (2, 3 * p.size(1))
        assert int(n.min()) >= 0 and int(n.max()) < 50
        got.append(p)
        sizes.append(p.size(1))
    assert sizes == [16] * 6 + [7]
    cat = torch.cat(got, 1)
    key = lambda t: sorted(map(tuple, t.t().tolist()))  # noqa: E731
    assert key(cat) == key(pos)


def test_reproducible_with_generator_seed():
    data = csbm(num_nodes=300, seed=1)
    index = GraphIndex.from_data(data)
    seeds = torch.arange(0, 300, 7)

    def run(s: int):
        g = torch.Generator().manual_seed(s)
        return sample_subgraph(index, seeds, [5, 3], generator=g)[:2] + (
            random_walk(index, seeds, 5, generator=g),
        )

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, c, strict=True))
    ep = [[bt.n_id for bt in NodeLoader(data, index, seeds, [3], 8, seed=s)] for s in (0, 0, 1)]
    assert all(torch.equal(x, y) for x, y in zip(ep[0], ep[1], strict=True))
    assert any(
        x.shape != y.shape or not torch.equal(x, y) for x, y in zip(ep[0], ep[2], strict=True)
    )


def chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


@pytest.mark.parametrize("method", METHODS)
def test_without_replacement_is_uniform_over_hub(method):
    index = GraphIndex.from_data(hub_graph())
    draws, fanout = 4000, 5
    nbr, row = sample_neighbors(
        index,
        torch.full((draws,), HUB),
        fanout,
        generator=torch.Generator().manual_seed(0),
        method=method,
    )
    counts = torch.bincount(nbr, minlength=21)[1:21].tolist()  # expected 1000 each
    assert chi_square(counts) < 60  # 19 dof: mean 19, sd ~6.2
    # Whole subsets, not just marginals: node 1 has in-neighbours {0, 2, 20}; draw pairs.
    nbr, row = sample_neighbors(
        index, torch.full((3000,), 1), 2, generator=torch.Generator().manual_seed(1), method=method
    )
    pairs = Counter(tuple(sorted(p)) for p in nbr.view(-1, 2).tolist())
    assert set(pairs) == set(combinations([0, 2, 20], 2))
    assert chi_square(list(pairs.values())) < 20  # 2 dof
