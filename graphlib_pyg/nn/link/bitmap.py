"""The bitmap path of :class:`~graphlib_pyg.nn.link.neighbors.NeighborSets` queries.

For a query's ``dst`` nodes, bool rows ``N(v)`` of a (rows, N) matrix are marked once and read by
every later block of candidates, so a membership test costs one byte lookup. The matrix never
exceeds :data:`BITMAP_BYTES`; when it is full it is cleared and refilled.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

#: Memory bound of the bitmap path's (rows, N) bool matrix, in bytes.
BITMAP_BYTES = 1 << 25
#: ``auto`` marks new bitmap rows for a block only if that costs at most this many bytes per
#: candidate of the block (a byte store is ~50x cheaper than a candidate's binary search).
BITMAP_BYTES_PER_CANDIDATE = 64

_idx = torch.index_select  # 1-D gathers: several times faster than ``x[index]`` on CPU


class NeighborLists(Protocol):
    """What the bitmap reads of a :class:`~graphlib_pyg.nn.link.neighbors.NeighborSets`."""

    num_nodes: int
    degree: Tensor  # (N,)

    def _expand(self, nodes: Tensor, c: Tensor, m: int, arange: Tensor) -> tuple[Tensor, Tensor]:
        """(segment, neighbour) of every neighbour of ``nodes``; ``c`` = their degrees."""


class NeighborBitmap:
    """Bool rows ``N(v)`` (a flattened (rows, N) matrix) for the ``dst`` nodes of one query.

    :meth:`plan` decides once per query: if the rows of every distinct ``dst`` fit in
    :data:`BITMAP_BYTES`, they are all marked up front (``complete``); otherwise rows are added
    block by block, kept for later blocks, and the matrix is cleared when full. ``auto`` uses
    rows only where :data:`BITMAP_BYTES_PER_CANDIDATE` says marking them pays.
    """

    def __init__(self, sets: NeighborLists, forced: bool) -> None:
        n = sets.num_nodes
        self.sets, self.forced, self.complete = sets, forced, False
        self.capacity = min(BITMAP_BYTES // max(n, 1), n)  # rows that fit
        self.offset = torch.full((n,), -1, dtype=torch.long)  # (N,) row * N, or -1
        self.bits = torch.zeros(0, dtype=torch.bool)
        self.used = 0

    @classmethod
    def plan(
        cls, sets: NeighborLists, dst: Tensor, total: int, forced: bool
    ) -> NeighborBitmap | None:
        """The bitmap of a query with ``total`` candidates, or ``None`` where it cannot pay."""
        n = sets.num_nodes
        bitmap = cls(sets, forced)
        if bitmap.capacity == 0:
            return None
        present = torch.zeros(n, dtype=torch.bool).index_fill_(0, dst, True)
        rows = present.nonzero().squeeze(1)  # (R,) distinct dst nodes
        if not forced and rows.numel() * n > BITMAP_BYTES_PER_CANDIDATE * total:
            return None  # even marking each row once costs more than it saves
        if rows.numel() <= bitmap.capacity:
            bitmap._mark(rows)
            bitmap.complete = True
        return bitmap

    def rows(self, d: Tensor, m: int) -> Tensor | None:
        """(B,) offsets ``row * N`` of the nodes ``d`` (marking new rows), or ``None`` to skip."""
        off = _idx(self.offset, 0, d)
        if self.complete:
            return off
        new = torch.unique(d[off < 0])  # (R,) distinct nodes without a row yet
        if new.numel():
            n = self.sets.num_nodes
            if not self.forced and new.numel() * n > BITMAP_BYTES_PER_CANDIDATE * m:
                return None
            if self.used + new.numel() > self.capacity:  # full: start again with this block
                new = torch.unique(d)
                if new.numel() > self.capacity:
                    return None
                self.bits[: self.used * n].zero_()
                self.offset.fill_(-1)
                self.used = 0
            self._mark(new)
            off = _idx(self.offset, 0, d)
        return off

    def _mark(self, new: Tensor) -> None:
        sets, n, r = self.sets, self.sets.num_nodes, new.numel()
        if self.bits.numel() < (self.used + r) * n:  # grow: at least double, at most capacity
            grown = min(self.capacity, max(self.used + r, 2 * self.bits.numel() // n)) * n
            self.bits = torch.cat([self.bits, self.bits.new_zeros(grown - self.bits.numel())])
        off = torch.arange(self.used, self.used + r) * n  # (R,)
        self.offset[new] = off
        deg = _idx(sets.degree, 0, new)
        k = int(deg.sum())
        seg, v = sets._expand(new, deg, k, torch.arange(k))
        self.bits.index_fill_(0, _idx(off, 0, seg).add_(v), True)
        self.used += r


__all__ = ["BITMAP_BYTES", "BITMAP_BYTES_PER_CANDIDATE", "NeighborBitmap"]
