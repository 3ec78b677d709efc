"""The EMA codebook: its update equals the closed form, it assigns nearest codes, and the
commitment loss trains the encoder only."""

import pytest
import torch
import torch.nn.functional as F

from graphlib_pyg.nn.vq import VectorQuantizer, code_logits


def _toy(distance: str, decay: float = 0.8) -> tuple[VectorQuantizer, torch.Tensor]:
    vq = VectorQuantizer(2, 3, distance=distance, decay=decay)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
        vq.embed_sum.copy_(vq.codebook)
        vq.cluster_size.copy_(torch.tensor([1.0, 2.0, 3.0]))
    x = torch.tensor([[2.0, 0.2], [1.5, -0.1], [0.1, 3.0]])  # codes 0, 0, 1; code 2 unused
    return vq, x


def test_l2_ema_update_equals_closed_form():
    vq, x = _toy("l2")
    vq.train()
    _, index, _, _ = vq(x)
    assert index.tolist() == [0, 0, 1]
    g = 0.8
    n = torch.tensor([1 * g + 2 * (1 - g), 2 * g + 1 * (1 - g), 3 * g])
    m = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]) * g
    m[0] += (1 - g) * (x[0] + x[1])
    m[1] += (1 - g) * x[2]
    total, eps = n.sum(), 1e-5
    smoothed = (n + eps) / (total + 3 * eps) * total
    torch.testing.assert_close(vq.cluster_size, n)
    torch.testing.assert_close(vq.embed_sum, m)
    torch.testing.assert_close(vq.codebook, m / smoothed[:, None])


def test_cosine_ema_update_equals_closed_form():
    vq, x = _toy("cosine", decay=0.5)
    before = vq.codebook.clone()
    vq.train()
    vq(x)
    xn = F.normalize(x, dim=-1)
    mean0 = F.normalize(xn[0] + xn[1], dim=0)
    expected = before.clone()
    expected[0] = 0.5 * before[0] + 0.5 * mean0
    expected[1] = 0.5 * before[1] + 0.5 * xn[2]  # code 2 got no row: unchanged
    torch.testing.assert_close(vq.codebook, expected)


def test_eval_mode_leaves_the_codebook_alone():
    vq, x = _toy("l2")
    before = vq.codebook.clone()
    vq.eval()
    vq(x)
    assert torch.equal(vq.codebook, before)


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_assignments_are_the_nearest_codes(distance):
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 50, distance=distance).eval()
    x = torch.randn(200, 8)
    quantized, index, _, logits = vq(x)
    codes = vq.codes()
    if distance == "l2":
        brute = torch.stack([((x[i] - codes) ** 2).sum(-1).argmin() for i in range(200)])
    else:
        sims = F.normalize(x, dim=-1) @ F.normalize(codes, dim=-1).t()
        brute = sims.argmax(-1)
    assert torch.equal(index, brute)
    torch.testing.assert_close(quantized, codes[index])  # forward value: the code itself
    torch.testing.assert_close(logits, code_logits(x, vq.codebook, distance))


def test_commitment_gradient_reaches_the_encoder_only():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(4, 6)
    vq = VectorQuantizer(6, 10, distance="l2", commitment_weight=0.25)
    assert list(vq.parameters()) == []  # the codes are EMA buffers, not trained
    h = encoder(torch.randn(5, 4))
    h.retain_grad()
    _, index, commit, _ = vq.eval()(h)
    commit.backward()
    code = vq.codes()[index]
    torch.testing.assert_close(h.grad, 0.25 * 2 * (h - code).detach() / h.numel())
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0
    assert vq.codebook.grad is None and not vq.codebook.requires_grad


def test_straight_through_gradient_passes_the_quantizer_unchanged():
    vq = VectorQuantizer(3, 4).eval()
    h = torch.randn(6, 3, requires_grad=True)
    quantized, _, _, _ = vq(h)
    (quantized * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(h.grad, torch.arange(3.0).expand(6, 3))


def test_dead_codes_are_redrawn_from_the_batch():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 5, distance="l2", dead_threshold=0.5).train()
    x = torch.tensor([[10.0, 10.0], [10.5, 10.0]])
    vq(x)  # every count starts at 0: the unused codes fall below the threshold
    dead = vq.cluster_size <= 0.5 + 1e-6
    assert dead.any()
    for row in vq.codebook[dead]:
        assert any(torch.equal(row, r) for r in x)


def test_data_init_draws_the_codes_from_the_first_training_batch():
    torch.manual_seed(0)
    x = torch.randn(6, 3)
    vq = VectorQuantizer(3, 4, data_init=True, decay=0.8).eval()
    before = vq.codebook.clone()
    vq(x)  # evaluation leaves the random codes alone
    assert torch.equal(vq.codebook, before) and not bool(vq.initialised)
    vq.train()
    vq(x)  # the first training batch sets every code to one of its (unit) rows
    assert bool(vq.initialised)
    unit = torch.nn.functional.normalize(x, dim=-1)
    # a code drawn from row i then moves by the EMA only towards the rows assigned to it
    assert torch.cdist(vq.codes(), unit).min(dim=1).values.max() < 0.5
    random = VectorQuantizer(3, 4).train()
    random(x)
    assert torch.cdist(random.codes(), unit).min(dim=1).values.max() > 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distance": "manhattan"}, "distance"),
        ({"decay": 1.0}, "decay"),
        ({"num_codes": 0}, "num_codes"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"channels": 4, "num_codes": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        VectorQuantizer(**args)


def test_wrong_width_is_named():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        VectorQuantizer(4, 8)(torch.randn(3, 5))
