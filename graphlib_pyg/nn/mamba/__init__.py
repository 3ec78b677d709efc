"""Selective scan, Mamba blocks and graph Mamba layers (pure torch; mamba-ssm on CUDA)."""

from graphlib_pyg.nn.mamba.block import BiMamba, Mamba
from graphlib_pyg.nn.mamba.gmn import GMN, WalkTokenizer
from graphlib_pyg.nn.mamba.graph_mamba import GraphMamba, GraphMambaLayer, degree_order
from graphlib_pyg.nn.mamba.scan import flip_within, selective_scan

__all__ = [
    "BiMamba",
    "GMN",
    "GraphMamba",
    "GraphMambaLayer",
    "Mamba",
    "degree_order",
    "flip_within",
    "selective_scan",
    "WalkTokenizer",
]
