"""Selective scan (reference vs parallel, outputs and gradients), Mamba blocks, Graph-Mamba."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphlib_pyg.nn.mamba import (
    BiMamba,
    GraphMamba,
    GraphMambaLayer,
    Mamba,
    degree_order,
    flip_within,
    selective_scan,
)
from graphlib_pyg.typing import WITH_MAMBA_SSM


def _inputs(batch, dim, d_state, length, kind, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g).requires_grad_()

    mats = {
        "fixed": lambda: r(dim, d_state),
        "variable": lambda: r(batch, d_state, length),
        "grouped": lambda: r(batch, 2, d_state, length),
    }[kind]
    return {
        "u": r(batch, dim, length),
        "delta": r(batch, dim, length),
        "A": (-torch.rand(dim, d_state, generator=g) * 3).requires_grad_(),
        "B": mats(),
        "C": mats(),
        "D": r(dim),
        "z": r(batch, dim, length),
        "delta_bias": r(dim),
    }


def _run(inp, backend, **kw):
    out, last = selective_scan(
        **inp, delta_softplus=True, return_last_state=True, backend=backend, **kw
    )
    weight = torch.cos(torch.arange(out.numel(), dtype=out.dtype)).view_as(out)
    loss = (out * weight).sum() + (last * 0.5).sum()
    grads = torch.autograd.grad(loss, list(inp.values()), allow_unused=True)
    return out, last, grads


def _close(a, b, tol=1e-5):
    scale = max(a.abs().max().item(), 1.0) if a.numel() else 1.0
    return a.shape == b.shape and (a.numel() == 0 or (a - b).abs().max().item() <= tol * scale)


@pytest.mark.parametrize("length", [1, 2, 7, 64, 1000])
@pytest.mark.parametrize("kind", ["fixed", "variable", "grouped"])
def test_parallel_matches_reference_outputs_and_gradients(length, kind):
    inp = _inputs(2, 4, 3, length, kind, seed=length)
    ref = _run(inp, "ref")
    par = _run(inp, "parallel")
    assert _close(ref[0], par[0]) and _close(ref[1], par[1])
    for name, g_ref, g_par in zip(inp, ref[2], par[2], strict=True):
        assert g_ref is not None and _close(g_ref, g_par), name


def test_reference_is_the_recurrence():
    """The reference against a direct transcription of the recurrence, one channel."""
    inp = _inputs(1, 1, 2, 5, "variable")
    out = selective_scan(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], backend="ref")
    h = torch.zeros(2)
    for t in range(5):
        dt = inp["delta"][0, 0, t]
        h = torch.exp(dt * inp["A"][0]) * h + dt * inp["B"][0, :, t] * inp["u"][0, 0, t]
        assert torch.allclose(out[0, 0, t], (h * inp["C"][0, :, t]).sum(), atol=1e-6)


@pytest.mark.parametrize("chunk_elements", [1, 7, 30, 1 << 18])
def test_parallel_chunking_does_not_change_results(monkeypatch, chunk_elements):
    """Chunks of 1 step, of steps not dividing L, or one chunk: same outputs and gradients."""
    from graphlib_pyg.nn.mamba import parallel_scan

    inp = _inputs(5, 4, 3, 50, "grouped", seed=3)
    ref = _run(inp, "ref")
    monkeypatch.setattr(parallel_scan, "CHUNK_ELEMENTS", chunk_elements * 4 * 3)
    monkeypatch.setattr(parallel_scan, "MIN_CHUNK_STEPS", 4)  # small chunks also split the batch
    par = _run(inp, "parallel")
    assert _close(ref[0], par[0]) and _close(ref[1], par[1])
    assert all(_close(a, b) for a, b in zip(ref[2], par[2], strict=True))


@pytest.mark.parametrize("steps", [1, 7, 8, 9, 16, 50, 101])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("blocked", [True, False])
def test_blocked_linear_scan_is_the_recurrence(monkeypatch, steps, reverse, blocked):
    """Blocks of sqrt(T) steps (T = 8 and up) plus a tail, or step by step (large states):
    the recurrence."""
    from graphlib_pyg.nn.mamba import parallel_scan
    from graphlib_pyg.nn.mamba.parallel_scan import linear_scan

    monkeypatch.setattr(parallel_scan, "MAX_BLOCKED_STATE", 4096 if blocked else 1)

    g = torch.Generator().manual_seed(steps)
    mul = torch.rand(steps, 3, 2, generator=g) * 1.2  # decays and a few growths
    add, state = torch.randn(steps, 3, 2, generator=g), torch.randn(3, 2, generator=g)
    out, last = linear_scan(mul, add, state, reverse=reverse)
    h, expect = state, torch.empty_like(add)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        h = mul[t] * h + add[t]
        expect[t] = h
    assert torch.allclose(out, expect, atol=1e-5) and torch.allclose(last, h, atol=1e-5)


def test_long_sequences_do_not_overflow():
    """Large step sizes (decays near 0) over long chunks stay finite and match the reference."""
    inp = _inputs(1, 2, 4, 300, "variable")
    with torch.no_grad():
        inp["delta"].mul_(10).add_(5)
    ref, par = _run(inp, "ref"), _run(inp, "parallel")
    assert torch.isfinite(par[0]).all() and _close(ref[0], par[0])


@pytest.mark.parametrize("backend", ["ref", "parallel"])
@pytest.mark.parametrize("reverse", [False, True])
def test_padding_invariance(backend, reverse):
    """A sequence gives the same output and last state alone or right-padded in a batch."""
    length, lengths = 12, torch.tensor([12, 5, 9, 0])
    inp = {k: v.detach() for k, v in _inputs(4, 4, 2, length, "grouped").items()}
    out, last = selective_scan(
        **inp,
        delta_softplus=True,
        return_last_state=True,
        backend=backend,
        lengths=lengths,
        reverse=reverse,
    )
    for b, n in enumerate(lengths.tolist()):
        alone = {k: (v[b : b + 1, ..., :n] if v.dim() >= 3 else v) for k, v in inp.items()}
        a_out, a_last = selective_scan(
            **alone, delta_softplus=True, return_last_state=True, backend=backend, reverse=reverse
        )
        assert torch.allclose(out[b, :, :n], a_out[0], atol=1e-5)
        assert torch.allclose(last[b], a_last[0], atol=1e-5)
        assert (out[b, :, n:] == 0).all()


def test_reverse_is_flipped_scan():
    inp = {k: v.detach() for k, v in _inputs(2, 3, 2, 9, "variable").items()}
    rev = selective_scan(**inp, reverse=True)
    flipped = {k: (v.flip(-1) if v.dim() >= 3 else v) for k, v in inp.items()}
    assert torch.allclose(rev, selective_scan(**flipped).flip(-1), atol=1e-6)
    lengths = torch.tensor([3, 9])
    x = torch.arange(18.0).view(2, 1, 9)
    assert torch.equal(flip_within(flip_within(x, lengths), lengths), x)
    assert flip_within(x, lengths)[0, 0].tolist()[:4] == [2.0, 1.0, 0.0, 3.0]


def test_bad_inputs_are_rejected():
    inp = {k: v.detach() for k, v in _inputs(2, 4, 3, 5, "variable").items()}
    with pytest.raises(ValueError, match="delta must have u's shape"):
        selective_scan(**{**inp, "delta": inp["delta"][:, :, :4]})
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(**{**inp, "B": torch.randn(2, 3, 4)})
    with pytest.raises(ValueError, match="lengths must lie in"):
        selective_scan(**inp, lengths=torch.tensor([5, 6]))
    with pytest.raises(ValueError, match="unknown scan backend"):
        selective_scan(**inp, backend="triton")
    if not WITH_MAMBA_SSM:
        with pytest.raises(RuntimeError, match="mamba-ssm"):
            selective_scan(**inp, backend="cuda")


@pytest.mark.skipif(not WITH_MAMBA_SSM, reason="mamba-ssm and CUDA not available")
def test_cuda_backend_matches_parallel():  # pragma: no cover - needs a GPU
    inp = {
        k: v.detach().cuda().requires_grad_() for k, v in _inputs(2, 4, 3, 64, "variable").items()
    }
    out_cuda = _run(inp, "cuda")
    out_par = _run(inp, "parallel")
    assert _close(out_cuda[0].cpu(), out_par[0].cpu(), 1e-4)


def test_mamba_initialisation():
    m = Mamba(32, d_state=8, dt_min=0.01, dt_max=0.05)
    assert torch.allclose(-torch.exp(m.A_log), -torch.arange(1.0, 9.0).expand(64, 8))
    dt = torch.nn.functional.softplus(m.dt_proj.bias)
    assert dt.min() >= 0.01 - 1e-6 and dt.max() <= 0.05 + 1e-6
    assert torch.equal(m.D.detach(), torch.ones(64))


@pytest.mark.parametrize("cls", [Mamba, BiMamba])
def test_block_padding_invariance(cls):
    torch.manual_seed(0)
    block = cls(8, d_state=4)
    x, lengths = torch.randn(3, 10, 8), torch.tensor([10, 4, 7])
    mask = torch.arange(10)[None] < lengths[:, None]
    out = block(x, mask)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(out[b, :n], block(x[b : b + 1, :n])[0], atol=1e-5)
        assert (out[b, n:] == 0).all()


def test_mamba_is_causal_and_bimamba_is_not():
    torch.manual_seed(0)
    x = torch.randn(1, 12, 8)
    y = x.clone()
    y[0, 8] += 1.0
    uni, bi = Mamba(8), BiMamba(8)
    assert torch.allclose(uni(x)[0, :8], uni(y)[0, :8]) and not torch.allclose(uni(x), uni(y))
    assert not torch.allclose(bi(x)[0, :8], bi(y)[0, :8])


def test_mask_must_be_right_padding():
    with pytest.raises(ValueError, match="right-padding mask"):
        Mamba(4)(torch.randn(1, 3, 4), torch.tensor([[False, True, True]]))


def _distinct_degree_graph(n=9):
    """Directed graph where node i receives i edges: distinct in-degrees."""
    src = torch.cat([torch.arange(i) for i in range(n)])
    dst = torch.cat([torch.full((i,), i) for i in range(n)])
    return torch.stack([src, dst])


def test_graph_mamba_permutation_equivariance():
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    n = 9
    edge_index = _distinct_degree_graph(n)
    layer = GraphMambaLayer(8, GCNConv(8, 8), noise=False).eval()
    x = torch.randn(n, 8)
    perm = torch.randperm(n)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = layer(x, edge_index)
    out_perm = layer(x[perm], inv[edge_index])
    assert torch.allclose(out_perm, out[perm], atol=1e-5)


def test_graph_mamba_batched_graphs_equal_separate():
    """Two graphs in one batch (padding masks) give the same outputs as each graph alone."""
    torch.manual_seed(0)
    model = GraphMamba(5, 16, 3, num_layers=2, noise=False).eval()
    g1 = Data(x=torch.randn(9, 5), edge_index=_distinct_degree_graph(9))
    g2 = Data(x=torch.randn(5, 5), edge_index=_distinct_degree_graph(5))
    batch = Batch.from_data_list([g1, g2])
    out = model(batch.x, batch.edge_index, batch.batch)
    assert torch.allclose(out[:9], model(g1.x, g1.edge_index), atol=1e-5)
    assert torch.allclose(out[9:], model(g2.x, g2.edge_index), atol=1e-5)


def test_degree_order_noise_and_buckets():
    edge_index = torch.tensor([[0, 1, 2, 3, 0, 1], [1, 2, 3, 0, 2, 3]])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])  # node 4..6 isolated
    perm, seq = degree_order(edge_index, 7, batch, noise=False)
    assert perm.tolist() == [0, 1, 2, 3, 4, 5, 6] and seq.tolist() == [0, 0, 0, 0, 1, 1, 1]
    deg = torch.tensor([1.0, 1, 2, 2])  # in-degrees: ties broken at random with noise
    orders = {tuple(degree_order(edge_index, 4, noise=True)[0].tolist()) for _ in range(40)}
    assert len(orders) == 4
    for order in orders:
        assert (deg[list(order)].diff() >= 0).all()
    perm, seq = degree_order(edge_index, 7, batch, noise=True, bucket_size=2)
    assert sorted(perm.tolist()) == list(range(7))
    assert torch.bincount(seq).tolist() == [2, 2, 2, 1]  # 4 nodes -> 2 + 2, 3 nodes -> 2 + 1
    assert (batch[perm][seq == 3] == 1).all()


def test_graph_mamba_learns_through_the_harness():
    from graphlib_pyg.bench.harness import run_benchmark

    rows = run_benchmark(
        "graph_mamba",
        "csbm",
        runs=1,
        epochs=40,
        data={"num_nodes": 300, "homophily": 0.9, "signal": 2.0},
        progress=False,
        config={"hidden": 16, "num_layers": 1, "dropout": 0.0, "lr": 0.01, "patience": None},
    )
    assert rows[0]["test"] > 0.9  # 2 classes: chance is 0.5


def _random_graph(n=30, m=60, seed=0):
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(seed)
    return to_undirected(torch.randint(0, n, (2, m), generator=g), num_nodes=n)


def test_walk_tokens_are_neighbourhoods_in_order():
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.data.sampling import k_hop_nodes
    from graphlib_pyg.nn.mamba import WalkTokenizer

    edge_index = _random_graph()
    index = GraphIndex(edge_index, 30)
    tok = WalkTokenizer(num_walks=3, walk_length=3, num_samples=2)
    seeds = torch.tensor([0, 7, 7, 29])
    token, node = tok(index, seeds, torch.Generator().manual_seed(0))
    T = tok.sequence_length
    assert T == 7 and int(token.max()) == seeds.numel() * T - 1
    for i, v in enumerate(seeds.tolist()):
        for p in range(T):
            members = node[token == i * T + p]
            assert v in members.tolist()  # every walk starts at the node
            if p == T - 1:
                assert members.tolist() == [v]  # the node itself comes last
            else:
                k = tok.walk_length - p // tok.num_samples  # longest walks first
                assert members.numel() <= 1 + tok.num_walks * k
                hood = k_hop_nodes(index, torch.tensor([v]), k)
                assert torch.isin(members, hood).all()
    token0, node0 = WalkTokenizer(walk_length=0)(index, seeds)
    assert token0.tolist() == [0, 1, 2, 3] and node0.tolist() == seeds.tolist()


def test_induced_edges_match_brute_force():
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.nn.mamba.gmn import WalkTokenizer, _induced_edges

    edge_index = _random_graph(seed=1)
    index = GraphIndex(edge_index, 30)
    token, node = WalkTokenizer(3, 2, 2)(index, torch.arange(30))
    got = _induced_edges(index, token, node)
    edges = set(map(tuple, edge_index.t().tolist()))
    expect = {
        (a, b)
        for a in range(node.numel())
        for b in range(node.numel())
        if token[a] == token[b] and (int(node[a]), int(node[b])) in edges
    }
    assert set(map(tuple, got.t().tolist())) == expect


@pytest.mark.parametrize("node_layers", [1, 2])
def test_gmn_node_sequence_variant_is_permutation_equivariant(node_layers):
    """m = 0 (node tokens) and a deterministic degree order: outputs permute with the nodes."""
    from graphlib_pyg.nn.mamba import GMN

    torch.manual_seed(0)
    n = 9
    edge_index = _distinct_degree_graph(n)
    model = GMN(4, 8, 3, walk_length=0, noise=False, node_layers=node_layers).eval()
    assert len(model.node_layers) == node_layers
    x = torch.randn(n, 4)
    perm = torch.randperm(n)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    assert torch.allclose(model(x[perm], inv[edge_index]), model(x, edge_index)[perm], atol=1e-5)


def test_gmn_stacked_node_layers_reach_further_along_the_graph():
    """Without walk tokens and mixer, each node layer adds one hop of the local MPNN."""
    from graphlib_pyg.nn.mamba import GMN

    n = 8
    path = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    path = torch.cat([path, path.flip(0)], 1)  # an undirected path 0 - 1 - ... - 7
    x = torch.zeros(n, 4)
    for layers in (1, 2, 3):
        torch.manual_seed(0)
        model = GMN(4, 8, 3, walk_length=0, node_layers=layers).eval()
        for layer in model.node_layers:  # keep only the local branch
            layer.mixer = _ZeroMixer()
        x1 = x.clone()
        x1[0] = 1.0  # perturb node 0: nodes within `layers` hops see it, the rest do not
        changed = (model(x1, path) - model(x, path)).abs().sum(1) > 1e-6
        assert changed.tolist() == [i <= layers for i in range(n)]
    with pytest.raises(ValueError, match="node_layers"):
        GMN(4, 8, 3, node_layers=0)


class _ZeroMixer(torch.nn.Module):
    def forward(self, x, mask=None):
        return torch.zeros_like(x)


def test_gmn_seed_batches_equal_full_graph_rows():
    from graphlib_pyg.nn.mamba import GMN

    torch.manual_seed(0)
    edge_index = _random_graph()
    model = GMN(4, 8, 3, walk_length=0, global_mixer=False).eval()
    x = torch.randn(30, 4)
    seeds = torch.tensor([3, 17, 4])
    assert torch.allclose(model(x, edge_index, seeds), model(x, edge_index)[seeds], atol=1e-6)


def test_gmn_learns_through_the_harness():
    from graphlib_pyg.bench.harness import run_benchmark

    rows = run_benchmark(
        "gmn",
        "csbm",
        runs=1,
        epochs=30,
        data={"num_nodes": 300, "homophily": 0.9, "signal": 2.0},
        progress=False,
        config={"hidden": 16, "num_layers": 1, "dropout": 0.0, "lr": 0.01, "patience": None},
    )
    assert rows[0]["test"] > 0.9  # 2 classes: chance is 0.5


def test_positional_encodings_are_concatenated():
    from graphlib_pyg.data.tasks import load_task

    base = load_task("csbm", num_nodes=3000)
    rw = load_task("csbm", num_nodes=3000, pe="rwse:4")  # > 2,000 nodes: PyG's sparse path
    assert rw.data.x.shape == (3000, base.data.x.size(1) + 4)
    assert torch.equal(rw.data.x[:, : base.data.x.size(1)], base.data.x)
    deg = torch.bincount(rw.data.edge_index[0], minlength=3000).float()
    # RWSE step 2 of node i is the return probability sum_j 1/(d_i d_j) over neighbours j
    i = int(deg.argmax())
    nbrs = rw.data.edge_index[1][rw.data.edge_index[0] == i]
    expect = (1.0 / (deg[i] * deg[nbrs])).sum()
    assert torch.allclose(rw.data.x[i, base.data.x.size(1) + 1], expect, atol=1e-5)
    lap = load_task("csbm", num_nodes=300, pe="lap:3")
    assert lap.data.x.size(1) == base.data.x.size(1) + 3
    with pytest.raises(ValueError, match="rwse:K"):
        load_task("csbm", num_nodes=50, pe="rw:4")


def test_evaluation_is_deterministic_and_training_is_random():
    """With the default ``noise=True``, GMN's node layers used to draw a fresh degree order on
    every evaluation call. Evaluation now draws from ``eval_seed`` (and leaves the global
    generator alone); training still draws afresh every step."""
    from torch_geometric.nn import GCNConv

    from graphlib_pyg.nn.mamba import GMN

    torch.manual_seed(0)
    edge_index, x = _random_graph(), torch.randn(30, 4)
    model = GMN(4, 8, 3, num_samples=2).eval()
    first = model(x, edge_index)
    state = torch.get_rng_state()
    torch.testing.assert_close(model(x, edge_index), first, atol=0, rtol=0)
    assert torch.equal(torch.get_rng_state(), state)
    other = GMN(4, 8, 3, num_samples=2, eval_seed=5)
    other.load_state_dict(model.state_dict())
    assert not torch.allclose(other.eval()(x, edge_index), first)  # the seed is what fixes it
    model.train()
    assert not torch.allclose(model(x, edge_index), model(x, edge_index))
    layer = GraphMambaLayer(8, GCNConv(8, 8), bucket_size=4).eval()  # noise and random buckets
    h = torch.randn(30, 8)
    torch.testing.assert_close(layer(h, edge_index), layer(h, edge_index), atol=0, rtol=0)
    layer.train()
    assert not torch.allclose(layer(h, edge_index), layer(h, edge_index))
    stack = GraphMamba(4, 8, 3, num_layers=2).eval()
    assert [m.eval_seed for m in stack.modules() if isinstance(m, GraphMambaLayer)] == [0, 1]
    torch.testing.assert_close(stack(x, edge_index), stack(x, edge_index), atol=0, rtol=0)


def test_gmn_seeds_covering_every_node_in_another_order():
    """Seeds that are a permutation of all nodes: the node layers see the graph relabelled to
    the seeds' order (it used to be passed unrelabelled whenever there were N seeds)."""
    from graphlib_pyg.nn.mamba import GMN

    torch.manual_seed(0)
    n = 9
    edge_index = _distinct_degree_graph(n)
    model = GMN(4, 8, 3, walk_length=0, noise=False).eval()
    x, perm = torch.randn(n, 4), torch.randperm(n)
    full = model(x, edge_index)
    torch.testing.assert_close(model(x, edge_index, seeds=perm), full[perm], atol=1e-5, rtol=0)
