"""Mixed precision for any model of the harness: ``precision=bf16``.

``bf16`` runs a model's forward pass under ``torch.autocast(dtype=torch.bfloat16)`` on the
model's device (CPU or CUDA), nanoGPT's pattern: matrix products run in bfloat16 (on CPUs with
AVX-512 BF16 or AMX, and on GPUs, several times faster than float32), while the weights, the
optimiser's state and the gradients stay float32 ("master weights"), and autocast computes the
losses (cross-entropy, binary cross-entropy) in float32. Trainers cast the outputs that metrics
read to float32, so the fit loop's selection sees the same dtype as in a float32 run.

Sparse products keep float32 where the kernel lacks bfloat16 (``torch.sparse.mm`` of a CSR
matrix on the CPU): :class:`~graphlib_pyg.data.graph.SparseAdj` casts the dense operand up.
bfloat16 has float32's exponent range, so no loss scaling is needed (unlike float16, which is
not offered).

Example:
    >>> lin = torch.nn.Linear(4, 2)
    >>> with autocast("bf16", torch.device("cpu")):
    ...     out = lin(torch.randn(3, 4))
    >>> out.dtype, lin.weight.dtype
    (torch.bfloat16, torch.float32)
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from graphlib_pyg.utils import did_you_mean

#: ``precision=`` values -> the autocast dtype (``None``: no autocast).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def check_precision(precision: str) -> torch.dtype | None:
    """The autocast dtype of ``precision``; a clear error for an unknown value."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown precision {precision!r}.{did_you_mean(str(precision), PRECISIONS)} "
            f"Valid: {', '.join(PRECISIONS)}"
        )
    return PRECISIONS[precision]


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context a forward pass (and its loss) runs in for ``precision``: ``torch.autocast``
    on ``device`` for ``bf16``, nothing for ``fp32``. Backward passes and optimiser steps run
    outside it (PyTorch's recommended pattern); outputs read by metrics are cast with
    ``.float()``.

    Args:
        precision: ``"fp32"`` or ``"bf16"``.
        device: where the model runs (autocast's ``device_type``: ``cpu`` or ``cuda``).
    """
    dtype = check_precision(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)
