"""Neighbour-set queries for node pairs on a CSR graph: common neighbours and their complements.

A :class:`NeighborSets` holds the sorted, deduplicated edge keys ``row * N + col`` of a graph.
For a pair ``(a, b)`` every neighbour ``u`` of ``a`` is a candidate, and the question is whether
``u`` is also a neighbour of ``b`` (a common neighbour) or not (``u`` lies in ``N(a) \\ N(b)``).
Candidates are examined in blocks of at most :data:`BLOCK`, each answered by one of three paths
(all give identical results; ``method="auto"`` picks):

* ``bitmap``: bool rows ``N(v)`` of the distinct ``b`` nodes, marked once per query and reused
  by later blocks, so a candidate costs one byte lookup. Used where marking the rows is cheap
  next to the candidates they serve (dense graphs such as ogbl-ddi); the (rows, N) matrix never
  exceeds :data:`~graphlib_pyg.nn.link.bitmap.BITMAP_BYTES` (:mod:`~graphlib_pyg.nn.link.bitmap`).
* ``segment``: ``torch.searchsorted`` of the block's candidates in the block's own sorted
  ``b``-neighbour keys (a merge of two sorted lists that fit in cache). Used when those lists are
  not much longer than the candidate lists (sparse graphs).
* ``search``: ``torch.searchsorted`` in all edge keys (blocks with hub ``b`` endpoints).

``reference`` is the original single path (global ``searchsorted`` over chunks of ``chunk``
candidates), kept to test and benchmark the fast paths against. Work is proportional to the
degrees of the queried endpoints; memory is a block of candidates plus at most
``BITMAP_BYTES``, so no N x N matrix is built unless it fits that bound; no compiled extension is
needed. :func:`~graphlib_pyg.nn.link.pooling.pool` (re-exported here) sums node states over the
resulting lists.

Removing edges (target-link removal, edge dropout) is a boolean mask over the sorted keys, so a
per-batch graph costs O(E) and no sort.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch
from torch import Tensor

from graphlib_pyg.data.graph import GraphIndex, SparseAdj, validate_graph
from graphlib_pyg.nn.link.bitmap import NeighborBitmap
from graphlib_pyg.nn.link.pooling import POOL_METHODS, pool, sample_per_pair  # re-exported

#: Candidates per block of the fast paths (a block's index arrays stay in cache).
BLOCK = 1 << 20
#: ``auto`` uses ``segment`` when the block's ``b`` lists hold at most this many keys per candidate.
SEGMENT_RATIO = 4
#: Valid ``method`` values of :meth:`NeighborSets.lookup`, ``common`` and ``overlap``.
METHODS = ("auto", "bitmap", "segment", "search", "reference")

_idx = torch.index_select  # 1-D gathers: several times faster than ``x[index]`` on CPU


class NeighborSets:
    """Sorted edge keys of a graph, for neighbour-set queries on node pairs.

    Build it with :meth:`from_index` (the neighbour lists of a :class:`GraphIndex`, as they are)
    or :meth:`from_edge_index` (symmetrised by default, as link predictors on undirected graphs
    expect). Multi-edges count once.

    Attributes:
        num_nodes: N.
        keys: (E,) sorted unique keys ``row * N + col``; the neighbours of ``v`` are the ``col``
            of the keys with ``row == v``.
        cols: (E,) ``keys % N``.
        degree: (N,) neighbours per node.
        indptr: (N + 1,) CSR row pointers into ``keys``.
    """

    def __init__(self, keys: Tensor, num_nodes: int, symmetric: bool = False) -> None:
        n = max(int(num_nodes), 1)
        degree = torch.bincount(keys // n, minlength=int(num_nodes))
        self._set(keys, int(num_nodes), symmetric, keys % n, degree)

    def _set(self, keys: Tensor, n: int, symmetric: bool, cols: Tensor, degree: Tensor) -> None:
        self.num_nodes, self.keys, self.symmetric = n, keys, symmetric
        self.cols, self.degree = cols, degree
        self.indptr = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(degree, 0, out=self.indptr[1:])
        self._adj: SparseAdj | None = None

    @classmethod
    def from_index(cls, index: GraphIndex) -> NeighborSets:
        """The in-neighbour lists of ``index`` (already sorted by target, then source)."""
        n = index.num_nodes
        return cls(torch.unique_consecutive(index.rows() * n + index.indices), n)

    @classmethod
    def from_edge_index(
        cls, edge_index: Tensor, num_nodes: int, symmetric: bool = True
    ) -> NeighborSets:
        """Neighbour sets of ``edge_index`` (row = source); ``symmetric`` adds reversed edges."""
        validate_graph(edge_index, num_nodes)
        ei = edge_index.long()
        if symmetric:
            ei = torch.cat([ei, ei.flip(0)], 1)
        return cls(torch.unique(ei[0] * max(num_nodes, 1) + ei[1]), num_nodes, symmetric)

    @property
    def num_entries(self) -> int:
        return self.keys.numel()

    # ------------------------------------------------------------------ editing
    def without(self, pairs: Tensor) -> NeighborSets:
        """The graph with the undirected edges ``pairs`` (2, P) removed, both directions.

        Symmetry is kept; used for target-link removal (a batch's positive edges must not be
        visible to the model that scores them). Like every pair query, ``pairs`` that are not
        an integer (2, P) tensor of node ids in ``[0, N)`` raise a ``ValueError``/``TypeError``
        naming the problem (a (P, 2) tensor or an out-of-range id would remove other edges).
        """
        n = self.num_nodes
        self._check_pairs(pairs, "without")
        a, b = pairs[0].long(), pairs[1].long()
        pos = _find(self.keys, torch.cat([a * n + b, b * n + a]))  # entries to drop
        keep = torch.ones(self.keys.numel(), dtype=torch.bool).index_fill_(0, pos, False)
        gone = torch.bincount(_idx(self.keys, 0, pos) // max(n, 1), minlength=n)
        return self._subset(keep, self.symmetric, self.degree - gone)

    def _check_pairs(self, pairs: Tensor, query: str) -> None:
        """Named error unless ``pairs`` is an integer (2, P) tensor of node ids in ``[0, N)``
        (a (P, 2) tensor or an out-of-range id would otherwise answer for other pairs)."""
        validate_graph(pairs, self.num_nodes, name=f"NeighborSets.{query} pairs")

    def drop_entries(self, p: float, generator: torch.Generator | None = None) -> NeighborSets:
        """Each directed entry kept with probability ``1 - p`` (edge dropout; not symmetric)."""
        if p <= 0:
            return self
        keep = torch.rand(self.keys.numel(), generator=generator) >= p
        kept = torch.zeros(self.keys.numel() + 1, dtype=torch.long)
        torch.cumsum(keep, 0, out=kept[1:])  # kept entries before each position
        return self._subset(keep, False, kept[self.indptr[1:]] - kept[self.indptr[:-1]])

    def _subset(self, keep: Tensor, symmetric: bool, degree: Tensor) -> NeighborSets:
        """The entries where ``keep`` (E,) holds; ``degree`` already counts them per row."""
        idx = keep.nonzero().squeeze(1)
        out = NeighborSets.__new__(NeighborSets)
        out._set(
            _idx(self.keys, 0, idx), self.num_nodes, symmetric, _idx(self.cols, 0, idx), degree
        )
        return out

    # ------------------------------------------------------------------ propagation
    def adjacency(self) -> SparseAdj:
        """The binary (N, N) adjacency as a cached ``torch.sparse_csr`` :class:`SparseAdj`."""
        if self._adj is None:
            n = self.num_nodes
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                csr = torch.sparse_csr_tensor(
                    self.indptr, self.cols, torch.ones(self.keys.numel()), (n, n)
                )
            self._adj = SparseAdj(csr)
            if self.symmetric:  # A^T = A: the backward pass reuses the matrix itself
                self._adj._t = csr
        return self._adj

    def propagate(self, x: Tensor, aggr: str = "sum") -> Tensor:
        r"""One parameter-free aggregation over the neighbour sets.

        ``sum``: :math:`A x`; ``mean``: :math:`D^{-1} A x`; ``gcn``:
        :math:`\hat D^{-1/2} (A + I) \hat D^{-1/2} x` with :math:`\hat D = D + I`.
        Differentiable in ``x``.
        """
        adj = self.adjacency()
        if aggr == "sum":
            return torch.sparse.mm(adj, x)
        deg = self.degree.to(x.dtype).unsqueeze(1)
        if aggr == "mean":
            return torch.sparse.mm(adj, x) / deg.clamp(min=1)
        if aggr == "gcn":
            dinv = (deg + 1).rsqrt()
            xs = dinv * x
            return dinv * (torch.sparse.mm(adj, xs) + xs)
        raise ValueError(f"unknown aggregation {aggr!r}; valid: sum, mean, gcn")

    # ------------------------------------------------------------------ pair queries
    def lookup(
        self, src: Tensor, dst: Tensor, chunk: int = 1 << 23, method: str = "auto"
    ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Yield ``(pair_id, u, hit)``: ``u`` runs over ``N(src[p])``; ``hit`` = ``u in N(dst[p])``.

        Chunks hold at most about ``chunk`` neighbours (the fast paths also at most
        :data:`BLOCK`); ``pair_id`` ascends across chunks and ``u`` ascends within a pair.
        ``method`` picks the membership test (see the module docstring); results do not depend
        on it.
        """
        if src.dim() != 1 or src.shape != dst.shape:
            raise ValueError(
                f"NeighborSets.lookup: src and dst must be (P,) each, got {tuple(src.shape)} "
                f"and {tuple(dst.shape)}"
            )
        self._check_pairs(torch.stack([src, dst]), "lookup")
        if _check_method(method) == "reference":
            yield from self._lookup_reference(src, dst, chunk)
            return
        for lo, seg, u, hit in self._blocks(src, dst, chunk, method):
            yield seg.add_(lo), u, hit

    def common(
        self, pairs: Tensor, chunk: int = 1 << 23, method: str = "auto"
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(pair_id, u)`` with ``u`` a common neighbour of ``pairs[:, pair_id]``.

        Neighbours of the lower-degree endpoint are the candidates.
        """
        self._check_pairs(pairs, "common")
        a, b = pairs[0].long(), pairs[1].long()
        swap = _idx(self.degree, 0, a) > _idx(self.degree, 0, b)
        a, b = torch.where(swap, b, a), torch.where(swap, a, b)
        if _check_method(method) == "reference":
            for pid, u, hit in self._lookup_reference(a, b, chunk):
                yield pid[hit], u[hit]
            return
        for lo, seg, u, hit in self._blocks(a, b, chunk, method):
            yield _pick(seg, u, hit, lo)

    def overlap(self, pairs: Tensor, residual: bool = False, method: str = "auto") -> tuple:
        """Common neighbours of each pair, and optionally each endpoint's other neighbours.

        Returns ``(cn,)`` or ``(cn, only_a, only_b)``, each a ``(pair_id, node)`` tuple:
        ``cn`` = N(a) & N(b); ``only_a`` = N(a) \\ N(b); ``only_b`` = N(b) \\ N(a), where
        ``(a, b) = pairs``. ``method``: see :meth:`lookup`.

        Shapes:
            - **pairs:** (2, P)
            - **each output:** (C,), (C,), ``pair_id`` ascending
        """
        self._check_pairs(pairs, "overlap")
        if not residual:
            return (_cat(list(self.common(pairs, method=method))),)
        a, b = pairs[0].long(), pairs[1].long()
        cn, only_a, only_b = [], [], []
        if _check_method(method) == "reference":
            for pid, u, hit in self._lookup_reference(a, b):
                cn.append((pid[hit], u[hit]))
                only_a.append((pid[~hit], u[~hit]))
            for pid, u, hit in self._lookup_reference(b, a):
                only_b.append((pid[~hit], u[~hit]))
            return _cat(cn), _cat(only_a), _cat(only_b)
        for lo, seg, u, hit in self._blocks(a, b, 1 << 23, method):
            cn.append(_pick(seg, u, hit, lo))
            only_a.append(_pick(seg, u, ~hit, lo))
        for lo, seg, u, hit in self._blocks(b, a, 1 << 23, method):
            only_b.append(_pick(seg, u, ~hit, lo))
        return _cat(cn), _cat(only_a), _cat(only_b)

    # ------------------------------------------------------------------ fast paths
    def _blocks(
        self, src: Tensor, dst: Tensor, chunk: int, method: str
    ) -> Iterator[tuple[int, Tensor, Tensor, Tensor]]:
        """Yield ``(lo, seg, u, hit)`` per block of pairs ``lo:hi``; ``seg`` = pair_id - lo."""
        src, dst = src.long(), dst.long()
        counts = _idx(self.degree, 0, src)  # (P,) candidates per pair
        cum = counts.cumsum(0)
        total = int(cum[-1]) if cum.numel() else 0
        step = max(1, min(chunk, BLOCK))
        cuts = torch.searchsorted(cum, torch.arange(step, max(total, step), step), right=True)
        bounds = [0, *cuts.tolist(), src.numel()]
        ends = _at(cum, bounds)  # candidates before each bound
        bitmap = None
        if method in ("auto", "bitmap") and self.keys.numel() and total:
            bitmap = NeighborBitmap.plan(self, dst, total, forced=method == "bitmap")
        dends = None  # dst-list lengths before each bound (the segment/search choice)
        if method == "auto" and (bitmap is None or not bitmap.complete):
            dends = _at(_idx(self.degree, 0, dst).cumsum(0), bounds)
        arange = torch.arange(0)  # grown to the largest block
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if hi <= lo:
                continue
            c, m = counts[lo:hi], ends[i + 1] - ends[i]  # (B,), candidates in the block
            k = None if dends is None else dends[i + 1] - dends[i]
            if arange.numel() < max(m, k or 0):
                arange = torch.arange(max(m, k or 0))
            seg, u = self._expand(src[lo:hi], c, m, arange)
            d = dst[lo:hi]
            if self.keys.numel() == 0:
                hit = torch.zeros(m, dtype=torch.bool)
            elif bitmap is not None and (base := bitmap.rows(d, m)) is not None:
                hit = _idx(bitmap.bits, 0, _idx(base, 0, seg).add_(u))
            elif method == "segment" or (k is not None and k <= SEGMENT_RATIO * m):
                hit = self._segment(seg, u, d, m, arange)
            else:
                hit = self._search(seg, u, d)
            yield lo, seg, u, hit

    def _expand(self, nodes: Tensor, c: Tensor, m: int, arange: Tensor) -> tuple[Tensor, Tensor]:
        """(segment, neighbour) of every neighbour of ``nodes``; ``c`` = their degrees."""
        seg = torch.repeat_interleave(c, output_size=m)  # (m,) position of the node in nodes
        start = _idx(self.indptr, 0, nodes) - (c.cumsum(0) - c)  # indptr - offset in output
        return seg, _idx(self.cols, 0, _idx(start, 0, seg).add_(arange[:m]))

    def _segment(self, seg: Tensor, u: Tensor, d: Tensor, m: int, arange: Tensor) -> Tensor:
        """(m,) bool: ``u in N(d[seg])``, searched in this block's own ``d`` lists (merge)."""
        n, dc = self.num_nodes, _idx(self.degree, 0, d)  # (B,)
        k = int(dc.sum())
        if k == 0:
            return torch.zeros(m, dtype=torch.bool)
        dseg, v = self._expand(d, dc, k, arange if arange.numel() >= k else torch.arange(k))
        keys = dseg.mul_(n).add_(v)  # (k,) sorted: segment, then neighbour
        query = seg * n + u
        pos = torch.searchsorted(keys, query).clamp_(max=k - 1)
        return _idx(keys, 0, pos) == query

    def _search(self, seg: Tensor, u: Tensor, d: Tensor) -> Tensor:
        """(m,) bool: ``u in N(d[seg])``, searched in all edge keys."""
        query = _idx(d * self.num_nodes, 0, seg).add_(u)
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.numel() - 1)
        return _idx(self.keys, 0, pos) == query

    def _lookup_reference(
        self, src: Tensor, dst: Tensor, chunk: int = 1 << 23
    ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """The reference path: global ``searchsorted`` over chunks of ``chunk`` candidates."""
        n = self.num_nodes
        counts = self.degree[src]
        cum = counts.cumsum(0)
        total = int(cum[-1]) if cum.numel() else 0
        cuts = torch.searchsorted(cum, torch.arange(chunk, max(total, chunk), chunk), right=True)
        bounds = [0, *cuts.tolist(), src.numel()]
        nkeys = self.keys.numel()
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if hi <= lo:
                continue
            c = counts[lo:hi]
            m = int(c.sum())
            pid = torch.repeat_interleave(torch.arange(lo, hi), c, output_size=m)
            start = torch.repeat_interleave(self.indptr[src[lo:hi]] - (c.cumsum(0) - c), c)
            u = self.cols[start + torch.arange(m)]
            if nkeys == 0:
                yield pid, u, torch.zeros(m, dtype=torch.bool)
                continue
            query = dst[pid] * n + u
            pos = torch.searchsorted(self.keys, query).clamp_(max=nkeys - 1)
            yield pid, u, self.keys[pos] == query


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    return method


def _at(cum: Tensor, bounds: list[int]) -> list[int]:
    """``[0, *cum][bounds]`` as Python ints (running totals at the block bounds)."""
    return torch.cat([cum.new_zeros(1), cum])[bounds].tolist()


def _pick(seg: Tensor, u: Tensor, mask: Tensor, lo: int) -> tuple[Tensor, Tensor]:
    """``(seg + lo, u)`` where ``mask``, with one ``nonzero`` and two gathers."""
    idx = mask.nonzero().squeeze(1)
    return _idx(seg, 0, idx).add_(lo), _idx(u, 0, idx)


def _cat(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    if not parts:
        e = torch.empty(0, dtype=torch.long)
        return e, e.clone()
    return torch.cat([p for p, _ in parts]), torch.cat([u for _, u in parts])


def _find(sorted_keys: Tensor, values: Tensor) -> Tensor:
    """Ascending distinct positions in ``sorted_keys`` of the ``values`` that occur there."""
    if sorted_keys.numel() == 0 or values.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    values = torch.sort(values).values  # sorted queries walk the keys in order: ~3x faster
    pos = torch.searchsorted(sorted_keys, values).clamp_(max=sorted_keys.numel() - 1)
    return torch.unique_consecutive(pos[_idx(sorted_keys, 0, pos) == values])


__all__ = ["METHODS", "NeighborSets", "POOL_METHODS", "pool", "sample_per_pair"]
