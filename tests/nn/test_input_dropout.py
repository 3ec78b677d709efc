"""InputDropout: the dense and the sparse (cached non-zeros) paths both are inverted dropout."""

import pytest
import torch

from graphlib_pyg.nn.models import InputDropout


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
