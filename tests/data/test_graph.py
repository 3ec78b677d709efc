"""GraphIndex, SparseAdj and validate_graph; cached-adjacency models against PyG on edge_index."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import models as pyg_models

from graphlib_pyg.data.graph import (
    ADJ_KINDS,
    GraphIndex,
    SparseAdj,
    adjacency,
    sort_edges,
    validate_graph,
)
from graphlib_pyg.data.splits import random_link_split
from graphlib_pyg.nn.models import MODELS, build_model

N = 24


def directed_graph(num_nodes: int = N, num_edges: int = 70, seed: int = 0) -> Tensor:
    """Random DIRECTED edges with duplicates, a self-loop (also duplicated) and isolated nodes.

    Nodes ``num_nodes - 2`` and ``num_nodes - 1`` have no edges at all; node 1 has out-edges only.
    """
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, num_nodes - 2, (2, num_edges), generator=g)
    ei[1, ei[1] == 1] = 0  # node 1: no in-edges
    dup = ei[:, :7]  # duplicate edges
    loops = torch.tensor([[3, 3, 5], [3, 3, 5]])  # self-loops, one of them duplicated
    return torch.cat([ei, dup, loops], 1)


def dense_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """A[target, source] = number of edges source -> target."""
    a = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    a.index_put_(
        (edge_index[1], edge_index[0]),
        torch.ones(edge_index.size(1), dtype=a.dtype),
        accumulate=True,
    )
    return a


def dense(adj: Tensor) -> Tensor:
    return adj.to_dense().to(torch.float64)


# --------------------------------------------------------------------------- validate_graph


@pytest.mark.parametrize(
    ("edge_index", "num_nodes", "x", "error", "match"),
    [
        pytest.param(
            torch.tensor([[0, 1, 2], [1, 2, 10]]),
            10,
            None,
            ValueError,
            r"refers to node 10 but the graph has 10 nodes",
            id="index-out-of-range",
        ),
        pytest.param(
            torch.tensor([[0, -1, 2], [1, 2, 3]]),
            10,
            None,
            ValueError,
            r"negative node indices",
            id="negative-index",
        ),
        pytest.param(
            torch.tensor([[0.0, 1.0], [1.0, 2.0]]),
            10,
            None,
            TypeError,
            r"must be an integer tensor.*float32",
            id="float-dtype",
        ),
        pytest.param(
            torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]),
            10,
            None,
            ValueError,
            r"shape \(2, E\), got \(5, 2\).*did you pass \(E, 2\)",
            id="shape-E-2",
        ),
        pytest.param(
            torch.tensor([[0, 1], [1, 2]]),
            4,
            torch.tensor([[0.0], [float("nan")], [1.0], [2.0]]),
            ValueError,
            r"NaN/Inf in 1 rows \(first: \[1\]\)",
            id="nan-features",
        ),
        pytest.param(
            torch.tensor([[0, 1], [1, 2]]),
            4,
            torch.tensor([[0.0], [1.0], [2.0], [float("-inf")]]),
            ValueError,
            r"NaN/Inf in 1 rows \(first: \[3\]\)",
            id="inf-features",
        ),
        pytest.param(
            torch.tensor([[0, 1], [1, 2]]),
            4,
            torch.zeros(5, 3),
            ValueError,
            r"num_nodes=4, F\), got \(5, 3\)",
            id="feature-rows",
        ),
    ],
)
def test_validate_graph_errors(edge_index, num_nodes, x, error, match):
    with pytest.raises(error, match=match):
        validate_graph(edge_index, num_nodes, x, name="toy")
    with pytest.raises(error, match=r"^toy: "):  # the graph is named in the message
        validate_graph(edge_index, num_nodes, x, name="toy")


def test_validate_graph_accepts_valid_graphs():
    validate_graph(directed_graph(), N, torch.randn(N, 3))
    validate_graph(torch.empty(2, 0, dtype=torch.long), 5, torch.randn(5, 2))
    validate_graph(torch.tensor([[0, 1], [1, 0]], dtype=torch.int32), 2)


def test_graph_index_rejects_malformed_graph():
    with pytest.raises(ValueError, match="refers to node 5"):
        GraphIndex(torch.tensor([[0, 5], [1, 2]]), 5)


# --------------------------------------------------------------------------- CSR structure


def test_csr_holds_exactly_the_input_edges_sorted_per_row():
    ei = directed_graph()
    index = GraphIndex(ei, N)
    assert index.num_edges == ei.size(1) and index.num_nodes == N
    assert index.indptr.shape == (N + 1,) and index.indptr[0] == 0
    assert int(index.indptr[-1]) == ei.size(1)
    assert torch.equal(index.indptr.diff(), index.in_degree)
    assert torch.equal(index.in_degree, torch.bincount(ei[1], minlength=N))
    rows = index.rows()
    # Same multiset of (target, source) pairs as the input, duplicates and self-loops included.
    csr = Counter(zip(rows.tolist(), index.indices.tolist(), strict=True))
    ref = Counter(zip(ei[1].tolist(), ei[0].tolist(), strict=True))
    assert csr == ref
    # perm maps CSR entries back to the input columns.
    assert torch.equal(ei[0, index.perm], index.indices)
    assert torch.equal(ei[1, index.perm], rows)
    assert sorted(index.perm.tolist()) == list(range(ei.size(1)))
    for v in range(N):
        nb = index.neighbors(v)
        assert torch.equal(nb, nb.sort().values), f"row {v} not sorted"
        assert Counter(nb.tolist()) == Counter(ei[0, ei[1] == v].tolist())
    assert index.neighbors(N - 1).numel() == 0 and index.neighbors(1).numel() == 0


# --------------------------------------------------------------------------- normalised adjacencies


def test_adj_gcn_matches_dense_reference():
    ei = directed_graph()
    a = dense_adjacency(ei, N)
    a.fill_diagonal_(0.0)  # pre-existing self-loops (even duplicated ones) are replaced ...
    a += torch.eye(N, dtype=a.dtype)  # ... by exactly one per node
    deg = a.sum(1)  # in-degree incl. the self-loop, as PyG's gcn_norm
    ref = deg.pow(-0.5)[:, None] * a * deg.pow(-0.5)[None, :]
    adj = GraphIndex(ei, N).adj_t("gcn")
    assert isinstance(adj, SparseAdj) and adj.layout == torch.sparse_csr
    assert adj.shape == (N, N)
    torch.testing.assert_close(dense(adj), ref)
    # an isolated node keeps only its self-loop, weight 1
    assert dense(adj)[N - 1, N - 1] == 1.0 and dense(adj)[N - 1].sum() == 1.0


def test_adj_mean_rows_sum_to_one_or_zero():
    ei = directed_graph()
    index = GraphIndex(ei, N)
    m = dense(index.adj_t("mean"))
    sums = m.sum(1)
    has_in = index.in_degree > 0
    torch.testing.assert_close(sums[has_in], torch.ones(int(has_in.sum()), dtype=sums.dtype))
    assert torch.all(sums[~has_in] == 0)
    assert (~has_in).sum() >= 3  # nodes 1, N-2, N-1 exercise the isolated case
    a = dense_adjacency(ei, N)
    torch.testing.assert_close(m, a / a.sum(1, keepdim=True).clamp(min=1))


def test_adj_sum_equals_dense_adjacency():
    ei = directed_graph()
    torch.testing.assert_close(dense(GraphIndex(ei, N).adj_t("sum")), dense_adjacency(ei, N))
    # the one-off helper builds the same matrix
    torch.testing.assert_close(dense(adjacency(ei, N, "sum")), dense_adjacency(ei, N))


def test_adj_is_cached_and_kind_validated():
    index = GraphIndex(directed_graph(), N)
    assert index.adj_t("gcn") is index.adj_t("gcn")
    with pytest.raises(ValueError, match=r"unknown adjacency kind 'max'; valid: gcn, mean, sum"):
        index.adj_t("max")


@pytest.mark.parametrize("kind", ADJ_KINDS)
def test_sparse_adj_backward_matches_dense(kind):
    index = GraphIndex(directed_graph(), N)
    adj = index.adj_t(kind)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 5, generator=g, dtype=torch.float32)
    upstream = torch.randn(N, 5, generator=g)
    x1 = x.clone().requires_grad_()
    y1 = torch.sparse.mm(adj, x1)
    assert type(y1) is Tensor  # the subclass does not leak into activations
    y1.backward(upstream)
    x2 = x.clone().requires_grad_()
    y2 = adj.to_dense() @ x2
    y2.backward(upstream)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(x1.grad, x2.grad)
    # the cached transpose really is A^T (and is reused on a second backward)
    torch.testing.assert_close(adj.transposed().to_dense(), adj.to_dense().t())
    t = adj.transposed()
    x3 = x.clone().requires_grad_()
    torch.sparse.mm(adj, x3).backward(upstream)
    assert adj.transposed() is t
    torch.testing.assert_close(x3.grad, x2.grad)


# --------------------------------------------------------------------------- PyG equivalence

PYG_REFERENCE = {
    "gcn": pyg_models.GCN,
    "sage": pyg_models.GraphSAGE,
    "gin": pyg_models.GIN,
}


@pytest.mark.parametrize("name", sorted(PYG_REFERENCE))
def test_model_on_cached_adj_matches_pyg_on_edge_index(name):
    """build_model(name) fed adj_t(spec.adj) == PyG's model fed edge_index: outputs and grads."""
    ei = directed_graph()
    index = GraphIndex(ei, N)
    spec = MODELS[name]
    g = torch.Generator().manual_seed(2)
    x = torch.randn(N, 6, generator=g)
    upstream = torch.randn(N, 4, generator=g)

    torch.manual_seed(0)
    ours = build_model(name, 6, 16, 4, num_layers=3, dropout=0.5).eval()
    torch.manual_seed(0)
    ref = PYG_REFERENCE[name](6, 16, 3, 4, dropout=0.5).eval()
    ours_state, ref_state = ours.state_dict(), ref.state_dict()
    assert list(ours_state) == list(ref_state)
    for k in ours_state:  # same seed -> identical initial parameters
        assert torch.equal(ours_state[k], ref_state[k]), k

    x1 = x.clone().requires_grad_()
    out1 = ours(x1, index.adj_t(spec.adj))
    out1.backward(upstream)
    x2 = x.clone().requires_grad_()
    out2 = ref(x2, ei)
    out2.backward(upstream)

    torch.testing.assert_close(out1, out2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)
    for (k, p1), (_, p2) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-4, atol=1e-5, msg=k)

    # The graph is directed enough that a transposed adjacency would have been caught.
    with torch.no_grad():
        flipped = ref(x, ei.flip(0))
    assert not torch.allclose(flipped, out2.detach(), atol=1e-3)


@pytest.mark.parametrize("name", ["mlp", "gcn", "sage", "gin", "gat"])
def test_isolated_nodes_give_finite_outputs(name):
    ei = directed_graph()
    index = GraphIndex(ei, N)
    spec = MODELS[name]
    x = torch.randn(N, 6, generator=torch.Generator().manual_seed(3), requires_grad=True)
    torch.manual_seed(0)
    model = build_model(name, 6, 8, 3, **({"heads": 2} if name == "gat" else {})).eval()
    graph = None if spec.adj is None else ei if spec.adj == "edge_index" else index.adj_t(spec.adj)
    out = model(x, graph)
    assert out.shape == (N, 3)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


# --------------------------------------------------------------------------- zero edges


def test_graph_without_edges():
    n = 10
    empty = torch.empty(2, 0, dtype=torch.long)
    index = GraphIndex(empty, n)
    assert index.num_edges == 0 and torch.equal(index.indptr, torch.zeros(n + 1, dtype=torch.long))
    torch.testing.assert_close(dense(index.adj_t("gcn")), torch.eye(n, dtype=torch.float64))
    assert torch.all(dense(index.adj_t("mean")) == 0)
    assert torch.all(dense(index.adj_t("sum")) == 0)
    x = torch.randn(n, 4, requires_grad=True)
    for name in ("gcn", "sage", "gin"):
        torch.manual_seed(0)
        out = build_model(name, 4, 8, 3).eval()(x, index.adj_t(MODELS[name].adj))
        assert out.shape == (n, 3) and torch.isfinite(out).all(), name
        out.sum().backward()
        assert torch.isfinite(x.grad).all(), name

    data = Data(x=torch.randn(n, 4), edge_index=empty, num_nodes=n)
    with pytest.raises(ValueError, match=r"(?i)(at least one edge|no edges?|edge.*\bnone\b)"):
        random_link_split(data)
    # Self-loops only: still no undirected edge to split.
    loops = Data(edge_index=torch.arange(n).repeat(2, 1), num_nodes=n)
    with pytest.raises(ValueError, match=r"(?i)edge"):
        random_link_split(loops)


def test_sparse_adj_to_keeps_the_subclass_and_its_products():
    from graphlib_pyg.data.graph import GraphIndex, SparseAdj

    adj = GraphIndex(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]]), 3).adj_t("gcn")
    assert adj.to("cpu") is adj  # nothing to move: the same object, cached transpose kept
    moved = adj.to(torch.float64)
    assert isinstance(moved, SparseAdj) and moved.dtype == torch.float64
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    torch.sparse.mm(moved, x).sum().backward()  # through the cached-transpose backward
    dense = moved.plain.to_dense()
    torch.testing.assert_close(x.grad, dense.t() @ torch.ones(3, 2, dtype=torch.float64))


def test_edges_in_csr_order_build_the_same_index_without_a_sort():
    ei = directed_graph()
    attr = torch.arange(ei.size(1))
    sorted_ei, sorted_attr = sort_edges(ei, N, attr)
    key = sorted_ei[1] * N + sorted_ei[0]
    assert bool((key[1:] >= key[:-1]).all())
    assert torch.equal(ei[:, sorted_attr], sorted_ei)  # the attributes moved with their edges
    a, b = GraphIndex(ei, N), GraphIndex(sorted_ei, N)
    assert torch.equal(a.indptr, b.indptr) and torch.equal(a.indices, b.indices)
    assert torch.equal(b.perm, torch.arange(ei.size(1)))  # the fast path: already in order
    assert torch.equal(sorted_ei[:, b.perm], ei[:, a.perm])  # perm maps CSR -> input position
    for kind in ADJ_KINDS:
        torch.testing.assert_close(a.adj_t(kind).to_dense(), b.adj_t(kind).to_dense())


@pytest.mark.parametrize("kind", ["gcn", "sum"])
def test_an_undirected_batch_adjacency_reuses_itself_in_the_backward_pass(kind):
    from torch_geometric.utils import to_undirected

    ei = to_undirected(directed_graph())
    x = torch.randn(N, 5, requires_grad=True)
    grads = []
    for undirected in (False, True):
        adj = adjacency(ei, N, kind, undirected=undirected)
        (torch.sparse.mm(adj, x) ** 2).sum().backward()
        grads.append(x.grad.clone())
        x.grad = None
        assert (adj.transposed() is adj.plain) == undirected  # no transpose built when so
    torch.testing.assert_close(grads[0], grads[1])
    mean = adjacency(ei, N, "mean", undirected=True)
    assert mean.transposed() is not mean.plain  # D^-1 A is not symmetric: its transpose is built
