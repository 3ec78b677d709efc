"""The ``"parallel"`` backend of :func:`~graphlib_pyg.nn.mamba.scan.selective_scan` (CPU default).

A custom autograd function walks time in chunks whose (T, B, D, N) tensors fit in cache: decays,
inputs and readout in bulk per chunk (products with B and C as batched matrix products), the
chunk's recurrence as a blocked scan (:func:`linear_scan`: p blocks of q ~ sqrt(T) steps scanned
side by side, then the blocks' entry states, then one correction: p + q Python steps instead of
T), only each chunk's entry state kept. The backward pass recomputes a chunk's states and runs
the adjoint recurrence backwards in time the same way (mamba-ssm's CUDA kernel also recomputes on
GPU). Memory O(B D N (L / T + T)); the reference keeps O(B D N L) plus a per-step autograd graph.
"""

from __future__ import annotations

import torch
from torch import Tensor

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


def linear_scan(mul: Tensor, add: Tensor, state: Tensor, reverse: bool = False):
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
    :func:`linear_scan`, then the readout; only each chunk's entry state is kept. Backward,
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
            h, state = linear_scan(a, b, state)
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
            h, _ = linear_scan(a, b, entries[k])
            gy = gy_t[t0:t1]  # (T, B, D)
            g, g_next = linear_scan(a_ext[1:], mat_c.outer(gy), g_next, reverse=True)
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


def scan_parallel(delta: Tensor, u: Tensor, A: Tensor, B: Tensor, C: Tensor):
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


__all__ = ["linear_scan", "scan_parallel"]
