"""Trainers by CLI name (``graphlib bench --trainer NAME``): the one table the harness reads.

Every entry follows the contract of :mod:`graphlib_pyg.train.base`: built as
``cls(task, model, config, progress=...)`` (``augment=`` too where it supports augmentation),
``run(seed, run) -> RunResult``, and ``own_defaults`` saying whether the per-model benchmark
defaults apply. A new trainer is a new module plus one line here.
"""

from __future__ import annotations

from graphlib_pyg.nn.link.heuristics import HEURISTICS
from graphlib_pyg.train.auxiliary import AUX_TRAINERS
from graphlib_pyg.train.backprop import BackpropTrainer
from graphlib_pyg.train.composition import CompositionTrainer
from graphlib_pyg.train.distill import DISTILL_TRAINERS
from graphlib_pyg.train.forward import FORWARD_TRAINERS
from graphlib_pyg.train.heuristic import HeuristicTrainer
from graphlib_pyg.train.propagation import LabelPropagationTrainer
from graphlib_pyg.train.relational import RelationalTrainer
from graphlib_pyg.train.ssl import SSL_TRAINERS
from graphlib_pyg.train.topdown import TOPDOWN_TRAINERS

TRAINERS: dict[str, object] = {
    "backprop": BackpropTrainer,
    "heuristic": HeuristicTrainer,
    "propagation": LabelPropagationTrainer,
    "rrn": RelationalTrainer,
    "composition": CompositionTrainer,
    **FORWARD_TRAINERS,
    **TOPDOWN_TRAINERS,
    **AUX_TRAINERS,
    **DISTILL_TRAINERS,
    **SSL_TRAINERS,
}

#: Models that are not trained by backpropagation, and the trainer that runs them when the
#: default trainer is asked for.
MODEL_TRAINERS: dict[str, str] = {
    **{name: "heuristic" for name in HEURISTICS},
    "lp": "propagation",
    "rrn": "rrn",  # the recurrent relational network: its own trainer and task (Sudoku)
    "epignn": "composition",  # the epistemic GNN: its own trainer and task (RCC-8)
    "ggnn": "rrn",  # its non-recurrent baseline (GatedStack), same trainer and task
}


def trainer_for(model: str, trainer: str = "backprop") -> str:
    """The trainer name that runs ``model`` when ``trainer`` is asked for: a parameter-free
    model (link heuristics, label propagation) runs under its own trainer instead of
    ``backprop``."""
    if trainer == "backprop":
        return MODEL_TRAINERS.get(model, trainer)
    return trainer
