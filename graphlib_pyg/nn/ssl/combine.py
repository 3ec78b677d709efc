"""Combining the gradients of several pretext tasks on one encoder: sum, and MGDA.

MGDA (Desideri 2012; Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018) takes, per step, the gradient of each task with respect to the shared parameters,
normalises each to unit L2 norm (ParetoGNN's ``--grad_norm l2``), and finds the point of minimum
norm in their convex hull,

.. math::
    \\min_{w \\in \\Delta^{K-1}} \\Big\\lVert \\sum_k w_k \\hat{g}_k \\Big\rVert_2^2
    = \\min_w w^\top G w, \\quad G_{ij} = \\hat{g}_i^\top \\hat{g}_j,

by Frank-Wolfe (:func:`min_norm_weights`); the step then follows :math:`\\sum_k w_k \nabla
\\mathcal{L}_k` on every parameter (ParetoGNN's ``pretrain_model_pareto.py``: weights from the
normalised gradients, applied to the raw losses). For two tasks the minimum has a closed form
(:func:`two_task_min_norm`).

A combiner's ``backward(losses, params, shared)`` takes the tasks as callables returning their
loss (each builds its own graph, is backpropagated and freed before the next), leaves the combined
gradient in ``p.grad`` of ``params`` and returns the task weights and loss values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def two_task_min_norm(g11: float, g12: float, g22: float) -> tuple[float, float]:
    r"""Closed-form minimiser of :math:`\lVert \gamma g_1 + (1 - \gamma) g_2 \rVert^2` over
    :math:`\gamma \in [0, 1]` from the inner products: :math:`\gamma = \mathrm{clip}((g_{22} -
    g_{12}) / (g_{11} + g_{22} - 2 g_{12}), 0, 1)`. Returns :math:`(\gamma, 1 - \gamma)`."""
    denom = g11 + g22 - 2 * g12
    if denom <= 1e-12:  # g1 == g2: every point of the segment is the same
        return 0.5, 0.5
    gamma = min(1.0, max(0.0, (g22 - g12) / denom))
    return gamma, 1.0 - gamma


def min_norm_weights(gram: Tensor, iters: int = 250, tol: float = 1e-6) -> Tensor:
    r"""Frank-Wolfe for :math:`\min_{w \in \Delta} w^\top G w` (Sener & Koltun, Alg. 2).

    Starting from the best two-task solution over all pairs (as Sener & Koltun's
    ``MinNormSolver``, which ParetoGNN uses: Frank-Wolfe alone crawls when the optimum lies on
    a face of the simplex), each iteration moves towards the vertex
    :math:`e_t, t = \arg\min_k (G w)_k`, with the exact line search of
    :func:`two_task_min_norm` between :math:`w` and :math:`e_t`; it stops when the step
    changes :math:`w` by less than ``tol``.

    Args:
        gram: :math:`(K, K)` Gram matrix of the (normalised) task gradients.
        iters: maximal iterations.
        tol: stopping tolerance on the L1 change of ``w``.

    Returns:
        :math:`(K,)` weights, non-negative, summing to 1.
    """
    k = gram.size(0)
    if gram.dim() != 2 or gram.size(1) != k or k == 0:
        raise ValueError(f"gram must be a non-empty square matrix, got shape {tuple(gram.shape)}")
    gram = gram.double()
    if k == 1:
        return torch.ones(1, dtype=gram.dtype)
    w, best = torch.zeros(k, dtype=gram.dtype), float("inf")
    for i in range(k):
        for j in range(i + 1, k):
            a, b = two_task_min_norm(gram[i, i].item(), gram[i, j].item(), gram[j, j].item())
            value = a * a * gram[i, i] + 2 * a * b * gram[i, j] + b * b * gram[j, j]
            if float(value) < best:
                best = float(value)
                w.zero_()
                w[i], w[j] = a, b
    for _ in range(iters):
        gw = gram @ w
        t = int(torch.argmin(gw))
        v1v1, v1v2, v2v2 = float(w @ gw), float(gw[t]), float(gram[t, t])
        gamma, _ = two_task_min_norm(v1v1, v1v2, v2v2)  # weight on the current point
        new = gamma * w
        new[t] += 1 - gamma
        if float((new - w).abs().sum()) < tol:
            return new
        w = new
    return w


Losses = dict[str, Callable[[], Tensor]]


class SumCombiner:
    """Every task with weight 1: the gradient of the summed losses."""

    name = "sum"

    def backward(self, losses: Losses, params: list[Tensor], shared: list[Tensor]):
        values = {}
        for name, fn in losses.items():  # one graph at a time; gradients accumulate
            loss = fn()
            loss.backward()
            values[name] = float(loss.detach())
        return dict.fromkeys(losses, 1.0), values


class MGDACombiner:
    """MGDA as in ParetoGNN: one backward per task, L2-normalised shared gradients,
    Frank-Wolfe min-norm weights, then :math:`\\sum_k w_k \\nabla \\mathcal{L}_k` on every
    parameter.

    Args:
        normalize: ``"l2"`` (ParetoGNN's default ``--grad_norm l2``) or ``"none"``.
    """

    name = "mgda"

    def __init__(self, normalize: str = "l2") -> None:
        if normalize not in ("l2", "none"):
            raise ValueError(f"normalize must be 'l2' or 'none', got {normalize!r}")
        self.normalize = normalize

    def backward(self, losses: Losses, params: list[Tensor], shared: list[Tensor]):
        index = {id(p): i for i, p in enumerate(params)}
        shared_pos = [index[id(p)] for p in shared]
        grads, flats, values = {}, [], {}
        for name, fn in losses.items():
            loss = fn()
            g = torch.autograd.grad(loss, params, allow_unused=True)
            grads[name] = g
            values[name] = float(loss.detach())
            flat = torch.cat([
                (g[i] if g[i] is not None else torch.zeros_like(params[i])).reshape(-1)
                for i in shared_pos
            ])  # fmt: skip
            if self.normalize == "l2":
                flat = flat / flat.norm().clamp_min(1e-12)
            flats.append(flat)
        stacked = torch.stack(flats)  # (K, P_shared)
        w = min_norm_weights(stacked @ stacked.t())
        weights = {name: float(w[k]) for k, name in enumerate(losses)}
        for i, p in enumerate(params):
            parts = [weights[n] * g[i] for n, g in grads.items() if g[i] is not None]
            if parts:
                total = torch.stack(parts).sum(0)
                p.grad = total if p.grad is None else p.grad + total
        return weights, values


#: Combiners by name.
COMBINERS: dict[str, type] = {"sum": SumCombiner, "mgda": MGDACombiner}
