"""Input dropout for full-graph models: elementwise, or on the non-zeros of sparse features."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def dropout_(x: Tensor, p: float) -> Tensor:
    """Dropout on a tensor that needs no gradient, in place; returns ``x``.

    Each entry is kept when a uniform 16-bit integer is at least ``round(p * 2**16)``, so the
    drop rate is ``p`` rounded to a multiple of ``2**-16`` (exact for 0.5), and kept entries are
    scaled by the inverse of the keep rate actually used: the expectation of ``x`` is preserved.
    Four masks come from one 64-bit draw: on CPU this costs a fraction of ``torch.rand_like``
    (about a quarter of the random-number time on a (3327, 3703) input).
    """
    if x.requires_grad:
        raise ValueError("dropout_ works in place on tensors that need no gradient")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {p}")
    cut = round(p * 65536)
    if cut == 0:
        return x
    n = x.numel()
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    keep = bits.view(torch.int16)[:n].view(x.shape).ge(cut - 32768)
    return x.mul_(keep).mul_(65536 / (65536 - cut))


class InputDropout(nn.Module):
    """Dropout on the input features before a wrapped ``model(x, adj)`` (as in GCN/GAT papers).

    For sparse bag-of-words features (most entries zero) the mask is drawn for the non-zero
    entries only, found once per feature tensor: the same distribution as elementwise dropout
    (a dropped zero is still zero), as the papers' sparse dropout, at a fraction of the cost.

    Args:
        model: any module called as ``model(x, *args)``.
        p: dropout probability on ``x``.
    """

    def __init__(self, model: nn.Module, p: float) -> None:
        super().__init__()
        self.model, self.p = model, p
        self._nz_key: tuple | None = None
        self._nz: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        if self.training and self.p > 0:
            x = self._dropout(x)
        return self.model(x, *args, **kwargs)

    def _dropout(self, x: Tensor) -> Tensor:
        if x.requires_grad or x.layout != torch.strided or x.dim() != 2:
            return nn.functional.dropout(x, self.p, True)
        key = (x.data_ptr(), tuple(x.shape), x._version)
        if key != self._nz_key:
            # count_nonzero is ~27x cheaper than nonzero (4.4 vs 118 ms on a (2708, 2866)
            # input): only index tensors that are sparse.
            sparse = int(x.count_nonzero()) < 0.25 * x.numel()
            self._nz = x.nonzero(as_tuple=True) if sparse else None
            self._nz_key = key
        if self._nz is None:
            # x needs no gradient here: mask a copy in place (dropout_ draws 16-bit masks).
            return dropout_(x.clone(), self.p)
        rows, cols = self._nz
        keep = torch.rand(rows.numel(), device=x.device) >= self.p
        rows, cols = rows[keep], cols[keep]
        out = torch.zeros_like(x)
        out[rows, cols] = x[rows, cols] / (1.0 - self.p)
        return out

    def reset_parameters(self) -> None:
        self.model.reset_parameters()
