"""Message-passing layers that PyG lacks."""

from graphlib_pyg.nn.conv.dagnn_conv import DAGNN, DAGNNConv
from graphlib_pyg.nn.conv.gat import CSRGAT, CSRGATConv
from graphlib_pyg.nn.conv.sage import LinearFirstGraphSAGE, LinearFirstSAGEConv

__all__ = [
    "CSRGAT",
    "CSRGATConv",
    "DAGNN",
    "DAGNNConv",
    "LinearFirstGraphSAGE",
    "LinearFirstSAGEConv",
]
