import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.nn.link.ncn import NCNCPredictor, NCNPredictor, PropagationEncoder
from graphlib_pyg.nn.link.neighbors import NeighborSets, pool, sample_per_pair


def _graph(n=120, deg=8, seed=0):
    data = csbm(num_nodes=n, avg_degree=deg, seed=seed)
    return data, NeighborSets.from_edge_index(data.edge_index, n)


def _dense(edge_index, n):
    a = torch.zeros(n, n)
    a[edge_index[0], edge_index[1]] = 1.0
    return ((a + a.t()) > 0).float()


def _counts(part, p):
    return torch.bincount(part[0], minlength=p)


def test_overlap_matches_dense_sets():
    data, g = _graph()
    a = _dense(data.edge_index, 120)
    pairs = torch.randint(0, 120, (2, 400), generator=torch.Generator().manual_seed(1))
    pairs[:, :5] = pairs[0, :5]  # some (i, i) pairs
    cn, only_a, only_b = g.overlap(pairs, residual=True)
    ai, aj = a[pairs[0]], a[pairs[1]]
    for part, ref in ((cn, ai * aj), (only_a, ai * (1 - aj)), (only_b, aj * (1 - ai))):
        dense = torch.zeros(400, 120)
        dense[part[0], part[1]] = 1.0
        assert torch.equal(dense, ref)
        assert torch.equal(_counts(part, 400), ref.sum(1).long())  # no duplicates
        assert bool((part[0].diff() >= 0).all())
    (cn2,) = g.overlap(pairs)
    assert torch.equal(torch.stack(cn2), torch.stack(cn))
    assert int(cn[0].numel()) > 0


def test_without_removes_both_directions_only():
    data, g = _graph()
    pairs = torch.stack([data.edge_index[0, :10], data.edge_index[1, :10]])
    h = g.without(pairs)
    a, ah = _dense(data.edge_index, 120), torch.zeros(120, 120)
    ah[h.keys // 120, h.keys % 120] = 1.0
    a[pairs[0], pairs[1]] = 0.0
    a[pairs[1], pairs[0]] = 0.0
    assert torch.equal(ah, a)
    assert h.symmetric and torch.equal(h.degree, a.sum(1).long())


def test_propagate_matches_dense_and_backward():
    data, g = _graph()
    a = _dense(data.edge_index, 120)
    x = torch.randn(120, 5, requires_grad=True)
    deg = a.sum(1, keepdim=True)
    dinv = (deg + 1).rsqrt()
    refs = {
        "sum": lambda x: a @ x,
        "mean": lambda x: (a @ x) / deg.clamp(min=1),
        "gcn": lambda x: dinv * ((a + torch.eye(120)) @ (dinv * x)),
    }
    for aggr, ref in refs.items():
        out = g.propagate(x, aggr)
        assert torch.allclose(out, ref(x), atol=1e-5)
        (gx,) = torch.autograd.grad(out.square().sum(), x)
        (gr,) = torch.autograd.grad(ref(x).square().sum(), x)
        assert torch.allclose(gx, gr, atol=1e-4)


def test_pool_equals_gather_sum_with_gradient():
    data, g = _graph()
    pairs = torch.randint(0, 120, (2, 50))
    (cn,) = g.overlap(pairs)
    w = torch.rand(cn[0].numel())
    h = torch.randn(120, 4, requires_grad=True)
    out = pool(*cn, 50, h, w)
    ref = torch.zeros(50, 4).index_add(0, cn[0], h[cn[1]] * w[:, None])
    assert torch.allclose(out, ref, atol=1e-5)
    (g1,) = torch.autograd.grad(out.sum(), h)
    (g2,) = torch.autograd.grad(ref.sum(), h)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_sample_per_pair_caps_and_is_unbiased():
    pid = torch.tensor([0] * 3 + [1] * 40 + [3] * 10)
    node = torch.arange(pid.numel())
    vals = torch.rand(pid.numel()).double()
    gen = torch.Generator().manual_seed(0)
    full = torch.zeros(4, dtype=torch.double).index_add(0, pid, vals)
    est = torch.zeros(4, dtype=torch.double)
    for _ in range(2000):
        p, v, w = sample_per_pair(pid, node, 4, 5, generator=gen)
        assert torch.equal(torch.bincount(p, minlength=4), torch.tensor([3, 5, 0, 5]))
        est += torch.zeros(4, dtype=torch.double).index_add(0, p, vals[v] * w.double())
    assert torch.allclose(est / 2000, full, rtol=0.03)
    assert sample_per_pair(pid, node, 4, 100)[2] is None  # nothing over the cap: unchanged


def _predictors(hidden=16):
    torch.manual_seed(0)
    return NCNPredictor(hidden, hidden), NCNCPredictor(hidden, hidden, depth=1)


def test_ncn_scores_are_permutation_equivariant():
    data, g = _graph()
    torch.manual_seed(0)
    h = torch.randn(120, 16)
    pairs = torch.randint(0, 120, (2, 60))
    perm = torch.randperm(120)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(120)
    g2 = NeighborSets.from_edge_index(inv[data.edge_index], 120)
    for pred in _predictors():
        pred.eval()
        assert torch.allclose(pred(h, g, pairs), pred(h[perm], g2, inv[pairs]), atol=1e-5)


def test_ncnc_reduces_to_ncn():
    data, g = _graph()
    ncn, ncnc = _predictors()
    ncnc.load_state_dict(ncn.state_dict())
    ncn.eval()
    ncnc.eval()
    h, pairs = torch.randn(120, 16), torch.randint(0, 120, (2, 60))
    base = ncn(h, g, pairs)
    assert torch.allclose(ncnc(h, g, pairs, depth=0), base, atol=1e-6)
    ncnc.alpha = 0.0  # every completion weight is zero
    assert torch.allclose(ncnc(h, g, pairs), base, atol=1e-6)
    ncnc.alpha, ncnc.offset = 1.0, -2.0  # untrained logits are small: make completion visible
    assert not torch.allclose(ncnc(h, g, pairs), base, atol=1e-4)


def test_ncnc_completion_weights_follow_the_definition():
    data, g = _graph()
    _, ncnc = _predictors()
    ncnc.eval()
    h, pairs = torch.randn(120, 16), torch.randint(0, 120, (2, 20))
    hx = ncnc._pooled_states(h)
    cn, only_i, only_j = g.overlap(pairs, residual=True)
    xcn = pool(*cn, 20, hx)
    for (pid, k), other in ((only_i, pairs[1]), (only_j, pairs[0])):
        p = ncnc.calibrate(ncnc(h, g, torch.stack([other[pid], k]), depth=0))
        assert bool(((p >= 0) & (p <= ncnc.alpha)).all())
        xcn = xcn + torch.zeros(20, 16).index_add(0, pid, hx[k] * p[:, None])
    ref = ncnc._score(h, pairs, xcn)
    assert torch.allclose(ncnc(h, g, pairs), ref, atol=1e-5)


def test_bad_pairs_are_rejected():
    _, g = _graph()
    pred, _ = _predictors()
    with pytest.raises(ValueError, match="has 120 nodes"):
        pred(torch.randn(120, 16), g, torch.tensor([[0], [120]]))
    with pytest.raises(ValueError, match=r"shape \(num_nodes=120"):
        pred(torch.randn(100, 16), g, torch.tensor([[0], [1]]))


def test_training_hides_each_batch_edges(monkeypatch):
    seen = []
    forward = PropagationEncoder.forward

    def spy(self, x, graph):
        seen.append(graph)
        return forward(self, x, graph)

    monkeypatch.setattr(PropagationEncoder, "forward", spy)
    import graphlib_pyg.nn.link.neighbors as nb

    batches = []
    without = nb.NeighborSets.without

    def record(self, pairs):
        batches.append(pairs)
        return without(self, pairs)

    monkeypatch.setattr(nb.NeighborSets, "without", record)
    run_benchmark(
        "ncn",
        "sbm-link",
        runs=1,
        config={"epochs": 1, "batch_size": 256, "hidden": 16},
        data={"num_nodes": 200},
        progress=False,
    )
    assert batches
    train_graphs = [s for s in seen if s.num_entries < seen[-1].num_entries]
    assert len(train_graphs) == len(batches)
    for graph, pairs in zip(train_graphs, batches, strict=True):
        n = graph.num_nodes
        keys = torch.cat([pairs[0] * n + pairs[1], pairs[1] * n + pairs[0]])
        assert not bool(torch.isin(keys, graph.keys).any())


@pytest.mark.parametrize("model", ["ncn", "ncnc"])
def test_ncn_learns_through_the_harness(model):
    rows = run_benchmark(
        model,
        "sbm-link",
        runs=1,
        config={"epochs": 15, "batch_size": 512, "hidden": 32, "lr": 0.01},
        data={"num_nodes": 400},
        progress=False,
    )
    cn = run_benchmark("cn", "sbm-link", runs=1, data={"num_nodes": 400}, progress=False)
    assert rows[0]["test"] > 0.5
    assert rows[0]["test"] > cn[0]["test"] - 0.05  # at least about as good as counting CNs


def test_ncn_on_a_node_task_says_it_scores_pairs():
    with pytest.raises(TypeError, match="link predictor"):
        run_benchmark("ncn", "csbm", runs=1, data={"task": "node"}, progress=False)


def test_sparse_input_projection_matches_dense():
    torch.manual_seed(0)
    x = (torch.rand(60, 40) < 0.05).float()  # bag-of-words-like: the sparse path is taken
    _, g = _graph(60, 6)
    enc = PropagationEncoder(40, 8, input_dropout=0.5)
    enc.eval()
    dense = enc.lin(x)
    assert torch.allclose(enc._project(x), dense, atol=1e-6)
    enc.train()
    out = enc._project(x)
    kept = out - enc.lin.bias  # each kept non-zero is scaled by 1 / (1 - p), zeros stay zero
    assert not torch.allclose(kept, dense - enc.lin.bias)
    out.sum().backward()
    assert enc.lin.weight.grad is not None and enc.lin.weight.grad.abs().sum() > 0
    assert enc(x, g).shape == (60, 8)
