"""Every fast path of NeighborSets (bitmap, segment, search, auto) equals the reference path."""

import pytest
import torch

from graphlib_pyg.nn.link import bitmap, neighbors
from graphlib_pyg.nn.link.neighbors import METHODS, NeighborSets, pool

FAST = [m for m in METHODS if m != "reference"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Results do not depend on the thread count; tiny blocks on a busy CPU would make every
    OpenMP region wait for a time slice, so these many-small-block tests run single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _edges(n, e, seed, multi=True, loops=True):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    if multi and e:
        ei = torch.cat([ei, ei[:, : e // 4]], 1)  # repeated edges count once
    if loops and n:
        ei = torch.cat([ei, torch.arange(min(n, 3)).repeat(2, 1)], 1)
    return ei


def _hubs(n, e, seed):
    """Skewed degrees: a few hubs next to many low-degree and isolated nodes."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n // 2, (e,), generator=g)
    dst = (torch.rand(e, generator=g) ** 6 * (n // 2)).long()
    return torch.stack([src, dst])


GRAPHS = {
    "empty": (torch.empty(2, 0, dtype=torch.long), 6),
    "one-edge-isolated": (torch.tensor([[0], [1]]), 9),
    "sparse": (_edges(200, 300, 0), 200),
    "dense": (_edges(40, 700, 1), 40),
    "hubs": (_hubs(300, 3000, 2), 300),
}


def _pairs(n, p, seed):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, n, (2, p), generator=g)
    pairs[1, :8] = pairs[0, :8]  # (i, i) pairs
    return pairs


def _cat(chunks):
    chunks = list(chunks)
    if not chunks:
        return None
    return [torch.cat(parts) for parts in zip(*chunks, strict=True)]


def _same(xs, ys):
    if xs is None or ys is None:
        return all(z is None or z[0].numel() == 0 for z in (xs, ys))
    return all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(xs, ys, strict=True))


def _check_all_paths(sets, pairs, chunk=1 << 23):
    a, b = pairs
    ref_lookup = _cat(sets.lookup(a, b, chunk, method="reference"))
    ref_common = _cat(sets.common(pairs, chunk, method="reference"))
    ref_res = sets.overlap(pairs, residual=True, method="reference")
    (ref_cn,) = sets.overlap(pairs, method="reference")
    for method in FAST:
        assert _same(_cat(sets.lookup(a, b, chunk, method=method)), ref_lookup), method
        assert _same(_cat(sets.common(pairs, chunk, method=method)), ref_common), method
        res = sets.overlap(pairs, residual=True, method=method)
        for got, ref in zip(res, ref_res, strict=True):
            assert _same(got, ref), method
        (cn,) = sets.overlap(pairs, method=method)
        assert _same(cn, ref_cn), method
    return ref_res


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("symmetric", [True, False])
def test_paths_equal_reference(name, symmetric):
    ei, n = GRAPHS[name]
    sets = NeighborSets.from_edge_index(ei, n, symmetric=symmetric)
    cn, only_a, only_b = _check_all_paths(sets, _pairs(n, 150, 3))
    # the reference itself against Python sets, so "equal to the reference" means correct
    nbrs = [set() for _ in range(n)]
    for r, c in zip((sets.keys // n).tolist(), sets.cols.tolist(), strict=True):
        nbrs[r].add(c)
    pairs = _pairs(n, 150, 3).t().tolist()
    only_second = lambda x, y: y - x  # noqa: E731
    for part, op in ((cn, set.intersection), (only_a, set.difference), (only_b, only_second)):
        want = sorted((p, u) for p, (i, j) in enumerate(pairs) for u in op(nbrs[i], nbrs[j]))
        assert list(zip(*[t.tolist() for t in part], strict=True)) == want


@pytest.mark.parametrize(
    "block, budget, per_candidate",
    [
        (7, 1 << 25, 64),  # tiny blocks, bitmap of every row up front
        (7, 40 * 5, 10**9),  # 5 rows fit: bitmap rows added per block, cleared when full
        (1, 40 * 5, 10**9),  # one candidate per block
        (64, 40 * 40, 0),  # auto never takes the bitmap
        (64, 39, 64),  # not even one row fits: bitmap falls back to searching
    ],
)
def test_block_and_bitmap_limits_do_not_change_results(monkeypatch, block, budget, per_candidate):
    monkeypatch.setattr(neighbors, "BLOCK", block)
    monkeypatch.setattr(bitmap, "BITMAP_BYTES", budget)
    monkeypatch.setattr(bitmap, "BITMAP_BYTES_PER_CANDIDATE", per_candidate)
    ei, n = GRAPHS["dense"]
    sets = NeighborSets.from_edge_index(ei, n)
    _check_all_paths(sets, _pairs(n, 90, 4))
    _check_all_paths(sets, _pairs(n, 90, 5), chunk=3)


def test_segment_ratio_switches_between_local_and_global_search(monkeypatch):
    ei, n = GRAPHS["hubs"]
    sets = NeighborSets.from_edge_index(ei, n)
    pairs = _pairs(n, 200, 6)
    (ref,) = sets.overlap(pairs, method="reference")
    monkeypatch.setattr(bitmap, "BITMAP_BYTES_PER_CANDIDATE", 0)
    monkeypatch.setattr(neighbors, "BLOCK", 50)
    for ratio in (0, 1, 4, 10**9):
        monkeypatch.setattr(neighbors, "SEGMENT_RATIO", ratio)
        (cn,) = sets.overlap(pairs)
        assert _same(cn, ref)


@pytest.mark.parametrize("method", FAST)
def test_lookup_order_and_chunk_bound(monkeypatch, method):
    monkeypatch.setattr(neighbors, "BLOCK", 1 << 20)
    ei, n = GRAPHS["hubs"]
    sets = NeighborSets.from_edge_index(ei, n)
    a, b = _pairs(n, 300, 7)
    chunk, last = 40, -1
    for pid, u, hit in sets.lookup(a, b, chunk, method=method):
        assert pid.numel() == u.numel() == hit.numel() and hit.dtype == torch.bool
        if pid.numel() == 0:  # only isolated sources in this block
            continue
        assert pid.numel() <= chunk + int(sets.degree[a[pid]].max())  # a pair is never split
        assert int(pid[0]) > last and bool((pid.diff() >= 0).all())
        same_pair = pid.diff() == 0
        assert bool((u.diff()[same_pair] > 0).all())  # u ascends within a pair
        last = int(pid[-1])


def test_int32_pairs_and_unknown_method():
    ei, n = GRAPHS["sparse"]
    sets = NeighborSets.from_edge_index(ei, n)
    pairs = _pairs(n, 50, 8)
    (ref,) = sets.overlap(pairs, method="reference")
    (cn,) = sets.overlap(pairs.int())
    assert _same(cn, ref)
    with pytest.raises(ValueError, match="valid: auto"):
        sets.overlap(pairs, method="dense")
    with pytest.raises(ValueError, match="valid: embedding_bag"):
        pool(*ref, 50, torch.randn(n, 3), method="csr")


@pytest.mark.parametrize("weighted", [False, True])
def test_pool_embedding_bag_equals_sparse_product(weighted):
    ei, n = GRAPHS["hubs"]
    sets = NeighborSets.from_edge_index(ei, n)
    pairs = _pairs(n, 120, 9)
    pairs[:, 10:20] = n - 1  # likely empty pairs (isolated node)
    (pid, u) = sets.overlap(pairs)[0]
    w = torch.rand(pid.numel(), dtype=torch.float64) if weighted else None
    h = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    scale = torch.randn(pairs.size(1), 6, dtype=torch.float64)
    gathered = h[u] * (1.0 if w is None else w[:, None])  # the (C, F) rows, reference only
    ref = torch.zeros(pairs.size(1), 6, dtype=torch.float64).index_add(0, pid, gathered)
    (ref_grad,) = torch.autograd.grad((ref * scale).sum(), h)
    for method in ("embedding_bag", "sparse"):
        out = pool(pid, u, pairs.size(1), h, w, method=method)
        (grad,) = torch.autograd.grad((out * scale).sum(), h)
        assert torch.allclose(out, ref, atol=1e-12), method
        assert torch.allclose(grad, ref_grad, atol=1e-12), method


def test_pool_edge_cases():
    h = torch.randn(5, 3)
    e = torch.empty(0, dtype=torch.long)
    assert pool(e, e, 0, h).shape == (0, 3)
    assert torch.equal(pool(e, e, 4, h), torch.zeros(4, 3))
    assert torch.equal(pool(torch.tensor([2]), torch.tensor([4]), 3, h)[2], h[4])


@pytest.mark.parametrize("name", ["sparse", "hubs", "empty"])
def test_without_and_drop_entries_match_a_fresh_build(name):
    ei, n = GRAPHS[name]
    sets = NeighborSets.from_edge_index(ei, n)
    removed = sets.without(ei[:, :7])
    fresh = NeighborSets(removed.keys, n, symmetric=True)
    dropped = sets.drop_entries(0.4, generator=torch.Generator().manual_seed(0))
    fresh_dropped = NeighborSets(dropped.keys, n)
    for got, want in ((removed, fresh), (dropped, fresh_dropped)):
        for attr in ("keys", "cols", "degree", "indptr"):
            assert torch.equal(getattr(got, attr), getattr(want, attr)), attr
        assert got.symmetric == want.symmetric
    assert removed.num_entries <= sets.num_entries
