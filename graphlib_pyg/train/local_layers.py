"""The layers of layer-local training: graphs with cached adjacencies, streams, local convs.

A :class:`LocalConv` is split into ``prepare`` (what depends only on its input: for GCN ``Â x``,
for SAGE the mean aggregation) and ``forward`` (the trainable part), so the greedy schedule can
propagate a frozen input once per layer. Any other convolution comes from the conv resolver
(:mod:`graphlib_pyg.nn.conv.resolver`: ``gat``, ``gin``, ... or an injected factory) and runs
uncached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.nn.conv.resolver import CONVS, ConvChoice, conv_factory

#: Layer kinds with the cached path for frozen inputs (GCN and SAGE: a propagation, then linear).
CACHED = ("gcn", "sage")
#: The layer kinds the trainers offer as models (any resolver name or factory also works).
LOCAL_CONVS = ("gcn", "sage", "gat")
#: ``make_conv(in_channels, out_channels)``: an injected PyG convolution for local layers.
ConvFactory = ConvChoice


def _check_kind(kind) -> None:
    if not callable(kind) and kind not in CONVS:
        raise ValueError(
            f"no local layer for {kind!r}; valid: {', '.join(CONVS)} or a factory "
            "make_conv(in_channels, out_channels)"
        )


def l2_rows(x: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return x / (x.norm(dim=1, keepdim=True) + 1e-8)


class LocalGraph:
    """A graph that layers propagate over, with its normalised adjacencies built once.

    Args:
        edge_index: (2, E) edges, source to target.
        num_nodes: number of nodes (virtual nodes included).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int) -> None:
        self.edge_index, self.num_nodes = edge_index, int(num_nodes)
        self.index = GraphIndex(edge_index, num_nodes)

    def adj(self, kind: str) -> Tensor:
        return self.index.adj_t(kind)


@dataclass
class Stream:
    """One input a layer processes: a graph and the node features entering the first layer."""

    graph: LocalGraph
    x: Tensor


class LocalConv(nn.Module):
    """One locally trained GNN layer, ``act(conv(x))``, split into ``prepare`` and ``forward``.

    ``prepare(x, graph)`` returns what the trainable part needs. For GCN that is ``Â x`` and for
    SAGE ``(mean_j x_j, x)``, so a frozen input is propagated once and ``forward`` is only the
    linear maps; ``relu(lin(Â x))`` is PyG's ``GCNConv`` and ``lin_l(mean) + lin_r(x)`` its
    ``SAGEConv``, computed in a different order. GAT attention depends on the weights, so its
    ``prepare`` is ``(x, edge_index)`` and ``forward`` runs PyG's ``GATConv`` (heads concatenated,
    self-loops added; computed by :class:`~graphlib_pyg.nn.conv.gat.CSRGATConv`) every step.
    Every kind ends in a ReLU, as ForwardGNN's layers do.

    Any other layer is injected as a factory ``make_conv(in_channels, out_channels)`` returning a
    PyG convolution called as ``conv(x, edge_index)`` (e.g. ``lambda i, o: GINConv(Linear(i, o))``);
    it runs uncached, like GAT.

    Args:
        kind: ``"gcn"``, ``"sage"``, ``"gat"`` or a ``make_conv`` factory.
        in_channels, out_channels: widths (GAT: ``out_channels`` split over ``heads``).
        heads: GAT attention heads.
    """

    def __init__(
        self, kind: str | ConvFactory, in_channels: int, out_channels: int, heads: int = 1
    ) -> None:
        super().__init__()
        _check_kind(kind)
        self.out_channels = out_channels
        if kind not in CACHED:  # a resolver convolution or an injected one, run every step
            self.kind, self.cacheable = "custom", False
            self.conv = conv_factory(kind, heads=heads)(in_channels, out_channels)
            return
        self.kind, self.cacheable = kind, True
        self.lin = nn.Linear(in_channels, out_channels)
        sage = kind == "sage"
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False) if sage else None

    def prepare(self, x: Tensor, graph: LocalGraph) -> tuple:
        if self.kind == "gcn":
            return (graph.adj("gcn") @ x,)
        if self.kind == "sage":
            return graph.adj("mean") @ x, x
        return x, graph.edge_index

    def forward(self, *prepared) -> Tensor:
        if self.kind == "custom":
            return self.conv(*prepared).relu()
        out = self.lin(prepared[0])
        if self.lin_r is not None:
            out = out + self.lin_r(prepared[1])
        return out.relu()


def _dropout(prepared: tuple, p: float, training: bool) -> tuple:
    if p <= 0 or not training:
        return prepared
    return tuple(F.dropout(t, p, True) if t.is_floating_point() else t for t in prepared)
