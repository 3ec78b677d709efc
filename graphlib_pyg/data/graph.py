"""A CSR view of a graph and its normalised sparse adjacencies, built once and shared.

Every sampler and full-batch layer in the package reads the graph through a :class:`GraphIndex`:
in-neighbour lists in CSR form (row = target node, columns = its source nodes, sorted) and cached
``torch.sparse_csr`` adjacencies ``adj_t`` that PyG convolutions accept in place of ``edge_index``.
On an ogbn-arxiv-sized graph a cached CSR adjacency makes a GCN epoch several times faster than a
fresh scatter over ``edge_index`` (``benchmarks/perf/fullbatch.py``).

Which ``adj_t`` kind goes into which PyG layer, and what is refused: :mod:`.adj_checks`.
"""

from __future__ import annotations

import warnings
import weakref

import torch
from torch import Tensor

from graphlib_pyg.data.adj_checks import EDGE_READS, NORMALISED, check_use
from graphlib_pyg.data.adj_checks import AdjacencyKindError as AdjacencyKindError
from graphlib_pyg.typing import AdjKind

ADJ_KINDS: tuple[str, ...] = ("gcn", "mean", "sum")
#: Dense operands a float32 adjacency multiplies in float32 (autocast's outputs).
LOW_PRECISION = (torch.bfloat16, torch.float16)


def validate_graph(
    edge_index: Tensor,
    num_nodes: int,
    x: Tensor | None = None,
    *,
    name: str = "graph",
) -> None:
    """Raise a ``ValueError`` naming the problem if a graph is malformed.

    Checks: ``edge_index`` is an integer tensor of shape (2, E); every index lies in
    ``[0, num_nodes)``; node features, when given, are a floating (N, F) tensor with no NaN/Inf.

    Args:
        edge_index: (2, E) source/target indices.
        num_nodes: number of nodes N.
        x: optional (N, F) node features.
        name: what to call the graph in error messages.
    """
    if not isinstance(edge_index, Tensor):
        raise TypeError(
            f"{name}: edge_index must be a torch.Tensor, got {type(edge_index).__name__}"
        )
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise TypeError(
            f"{name}: edge_index must be an integer tensor, got dtype {edge_index.dtype}"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"{name}: edge_index must have shape (2, E), got {tuple(edge_index.shape)}"
            + (
                " (did you pass (E, 2)? use edge_index.t())"
                if edge_index.dim() == 2 and edge_index.size(1) == 2
                else ""
            )
        )
    if num_nodes < 0:
        raise ValueError(f"{name}: num_nodes must be >= 0, got {num_nodes}")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0:
            bad = int((edge_index < 0).any(0).sum())
            raise ValueError(
                f"{name}: edge_index has negative node indices (min {lo}, {bad} edges)"
            )
        if hi >= num_nodes:
            bad = int((edge_index >= num_nodes).any(0).sum())
            raise ValueError(
                f"{name}: edge_index refers to node {hi} but the graph has {num_nodes} nodes "
                f"({bad} edges out of range [0, {num_nodes}))"
            )
    if x is not None:
        if x.dim() != 2 or x.size(0) != num_nodes:
            raise ValueError(
                f"{name}: node features must have shape (num_nodes={num_nodes}, F), "
                f"got {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise TypeError(f"{name}: node features must be floating point, got dtype {x.dtype}")
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            rows = (~finite).any(1).nonzero().flatten()
            raise ValueError(
                f"{name}: node features contain NaN/Inf in {rows.numel()} rows "
                f"(first: {rows[:5].tolist()})"
            )


class _CachedSpMM(torch.autograd.Function):
    """``adj @ x`` whose backward uses the adjacency's cached transpose (CSR) for ``adj^T @ g``."""

    @staticmethod
    def forward(ctx, x: Tensor, adj: SparseAdj) -> Tensor:
        ctx.adj = adj
        with torch.autocast(x.device.type, enabled=False):  # autocast would cast it to bf16
            return torch.sparse.mm(adj.plain, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return torch.sparse.mm(ctx.adj.transposed(), grad), None


class SparseAdj(Tensor):
    """A ``torch.sparse_csr`` adjacency that remembers its transpose and its normalisation.

    It is a real sparse CSR tensor, so PyG convolutions accept it wherever they accept ``adj_t``.
    ``torch.sparse.mm(adj, x)`` (what PyG's ``spmm`` calls for sum aggregation) runs through an
    autograd function whose backward multiplies by the transpose, built once on first use, instead
    of letting autograd transpose the CSR matrix on every backward pass (2.6x faster backward on
    ogbl-ddi; identical gradients).

    Args:
        plain: the (N, N) ``torch.sparse_csr`` tensor.
        kind: ``"gcn"``, ``"mean"`` or ``"sum"`` when it is :meth:`GraphIndex.adj_t` of that
            kind: a PyG layer that would normalise a ``gcn``/``mean`` adjacency again, or read its
            edges, then raises :class:`AdjacencyKindError` (see :mod:`.adj_checks`); ``None``
            (default) checks nothing.
        simple: the graph has no self-loops and no duplicate edges (``sum`` only: otherwise a PyG
            layer reading its edges raises, as its sparse path treats them differently);
            ``None`` (default): found out from the CSR pattern when a layer first reads it.
    """

    @staticmethod
    def __new__(
        cls, plain: Tensor, kind: str | None = None, simple: bool | None = None
    ) -> SparseAdj:
        out = Tensor._make_subclass(cls, plain)
        out.plain, out._t, out.kind, out._simple = plain, None, kind, simple
        out._rebuild = None  # weakref to the GraphIndex that computes it in another dtype
        return out

    def is_simple(self) -> bool:
        """No self-loops and no duplicate entries (columns sorted within rows); computed once."""
        if self._simple is None:
            crow, col = self.plain.crow_indices(), self.plain.col_indices()
            rows = torch.arange(crow.numel() - 1, device=crow.device)
            rows = torch.repeat_interleave(rows, crow.diff())  # (E,) row of each entry
            dup = (col[1:] == col[:-1]) & (rows[1:] == rows[:-1])
            self._simple = not bool((rows == col).any() or dup.any())
        return self._simple

    def to(self, *args, **kwargs) -> SparseAdj:
        """``Tensor.to`` that stays a :class:`SparseAdj` (its transpose is rebuilt lazily).

        A floating dtype other than the current one recomputes the values in that dtype when the
        adjacency came from a :class:`GraphIndex` that is still alive, rather than casting rounded
        float32 values.
        """
        device, dtype, *_ = torch._C._nn._parse_to(*args, **kwargs)
        index = self._rebuild() if self._rebuild is not None else None
        if dtype is not None and dtype != self.dtype and dtype.is_floating_point and index:
            other = index.adj_t(self.kind, dtype=dtype)
            return other if device is None else other.to(device)
        plain = self.plain.to(*args, **kwargs)
        if plain is self.plain:
            return self
        out = SparseAdj(plain, self.kind, self._simple)
        out._rebuild = self._rebuild
        return out

    def _checked(self, func) -> bool:
        """Whether ``func`` on this adjacency needs :func:`~.adj_checks.check_use`: anything on
        a normalised kind; on ``sum``, only reads of the edges of a graph that is not simple."""
        if self.kind in NORMALISED:
            return True
        return self.kind == "sum" and func in EDGE_READS and not self.is_simple()

    def transposed(self) -> Tensor:
        if self._t is None:
            csc = self.plain.to_sparse_csc()  # CSC of A == CSR of A^T
            self._t = torch.sparse_csr_tensor(
                csc.ccol_indices(), csc.row_indices(), csc.values(), self.plain.shape[::-1]
            )
        return self._t

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        adj = args[0] if args and isinstance(args[0], SparseAdj) else None
        if adj is not None and adj._checked(func):
            check_use(adj, func, args, kwargs)
        if (
            func is torch.sparse.mm
            and len(args) == 2
            and not kwargs
            and isinstance(args[0], SparseAdj)
            and not isinstance(args[1], SparseAdj)
        ):
            x = args[1]
            if x.dtype in LOW_PRECISION and args[0].dtype not in LOW_PRECISION:
                x = x.to(args[0].dtype)  # mixed precision: CPU CSR products lack bf16/fp16
            return _CachedSpMM.apply(x, args[0])
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)


class GraphIndex:
    """In-neighbour CSR index of a graph plus cached normalised adjacencies.

    Args:
        edge_index: (2, E) edges ``source -> target``.
        num_nodes: number of nodes N.

    Attributes:
        indptr: (N + 1,) row pointers; the in-neighbours of node ``v`` are
            ``indices[indptr[v]:indptr[v + 1]]``, sorted.
        indices: (E,) source node of each edge, grouped by target.
        perm: (E,) position in the input ``edge_index`` of each CSR entry.
        in_degree: (N,) number of in-neighbours per node.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        validate_graph(edge_index, num_nodes)
        edge_index = edge_index.long()
        self.num_nodes = int(num_nodes)
        self.num_edges = int(edge_index.size(1))
        src, dst = edge_index[0], edge_index[1]
        key = dst * max(self.num_nodes, 1) + src  # sort by (target, source)
        if bool((key[1:] >= key[:-1]).all()):  # already in CSR order (sort_edges): no sort
            self.perm = torch.arange(self.num_edges)
            self.indices = src.contiguous()
        else:
            self.perm = torch.argsort(key, stable=True)
            self.indices = src[self.perm].contiguous()  # (E,)
        self.in_degree = torch.bincount(dst, minlength=self.num_nodes)  # (N,)
        self.indptr = torch.zeros(self.num_nodes + 1, dtype=torch.long)
        torch.cumsum(self.in_degree, 0, out=self.indptr[1:])
        self._adj: dict[tuple[str, torch.dtype], SparseAdj] = {}

    @classmethod
    def from_data(cls, data) -> GraphIndex:
        return cls(data.edge_index, data.num_nodes)

    def rows(self) -> Tensor:
        """(E,) target node of each CSR entry."""
        return torch.repeat_interleave(
            torch.arange(self.num_nodes), self.in_degree, output_size=self.num_edges
        )

    def neighbors(self, node: int) -> Tensor:
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    def adj_t(self, kind: AdjKind = "gcn", dtype: torch.dtype | None = None) -> SparseAdj:
        """The cached (N, N) ``torch.sparse_csr`` adjacency, rows = targets, for ``conv(x, adj_t)``.

        ``gcn``: D^-1/2 (A + I) D^-1/2 with degrees counted after adding self-loops (as PyG's
        ``gcn_norm``); ``mean``: D^-1 A (isolated nodes aggregate to zero); ``sum``: A with
        duplicate edges counted once per occurrence. ``sum`` goes into any PyG convolution in
        place of ``edge_index``; ``gcn``/``mean`` only into layers that sum over them (see the
        :mod:`.adj_checks`; other uses raise :class:`AdjacencyKindError`).

        Args:
            kind: ``"gcn"``, ``"mean"`` or ``"sum"``.
            dtype: floating dtype of the values, computed in that dtype (a float64 model gets
                float64 normalisation, not rounded float32 values); default
                ``torch.get_default_dtype()``. One cached adjacency per (kind, dtype).
        """
        if kind not in ADJ_KINDS:
            raise ValueError(f"unknown adjacency kind {kind!r}; valid: {', '.join(ADJ_KINDS)}")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"adj_t dtype must be a floating torch.dtype, got {dtype!r}")
        key = (kind, dtype)
        if key not in self._adj:
            self._adj[key] = self._build(kind, dtype)
        return self._adj[key]

    def _build(self, kind: str, dtype: torch.dtype) -> SparseAdj:
        n = self.num_nodes
        if kind == "gcn":
            indptr, cols, val = self._gcn_csr(self.rows(), self.indices, dtype)
        else:
            indptr, cols = self.indptr, self.indices
            val = torch.ones(self.num_edges, dtype=dtype)
            if kind == "mean":
                val = val / self.in_degree.clamp(min=1).to(dtype)[self.rows()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            out = SparseAdj(torch.sparse_csr_tensor(indptr, cols, val, (n, n)), kind)
        out._rebuild = weakref.ref(self)
        return out

    def _gcn_csr(
        self, rows: Tensor, cols: Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor, Tensor]:
        """CSR of D^-1/2 (A + I) D^-1/2: self-loops dropped, then exactly one per row.

        The index is already sorted by (row, column), so each row's loop is inserted at its
        sorted place (one ``searchsorted``) instead of re-sorting all E + N entries: the same
        matrix as PyG's ``gcn_norm``, with fewer int64 temporaries on large graphs.
        """
        n = self.num_nodes
        loop = rows == cols
        n_loops = torch.bincount(rows[loop], minlength=n)  # existing self-loops per row
        keep = ~loop
        del loop
        rows, cols = rows[keep], cols[keep]  # (E',), still sorted by (row, column)
        del keep
        key = rows * max(n, 1) + cols
        del rows
        loops = torch.arange(n)
        final = torch.searchsorted(key, loops * (max(n, 1) + 1)) + loops  # loop r's place
        del key
        m = cols.numel() + n
        out_cols = torch.empty(m, dtype=torch.long)
        is_edge = torch.ones(m, dtype=torch.bool)
        is_edge[final] = False
        out_cols[is_edge] = cols
        out_cols[final] = loops
        del is_edge, cols
        deg = self.in_degree - n_loops + 1  # (N,) entries per row, the loop included
        indptr = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(deg, 0, out=indptr[1:])
        dinv = deg.to(dtype).pow_(-0.5)  # in the requested dtype, not float32 cast afterwards
        val = torch.repeat_interleave(dinv, deg, output_size=m)
        val.mul_(dinv[out_cols])
        return indptr, out_cols, val

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, num_edges={self.num_edges})"


def adjacency(
    edge_index: Tensor,
    num_nodes: int,
    kind: AdjKind = "gcn",
    dtype: torch.dtype | None = None,
    undirected: bool = False,
) -> SparseAdj:
    """One-off normalised ``adj_t`` for a graph that is not reused (e.g. a sampled mini-batch).

    ``undirected=True`` says every edge comes with its reverse (a caller that knows it, e.g. a
    graph task that checked its graphs once): the ``gcn`` and ``sum`` kinds are then symmetric,
    and the backward pass of a product multiplies by the matrix itself instead of building its
    transpose (per mini-batch, a CSR-to-CSC conversion as costly as building the matrix).
    """
    adj = GraphIndex(edge_index, num_nodes).adj_t(kind, dtype)
    if undirected and kind in ("gcn", "sum"):
        adj._t = adj.plain  # A^T == A: D^-1/2 A D^-1/2 and A are symmetric when A is
    return adj


def sort_edges(edge_index: Tensor, num_nodes: int, *edge_values: Tensor) -> tuple[Tensor, ...]:
    """``edge_index`` (and per-edge ``edge_values``, e.g. ``edge_attr``) in CSR order: sorted
    by (target, source), stably.

    The same graph, its edges reordered once: :class:`GraphIndex` (and so :func:`adjacency`)
    then skips its sort, and a batch of such graphs collated by PyG (node ranges in increasing
    order) is in CSR order too, so a mini-batch's adjacency is built without sorting.

    Returns:
        ``(edge_index, *edge_values)``, each reordered by the same permutation.
    """
    key = edge_index[1] * max(int(num_nodes), 1) + edge_index[0]
    perm = torch.argsort(key, stable=True)
    return (edge_index[:, perm], *(v[perm] for v in edge_values))
