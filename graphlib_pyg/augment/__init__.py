"""Local augmentation (LA-GNN): neighbour-feature generator, pre-training, plug-ins, loss.

``from graphlib_pyg.augment import pretrain_generator, LocalAugmentation, consistency_loss``.
"""

from graphlib_pyg.augment.consistency import consistency_loss, sharpen
from graphlib_pyg.augment.generator import NeighborGenerator
from graphlib_pyg.augment.local import BranchedInput, LocalAugmentation, branch_first_layer
from graphlib_pyg.augment.pretrain import PretrainResult, pretrain_generator, sample_pairs

__all__ = [
    "BranchedInput",
    "LocalAugmentation",
    "NeighborGenerator",
    "PretrainResult",
    "branch_first_layer",
    "consistency_loss",
    "pretrain_generator",
    "sample_pairs",
    "sharpen",
]
