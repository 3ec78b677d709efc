"""Selective scan (the S6 recurrence of Mamba) with a reference, a parallel CPU path and CUDA.

For every batch element ``b``, channel ``d`` and state index ``n`` the scan runs the linear
recurrence

.. math::
    h_t = \\exp(\\Delta_t A) \\odot h_{t-1} + \\Delta_t B_t u_t, \\qquad
    y_t = \\langle C_t, h_t \\rangle + D u_t, \\qquad \\text{out}_t = y_t \\cdot \\mathrm{silu}(z_t)

with the argument conventions of mamba-ssm's ``selective_scan_ref``. Three backends:

* ``"ref"``: the recurrence as a Python loop over time, the readable definition.
* ``"parallel"``: a chunked scan in plain torch (the CPU default). The sequence is cut into
  chunks of about ``sqrt(L)`` steps; every chunk is scanned from a zero state (all chunks at
  once), the chunk-final states are chained, and each chunk adds its carried-in state times the
  cumulative decay. About ``2 sqrt(L)`` tensor operations instead of ``L``. Its backward pass is
  the same scan run backwards in time (a custom autograd function), so it stores one state
  tensor and no per-step graph.
* ``"cuda"``: mamba-ssm's fused kernel, when it imports and the tensors are on a GPU.

``lengths`` gives per-sequence lengths for right-padded batches: padded steps never enter a
valid step's state, outputs there are zero, and ``reverse=True`` reverses each sequence within
its own length (the backward half of a bidirectional block), so a sequence scans the same alone
or padded in a batch, in both directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

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


def _readout(h: Tensor, C: Tensor) -> Tensor:
    """``y[b, d, t] = sum_n h[t, b, d, n] C[..]``; h (L, B, D, N) -> (B, D, L)."""
    size_l, batch, dim, d_state = h.shape
    if C.dim() == 3:  # one (D, N) @ (N, 1) product per (step, batch element)
        c = C.permute(2, 0, 1).reshape(size_l * batch, d_state, 1)  # (L*B, N, 1)
        y = torch.bmm(h.reshape(size_l * batch, dim, d_state), c).view(size_l, batch, dim)
    elif C.dim() == 2:
        y = (h * C).sum(-1)  # (L, B, D)
    else:
        y = (h * _expand_groups(C, dim).permute(3, 0, 1, 2)).sum(-1)  # (L, B, D)
    return y.permute(1, 2, 0)


def _scan_ref(log_a: Tensor, bu: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """The recurrence step by step; returns y (B, D, L) and all states (L, B, D, N)."""
    if C.dim() == 2:
        c_steps = [C] * bu.size(0)
    elif C.dim() == 3:
        c_steps = C[:, None].unbind(-1)  # L x (B, 1, N)
    else:
        c_steps = _expand_groups(C, bu.size(2)).unbind(-1)  # L x (B, D, N)
    state = bu.new_zeros(bu.shape[1:])  # (B, D, N)
    states, ys = [], []
    for a_t, b_t, c_t in zip(log_a.unbind(0), bu.unbind(0), c_steps, strict=True):
        state = torch.exp(a_t) * state + b_t
        states.append(state)
        ys.append((state * c_t).sum(-1))  # (B, D)
    if not ys:
        return bu.new_zeros(bu.shape[1:3] + (0,)), bu
    return torch.stack(ys, dim=-1), torch.stack(states)


def chunk_size(length: int) -> int:
    """Chunk length of the parallel scan: about ``sqrt(L)`` (fewest operations), at least 8."""
    return max(8, math.isqrt(max(length, 1)))


@torch.no_grad()
def linear_scan(a: Tensor, b: Tensor, reverse: bool = False, chunk: int | None = None) -> Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` along dim 0 from ``h_{-1} = 0`` (no autograd).

    With ``reverse=True``: ``h_t = a_t * h_{t+1} + b_t`` from ``h_L = 0``. Chunked: every chunk
    is scanned from zero (all chunks at once, ``chunk`` steps, tracking the cumulative decay),
    the chunk-final states are chained (one step per chunk), and each chunk adds its carried-in
    state times its cumulative decay. About ``2 (chunk + L / chunk)`` tensor operations.

    Shapes:
        - **a, b:** (L, \\*)
        - **output:** (L, \\*)
    """
    length = b.size(0)
    if length == 0:
        return torch.empty_like(b)
    num_chunks = -(-length // (chunk or chunk_size(length)))
    chunk = -(-length // num_chunks)  # balanced: fewer than num_chunks padded steps
    pad = num_chunks * chunk - length
    if pad:  # zero inputs with decay 1 after the end change nothing
        a = torch.cat([a, a.new_ones((pad,) + a.shape[1:])])
        b = torch.cat([b, b.new_zeros((pad,) + b.shape[1:])])
    rest = b.shape[1:]
    a = a.reshape(num_chunks, chunk, *rest).transpose(0, 1)  # (T, K, *)
    b = b.reshape(num_chunks, chunk, *rest).transpose(0, 1)  # (T, K, *)
    local = torch.empty((chunk, num_chunks) + rest, dtype=b.dtype, device=b.device)  # (T, K, *)
    steps = range(chunk - 1, -1, -1) if reverse else range(chunk)
    first, prev = steps[0], (lambda t: t + 1) if reverse else (lambda t: t - 1)
    local[first] = b[first]
    for t in steps[1:]:  # all chunks at once, each from a zero state
        torch.addcmul(b[t], a[t], local[prev(t)], out=local[t])
    if num_chunks == 1:
        return local[:, 0][:length]
    decay = torch.empty_like(local)  # product of a from the chunk's entry step to step t
    decay[first] = a[first]
    for t in steps[1:]:
        torch.mul(a[t], decay[prev(t)], out=decay[t])
    carry = torch.empty((num_chunks,) + rest, dtype=b.dtype, device=b.device)  # (K, *)
    chunks = range(num_chunks - 1, -1, -1) if reverse else range(num_chunks)
    last = 0 if reverse else chunk - 1  # each chunk's exit step
    carry[chunks[0]] = 0
    for k in chunks[1:]:  # state entering chunk k from its predecessor j
        j = k + 1 if reverse else k - 1
        torch.addcmul(local[last, j], decay[last, j], carry[j], out=carry[k])
    local.addcmul_(decay, carry[None])
    return local.transpose(0, 1).reshape((num_chunks * chunk,) + rest)[:length]


class _LinearScan(torch.autograd.Function):
    """``h_t = exp(log_a_t) h_{t-1} + b_t``, differentiable; the backward pass is a reversed scan.

    With ``g_t = dL/dh_t`` (total): ``g_t = grad_t + a_{t+1} g_{t+1}``, then ``dL/db_t = g_t``
    and ``dL/dlog_a_t = g_t * a_t * h_{t-1} = g_t * (h_t - b_t)``.
    """

    @staticmethod
    def forward(ctx, log_a: Tensor, b: Tensor) -> Tensor:
        a = torch.exp(log_a)
        h = linear_scan(a, b)
        ctx.save_for_backward(a, b, h)
        return h

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b, h = ctx.saved_tensors
        if a.size(0) == 0:
            return torch.zeros_like(a), torch.zeros_like(b)
        a_next = torch.cat([a[1:], a.new_zeros((1,) + a.shape[1:])])  # (L, *)
        g = linear_scan(a_next, grad, reverse=True)
        return g * (h - b), g


def _scan_parallel(log_a: Tensor, bu: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    h = _LinearScan.apply(log_a, bu)  # (L, B, D, N)
    return _readout(h, C), h


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
    last = None
    if backend == "cuda":
        if lengths is not None and return_last_state:
            raise NotImplementedError(
                "return_last_state with lengths is not supported by the cuda backend; "
                "use backend='parallel'"
            )
        res = _scan_cuda(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
        out, last = res if return_last_state else (res, None)
    else:
        u, delta, A = u.float(), delta.float(), A.float()
        B, C = B.float(), C.float()
        if delta_bias is not None:
            delta = delta + delta_bias.float()[:, None]
        if delta_softplus:
            delta = F.softplus(delta)
        log_a, bu = _inputs(delta, u, A, B)  # (L, B, D, N) each
        y, states = (_scan_ref if backend == "ref" else _scan_parallel)(log_a, bu, C)
        out = y if D is None else y + u * D.float()[:, None]
        if z is not None:
            out = out * F.silu(z.float())
        if return_last_state:
            if lengths is None:
                last = states[-1] if states.size(0) else bu.new_zeros(bu.shape[1:])
            else:
                idx = (lengths.to(u.device) - 1).clamp(min=0)
                last = states[idx, torch.arange(u.size(0), device=u.device)]  # (B, D, N)
                last = last * (lengths.to(u.device) > 0)[:, None, None]
    if lengths is not None:
        valid = torch.arange(u.size(-1), device=u.device)[None] < lengths.to(u.device)[:, None]
        out = out * valid[:, None, :]
    if reverse:
        out = flip_within(out, lengths)
    out = out.to(dtype_in)
    return (out, last) if return_last_state else out


__all__ = ["BACKENDS", "flip_within", "linear_scan", "selective_scan"]
