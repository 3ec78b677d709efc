"""Small helpers every layer may use: seeding, parameter counts and name resolution."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random streams."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def count_parameters(*modules: nn.Module | None) -> int:
    """Number of parameters of ``modules`` (``None`` entries are skipped)."""
    return sum(p.numel() for m in modules if m is not None for p in m.parameters())


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
    adjacent characters each cost 1 (``gnc`` is one swap from ``gcn``)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def suggest(name: str, valid) -> list[str]:
    """The valid names nearest to ``name`` (at most two, within a distance of about a third of
    its length), nearest first."""
    name = str(name)
    limit = max(1, len(name) // 3 + 1)
    scored = sorted((edit_distance(name.lower(), str(v).lower()), str(v)) for v in valid)
    best = [(d, v) for d, v in scored if d <= limit]
    if not best:
        return []
    return [v for d, v in best if d == best[0][0]][:2]


def did_you_mean(name: str, valid) -> str:
    """`` Did you mean X?`` for the nearest valid names, or an empty string."""
    close = suggest(name, valid)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def resolve(name: str, table: dict, what: str):
    """Look ``name`` up in ``table``; the error suggests the nearest names and lists the valid
    ones."""
    if isinstance(name, str) and name in table:
        return table[name]
    raise KeyError(
        f"unknown {what} {name!r}.{did_you_mean(str(name), table)} "
        f"Valid: {', '.join(sorted(table))}"
    )
