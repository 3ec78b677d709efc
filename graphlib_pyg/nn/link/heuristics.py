"""Common neighbours of node pairs on the CSR graph, and the CN / AA / RA link heuristics.

Common neighbours are found with plain torch: every neighbour ``u`` of the lower-degree endpoint
``a`` of a pair ``(a, b)`` is looked up as the key ``b * N + u`` in the sorted array of all edge
keys (``torch.searchsorted``). Work is proportional to the sum of the smaller degrees, memory to
a chunk of it; no dense N x N matrix is ever built and no compiled extension is needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from graphlib_pyg.data.graph import GraphIndex


class _SortedKeys:
    """Deduplicated, sorted edge keys ``row * N + col`` of a :class:`GraphIndex` (cached)."""

    def __init__(self, index: GraphIndex) -> None:
        n = index.num_nodes
        keys = torch.unique_consecutive(index.rows() * n + index.indices)  # CSR order is sorted
        self.n, self.keys = n, keys
        self.cols = keys % n
        self.degree = torch.bincount(keys // n, minlength=n)
        self.indptr = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(self.degree, 0, out=self.indptr[1:])


_KEYS: dict[int, tuple[GraphIndex, _SortedKeys]] = {}


def _keys(index: GraphIndex) -> _SortedKeys:
    hit = _KEYS.get(id(index))
    if hit is None or hit[0] is not index:
        if len(_KEYS) > 8:
            _KEYS.clear()
        hit = (index, _SortedKeys(index))
        _KEYS[id(index)] = hit
    return hit[1]


def common_neighbors(
    index: GraphIndex, pairs: Tensor, chunk: int = 1 << 23
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(pair_id, node)``: ``node`` is a common neighbour of ``pairs[:, pair_id]``.

    Multi-edges count once. Results come in chunks of at most about ``chunk`` candidate lookups.

    Args:
        index: the graph (neighbours = in-neighbours; symmetric for undirected graphs).
        pairs: (2, P) node pairs.
        chunk: bound on candidates examined at once (memory ~ 40 bytes each).

    Shapes:
        - **pairs:** (2, P)
        - **yields:** (C,), (C,) per chunk, ``pair_id`` ascending.
    """
    k = _keys(index)
    a, b = pairs[0].long(), pairs[1].long()
    swap = k.degree[a] > k.degree[b]
    a, b = torch.where(swap, b, a), torch.where(swap, a, b)  # a = lower-degree endpoint
    counts = k.degree[a]  # (P,)
    cum = counts.cumsum(0)
    total = int(cum[-1]) if cum.numel() else 0
    cuts = torch.searchsorted(cum, torch.arange(chunk, max(total, chunk), chunk), right=True)
    cuts = cuts.tolist()
    bounds = [0, *cuts, pairs.size(1)]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        c = counts[lo:hi]
        pid = torch.repeat_interleave(torch.arange(lo, hi), c)  # (C,)
        start = torch.repeat_interleave(k.indptr[a[lo:hi]], c)
        offset = torch.arange(pid.numel()) - torch.repeat_interleave(c.cumsum(0) - c, c)
        u = k.cols[start + offset]  # candidate neighbours of a
        query = b[pid] * k.n + u
        pos = torch.searchsorted(k.keys, query).clamp(max=max(k.keys.numel() - 1, 0))
        hit = k.keys[pos] == query if k.keys.numel() else torch.zeros_like(query, dtype=bool)
        yield pid[hit], u[hit]


def neighbor_weight(index: GraphIndex, kind: str) -> Tensor | None:
    """Per-node weight of a common neighbour: CN 1, AA 1/log(deg), RA 1/deg."""
    deg = _keys(index).degree.double()
    if kind == "cn":
        return None
    if kind == "aa":
        w = 1.0 / torch.log(deg)
        w[deg <= 1] = 0.0
        return w
    if kind == "ra":
        w = 1.0 / deg
        w[deg == 0] = 0.0
        return w
    raise ValueError(f"unknown heuristic {kind!r}; valid: {', '.join(HEURISTICS)}")


def heuristic_scores(index: GraphIndex, pairs: Tensor, kind: str = "cn") -> Tensor:
    """CN / AA / RA score of each pair. (2, P) -> (P,) float64."""
    w = neighbor_weight(index, kind)
    out = torch.zeros(pairs.size(1), dtype=torch.float64)
    for pid, u in common_neighbors(index, pairs):
        out.index_add_(0, pid, torch.ones_like(pid, dtype=out.dtype) if w is None else w[u])
    return out


HEURISTICS: dict[str, str] = {
    "cn": "common neighbours |N(a) & N(b)|",
    "aa": "Adamic-Adar: sum of 1/log(deg u) over common neighbours u",
    "ra": "resource allocation: sum of 1/deg u over common neighbours u",
}

__all__ = ["HEURISTICS", "common_neighbors", "heuristic_scores", "neighbor_weight"]
