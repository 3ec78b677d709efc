import pytest
import torch
from torch_geometric.nn import GATConv
from torch_geometric.nn.models import GAT

from graphlib_pyg.nn.conv import CSRGAT, CSRGATConv
from graphlib_pyg.nn.conv.gat import _PATTERNS, HeadCSR
from graphlib_pyg.nn.models import build_model


def _pair(**kw):
    torch.manual_seed(0)
    ref = GATConv(12, 5, heads=3, **kw)
    ours = CSRGATConv(12, 5, heads=3, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _graph(n=40, e=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n - 5, (2, e), generator=g)  # the last 5 nodes have no edges
    dup = ei[:, :30]  # repeated edges count once per occurrence, as in PyG
    loops = torch.tensor([[2, 7, 7], [2, 7, 7]])  # existing self-loops, one of them twice
    return torch.cat([ei, dup, loops], 1)


def _assert_same(ref, ours, x, ei):
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = ref(x1, ei), ours(x2, ei)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x1, *ref.parameters()], g)
    gb = torch.autograd.grad(b, [x2, *ours.parameters()], g)
    for u, v in zip(ga, gb, strict=True):
        torch.testing.assert_close(v, u, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_csr_gat_equals_pyg(concat, residual, add_self_loops):
    ref, ours = _pair(concat=concat, residual=residual, add_self_loops=add_self_loops)
    _assert_same(ref, ours, torch.randn(40, 12), _graph())


def test_training_mode_without_dropout_and_a_second_graph():
    ref, ours = _pair()
    ref.train(), ours.train()
    x = torch.randn(40, 12)
    ei = _graph(seed=0)
    _assert_same(ref, ours, x, ei)
    first = ours.pattern(ei, 40)
    same_edges = _graph(seed=0)  # a new tensor with the same edges gets its own pattern
    _assert_same(ref, ours, x, same_edges)
    assert ours.pattern(same_edges, 40) is not first
    _assert_same(ref, ours, x, _graph(seed=1))
    assert ours.pattern(ei, 40) is first  # the same tensor again reuses its pattern


def test_patterns_are_shared_by_layers_and_dropped_with_the_graph():
    ei = _graph(seed=2)
    a, b = CSRGATConv(12, 5, heads=3), CSRGATConv(15, 4, heads=3)
    assert a.pattern(ei, 40) is b.pattern(ei, 40)
    assert CSRGATConv(12, 5, heads=2).pattern(ei, 40) is not a.pattern(ei, 40)
    before = len(_PATTERNS)
    del ei
    assert len(_PATTERNS) == before - 2
    ei = _graph(seed=3)
    p = a.pattern(ei, 40)
    ei[0, 0] = 1  # modified in place: rebuilt
    assert a.pattern(ei, 40) is not p


def test_attention_dropout_is_applied_in_training():
    torch.manual_seed(0)
    conv = CSRGATConv(12, 5, heads=2, dropout=0.5)
    x, ei = torch.randn(40, 12), _graph()
    conv.eval()
    assert torch.equal(conv(x, ei), conv(x, ei))
    conv.train()
    assert not torch.allclose(conv(x, ei), conv.eval()(x, ei))


def test_fallbacks_match_pyg():
    ref, ours = _pair()
    x, ei = torch.randn(40, 12), _graph()
    out_a, (ei_a, att_a) = ref(x, ei, return_attention_weights=True)
    out_b, (ei_b, att_b) = ours(x, ei, return_attention_weights=True)
    torch.testing.assert_close(out_b, out_a)
    assert torch.equal(ei_a, ei_b)
    torch.testing.assert_close(att_b, att_a)
    src, dst = torch.randn(40, 12), torch.randn(10, 12)
    bip = torch.stack([torch.randint(0, 40, (80,)), torch.randint(0, 10, (80,))])
    torch.testing.assert_close(ours((src, dst), bip), ref((src, dst), bip))


def test_head_pattern_is_the_per_head_adjacency_and_its_transpose():
    ei = torch.tensor([[0, 1, 2, 2, 0], [1, 2, 0, 1, 1]])
    p = HeadCSR(ei, 3, heads=2, add_self_loops=True)
    values = torch.arange(1, p.row.numel() + 1, dtype=torch.float)
    dense = p.matrix(values).to_dense()
    for h in range(2):
        block = dense[h::2, h::2]  # rows n*H+h, columns s*H+h
        # edges 0<-2, 1<-0 (twice; to_dense sums them), 1<-2, 2<-1, and a loop on every node
        assert (block != 0).sum().item() == 4 + 3
        assert block[1, 0] != 0 and block[1, 2] != 0 and block[0, 2] != 0 and block[2, 1] != 0
        assert torch.count_nonzero(torch.diagonal(block)) == 3
    assert (dense[0::2, 1::2] == 0).all() and (dense[1::2, 0::2] == 0).all()
    torch.testing.assert_close(p.transposed(values).to_dense(), dense.t())


def test_bad_edge_index_is_named():
    conv = CSRGATConv(12, 5, heads=2)
    with pytest.raises(ValueError, match="refers to node 40 but the graph has 40 nodes"):
        conv(torch.randn(40, 12), torch.tensor([[0, 40], [1, 2]]))
    with pytest.raises(ValueError, match="x must be"):
        conv(torch.randn(40, 12, 1), _graph())


def test_model_equals_pyg_gat_from_the_same_seed():
    torch.manual_seed(3)
    ref = GAT(12, 24, 3, 4, heads=3, dropout=0.3)
    torch.manual_seed(3)
    ours = CSRGAT(12, 24, 3, 4, heads=3, dropout=0.3)
    assert all(type(c) is CSRGATConv for c in ours.convs)
    assert ours.convs[0].dropout == 0.3  # attention dropout as in PyG's model
    x, ei = torch.randn(40, 12), _graph()
    torch.testing.assert_close(ours.eval()(x, ei), ref.eval()(x, ei), atol=1e-5, rtol=1e-5)
    v2 = CSRGAT(12, 24, 2, 4, heads=3, v2=True)
    assert type(v2.convs[0]).__name__ == "GATv2Conv"
    # layer arguments pass through unchanged, also with jumping knowledge
    kw = {"heads": 2, "negative_slope": 0.1, "add_self_loops": False, "jk": "cat"}
    torch.manual_seed(4)
    ref = GAT(12, 8, 2, 3, **kw)
    torch.manual_seed(4)
    ours = CSRGAT(12, 8, 2, 3, **kw)
    assert ours.convs[1].negative_slope == 0.1 and not ours.convs[1].add_self_loops
    torch.testing.assert_close(ours.eval()(x, ei), ref.eval()(x, ei), atol=1e-5, rtol=1e-5)


def test_build_model_uses_the_csr_layers():
    m = build_model("gat", 12, 8, 3, num_layers=2, dropout=0.0, heads=2)
    assert all(type(c) is CSRGATConv for c in m.convs)
    r = build_model("gat", 12, 8, 3, num_layers=2, dropout=0.0, heads=2, residual=True)
    assert all(type(c) is CSRGATConv for c in r.blocks)
    out = m(torch.randn(40, 12), _graph())
    assert out.shape == (40, 3) and torch.isfinite(out).all()


def test_edge_index_made_in_inference_mode_and_eval_in_inference_mode():
    """An inference tensor keeps no version counter (the pattern cache used to read it), and a
    pattern built under inference mode must not be reused by a training step."""
    ref, ours = _pair()
    x = torch.randn(40, 12)
    with torch.inference_mode():
        ei = _graph()
    _assert_same(ref, ours, x, ei)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    normal = _graph(seed=1)
    with torch.inference_mode():  # evaluate first, then train on the same graph tensor
        torch.testing.assert_close(ours(x, normal), ref(x, normal), atol=1e-5, rtol=1e-5)
    _assert_same(ref, ours, x, normal)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_on_cpu_falls_back_to_pyg(dtype):
    """CPU has no float16/bfloat16 CSR kernels: PyG's path gives PyG's outputs and gradients."""
    ref, ours = _pair()
    ref, ours = ref.to(dtype), ours.to(dtype)
    x, ei = torch.randn(40, 12, dtype=dtype), _graph()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = ref(x1, ei), ours(x2, ei)
    assert b.dtype == dtype
    torch.testing.assert_close(b, a)
    g = torch.randn_like(a)
    for u, v in zip(
        torch.autograd.grad(a, [x1, *ref.parameters()], g),
        torch.autograd.grad(b, [x2, *ours.parameters()], g),
        strict=True,
    ):
        torch.testing.assert_close(v, u)
    ref, ours = _pair()  # float32 weights under CPU autocast: the projection is in dtype
    with torch.autocast("cpu", dtype=dtype):
        torch.testing.assert_close(ours(x.float(), ei), ref(x.float(), ei))
    from graphlib_pyg.nn.conv.gat import sparse_supports

    assert not sparse_supports(dtype, torch.device("cpu"))  # only where the kernels lack it
    assert sparse_supports(torch.float32, torch.device("cpu"))


@pytest.mark.parametrize("add_self_loops", [True, False])
def test_double_backward_with_duplicate_edges_equals_pyg(add_self_loops):
    """``_graph`` repeats 30 edges and a self-loop: gradients of gradients as in PyG."""
    ref, ours = _pair(add_self_loops=add_self_loops)
    x, ei = torch.randn(40, 12), _graph()

    def second_order(conv):
        xx = x.clone().requires_grad_()
        params = [xx, *conv.parameters()]
        (gx,) = torch.autograd.grad(conv(xx, ei).pow(2).sum(), xx, create_graph=True)
        return torch.autograd.grad(gx.pow(2).sum(), params)

    for u, v in zip(second_order(ref), second_order(ours), strict=True):
        torch.testing.assert_close(v, u, atol=1e-4, rtol=1e-4)


def test_sparse_aggregation_equals_its_reference():
    """The fast path (CSR products) against the gather-scatter reference: outputs and grads."""
    from graphlib_pyg.nn.conv.gat import _AttentionSpMM, attention_spmm_reference

    p = HeadCSR(_graph(), 40, heads=3)
    values = torch.rand(p.row.numel(), requires_grad=True)
    x = torch.randn(40 * 3, 5, requires_grad=True)
    fast, ref = _AttentionSpMM.apply(values, x, p), attention_spmm_reference(values, x, p)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    for u, v in zip(
        torch.autograd.grad(ref, [values, x], g),
        torch.autograd.grad(fast, [values, x], g),
        strict=True,
    ):
        torch.testing.assert_close(v, u, atol=1e-5, rtol=1e-5)
