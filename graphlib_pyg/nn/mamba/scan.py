"""Selective scan (the S6 recurrence of Mamba) with a reference, a parallel CPU path and CUDA.

For every batch element ``b``, channel ``d`` and state index ``n`` the scan runs the linear
recurrence

.. math::
    h_t = \\exp(\\Delta_t A) \\odot h_{t-1} + \\Delta_t B_t u_t, \\qquad
    y_t = \\langle C_t, h_t \\rangle + D u_t, \\qquad \\text{out}_t = y_t \\cdot \\mathrm{silu}(z_t)

with the argument conventions of mamba-ssm's ``selective_scan_ref``. Three backends:

* ``"ref"``: the recurrence as a Python loop over time, the readable definition.
* ``"parallel"``: the CPU default, a custom autograd function that walks time in chunks whose
  (T, B, D, N) tensors fit in cache: decays, inputs and readout in bulk per chunk (products
  with B and C as batched matrix products), the chunk's recurrence as a blocked scan (p blocks
  of q ~ sqrt(T) steps scanned side by side, then the blocks' entry states, then one
  correction: p + q Python steps instead of T), only each chunk's entry state kept; the
  backward pass recomputes a chunk's states and runs the adjoint recurrence backwards in time
  the same way (mamba-ssm's CUDA kernel also recomputes on GPU). Memory
  O(B D N (L / T + T)); the reference keeps O(B D N L) plus a per-step autograd graph.
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


#: Elements of one chunk's (T, B, D, N) tensors in the parallel backend (about 1 MB in fp32).
CHUNK_ELEMENTS = 1 << 18
#: The same on a GPU (64 MB in fp32): there a chunk need not fit a cache, and every Python step
#: of the scan is a kernel launch, so fewer, larger chunks are faster.
CUDA_CHUNK_ELEMENTS = 1 << 24


def _chunk_elements(x: Tensor) -> int:
    return CUDA_CHUNK_ELEMENTS if x.is_cuda else CHUNK_ELEMENTS


class _StepMat:
    """Steps ``t0:t1`` of B or C and the three products the scan needs with them.

    A per-step matrix (B, N, L) is one group of (B, G, N, L); its steps are (T, B, G, N) and
    the products over the state index ``n`` or the channels ``d`` of a group run as batched
    matrix products, without the (T, B, D, N) temporaries of a multiply and a reduction.
    A fixed (D, N) matrix broadcasts.
    """

    def __init__(self, mat: Tensor, t0: int, t1: int):
        self.fixed = mat.dim() == 2
        if self.fixed:
            self.steps = mat  # (D, N)
        else:
            grouped = mat.unsqueeze(1) if mat.dim() == 3 else mat  # (B, G, N, L)
            self.steps = grouped[..., t0:t1].permute(3, 0, 1, 2)  # (T, B, G, N)

    def _groups(self, x: Tensor) -> Tensor:
        """(T, B, D, ...) -> (T, B, G, D / G, ...)."""
        groups = self.steps.size(2)
        return x.view(x.size(0), x.size(1), groups, x.size(2) // groups, *x.shape[3:])

    def outer(self, v: Tensor) -> Tensor:
        """``v[t, b, d] * mat[t, b, n]``: (T, B, D) -> (T, B, D, N)."""
        if self.fixed:
            return v[..., None] * self.steps
        out = self._groups(v)[..., None] * self.steps[:, :, :, None]  # (T, B, G, D/G, N)
        return out.flatten(2, 3)

    def dot_n(self, x: Tensor) -> Tensor:
        """``sum_n x[t, b, d, n] * mat[t, b, n]``: (T, B, D, N) -> (T, B, D)."""
        if self.fixed:
            return (x * self.steps).sum(-1)
        return (self._groups(x) @ self.steps[..., None]).flatten(2)

    def add_dot_d(self, acc: Tensor, v: Tensor, x: Tensor, t0: int, t1: int) -> None:
        """``acc[.., t] += sum_d v[t, b, d] * x[t, b, d, n]``, ``acc`` shaped as the matrix."""
        if self.fixed:
            acc += (v[..., None] * x).sum((0, 1))
            return
        grad = (self._groups(v)[:, :, :, None] @ self._groups(x)).squeeze(3)  # (T, B, G, N)
        grouped = acc.unsqueeze(1) if acc.dim() == 3 else acc
        grouped[..., t0:t1] += grad.permute(1, 2, 3, 0)


#: Chunks of at least this many steps over states of fewer than ``MAX_BLOCKED_STATE``
#: elements are scanned in blocks, others step by step. Larger states already give each step
#: enough work, and blocking adds two passes over the chunk (measured on CPU: 1.2-1.6x
#: faster for states of 512-1024 elements, even at 2048, 7% slower at 4096).
MIN_BLOCKED_STEPS = 8
MAX_BLOCKED_STATE = 4096


def _scan_steps(mul: Tensor, add: Tensor, out: Tensor, state: Tensor, steps) -> Tensor:
    """``out[t] = mul[t] * state + add[t]`` for ``t`` in ``steps`` in order, the state carried."""
    for t in steps:
        state = torch.addcmul(add[t], mul[t], state, out=out[t])
    return state


def _cumprod_steps(m: Tensor, order) -> Tensor:
    """Cumulative product over dim 1 in the given order, one multiply per step: on CPU many
    times faster than ``torch.cumprod`` over a middle dimension with large trailing ones."""
    out = torch.empty_like(m)
    order = list(order)
    out[:, order[0]] = m[:, order[0]]
    for prev, j in zip(order[:-1], order[1:], strict=True):
        torch.mul(out[:, prev], m[:, j], out=out[:, j])
    return out


def _linear_scan(mul: Tensor, add: Tensor, state: Tensor, reverse: bool = False):
    """Solve ``h_t = mul_t * h_{t-1} + add_t`` over dim 0 (``h_{t+1}`` if ``reverse``).

    ``state`` is ``h`` before the first step (after the last if ``reverse``). Returns all
    ``h`` (same shape as ``add``) and the state after the last step scanned.

    Long chunks of small states (see ``MIN_BLOCKED_STEPS``) are cut into ``p`` blocks of
    ``q`` steps (``p, q ~ sqrt(T)``): every block is scanned from a zero state at once, ``q``
    steps whose operations each cover ``p`` blocks; the blocks' entry states then follow in
    ``p`` small steps, and one multiply-add with the blocks' cumulative decays corrects every
    step. The Python loop runs ``p + q`` times instead of ``T``, which is what a sequential
    scan of small states (a whole graph's nodes, one channel block) spends its time on.
    """
    steps = add.size(0)
    out = torch.empty_like(add)
    q = max(2, int(round(steps**0.5)))
    blocked = steps >= MIN_BLOCKED_STEPS and state.numel() < MAX_BLOCKED_STATE
    nblocks = steps // q if blocked else 0
    split = nblocks * q
    if split == 0:
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        return out, _scan_steps(mul, add, out, state, order)
    # steps within a block, the blocks and the tail past the last whole block, in scan order
    cols, blocks, tail = list(range(q)), list(range(nblocks)), list(range(split, steps))
    if reverse:
        cols, blocks, tail = cols[::-1], blocks[::-1], tail[::-1]
        state = _scan_steps(mul, add, out, state, tail)  # in reverse the tail comes first
    shape = (nblocks, q) + tuple(add.shape[1:])
    m, a, o = mul[:split].view(shape), add[:split].view(shape), out[:split].view(shape)
    first, last = cols[0], cols[-1]
    o[:, first] = a[:, first]
    _scan_steps(m.transpose(0, 1), a.transpose(0, 1), o.transpose(0, 1), o[:, first], cols[1:])
    decay = _cumprod_steps(m, cols)  # (p, q, ...): decay from each block's entry state
    entries = [state] * nblocks  # the state entering each block, in scan order
    for k in blocks:
        entries[k] = state
        state = torch.addcmul(o[k, last], decay[k, last], state)
    o.addcmul_(decay, torch.stack(entries).unsqueeze(1))
    if not reverse:
        state = _scan_steps(mul, add, out, state, tail)
    return out, state


class _SelectiveScanFn(torch.autograd.Function):
    """The scan core ``y = <C, h>`` and last state, chunk by chunk, recomputing in backward.

    Time is cut into chunks whose (T, B, D, N) tensors stay in cache. Forward: per chunk, the
    decays ``exp(delta A)`` and inputs ``delta B u`` in bulk, the states by
    :func:`_linear_scan`, then the readout; only each chunk's entry state is kept. Backward,
    chunks in reverse: recompute the chunk's states from its entry state, run the adjoint
    recurrence ``g_t = C_t dy_t + a_{t+1} g_{t+1}`` with the same blocked scan backwards in
    time, and form every input gradient from ``g`` in bulk. Memory is O(B D N (L / T + T))
    instead of O(B D N L).
    """

    @staticmethod
    def _chunk(delta_t, u_t, A, mat_b, t0, t1, extra=0):
        """Decays for steps ``t0:t1 + extra`` (``delta_t`` may be padded), inputs for ``t0:t1``."""
        dl = delta_t[t0:t1]  # (T, B, D)
        a = torch.exp(delta_t[t0 : t1 + extra, ..., None] * A)  # (T + extra, B, D, N)
        du = dl * u_t[t0:t1]  # (T, B, D)
        return dl, du, a, mat_b.outer(du)  # b: (T, B, D, N)

    @staticmethod
    def forward(ctx, delta, u, A, B, C):
        batch, dim, length = u.shape
        step = max(1, min(length, _chunk_elements(u) // max(batch * A.numel(), 1)))
        delta_t, u_t = delta.permute(2, 0, 1).contiguous(), u.permute(2, 0, 1).contiguous()
        y = u.new_empty(length, batch, dim)  # (L, B, D)
        state = u.new_zeros(batch, dim, A.size(1))  # (B, D, N)
        entries = []
        for t0 in range(0, length, step):
            t1 = min(t0 + step, length)
            entries.append(state)
            _, _, a, b = _SelectiveScanFn._chunk(delta_t, u_t, A, _StepMat(B, t0, t1), t0, t1)
            h, state = _linear_scan(a, b, state)
            y[t0:t1] = _StepMat(C, t0, t1).dot_n(h)
        ctx.save_for_backward(delta_t, u_t, A, B, C, *entries)
        ctx.step = step
        return y.permute(1, 2, 0), state

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        delta_t, u_t, A, B, C, *entries = ctx.saved_tensors
        length, batch, dim = u_t.shape
        step = ctx.step
        gy_t = grad_y.permute(2, 0, 1)  # (L, B, D)
        g_delta, g_u = torch.empty_like(delta_t), torch.empty_like(u_t)
        g_A, g_B, g_C = torch.zeros_like(A), torch.zeros_like(B), torch.zeros_like(C)
        # g_t = dL/dh_t = C_t dy_t + a_{t+1} g_{t+1}. The decays run one step past each chunk:
        # into the next chunk, or past the end with delta 0 (decay 1), where g_L = dL/d(last)
        delta_pad = torch.cat([delta_t, delta_t.new_zeros(1, batch, dim)])
        g_next = grad_last if grad_last is not None else u_t.new_zeros(batch, dim, A.size(1))
        starts = list(range(0, length, step))
        for k in reversed(range(len(starts))):
            t0, t1 = starts[k], min(starts[k] + step, length)
            mat_b, mat_c = _StepMat(B, t0, t1), _StepMat(C, t0, t1)
            dl, du, a_ext, b = _SelectiveScanFn._chunk(delta_pad, u_t, A, mat_b, t0, t1, extra=1)
            a = a_ext[:-1]
            h, _ = _linear_scan(a, b, entries[k])
            gy = gy_t[t0:t1]  # (T, B, D)
            g, g_next = _linear_scan(a_ext[1:], mat_c.outer(gy), g_next, reverse=True)
            mat_c.add_dot_d(g_C, gy, h, t0, t1)
            # dL/dlog_a_t = g_t a_t h_{t-1}; a_t h_{t-1} = h_t - b_t
            g_log_a = g * (h - b)
            g_du = mat_b.dot_n(g)  # (T, B, D)
            mat_b.add_dot_d(g_B, du, g, t0, t1)
            # A multiply and a reduction: 10-20x faster on CPU than einsum("tbdn,tbd->dn"),
            # which becomes D batched mat-vecs with N-sized outputs after a permuting copy.
            g_A += (g_log_a * dl[..., None]).sum((0, 1))
            g_delta[t0:t1] = (g_log_a * A).sum(-1) + g_du * u_t[t0:t1]
            g_u[t0:t1] = g_du * dl
        return g_delta.permute(1, 2, 0), g_u.permute(1, 2, 0), g_A, g_B, g_C


#: A batch is split into blocks when fewer than this many steps of it fit in a chunk.
MIN_CHUNK_STEPS = 16


def _scan_parallel(delta: Tensor, u: Tensor, A: Tensor, B: Tensor, C: Tensor):
    """Many short sequences (e.g. GMN's token sequences of every node) run in blocks of the
    batch sized so that a block's chunk spans ``MIN_CHUNK_STEPS`` steps (or the whole
    sequence): temporaries stay cache-sized and no per-step state is kept."""
    batch, _, length = u.shape
    per_seq = A.numel() * min(length, MIN_CHUNK_STEPS)
    block = max(1, _chunk_elements(u) // max(per_seq, 1))
    if block >= batch or length == 0:
        return _SelectiveScanFn.apply(delta, u, A, B, C)
    # split (not slicing): its backward concatenates the block gradients in one operation
    parts = [t.split(block) for t in (delta, u)]
    parts += [[t] * len(parts[0]) if t.dim() == 2 else t.split(block) for t in (B, C)]
    ys, lasts = [], []
    for d_b, u_b, b_b, c_b in zip(*parts, strict=True):
        y, last = _SelectiveScanFn.apply(d_b, u_b, A, b_b, c_b)
        ys.append(y)
        lasts.append(last)
    return torch.cat(ys), torch.cat(lasts)


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
        y, last = (_scan_ref if backend == "ref" else _scan_parallel)(delta, u, A, B, C)
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
