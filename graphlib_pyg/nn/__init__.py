"""Layers and predictors: ``from graphlib_pyg.nn import DAGNN, NCNPredictor``."""

from graphlib_pyg.nn.conv import DAGNN, CSRGATConv, DAGNNConv, LinearFirstSAGEConv
from graphlib_pyg.nn.epignn import EpiGNN
from graphlib_pyg.nn.gated_stack import GatedStack
from graphlib_pyg.nn.link import NCNCPredictor, NCNPredictor, NeighborSets, PropagationEncoder
from graphlib_pyg.nn.mamba import GMN, BiMamba, GraphMamba, GraphMambaLayer, Mamba, selective_scan
from graphlib_pyg.nn.rrn import RRN
from graphlib_pyg.nn.vq import VectorQuantizer

__all__ = [
    "BiMamba",
    "CSRGATConv",
    "DAGNN",
    "DAGNNConv",
    "EpiGNN",
    "GMN",
    "GatedStack",
    "GraphMamba",
    "GraphMambaLayer",
    "LinearFirstSAGEConv",
    "Mamba",
    "NCNCPredictor",
    "NCNPredictor",
    "NeighborSets",
    "PropagationEncoder",
    "RRN",
    "VectorQuantizer",
    "selective_scan",
]
