"""Link prediction: NCN / NCNC predictors, common-neighbour ops, CN / AA / RA heuristics."""

from graphlib_pyg.nn.link.heuristics import HEURISTICS, common_neighbors, heuristic_scores
from graphlib_pyg.nn.link.ncn import NCNCPredictor, NCNPredictor, PropagationEncoder
from graphlib_pyg.nn.link.neighbors import NeighborSets, pool, sample_per_pair

__all__ = [
    "HEURISTICS",
    "NCNCPredictor",
    "NCNPredictor",
    "NeighborSets",
    "PropagationEncoder",
    "common_neighbors",
    "heuristic_scores",
    "pool",
    "sample_per_pair",
]
