"""The backprop trainer: picks the trainer of the task's type, and of the model's kind.

``graphlib bench --trainer backprop`` (the default) trains a registry model end to end. Which
training loop that is follows from the task (its ``kind``: node, link or graph) and, on link
tasks, from the model's registry entry (a structural pair predictor such as NCN, or a node
encoder with OGB's pair predictor). Each loop is its own trainer on the shared contract
(:mod:`graphlib_pyg.train.base`):

========  ==========================================  ===================================
task      model                                       trainer
========  ==========================================  ===================================
node      any node model (``--augment la`` allowed)   :class:`~.node.NodeTrainer`
link      a node encoder                              :class:`~.link.LinkTrainer`
link      a structural link predictor (``ncn``)       :class:`~.ncn.NCNTrainer`
graph     any node model, pooled                      :class:`~.graph.GraphTrainer`
========  ==========================================  ===================================
"""

from __future__ import annotations

import os
from typing import ClassVar

from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.base import Progress, RunResult
from graphlib_pyg.train.common import ModelTrainer, resolve_device
from graphlib_pyg.train.graph import GraphTrainer
from graphlib_pyg.train.link import LinkTrainer
from graphlib_pyg.train.ncn import NCNTrainer
from graphlib_pyg.train.node import NodeTrainer
from graphlib_pyg.train.options import TRAIN_DEFAULTS
from graphlib_pyg.utils import resolve

#: The trainer of each task kind for node models.
BY_TASK: dict[str, type[ModelTrainer]] = {
    "node": NodeTrainer,
    "link": LinkTrainer,
    "graph": GraphTrainer,
}
#: The trainer of each task kind for structural link predictors (``ModelSpec.link``).
BY_TASK_LINK_MODEL: dict[str, type[ModelTrainer]] = {"link": NCNTrainer}


class BackpropTrainer:
    """Backpropagation, end to end: the node, link, NCN or graph-level trainer of the task.

    Picks the trainer of the task's type (see the module docstring); the arguments are those of
    :class:`~graphlib_pyg.train.common.ModelTrainer`.

    Attributes:
        trainer: the task type's trainer that :meth:`run` calls.
    """

    own_defaults: ClassVar[bool] = False  # the benchmark defaults of bench/defaults.py apply
    checkpoints: ClassVar[bool] = True  # run() saves to/resumes from self.checkpoint
    checkpoint: str | os.PathLike | None = None  # (see train/base.py)

    def __init__(
        self,
        task,
        model: str,
        config: dict | None = None,
        progress: Progress | None = None,
        augment: str = "none",
    ) -> None:
        spec = resolve(model, MODELS, "model")
        table = BY_TASK_LINK_MODEL if spec.link else BY_TASK
        kind = task.kind
        if kind not in table:
            if spec.link:
                raise TypeError(
                    f"model {model!r} is a link predictor (it scores node pairs); use it on a "
                    "link task (e.g. --dataset cora task=link, or ogbl-ddi)"
                )
            raise TypeError(f"no backprop trainer for {kind!r} tasks; valid: {', '.join(table)}")
        if augment != "none" and kind != "node":
            raise ValueError(
                f"--augment {augment} works on node tasks; {task.name!r} is a {kind} task"
            )
        self.trainer = table[kind](task, model, config, progress, augment)

    option_defaults = ModelTrainer.option_defaults

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        """Train with ``seed`` on split ``run`` (default: ``seed``), saving to and resuming
        from ``self.checkpoint``."""
        self.trainer.checkpoint = self.checkpoint
        return self.trainer.run(seed, run)


__all__ = ["BackpropTrainer", "TRAIN_DEFAULTS", "BY_TASK", "BY_TASK_LINK_MODEL", "resolve_device"]
