"""InputDropout: the dense and the sparse (cached non-zeros) paths both are inverted dropout."""

import pytest
import torch

from graphlib_pyg.nn.models import InputDropout, dropout_


@pytest.mark.parametrize("density", [1.0, 0.05])
def test_input_dropout_keeps_expected_fraction_and_scales(density):
    torch.manual_seed(0)
    x = torch.rand(400, 300) + 0.5
    x = x * (torch.rand(400, 300) < density)
    drop = InputDropout(torch.nn.Identity(), 0.3).train()
    out = drop(x)
    nz = x != 0
    kept = (out != 0) & nz
    assert abs(kept.sum().item() / nz.sum().item() - 0.7) < 0.02
    assert torch.allclose(out[kept], x[kept] / 0.7)
    assert (out[~nz] == 0).all()
    assert not torch.equal(drop(x), out)  # a fresh mask per call
    assert torch.equal(drop.eval()(x), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_inplace_dropout_rate_scale_and_expectation(p):
    torch.manual_seed(0)
    x = torch.rand(500, 400) + 0.5
    out = x.clone()
    assert dropout_(out, p) is out  # in place
    kept = out != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.01
    assert torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-4)
    assert abs(out.mean().item() / x.mean().item() - 1) < 0.02  # expectation preserved
    # masks are independent across entries: dropped pairs of neighbouring columns are ~p^2
    both = (~kept[:, 0::2] & ~kept[:, 1::2]).float().mean().item()
    assert abs(both - p * p) < 0.01


def test_inplace_dropout_rejects_gradients_and_bad_rates():
    with pytest.raises(ValueError, match="no gradient"):
        dropout_(torch.ones(3, requires_grad=True), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout_(torch.ones(3), 1.0)
    x = torch.ones(3)
    assert torch.equal(dropout_(x, 0.0), torch.ones(3))
