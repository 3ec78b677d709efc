"""Layers and predictors: ``from graphlib_pyg.nn import DAGNN, NCNPredictor``."""

from graphlib_pyg.nn.conv import DAGNN, CSRGATConv, DAGNNConv, LinearFirstSAGEConv
from graphlib_pyg.nn.link import NCNCPredictor, NCNPredictor, NeighborSets, PropagationEncoder
from graphlib_pyg.nn.mamba import GMN, BiMamba, GraphMamba, GraphMambaLayer, Mamba, selective_scan

__all__ = [
    "BiMamba",
    "CSRGATConv",
    "DAGNN",
    "DAGNNConv",
    "GMN",
    "GraphMamba",
    "GraphMambaLayer",
    "LinearFirstSAGEConv",
    "Mamba",
    "NCNCPredictor",
    "NCNPredictor",
    "NeighborSets",
    "PropagationEncoder",
    "selective_scan",
]
