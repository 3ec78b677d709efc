import pytest
import torch

from graphlib_pyg.nn.ssl import PRETEXTS, SSLEncoder
from graphlib_pyg.nn.ssl.pretext import CCASSGPretext, GRACEPretext


def _graph(n=60, f=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, f, generator=g) + 2 * torch.nn.functional.one_hot(y, f).float()
    src = torch.randint(0, n, (400,), generator=g)
    dst = torch.randint(0, n, (400,), generator=g)
    same = y[src] == y[dst]
    ei = torch.stack([src[same], dst[same]])
    return x, torch.cat([ei, ei.flip(0)], 1)


def test_encoder_shapes_and_eval_embedding_is_deterministic():
    x, ei = _graph()
    enc = SSLEncoder(12, [32, 16])
    assert enc(x, ei).shape == (60, 16)
    assert torch.equal(enc.embed(x, ei), enc.embed(x, ei)) and enc.training
    with pytest.raises(ValueError, match="norm"):
        SSLEncoder(12, [8], norm="group")


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_each_pretext_trains_the_shared_encoder_and_its_loss_falls(name):
    torch.manual_seed(0)
    x, ei = _graph()
    enc = SSLEncoder(12, [32, 16])
    task = PRETEXTS[name](12, 16)
    params = list(enc.parameters()) + list(task.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    losses = []
    for _ in range(60):
        torch.manual_seed(1)  # the same augmentation every step: the loss must go down
        loss = task(enc, x, ei)
        opt.zero_grad()
        loss.backward()
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert enc.convs[0].lin.weight.grad.abs().sum() > 0  # the encoder gets a gradient
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < sum(losses[:5])


def test_grace_loss_is_lower_for_aligned_views_than_for_shuffled_ones():
    task = GRACEPretext(8)
    u = torch.nn.functional.normalize(torch.randn(30, 8), dim=1)
    aligned = task.half(u, u).mean()
    shuffled = task.half(u, u[torch.randperm(30)]).mean()
    assert aligned < shuffled


def test_ccassg_loss_is_zero_for_identical_whitened_views():
    task = CCASSGPretext(lambd=1.0, edge_drop=0.0, feat_drop=0.0)
    z = torch.linalg.qr(torch.randn(100, 4))[0] * 10  # orthogonal columns, norm 10 = sqrt(N)
    enc = lambda x, ei: x  # noqa: E731 - the "encoder" returns the features
    z = z - z.mean(0)
    loss = task(enc, z, torch.empty(2, 0, dtype=torch.long))
    assert loss < 0.1


def test_ccassg_paretognn_form_has_a_far_smaller_gradient_than_the_paper_form():
    torch.manual_seed(0)
    x, ei = _graph()
    enc = SSLEncoder(12, [32, 16])
    norms = {}
    for form in ("ccassg", "paretognn"):
        torch.manual_seed(1)
        loss = CCASSGPretext(form=form)(enc, x, ei)
        grads = torch.autograd.grad(loss, list(enc.parameters()))
        norms[form] = float(torch.cat([g.reshape(-1) for g in grads]).norm())
    assert norms["paretognn"] * 10 < norms["ccassg"]
    with pytest.raises(ValueError, match="form"):
        CCASSGPretext(form="squared")


def test_encoder_on_the_shared_adjacency_matches_pyg_gcnconv_on_edge_index():
    from torch_geometric.nn import GCNConv

    from graphlib_pyg.data.graph import adjacency

    x, ei = _graph()
    ei = torch.cat([ei, ei[:, :5], torch.tensor([[3, 4], [3, 4]])], 1)  # duplicates, self-loops
    enc = SSLEncoder(12, [32, 16]).eval()
    ref = [GCNConv(12, 32), GCNConv(32, 16)]  # PyG's own normalisation, per layer
    h = x
    for conv, mine, norm, act in zip(ref, enc.convs, enc.norms, enc.acts, strict=True):
        conv.load_state_dict(mine.state_dict())
        h = act(norm(conv(h, ei)))
    torch.testing.assert_close(enc(x, ei), h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(enc(x, adjacency(ei, 60, "gcn")), h, rtol=1e-5, atol=1e-5)


def test_link_scores_of_the_dense_path_equal_the_gathered_formula():
    from graphlib_pyg.nn.ssl.pretext import LinkPretext

    torch.manual_seed(0)
    task = LinkPretext(16, predictor_dim=8)
    h = torch.randn(10, 16)
    a = torch.relu(task.hid(h))
    for p in (200, 3):  # 10 * 10 <= 200 * 8: the (N, N) matrix; 100 > 3 * 8: the gather
        pairs = torch.randint(0, 10, (2, p))
        expected = (a[pairs[0]] * a[pairs[1]]) @ task.out.weight.view(-1) + task.out.bias
        torch.testing.assert_close(task.score(h, pairs), expected)


@pytest.mark.parametrize("name", ["dgi", "graphmae"])
def test_pretexts_take_any_encoder_that_reads_edge_index(name):
    from torch_geometric.nn import GCN

    torch.manual_seed(0)
    x, ei = _graph()
    loss = PRETEXTS[name](12, 16)(GCN(12, 32, 2, out_channels=16), x, ei)
    assert loss.ndim == 0 and torch.isfinite(loss)
