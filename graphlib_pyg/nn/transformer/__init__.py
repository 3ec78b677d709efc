"""Graph transformers: LargeGT, Laplacian PE with eigenvalues and sign flips, SGFormer/Polynormer.

GPS itself is PyG's ``GPSConv``, stacked in :class:`graphlib_pyg.nn.models.GPS`.
"""

from graphlib_pyg.nn.transformer.baselines import PolynormerNode, SGFormerNode
from graphlib_pyg.nn.transformer.largegt import (
    LargeGT,
    VQCodebook,
    hop_features,
    hop_rows,
    sample_neighborhood,
)
from graphlib_pyg.nn.transformer.pe import LapPEEncoder, laplacian_eigenpairs, random_sign_flip

__all__ = [
    "LapPEEncoder",
    "LargeGT",
    "VQCodebook",
    "hop_features",
    "hop_rows",
    "sample_neighborhood",
    "PolynormerNode",
    "SGFormerNode",
    "laplacian_eigenpairs",
    "random_sign_flip",
]
