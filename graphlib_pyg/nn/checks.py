"""Input checks shared by the layers: graph structure and feature width, named in the error.

A layer calls :func:`check_graph` on the ``edge_index`` it receives. The check is the data
layer's :func:`~graphlib_pyg.data.graph.validate_graph` (an integer (2, E) tensor, every index in
range), so every layer reports a malformed graph with the same message, prefixed by the layer's
name. It runs once per tensor: the verdict is remembered while the tensor is alive and unmodified
(:func:`tensor_key`, the key layers also use for their own per-graph caches), so a full-batch
trainer that passes the same graph every epoch pays the O(E) scan once.

:func:`check_channels` names the expected and the given feature width.
"""

from __future__ import annotations

import sys
import weakref

import torch
from torch import Tensor
from torch_geometric.utils import is_sparse

from graphlib_pyg.data.graph import validate_graph

#: Keys (see :func:`tensor_key`) of the edge_index tensors found valid, with their node counts.
_CHECKED: dict[tuple, bool] = {}


def tensor_key(t: Tensor) -> tuple | None:
    """Key of ``t``'s identity and contents for per-graph caches, or None where none is safe.

    The key is ``(id, version, inference_mode)``: an in-place change bumps the version, and
    objects built under ``torch.inference_mode()`` (inference tensors, which autograd cannot save
    for backward) are never served outside it. Inference tensors keep no version counter, so an
    in-place change to one could not be seen: they get no key (callers do not cache).
    """
    if t.is_inference():
        return None
    return (id(t), t._version, torch.is_inference_mode_enabled())


def remember(cache: dict, key: tuple, value, owner: Tensor) -> None:
    """``cache[key] = value`` until ``owner`` (the tensor ``key`` was made from) is freed."""
    cache[key] = value
    weakref.finalize(owner, cache.pop, key, None)


def check_graph(
    edge_index,
    num_nodes: int | tuple[int, int | None],
    *,
    name: str,
) -> None:
    """Raise :func:`validate_graph`'s named error if ``edge_index`` is not a graph on the nodes.

    ``num_nodes`` is N, or ``(N_src, N_dst)`` for a bipartite graph (``edge_index[0]`` indexes
    the sources, ``edge_index[1]`` the targets; ``N_dst`` may be None when unknown). Sparse
    adjacencies (``torch.sparse`` or ``torch_sparse.SparseTensor``) are left to the layer.

    Raises:
        TypeError: ``edge_index`` is not an integer tensor.
        ValueError: it is not (2, E), or an index is negative or out of range.
    """
    if is_sparse(edge_index):
        return
    if isinstance(num_nodes, tuple):
        num_src, num_dst = int(num_nodes[0]), num_nodes[1]
    else:
        num_src = num_dst = int(num_nodes)
    key = tensor_key(edge_index) if isinstance(edge_index, Tensor) else None
    full = None if key is None else (*key, num_src, num_dst)
    if full is not None and full in _CHECKED:
        return
    bound = sys.maxsize if num_dst is None else max(num_src, int(num_dst))
    validate_graph(edge_index, bound, name=name)  # type, shape, sign, and range when square
    if edge_index.numel() and num_src != num_dst:
        for row, count, what in ((0, num_src, "source"), (1, num_dst, "target")):
            hi = int(edge_index[row].max())
            if count is not None and hi >= count:
                raise ValueError(
                    f"{name}: edge_index[{row}] refers to {what} node {hi} but there are "
                    f"{count} {what} nodes"
                )
    if full is not None:
        remember(_CHECKED, full, True, edge_index)


def check_channels(x: Tensor, expected: int, *, name: str, what: str = "x") -> None:
    """Raise a ``ValueError`` naming both widths if ``x`` (..., F) has ``F != expected``.

    ``expected <= 0`` (a lazily sized layer before its first call) accepts any width.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{name}: {what} must be (num_nodes, features), got a scalar")
    if expected > 0 and x.size(-1) != expected:
        raise ValueError(
            f"{name}: {what} has {x.size(-1)} features per node, but the layer expects {expected}"
        )


__all__ = ["check_channels", "check_graph", "remember", "tensor_key"]
