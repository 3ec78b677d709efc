"""Self-supervised pre-training pieces: the ParetoGNN encoder, pretext tasks, gradient combiners."""

from graphlib_pyg.nn.ssl.combine import (
    COMBINERS,
    MGDACombiner,
    SumCombiner,
    min_norm_weights,
    two_task_min_norm,
)
from graphlib_pyg.nn.ssl.encoder import SSLEncoder
from graphlib_pyg.nn.ssl.pretext import (
    PRETEXTS,
    CCASSGPretext,
    DGIPretext,
    GRACEPretext,
    LinkPretext,
    MaskedFeaturePretext,
    Pretext,
)

__all__ = [
    "COMBINERS",
    "PRETEXTS",
    "CCASSGPretext",
    "DGIPretext",
    "GRACEPretext",
    "LinkPretext",
    "MGDACombiner",
    "MaskedFeaturePretext",
    "Pretext",
    "SSLEncoder",
    "SumCombiner",
    "min_norm_weights",
    "two_task_min_norm",
]
