"""Graph transformers: Laplacian PE with eigenvalues and sign flips, PyG's SGFormer/Polynormer.

GPS itself is PyG's ``GPSConv``, stacked in :class:`graphlib_pyg.nn.models.GPS`.
"""

from graphlib_pyg.nn.transformer.baselines import PolynormerNode, SGFormerNode
from graphlib_pyg.nn.transformer.pe import LapPEEncoder, laplacian_eigenpairs, random_sign_flip

__all__ = [
    "LapPEEncoder",
    "PolynormerNode",
    "SGFormerNode",
    "laplacian_eigenpairs",
    "random_sign_flip",
]
