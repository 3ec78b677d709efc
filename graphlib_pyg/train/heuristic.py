"""Scoring-only "trainer" for link heuristics (CN, AA, RA): no parameters, no epochs.

It follows the same protocol as trained models: validation and test pairs of the task's split are
scored on the message-passing graph (the test graph when validation edges are model input) and
evaluated with the task's evaluator.
"""

from __future__ import annotations

import time

from graphlib_pyg.data.tasks import LinkTask
from graphlib_pyg.nn.link.heuristics import HEURISTICS, heuristic_scores
from graphlib_pyg.train.base import RunResult
from graphlib_pyg.utils import resolve


class HeuristicTrainer:
    """Evaluate a link heuristic on a :class:`LinkTask` (``config`` must be empty)."""

    own_defaults = True  # no options at all

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return {}

    def __init__(self, task, model: str, config: dict | None = None, progress=None) -> None:
        resolve(model, HEURISTICS, "heuristic")
        if config:
            raise TypeError(f"heuristic {model!r} takes no options, got {sorted(config)}")
        if not isinstance(task, LinkTask):
            raise TypeError(f"heuristic {model!r} scores node pairs; {task.name!r} is a node task")
        self.task, self.kind = task, model

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        task = self.task
        split = task.split(seed if run is None else run)
        t0 = time.perf_counter()
        index = task.index(split.graph)
        val = task.evaluate(
            heuristic_scores(index, split.val_pos, self.kind),
            heuristic_scores(index, split.val_neg, self.kind),
            split.neg_per_pos,
        )
        test_index = task.index(split.test_graph)
        test = task.evaluate(
            heuristic_scores(test_index, split.test_pos, self.kind),
            heuristic_scores(test_index, split.test_neg, self.kind),
            split.neg_per_pos,
        )
        # nothing is trained: no step, no curve; the time is the whole scoring
        return RunResult(val, test, 0, "none", time.perf_counter() - t0, 0)
