"""Selective scan (the S6 recurrence of Mamba) with a reference, a parallel CPU path and CUDA.

For every batch element ``b``, channel ``d`` and state index ``n`` the scan runs the linear
recurrence

.. math::
    h_t = \\exp(\\Delta_t A) \\odot h_{t-1} + \\Delta_t B_t u_t, \\qquad
    y_t = \\langle C_t, h_t \\rangle + D u_t, \\qquad \\text{out}_t = y_t \\cdot \\mathrm{silu}(z_t)

with the argument conventions of mamba-ssm's ``selective_scan_ref``. Three backends:

* ``"ref"``: the recurrence as a Python loop over time, the readable definition.
* ``"parallel"``: the CPU default, a chunked custom autograd function with a blocked scan
  inside each chunk, recomputing states in the backward pass
  (:mod:`~graphlib_pyg.nn.mamba.parallel_scan`, where its chunk sizes are set).
* ``"cuda"``: mamba-ssm's fused kernel, when it imports and the tensors are on a GPU.

``lengths`` gives per-sequence lengths for right-padded batches: padded steps never enter a
valid step's state, outputs there are zero, and ``reverse=True`` reverses each sequence within
its own length (the backward half of a bidirectional block), so a sequence scans the same alone
or padded in a batch, in both directions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.nn.mamba.parallel_scan import scan_parallel
from graphlib_pyg.typing import WITH_MAMBA_SSM

#: Valid ``backend`` values of :func:`selective_scan`.
BACKENDS = ("auto", "ref", "parallel", "cuda")


def flip_within(x: Tensor, lengths: Tensor | None, dim: int = -1) -> Tensor:
    """Reverse dimension ``dim`` of ``x`` (batch first) within each sequence's length.

    Position ``t < lengths[b]`` of batch element ``b`` receives position ``lengths[b] - 1 - t``;
    padded positions stay where they are. An involution: applying it twice gives ``x`` back.

    Shapes:
        - **x:** (B, ..., L, ...) with L at ``dim``
        - **lengths:** (B,) or None (plain reversal)
    """
    if lengths is None:
        return x.flip(dim)
    dim = dim % x.dim()
    size_l = x.size(dim)
    t = torch.arange(size_l, device=x.device)
    lens = lengths.to(x.device)[:, None]  # (B, 1)
    idx = torch.where(t[None] < lens, lens - 1 - t[None], t[None])  # (B, L)
    shape = [idx.size(0)] + [1] * (x.dim() - 1)
    shape[dim] = size_l
    return x.gather(dim, idx.view(shape).expand_as(x))


def _check(u, delta, A, B, C, D, z, delta_bias, lengths) -> None:
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, dim, length), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta must have u's shape {tuple(u.shape)}, got {tuple(delta.shape)}")
    if A.dim() != 2 or A.size(0) != dim:
        raise ValueError(f"A must be (dim={dim}, d_state), got shape {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("complex A is not supported; use a real A (Mamba's S4D-real)")
    d_state = A.size(1)
    for name, mat in (("B", B), ("C", C)):
        ok = {
            2: tuple(mat.shape) == (dim, d_state),
            3: tuple(mat.shape) == (batch, d_state, length),
            4: mat.dim() == 4
            and mat.size(0) == batch
            and mat.size(1) > 0
            and dim % mat.size(1) == 0
            and tuple(mat.shape[2:]) == (d_state, length),
        }.get(mat.dim(), False)
        if not ok:
            raise ValueError(
                f"{name} must be (dim, d_state)=({dim}, {d_state}), (batch, d_state, length)="
                f"({batch}, {d_state}, {length}) or (batch, groups, d_state, length) with groups "
                f"dividing dim; got shape {tuple(mat.shape)}"
            )
    if D is not None and tuple(D.shape) != (dim,):
        raise ValueError(f"D must be (dim={dim},), got shape {tuple(D.shape)}")
    if delta_bias is not None and tuple(delta_bias.shape) != (dim,):
        raise ValueError(f"delta_bias must be (dim={dim},), got shape {tuple(delta_bias.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z must have u's shape {tuple(u.shape)}, got {tuple(z.shape)}")
    if lengths is not None:
        if tuple(lengths.shape) != (batch,) or lengths.dtype.is_floating_point:
            raise ValueError(
                f"lengths must be an integer tensor of shape (batch={batch},), "
                f"got {lengths.dtype} {tuple(lengths.shape)}"
            )
        if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > length):
            raise ValueError(
                f"lengths must lie in [0, {length}], got min {int(lengths.min())} "
                f"max {int(lengths.max())}"
            )


def _expand_groups(mat: Tensor, dim: int) -> Tensor:
    """(B, G, N, L) -> (B, D, N, L): each group serves D / G consecutive channels."""
    return mat.repeat_interleave(dim // mat.size(1), dim=1)


def _inputs(delta: Tensor, u: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """Time-major log-decays ``delta * A`` and inputs ``delta * B * u``, each (L, B, D, N)."""
    delta_t = delta.permute(2, 0, 1)[..., None]  # (L, B, D, 1)
    log_a = delta_t * A  # (L, B, D, N)
    du = (delta * u).permute(2, 0, 1)[..., None]  # (L, B, D, 1)
    if B.dim() == 2:
        bu = du * B  # (L, B, D, N)
    elif B.dim() == 3:
        bu = du * B.permute(2, 0, 1)[:, :, None, :]  # (L, B, 1, N) -> (L, B, D, N)
    else:
        bu = du * _expand_groups(B, u.size(1)).permute(3, 0, 1, 2)  # (L, B, D, N)
    return log_a, bu


def _scan_ref(delta: Tensor, u: Tensor, A: Tensor, B: Tensor, C: Tensor):
    """The recurrence step by step; returns y (B, D, L) and the last state (B, D, N)."""
    log_a, bu = _inputs(delta, u, A, B)  # (L, B, D, N) each
    if C.dim() == 2:
        c_steps = [C] * bu.size(0)
    elif C.dim() == 3:
        c_steps = C[:, None].unbind(-1)  # L x (B, 1, N)
    else:
        c_steps = _expand_groups(C, bu.size(2)).unbind(-1)  # L x (B, D, N)
    state = bu.new_zeros(bu.shape[1:])  # (B, D, N)
    ys = []
    for a_t, b_t, c_t in zip(log_a.unbind(0), bu.unbind(0), c_steps, strict=True):
        state = torch.exp(a_t) * state + b_t
        ys.append((state * c_t).sum(-1))  # (B, D)
    if not ys:
        return u.new_zeros(u.shape), state
    return torch.stack(ys, dim=-1), state


def _scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    return selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
    lengths: Tensor | None = None,
    reverse: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba's selective scan; semantics of mamba-ssm's ``selective_scan_ref``, real A only.

    Args:
        u: Input.
        delta: Step sizes (before ``delta_bias`` and softplus).
        A: State matrix, diagonal per channel (negative for a decaying state).
        B, C: Input and output matrices: fixed (D, N), per step (B, N, L), or per step with
            G groups of channels (B, G, N, L).
        D: Skip connection per channel. (default: None)
        z: Gate: the output is multiplied by ``silu(z)``. (default: None)
        delta_bias: Added to ``delta`` before the softplus. (default: None)
        delta_softplus: Apply softplus to ``delta``. (default: False)
        return_last_state: Also return the state after each sequence's last valid step.
        backend: ``"auto"`` (``"cuda"`` for GPU tensors when mamba-ssm imports, else
            ``"parallel"``), ``"ref"``, ``"parallel"`` or ``"cuda"``.
        lengths: Per-sequence lengths of a right-padded batch. (default: all L)
        reverse: Scan each sequence from its last valid step to its first.

    Shapes:
        - **u, delta, z:** (B, D, L); **A:** (D, N); **D, delta_bias:** (D,)
        - **output:** (B, D, L) in u's dtype (computed in fp32); last state (B, D, N)
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown scan backend {backend!r}; valid: {', '.join(BACKENDS)}")
    _check(u, delta, A, B, C, D, z, delta_bias, lengths)
    if backend == "auto":
        backend = "cuda" if (u.is_cuda and WITH_MAMBA_SSM) else "parallel"
    if backend == "cuda" and not (u.is_cuda and WITH_MAMBA_SSM):
        raise RuntimeError(
            "backend='cuda' needs mamba-ssm (pip install graphlib-pyg[mamba]) and CUDA tensors; "
            "use backend='parallel' on CPU"
        )
    if reverse:
        u, delta = flip_within(u, lengths), flip_within(delta, lengths)
        z = None if z is None else flip_within(z, lengths)
        B = B if B.dim() == 2 else flip_within(B, lengths)
        C = C if C.dim() == 2 else flip_within(C, lengths)
    dtype_in = u.dtype
    if lengths is not None:
        # delta = 0 on padding: decay 1 and input 0, so the state holds after the last valid step
        if delta_bias is not None:
            delta = delta.float() + delta_bias.float()[:, None]
        delta = F.softplus(delta.float()) if delta_softplus else delta.float()
        delta_bias, delta_softplus = None, False
        valid = torch.arange(u.size(-1), device=u.device)[None] < lengths.to(u.device)[:, None]
        delta = delta * valid[:, None, :]
    if backend == "cuda":
        res = _scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
        out, last = res if return_last_state else (res, None)
    else:
        u, delta, A = u.float(), delta.float(), A.float()
        B, C = B.float(), C.float()
        if delta_bias is not None:
            delta = delta + delta_bias.float()[:, None]
        if delta_softplus:
            delta = F.softplus(delta)
        y, last = (_scan_ref if backend == "ref" else scan_parallel)(delta, u, A, B, C)
        out = y if D is None else y + u * D.float()[:, None]
        if z is not None:
            out = out * F.silu(z.float())
    if lengths is not None:
        out = out * valid[:, None, :]
    if reverse:
        out = flip_within(out, lengths)
    out = out.to(dtype_in)
    return (out, last) if return_last_state else out


__all__ = ["BACKENDS", "flip_within", "selective_scan"]
