"""Common neighbours of node pairs on the CSR graph, and the CN / AA / RA link heuristics.

Common neighbours come from :class:`~graphlib_pyg.nn.link.neighbors.NeighborSets` (sorted edge
keys + ``torch.searchsorted``): work proportional to the sum of the smaller degrees, no dense
N x N matrix, no compiled extension.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.nn.link.neighbors import NeighborSets

_SETS: dict[int, tuple[GraphIndex, NeighborSets]] = {}


def neighbor_sets(index: GraphIndex) -> NeighborSets:
    """The :class:`NeighborSets` of ``index``'s neighbour lists, cached per index object."""
    hit = _SETS.get(id(index))
    if hit is None or hit[0] is not index:
        if len(_SETS) > 8:
            _SETS.clear()
        hit = (index, NeighborSets.from_index(index))
        _SETS[id(index)] = hit
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
    yield from neighbor_sets(index).common(pairs, chunk)


def neighbor_weight(index: GraphIndex, kind: str) -> Tensor | None:
    """Per-node weight of a common neighbour: CN 1, AA 1/log(deg), RA 1/deg."""
    deg = neighbor_sets(index).degree.double()
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

__all__ = [
    "HEURISTICS",
    "common_neighbors",
    "heuristic_scores",
    "neighbor_sets",
    "neighbor_weight",
]
