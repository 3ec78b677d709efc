"""Neighbour-set queries for node pairs on a CSR graph: common neighbours and their complements.

A :class:`NeighborSets` holds the sorted, deduplicated edge keys ``row * N + col`` of a graph.
Every neighbour ``u`` of one endpoint ``a`` of a pair ``(a, b)`` is looked up as the key
``b * N + u`` with ``torch.searchsorted``: a hit means ``u`` is a common neighbour, a miss means
``u`` lies in ``N(a) \\ N(b)``. Work is proportional to the degrees of the queried endpoints,
memory to a chunk of them; no dense N x N matrix is built and no compiled extension is needed.

Removing edges (target-link removal, edge dropout) is a boolean mask over the sorted keys, so a
per-batch graph costs O(E) and no sort.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch
from torch import Tensor

from graphlib_pyg.data.graph import GraphIndex, SparseAdj, validate_graph


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
        n = int(num_nodes)
        self.num_nodes, self.keys, self.symmetric = n, keys, symmetric
        self.cols = keys % max(n, 1)
        self.degree = torch.bincount(keys // max(n, 1), minlength=n)
        self.indptr = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(self.degree, 0, out=self.indptr[1:])
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
        visible to the model that scores them).
        """
        n = self.num_nodes
        a, b = pairs[0].long(), pairs[1].long()
        drop = torch.cat([a * n + b, b * n + a])
        return NeighborSets(self.keys[~_member(drop, self.keys)], n, self.symmetric)

    def drop_entries(self, p: float, generator: torch.Generator | None = None) -> NeighborSets:
        """Each directed entry kept with probability ``1 - p`` (edge dropout; not symmetric)."""
        if p <= 0:
            return self
        keep = torch.rand(self.keys.numel(), generator=generator) >= p
        return NeighborSets(self.keys[keep], self.num_nodes)

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
        self, src: Tensor, dst: Tensor, chunk: int = 1 << 23
    ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Yield ``(pair_id, u, hit)``: ``u`` runs over ``N(src[p])``; ``hit`` = ``u in N(dst[p])``.

        Chunks hold at most about ``chunk`` neighbours; ``pair_id`` ascends across chunks and
        ``u`` ascends within a pair.
        """
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

    def common(self, pairs: Tensor, chunk: int = 1 << 23) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(pair_id, u)`` with ``u`` a common neighbour of ``pairs[:, pair_id]``.

        Neighbours of the lower-degree endpoint are the candidates.
        """
        a, b = pairs[0].long(), pairs[1].long()
        swap = self.degree[a] > self.degree[b]
        a, b = torch.where(swap, b, a), torch.where(swap, a, b)
        for pid, u, hit in self.lookup(a, b, chunk):
            yield pid[hit], u[hit]

    def overlap(self, pairs: Tensor, residual: bool = False) -> tuple:
        """Common neighbours of each pair, and optionally each endpoint's other neighbours.

        Returns ``(cn,)`` or ``(cn, only_a, only_b)``, each a ``(pair_id, node)`` tuple:
        ``cn`` = N(a) & N(b); ``only_a`` = N(a) \\ N(b); ``only_b`` = N(b) \\ N(a), where
        ``(a, b) = pairs``.

        Shapes:
            - **pairs:** (2, P)
            - **each output:** (C,), (C,), ``pair_id`` ascending
        """
        if not residual:
            parts = list(self.common(pairs))
            return (_cat(parts),)
        a, b = pairs[0].long(), pairs[1].long()
        cn, only_a, only_b = [], [], []
        for pid, u, hit in self.lookup(a, b):
            cn.append((pid[hit], u[hit]))
            only_a.append((pid[~hit], u[~hit]))
        for pid, u, hit in self.lookup(b, a):
            only_b.append((pid[~hit], u[~hit]))
        return _cat(cn), _cat(only_a), _cat(only_b)


def _cat(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    if not parts:
        e = torch.empty(0, dtype=torch.long)
        return e, e.clone()
    return torch.cat([p for p, _ in parts]), torch.cat([u for _, u in parts])


def _member(values: Tensor, sorted_keys: Tensor) -> Tensor:
    """(K,) bool: which entries of ``sorted_keys`` occur in ``values``."""
    if sorted_keys.numel() == 0 or values.numel() == 0:
        return torch.zeros(sorted_keys.numel(), dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, values).clamp_(max=sorted_keys.numel() - 1)
    found = sorted_keys[pos] == values
    out = torch.zeros(sorted_keys.numel(), dtype=torch.bool)
    out[pos[found]] = True
    return out


def sample_per_pair(
    pid: Tensor,
    node: Tensor,
    num_pairs: int,
    max_count: int | None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Cap each pair's node list at ``max_count`` draws, reweighted to stay unbiased.

    Pairs with more than ``max_count`` nodes get ``max_count`` uniform draws with replacement,
    each weighted ``count / max_count`` (so a weighted sum estimates the full sum); smaller lists
    are kept whole with weight 1. Returns ``(pid, node, weight)`` with ``pid`` ascending;
    ``weight`` is ``None`` when nothing was sampled.
    """
    if max_count is None or max_count <= 0 or pid.numel() == 0:
        return pid, node, None
    counts = torch.bincount(pid, minlength=num_pairs)
    big = counts > max_count
    if not bool(big.any()):
        return pid, node, None
    keep = ~big[pid]
    start = torch.zeros(num_pairs, dtype=torch.long)
    torch.cumsum(counts[:-1], 0, out=start[1:])
    rows = big.nonzero().flatten()
    draws = torch.rand(rows.numel(), max_count, generator=generator)
    idx = start[rows, None] + (draws * counts[rows, None]).long()
    s_pid = rows.repeat_interleave(max_count)
    s_w = (counts[rows].double() / max_count).repeat_interleave(max_count)
    all_pid = torch.cat([pid[keep], s_pid])
    all_node = torch.cat([node[keep], node[idx.flatten()]])
    all_w = torch.cat([torch.ones(int(keep.sum()), dtype=torch.double), s_w])
    order = torch.argsort(all_pid, stable=True)
    return all_pid[order], all_node[order], all_w[order].float()


class _Pool(torch.autograd.Function):
    """``S @ h`` for a (P, N) 0/1-pattern matrix S given as sorted (pair_id, node, value) lists.

    Forward: CSR product (rows = pairs, already sorted). Backward: ``S^T @ grad`` as a COO
    product on the swapped index lists, which needs no transpose or sort of S (on ogbl-ddi-sized
    batches, converting S to CSC for the backward pass costs several times the product itself).
    """

    @staticmethod
    def forward(ctx, h: Tensor, pid: Tensor, node: Tensor, val: Tensor, num_pairs: int) -> Tensor:
        crow = torch.zeros(num_pairs + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(pid, minlength=num_pairs), 0, out=crow[1:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            mat = torch.sparse_csr_tensor(crow, node, val, (num_pairs, h.size(0)))
        ctx.save_for_backward(pid, node, val)
        ctx.n = h.size(0)
        return torch.sparse.mm(mat, h)

    @staticmethod
    def backward(ctx, grad: Tensor):
        pid, node, val = ctx.saved_tensors
        mat_t = torch.sparse_coo_tensor(
            torch.stack([node, pid]), val, (ctx.n, grad.size(0)), check_invariants=False
        )
        return torch.sparse.mm(mat_t, grad), None, None, None, None


def pool(
    pid: Tensor, node: Tensor, num_pairs: int, h: Tensor, weight: Tensor | None = None
) -> Tensor:
    """Sum of ``h[node]`` (times ``weight``) per pair: a (P, N) sparse matrix times ``h``.

    ``pid`` must ascend. The (C, F) gathered rows are never materialised: the product runs as a
    sparse matrix multiplication, forward (CSR) and backward (COO of the transpose).
    Differentiable in ``h``; ``weight`` is treated as a constant.

    Shapes:
        - **pid, node, weight:** (C,)
        - **h:** (N, F)
        - **output:** (P, F)
    """
    val = torch.ones(node.numel(), dtype=h.dtype) if weight is None else weight.to(h.dtype)
    return _Pool.apply(h, pid, node, val.detach(), num_pairs)


__all__ = ["NeighborSets", "pool", "sample_per_pair"]
