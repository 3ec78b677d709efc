"""Sharpened consistency regularisation across augmented predictions (GRAND, LA-GNN)."""

from __future__ import annotations

import torch
from torch import Tensor


def sharpen(p: Tensor, temperature: float) -> Tensor:
    r"""Sharpen class distributions: :math:`p_i^{1/T} / \sum_j p_j^{1/T}` along the last dim."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # In log space: log p / T, then softmax; exact and safe for tiny probabilities.
    return torch.softmax(torch.log(p.clamp_min(1e-30)) / temperature, dim=-1)


def consistency_loss(
    logits: list[Tensor] | tuple[Tensor, ...],
    temperature: float = 0.5,
    lam: float = 1.0,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Consistency of K predictions with their sharpened mean.

    With :math:`p_k = \mathrm{softmax}(\text{logits}_k)` and :math:`\bar p = \frac1K \sum_k p_k`,
    the target is :math:`\tilde p = \mathrm{sharpen}(\bar p, T)` (no gradient), and the loss is
    :math:`\lambda \cdot \frac1K \sum_k \frac1{|V|} \sum_{v} \lVert p_{k,v} - \tilde p_v \rVert^2`.
    ``temperature=1`` is the un-sharpened variant (the target is the mean prediction).

    Args:
        logits: K tensors (N, C) of class logits from K augmented forward passes.
        temperature: sharpening temperature T (default 0.5).
        lam: weight :math:`\lambda` (default 1.0).
        mask: optional (N,) boolean or index tensor of the nodes to average over (default all).

    Returns:
        A scalar tensor.
    """
    if len(logits) == 0:
        raise ValueError("consistency_loss needs at least one prediction")
    shapes = {tuple(t.shape) for t in logits}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"all logits must share one (N, C) shape, got {sorted(shapes)}")
    ps = [torch.softmax(t, dim=-1) for t in logits]
    if mask is not None:
        ps = [p[mask] for p in ps]
    target = sharpen(torch.stack(ps).mean(0), temperature).detach()  # (N, C)
    loss = sum(((p - target) ** 2).sum(-1).mean() for p in ps) / len(ps)
    return lam * loss
