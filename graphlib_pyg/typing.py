"""Shared type aliases and optional-dependency flags.

Optional accelerators are detected once here and used when present; the package imports and runs
without any of them.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch

Tensor = torch.Tensor
#: How a full-batch adjacency is normalised: ``gcn`` = D^-1/2 (A + I) D^-1/2, ``mean`` = D^-1 A,
#: ``sum`` = A (binary).
AdjKind = Literal["gcn", "mean", "sum"]


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


WITH_TORCH_SPARSE: bool = _has("torch_sparse")
WITH_TORCH_SCATTER: bool = _has("torch_scatter")
WITH_PYG_LIB: bool = _has("pyg_lib")
WITH_MAMBA_SSM: bool = _has("mamba_ssm") and torch.cuda.is_available()
