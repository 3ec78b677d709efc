"""Message-passing layers that PyG lacks."""

from graphlib_pyg.nn.conv.dagnn_conv import DAGNN, DAGNNConv

__all__ = ["DAGNN", "DAGNNConv"]
