"""Layers and predictors: ``from graphlib_pyg.nn import DAGNN, NCNPredictor``."""

from graphlib_pyg.nn.conv import DAGNN, DAGNNConv
from graphlib_pyg.nn.link import NCNCPredictor, NCNPredictor, NeighborSets, PropagationEncoder

__all__ = [
    "DAGNN",
    "DAGNNConv",
    "NCNCPredictor",
    "NCNPredictor",
    "NeighborSets",
    "PropagationEncoder",
]
