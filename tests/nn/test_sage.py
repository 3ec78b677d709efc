import pytest
import torch
from torch_geometric.nn import SAGEConv

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.nn.conv import LinearFirstSAGEConv


def _pair(aggr, **kw):
    torch.manual_seed(0)
    ref = SAGEConv(40, 6, aggr=aggr, **kw)
    ours = LinearFirstSAGEConv(40, 6, aggr=aggr, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("aggr", ["sum", "mean"])
def test_linear_first_equals_pyg_with_isolated_nodes(aggr):
    ref, ours = _pair(aggr)
    x = torch.randn(30, 40, requires_grad=True)
    edge_index = torch.randint(0, 25, (2, 120))  # nodes 25..29 have no neighbours: output b
    a, b = ref(x, edge_index), ours(x, edge_index)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    ga = torch.autograd.grad(a.square().sum(), [x, *ref.parameters()])
    gb = torch.autograd.grad(b.square().sum(), [x, *ours.parameters()])
    for u, v in zip(ga, gb, strict=True):
        torch.testing.assert_close(v, u, atol=1e-4, rtol=1e-4)


def test_linear_first_with_sparse_adjacency_and_bipartite_input():
    ref, ours = _pair("sum")
    x = torch.randn(30, 40)
    adj = GraphIndex(torch.randint(0, 30, (2, 150)), 30).adj_t("mean")
    torch.testing.assert_close(ours(x, adj), ref(x, adj), atol=1e-5, rtol=1e-5)
    src, dst = torch.randn(30, 40), torch.randn(10, 40)
    ei = torch.stack([torch.randint(0, 30, (60,)), torch.randint(0, 10, (60,))])
    out = ours((src, dst), ei)
    assert out.shape == (10, 6)
    torch.testing.assert_close(out, ref((src, dst), ei), atol=1e-5, rtol=1e-5)


def test_non_linear_aggregation_falls_back_to_pyg():
    ref, ours = _pair("max")
    x = torch.randn(20, 40)
    ei = torch.randint(0, 20, (2, 60))
    torch.testing.assert_close(ours(x, ei), ref(x, ei))


def test_sage_model_is_pyg_graphsage_with_linear_first_layers():
    from torch_geometric.nn.models import GraphSAGE

    from graphlib_pyg.nn.conv import LinearFirstGraphSAGE
    from graphlib_pyg.nn.models import build_model

    torch.manual_seed(0)
    ours = build_model("sage", 40, 8, 3, 2, 0.0, 0.0)
    inner = getattr(ours, "model", ours)
    assert isinstance(inner, LinearFirstGraphSAGE)
    assert all(isinstance(c, LinearFirstSAGEConv) for c in inner.convs)
    ref = GraphSAGE(40, 8, 2, 3, aggr="sum")
    ref.load_state_dict(inner.state_dict())  # the same parameters under the same names
    x, adj = torch.randn(30, 40), GraphIndex(torch.randint(0, 30, (2, 150)), 30).adj_t("mean")
    torch.testing.assert_close(inner.eval()(x, adj), ref.eval()(x, adj), atol=1e-5, rtol=1e-5)


def test_lazy_input_size_is_initialised_as_in_pyg():
    """``in_channels=-1`` sizes the layer on its first call with PyG's random draws; the
    linear-first path used to read the uninitialised weight."""
    from torch_geometric.nn.models import GraphSAGE

    from graphlib_pyg.nn.conv import LinearFirstGraphSAGE

    x, ei = torch.randn(30, 40), torch.randint(0, 30, (2, 120))
    for aggr in ("sum", "mean"):
        ref, ours = SAGEConv(-1, 6, aggr=aggr), LinearFirstSAGEConv(-1, 6, aggr=aggr)
        torch.manual_seed(0)  # the weights are drawn on the first call
        a = ref(x, ei)
        torch.manual_seed(0)
        torch.testing.assert_close(ours(x, ei), a, atol=1e-5, rtol=1e-5)
        assert ours.lin_l.weight.shape == (6, 40) and ours.lin_r.weight.shape == (6, 40)
        for name, p in ref.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[name], p)  # the same draws
        with pytest.raises(
            ValueError, match="x has 41 features per node, but the layer expects 40"
        ):
            ours(torch.randn(30, 41), ei)
    torch.manual_seed(1)
    ref = GraphSAGE(-1, 8, 2, 3, aggr="sum").eval()
    a = ref(x, ei)
    torch.manual_seed(1)
    ours = LinearFirstGraphSAGE(-1, 8, 2, 3, aggr="sum").eval()
    torch.testing.assert_close(ours(x, ei), a, atol=1e-5, rtol=1e-5)
