"""Which ``GraphIndex.adj_t`` kind a PyG layer may take, checked where the layer uses it.

``adj_t("sum")`` (the plain adjacency) is the drop-in for ``edge_index`` in
any PyG convolution, with the same outputs (GCNConv, SAGEConv with any aggregation, GINConv,
GATConv). ``adj_t("gcn")`` and ``adj_t("mean")`` are already normalised, for layers that only sum
over them: ``GCNConv(normalize=False)`` fed ``adj_t("gcn")`` equals ``GCNConv()`` on ``edge_index``,
``SAGEConv(aggr="sum")`` fed ``adj_t("mean")`` equals ``SAGEConv()`` on ``edge_index``. Any other
use of a normalised kind in a PyG layer raises :class:`AdjacencyKindError` naming the kind to use,
instead of silently computing something else: normalising it again (GCN normalisation, a
mean/max/min aggregation), reading its edges (attention, self-loop insertion), or summing over it
in GINConv, SAGEConv or GCNConv with a normalisation they do not stand for. So does a layer reading
the edges of ``adj_t("sum")`` of a graph with self-loops or duplicate edges, which PyG's sparse
path treats differently from its ``edge_index`` path. Other layers that sum over a sparse
adjacency (GCN2Conv, DAGNN's propagation) are not checked.

The check runs inside ``SparseAdj.__torch_function__`` (one place for every layer): a product
with a normalised adjacency looks a few frames up for one of PyG's summing methods (a code-object
identity test, cheap enough for every forward pass); a mean/max/min product or a read of the
adjacency's edges looks for the running PyG layer. Outside a PyG layer nothing is refused: a user
may read ``adj_t("gcn").values()`` or convert it with ``to_edge_index``.
"""

from __future__ import annotations

import functools
import sys

import torch
from torch import Tensor

#: What each normalised kind holds, and which PyG layer fed it equals which layer on edge_index.
NORMALISED = {
    "gcn": (
        "D^-1/2 (A + I) D^-1/2",
        "feed adj_t('gcn') to GCNConv(normalize=False) for GCNConv()'s outputs on edge_index",
    ),
    "mean": (
        "D^-1 A",
        "feed adj_t('mean') to SAGEConv(aggr='sum') (or LinearFirstSAGEConv(aggr='sum')) for "
        "SAGEConv(aggr='mean')'s outputs on edge_index",
    ),
}
#: Reads of a sparse tensor's edges or values: what PyG does to re-normalise an adjacency, add
#: self-loops to it or turn it into an edge list.
EDGE_READS = frozenset(
    getattr(Tensor, name)
    for name in (
        "crow_indices",
        "col_indices",
        "ccol_indices",
        "row_indices",
        "indices",
        "_indices",
        "values",
        "_values",
        "coalesce",
        "to_sparse",
        "to_sparse_coo",
        "to_sparse_csr",
        "to_sparse_csc",
        "to_dense",
    )
)


class AdjacencyKindError(ValueError):
    """An ``adj_t`` kind fed to a layer that would normalise it again or read its edges."""


@functools.cache
def _summing_layers() -> dict:
    """The code of PyG's summing ``message_and_aggregate`` methods -> the normalised kinds the
    layer may sum over: GCN's for ``GCNConv``, the mean for ``SAGEConv``, none for ``GINConv``
    (its aggregation is an unnormalised sum by definition). Other layers are not checked."""
    from torch_geometric.nn import GCNConv, GINConv, SAGEConv

    return {
        GCNConv.message_and_aggregate.__code__: ("gcn",),
        SAGEConv.message_and_aggregate.__code__: ("mean",),
        GINConv.message_and_aggregate.__code__: (),
    }


def _summing_layer(kind: str):
    """``(layer, kinds it may sum over)`` for the layer of :func:`_summing_layers` summing over
    ``adj_t(kind)`` right now, if ``kind`` is not one of them; else ``None``. A cheap identity test
    of a few frames' code, as it runs on every product with a normalised adjacency."""
    table = _summing_layers()
    frame = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return None
        allowed = table.get(frame.f_code)
        if allowed is not None:
            return None if kind in allowed else (frame.f_locals.get("self"), allowed)
        frame = frame.f_back
    return None


def _calling_layer():
    """The PyG ``MessagePassing`` layer whose method is running, or ``None`` (user code).

    Walks up from the caller of the torch function to the first method frame whose ``self`` is a
    ``MessagePassing``, reading only the locals of frames of methods.
    """
    from torch_geometric.nn import MessagePassing

    frame = sys._getframe(2)
    for _ in range(48):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            layer = frame.f_locals.get("self")
            if isinstance(layer, MessagePassing):
                return layer
        frame = frame.f_back
    return None


def refusal(kind: str, layer, action: str, allowed: tuple[str, ...] = ()) -> AdjacencyKindError:
    """The error for ``layer`` about to ``action`` ``adj_t(kind)``; ``allowed``: the normalised
    kinds that layer may sum over."""
    if kind in NORMALISED and action == "sum over":
        uses = "; ".join(NORMALISED[k][1] for k in allowed)
        return AdjacencyKindError(
            f"{layer} sums over adj_t({kind!r}) ({NORMALISED[kind][0]}), which "
            "is neither edge_index's plain sum nor a normalisation this layer stands for: "
            "pass adj_t('sum') (the same outputs as edge_index)"
            + (f", or {uses}." if uses else ".")
        )
    if kind in NORMALISED:
        formula, use = NORMALISED[kind]
        return AdjacencyKindError(
            f"{layer} would {action} adj_t({kind!r}), which is already normalised "
            f"({formula}): it would be normalised twice and give other outputs than "
            "edge_index. Pass adj_t('sum') to PyG layers that normalise or aggregate "
            f"themselves (the same outputs as edge_index), or {use}."
        )
    return AdjacencyKindError(
        f"{layer} would {action} adj_t('sum') of a graph with self-loops or duplicate edges; "
        "PyG's sparse-adjacency path adds self-loops and merges duplicate edges differently "
        "from its edge_index path, so the outputs would differ. Pass edge_index, or remove "
        "self-loops and duplicates first (torch_geometric.utils.remove_self_loops, coalesce)."
    )


def check_use(adj, func, args, kwargs) -> None:
    """Raise :class:`AdjacencyKindError` if a PyG layer is about to use ``adj`` (a ``SparseAdj``
    with a ``kind``) in a way that gives other outputs than ``edge_index``; called by
    ``SparseAdj.__torch_function__`` with the torch function and its arguments."""
    if func is torch.sparse.mm:
        if adj.kind not in NORMALISED:  # a product with adj_t('sum') is edge_index's
            return
        reduce = args[2] if len(args) > 2 else kwargs.get("reduce", "sum")
        if reduce in ("sum", "add"):
            hit = _summing_layer(adj.kind)
            if hit is not None:
                raise refusal(adj.kind, hit[0], "sum over", hit[1])
            return
        action = f"aggregate with {reduce!r} over"
    elif func in EDGE_READS:
        action = "read the edges of"
    else:
        return
    layer = _calling_layer()
    if layer is not None:
        raise refusal(adj.kind, layer, action)
