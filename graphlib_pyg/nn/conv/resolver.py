"""The one name -> convolution table: models, LA, layer-local trainers and the hybrids use it.

A name from the CLI (``gcn``, ``sage``, ``gat``, ``gatv2``, ``gin``, ``none``) becomes a PyG
convolution here and nowhere else. Where a name is accepted, a factory
``make_conv(in_channels, out_channels) -> nn.Module`` may be passed instead (injection, as PyG's
``GPSConv(conv=...)``), so any PyG layer plugs in without a new table entry.

What a convolution computes depends on the graph input it is fed, so the table takes it:

- ``graph="edge_index"``: PyG's layers as they are (they normalise and aggregate themselves);
- ``graph="gcn"`` / ``"mean"`` / ``"sum"``: a cached, already normalised sparse adjacency
  (:meth:`graphlib_pyg.data.graph.GraphIndex.adj_t`); the layer then must not normalise again
  (``GCNConv(normalize=False)``; SAGE sums over the row-normalised ``mean`` adjacency).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

#: ``make_conv(in_channels, out_channels)``: an injected convolution.
ConvFactory = Callable[[int, int], nn.Module]
#: A conv given by name (:data:`CONVS`) or as a factory.
ConvChoice = str | ConvFactory | None

#: Graph inputs a convolution can be built for (see the module docstring).
GRAPH_INPUTS = ("edge_index", "gcn", "mean", "sum")


def _gcn(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    from torch_geometric.nn import GCNConv

    return GCNConv(i, o, normalize=graph == "edge_index")


def _sage(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    if graph == "edge_index":
        from torch_geometric.nn import SAGEConv

        return SAGEConv(i, o)
    # mean aggregation = sum over the row-normalised adjacency D^-1 A; same parameters and
    # outputs as SAGEConv, aggregating o instead of i columns per edge when i > o
    from graphlib_pyg.nn.conv.sage import LinearFirstSAGEConv

    return LinearFirstSAGEConv(i, o, aggr="sum")


def _heads(o: int, heads: int, name: str) -> int:
    if o % heads:
        raise ValueError(f"{name}: width {o} is not divisible by heads={heads}")
    return o // heads


def _gat(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    from graphlib_pyg.nn.conv.gat import CSRGATConv  # PyG's GATConv, one sparse product

    return CSRGATConv(i, _heads(o, heads, "gat"), heads=heads, dropout=dropout)


def _gatv2(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    from torch_geometric.nn import GATv2Conv

    return GATv2Conv(i, _heads(o, heads, "gatv2"), heads=heads, dropout=dropout)


def _gin(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    from torch_geometric.nn import GINConv

    return GINConv(nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o)))


def _square(name: str, i: int, o: int) -> None:
    if i != o:
        raise ValueError(f"convolution {name!r} keeps its width: in_channels {i} != {o}")


def _gine(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    # LRGB's GINE layer without its activation, residual and dropout (a hybrid adds its own)
    from graphlib_pyg.nn.edge_models import GINELayer, NodeOutput

    _square("gine", i, o)
    return NodeOutput(GINELayer(o, 0.0, residual=False, act="relu"))


def _gatedgcn(i: int, o: int, graph: str, heads: int, dropout: float) -> nn.Module:
    from graphlib_pyg.nn.conv.gatedgcn import GatedGCNConv
    from graphlib_pyg.nn.edge_models import NodeOutput

    _square("gatedgcn", i, o)
    return NodeOutput(GatedGCNConv(o, residual=False))


#: Convolutions that read edge features: called as ``conv(x, edge_index, edge_attr=e)``
#: (edges start from zeros without ``edge_attr``); a model using one reads ``edge_attr``.
EDGE_CONVS = ("gine", "gatedgcn")

#: name -> (builder, graph inputs it reads).
CONVS: dict[str, tuple[Callable[..., nn.Module], tuple[str, ...]]] = {
    "gcn": (_gcn, ("edge_index", "gcn")),
    "sage": (_sage, ("edge_index", "mean")),
    "gat": (_gat, ("edge_index",)),
    "gatv2": (_gatv2, ("edge_index",)),
    "gin": (_gin, ("edge_index", "sum")),
    "gine": (_gine, ("edge_index",)),
    "gatedgcn": (_gatedgcn, ("edge_index",)),
}


def conv_factory(
    name: ConvChoice, *, graph: str = "edge_index", heads: int = 1, dropout: float = 0.0
) -> ConvFactory | None:
    """``make_conv(in_channels, out_channels)`` for ``name`` fed ``graph``; a factory passed as
    ``name`` is returned as it is, ``None``/``"none"`` gives ``None`` (no convolution).

    Args:
        name: a :data:`CONVS` name, ``"none"``, ``None`` or a factory.
        graph: the graph input the layer is called with (:data:`GRAPH_INPUTS`).
        heads: attention heads (``gat``/``gatv2``; ``out_channels`` is split over them).
        dropout: attention dropout (``gat``/``gatv2``).
    """
    from graphlib_pyg.utils import resolve

    if name is None or name == "none":
        return None
    if callable(name):
        return name
    build, inputs = resolve(name, CONVS, "convolution")
    if graph not in inputs:
        raise ValueError(
            f"convolution {name!r} cannot read a {graph!r} graph input; it reads "
            f"{', '.join(inputs)}"
        )
    return lambda i, o: build(int(i), int(o), graph, int(heads), float(dropout))


def make_conv(name: ConvChoice, channels: int, **kwargs) -> nn.Module | None:
    """A ``channels -> channels`` convolution (the hybrids' local branch); see
    :func:`conv_factory`."""
    factory = conv_factory(name, **kwargs)
    return None if factory is None else factory(channels, channels)
