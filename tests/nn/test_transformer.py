"""Laplacian PE with eigenvalues (sparse, sign-flipped), GPS with it, SGFormer and Polynormer."""

from __future__ import annotations

import tracemalloc

import pytest
import torch
from torch_geometric.utils import to_undirected

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.nn.models import GPS
from graphlib_pyg.nn.transformer import (
    LapPEEncoder,
    PolynormerNode,
    SGFormerNode,
    laplacian_eigenpairs,
    random_sign_flip,
)


def _dense_laplacian(edge_index, n):
    a = torch.zeros(n, n)
    a[edge_index[0], edge_index[1]] = 1.0
    a = ((a + a.t()) > 0).float()
    a.fill_diagonal_(0)
    d = a.sum(1)
    dinv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return torch.eye(n) - dinv[:, None] * a * dinv[None, :]


def test_eigenpairs_match_the_dense_decomposition_and_pad_small_graphs():
    torch.manual_seed(0)
    ei = torch.randint(0, 120, (2, 500))
    vecs, vals = laplacian_eigenpairs(ei, 120, 5)
    lap = _dense_laplacian(ei, 120).double()
    want = torch.linalg.eigvalsh(lap)[1:6]
    assert torch.allclose(vals.double(), want, atol=1e-5)
    assert torch.allclose(lap @ vecs.double(), vecs.double() * vals.double(), atol=1e-4)
    assert torch.allclose(vecs.norm(dim=0), torch.ones(5), atol=1e-4)
    vecs, vals = laplacian_eigenpairs(torch.tensor([[0, 1], [1, 2]]), 3, 4)  # 3 nodes, K=4
    assert vecs.shape == (3, 4) and (vecs[:, 2:] == 0).all() and (vals[2:] == 0).all()
    with pytest.raises(ValueError, match="k must be"):
        laplacian_eigenpairs(ei, 120, 0)
    with pytest.raises(ValueError, match="120"):  # an edge to node 120 of a 120-node graph
        laplacian_eigenpairs(torch.tensor([[0], [120]]), 120, 2)


def test_eigenpairs_of_a_large_graph_never_build_a_dense_matrix():
    n = 20_000  # a dense N x N float64 matrix would be 3.2 GB
    g = torch.Generator().manual_seed(0)
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ei = to_undirected(torch.cat([ring, torch.randint(0, n, (2, 2 * n), generator=g)], 1))
    tracemalloc.start()
    try:
        vecs, vals = laplacian_eigenpairs(ei, n, 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert vecs.shape == (n, 4) and (vals > 0).all()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_sign_flip_draws_one_sign_per_eigenvector():
    torch.manual_seed(0)
    v = torch.rand(6, 3) + 0.1
    seen = set()
    for _ in range(20):
        f = random_sign_flip(v)
        sign = (f / v).round()
        assert ((sign == 1) | (sign == -1)).all()
        assert (sign == sign[0]).all()  # the same sign for every node of a column
        seen |= {tuple(sign[0].tolist())}
    assert len(seen) > 4  # independent per column and per call


@pytest.mark.parametrize("kind", ["deepset", "linear"])
def test_lappe_encoder_flips_signs_in_training_only(kind):
    torch.manual_seed(0)
    enc = LapPEEncoder(4, 8, kind)
    vecs, vals = torch.randn(10, 4), torch.rand(4)
    enc.eval()
    assert torch.equal(enc(vecs, vals), enc(vecs, vals))
    enc.train()
    outs = {tuple(enc(vecs, vals)[0].tolist()) for _ in range(20)}
    assert len(outs) > 1  # fresh signs at every call
    # every training output is the eval output of some sign pattern
    enc.train()
    torch.manual_seed(3)
    out = enc(vecs, vals)
    torch.manual_seed(3)
    flipped = random_sign_flip(vecs)
    assert torch.allclose(out, enc.eval()(flipped, vals), atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        enc(torch.randn(10, 3), vals[:3])


def test_deepset_encoder_is_invariant_to_the_order_of_pairs_and_ignores_padding():
    torch.manual_seed(0)
    enc = LapPEEncoder(4, 8, "deepset").eval()
    vecs, vals = torch.randn(10, 4), torch.rand(4)
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.allclose(enc(vecs, vals), enc(vecs[:, perm], vals[perm]), atol=1e-6)
    padded_v, padded_l = vecs.clone(), vals.clone()
    padded_v[:, 3], padded_l[3] = 0, 0
    enc3 = LapPEEncoder(3, 8, "deepset").eval()
    enc3.load_state_dict(enc.state_dict())
    assert torch.allclose(enc(padded_v, padded_l), enc3(vecs[:, :3], vals[:3]), atol=1e-6)


def test_gps_reads_lap_pe_columns_and_trains_through_the_harness():
    model = GPS(10 + 8, 32, 3, lap_pe=4, pe_dim=8)
    x, ei = torch.randn(20, 18), torch.randint(0, 20, (2, 60))
    assert model(x, ei).shape == (20, 3)
    with pytest.raises(ValueError, match="pe=lapeig:4"):
        GPS(8, 32, 3, lap_pe=4)
    (row,) = run_benchmark(
        "gps",
        "csbm",
        runs=1,
        epochs=3,
        config={"lap_pe": 4, "hidden": 32},
        data={"num_nodes": 200, "pe": "lapeig:4"},
        progress=False,
    )
    assert 0.0 <= row["test"] <= 1.0


def test_sgformer_and_polynormer_wrappers():
    from torch_geometric.nn.models import SGFormer

    torch.manual_seed(0)
    x, ei = torch.randn(30, 8), torch.randint(0, 30, (2, 90))
    sg = SGFormerNode(8, 16, 3).eval()
    ref = SGFormer(8, 16, 3)
    ref.load_state_dict(sg.model.state_dict())
    assert torch.allclose(sg(x, ei), ref.eval()(x, ei, torch.zeros(30, dtype=torch.long)))
    poly = PolynormerNode(8, 16, 3, local_epochs=2, local_layers=2, global_layers=1)
    poly.train()
    poly(x, ei)
    poly(x, ei)
    assert not poly.model._global  # two local steps
    poly(x, ei)
    assert poly.model._global  # then global attention
    poly.reset_parameters()
    assert not poly.model._global
    with pytest.raises(ValueError, match="local_epochs"):
        PolynormerNode(8, 16, 3, local_epochs=-1)


# ---------------------------------------------------------------------------- LargeGT


def _graph(n=400, seed=0):
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.data.synthetic import csbm

    data = csbm(n, 3, 8, avg_degree=4, seed=seed)
    return data, GraphIndex(data.edge_index, n)


def test_neighbourhood_samples_stay_within_two_hops_and_pad_isolated_seeds():
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.data.sampling import k_hop_nodes
    from graphlib_pyg.nn.transformer import sample_neighborhood

    data, index = _graph()
    g = torch.Generator().manual_seed(0)
    seeds = torch.arange(0, 400, 7)
    s = sample_neighborhood(index, seeds, 30, g)
    assert s.shape == (seeds.numel(), 30) and torch.equal(s[:, 0], seeds)
    one = two = 0
    for row in s:
        hop1 = set(k_hop_nodes(index, row[:1], 1).tolist())
        hop2 = set(k_hop_nodes(index, row[:1], 2).tolist())
        assert set(row.tolist()) <= hop2
        one += sum(v in hop1 and v != int(row[0]) for v in row[1:].tolist())
        two += sum(v not in hop1 for v in row[1:].tolist())
    assert one > 0 and two > 0  # both hops are drawn
    lonely = GraphIndex(torch.tensor([[0], [1]]), 3)  # node 2 has no neighbours
    assert (sample_neighborhood(lonely, torch.tensor([2]), 5) == 2).all()
    with pytest.raises(ValueError, match="num_samples"):
        sample_neighborhood(index, seeds, 0)


def test_hop_features_are_powers_of_the_normalised_adjacency():
    from graphlib_pyg.nn.transformer import hop_features

    data, index = _graph(60)
    adj = index.adj_t("gcn")
    dense = adj.plain.to_dense()
    f = hop_features(data.x, adj)
    assert f.shape == (3, 60, 8) and torch.equal(f[0], data.x)
    assert torch.allclose(f[1], dense @ data.x, atol=1e-5)
    assert torch.allclose(f[2], dense @ dense @ data.x, atol=1e-5)
    half = hop_features(data.x, adj, dtype=torch.float16)
    assert half.dtype == torch.float16 and torch.allclose(half.float(), f, atol=1e-2)


def test_codebook_ema_kmeans_finds_clusters_and_biases_attention_by_count():
    from graphlib_pyg.nn.transformer import VQCodebook

    torch.manual_seed(0)
    book = VQCodebook(2, 2, decay=0.9)
    book.centroids.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    book.sums.copy_(book.centroids)
    a = torch.tensor([4.0, 0.0]) + 0.1 * torch.randn(300, 2)  # 3 of 4 points
    b = torch.tensor([0.0, -4.0]) + 0.1 * torch.randn(100, 2)
    for _ in range(100):
        book.update(torch.cat([a, b]))
    assert torch.allclose(book.centroids[0], a.mean(0), atol=0.05)
    assert torch.allclose(book.centroids[1], b.mean(0), atol=0.05)
    assert torch.allclose(book.counts, torch.tensor([300.0, 100.0]), rtol=0.01)
    with torch.no_grad():
        book.value.weight.copy_(torch.eye(2))
        book.value.bias.zero_()
        out = book(torch.zeros(1, 2))  # q = 0: weights are count / total
    want = (0.75 * book.centroids[0] + 0.25 * book.centroids[1]).unsqueeze(0)
    assert torch.allclose(out, want, atol=1e-3)


def test_largegt_half_precision_hop_features_halve_storage_and_keep_outputs():
    from graphlib_pyg.nn.transformer import LargeGT

    data, index = _graph(200)
    outs = {}
    for dtype in ("float32", "float16"):
        torch.manual_seed(0)
        model = LargeGT(8, 16, 3, num_samples=5, heads=2, hop_dtype=dtype).eval()
        model.prepare(data.x, index.adj_t("gcn"), index)
        outs[dtype] = model.forward_seeds(torch.arange(20), torch.Generator().manual_seed(1))
        assert model._ctx[0].dtype == getattr(torch, dtype)
    assert torch.allclose(outs["float32"], outs["float16"], atol=1e-2)
    with pytest.raises(ValueError, match="hop_dtype"):
        LargeGT(8, 16, 3, hop_dtype="int8")


def test_largegt_attention_dropout_is_its_own_knob():
    from graphlib_pyg.nn.transformer import LargeGT

    data, index = _graph(200)
    seeds = torch.arange(20)

    def outputs(attn_dropout):
        torch.manual_seed(0)
        model = LargeGT(
            8,
            16,
            3,
            num_samples=5,
            heads=2,
            num_centroids=0,
            dropout=0.0,
            attn_dropout=attn_dropout,
        )
        model.prepare(data.x, index.adj_t("gcn"), index)
        train = model.train().forward_seeds(seeds, torch.Generator().manual_seed(1))
        evals = model.eval().forward_seeds(seeds, torch.Generator().manual_seed(1))
        return train, evals

    # Without any dropout a training step computes exactly the evaluation outputs; attention
    # dropout alone makes them differ, so it reaches the encoder's attention weights.
    train, evals = outputs(0.0)
    assert torch.allclose(train, evals, atol=1e-5)
    train, evals = outputs(0.5)
    assert not torch.allclose(train, evals, atol=1e-3)
    assert torch.allclose(outputs(0.5)[1], outputs(0.0)[1], atol=1e-6)  # eval ignores it
    with pytest.raises(ValueError, match="attn_dropout"):
        LargeGT(8, 16, 3, attn_dropout=1.0)


def test_hop_rows_match_the_full_graph_hop_features_for_any_sample():
    from graphlib_pyg.nn.transformer import hop_features, hop_rows

    data, index = _graph(120)
    adj = index.adj_t("gcn")
    full = hop_features(data.x, adj)  # (3, N, F)
    nodes = torch.tensor([5, 0, 119, 5, 33, 0, 77])  # repeats and the extremes
    rows = hop_rows(data.x, adj, nodes)
    assert rows.shape == (7, 3, 8)
    assert torch.allclose(rows, full[:, nodes].transpose(0, 1), atol=1e-5)


def test_largegt_without_hop_cache_keeps_no_per_graph_array_and_same_outputs():
    from graphlib_pyg.nn.transformer import LargeGT

    data, index = _graph(200)
    outs = {}
    for cache in (True, False):
        torch.manual_seed(0)
        model = LargeGT(8, 16, 3, num_samples=5, heads=2, hop_cache=cache).eval()
        model.prepare(data.x, index.adj_t("gcn"), index)
        outs[cache] = model.forward_seeds(torch.arange(20), torch.Generator().manual_seed(1))
    x_kept, adj_kept = model._ctx[0]  # the caller's graph itself, nothing N-sized was built
    assert x_kept.data_ptr() == data.x.data_ptr()
    assert adj_kept.values().data_ptr() == index.adj_t("gcn").plain.values().data_ptr()
    assert torch.allclose(outs[True], outs[False], atol=1e-5)
    model.train()  # and it trains: gradients reach the token projection
    model.forward_seeds(torch.arange(20)).sum().backward()
    assert model.token.weight.grad is not None


def test_largegt_trains_on_seed_batches_through_the_harness():
    from graphlib_pyg.nn.transformer import LargeGT

    data, index = _graph(200)
    model = LargeGT(8, 16, 3, num_samples=5, heads=2, num_centroids=8)
    with pytest.raises(RuntimeError, match="prepare"):
        model.forward_seeds(torch.arange(3))
    model.prepare(data.x, index.adj_t("gcn"), index)
    assert model.forward_seeds(torch.arange(7)).shape == (7, 3)
    with pytest.raises(ValueError, match=r"\[0, 200\)"):
        model.forward_seeds(torch.tensor([200]))
    rows = run_benchmark(
        "largegt",
        "csbm",
        runs=2,
        epochs=15,
        config={"batch_size": 64, "hidden": 32, "num_samples": 8, "lr": 0.005},
        data={"num_nodes": 300, "homophily": 0.9},
        progress=False,
    )
    assert min(r["test"] for r in rows) > 0.6  # 4 classes: chance is 0.25


def test_largegt_full_graph_training_step_spans_several_codebook_updates():
    # forward(x, adj) runs seed_batch-sized chunks; each chunk's codebook update happens in
    # place and must not invalidate an earlier chunk's backward.
    from graphlib_pyg.nn.transformer import LargeGT

    data, index = _graph(200)
    model = LargeGT(8, 16, 3, num_samples=5, heads=2, num_centroids=8, seed_batch=64).train()
    before = model.codebook.centroids.clone()
    out = model(data.x, index.adj_t("gcn"))
    assert out.shape == (200, 3)
    out.square().sum().backward()
    assert model.codebook.key.weight.grad is not None
    assert not torch.equal(before, model.codebook.centroids)  # 4 chunks moved the codebook
    with pytest.raises(ValueError, match="input_dropout"):
        run_benchmark(
            "largegt",
            "csbm",
            runs=1,
            epochs=1,
            config={"batch_size": 64, "hidden": 16, "input_dropout": 0.5},
            data={"num_nodes": 150},
            progress=False,
        )


def test_largegt_defaults_to_seed_batches_in_the_harness(monkeypatch):
    # A full-graph forward would hold every node's 3K tokens at once (gigabytes on
    # coauthor-cs); by default the harness must train and evaluate on seed chunks only.
    from graphlib_pyg.nn.transformer import LargeGT

    def full_graph(self, x, adj):
        raise AssertionError("LargeGT ran a full-graph forward")

    monkeypatch.setattr(LargeGT, "forward", full_graph)
    (row,) = run_benchmark(
        "largegt",
        "csbm",
        runs=1,
        epochs=2,
        config={"hidden": 16, "num_samples": 4},
        data={"num_nodes": 120},
        progress=False,
    )
    assert row["config"]["batch_size"] == 1024 and row["config"]["eval_batch"] == 1024
    assert row["config"]["attn_dropout"] == 0.0  # told apart from rows that dropped attention
