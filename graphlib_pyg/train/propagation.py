"""Label propagation: a parameter-free node baseline (``graphlib bench --model lp``).

The training labels are spread over the graph (Zhu & Ghahramani 2002; the "correct" half of
C&S, Huang et al. 2021): starting from the one-hot labels of the training nodes,
:math:`Y^{(t+1)} = \\alpha \\hat{A} Y^{(t)} + (1 - \\alpha) Y^{(0)}` with the symmetric normalised
adjacency :math:`\\hat{A} = D^{-1/2} A D^{-1/2}` (PyG's ``LabelPropagation``), for ``num_layers``
steps. Nothing is trained, so one "step" is one propagation step: the curve shows the metric
after each step and the selected step is the one with the best validation metric.
"""

from __future__ import annotations

import time
from typing import ClassVar

import torch
from torch_geometric.nn import LabelPropagation

from graphlib_pyg.train.base import Curve, Progress, RunResult, median

#: Options of label propagation, with the defaults of PyG's example (50 steps, alpha 0.9).
LP_DEFAULTS: dict = {"num_layers": 50, "alpha": 0.9}


class LabelPropagationTrainer:
    """Propagate the training labels of a single-label node task; report val/test per step."""

    own_defaults: ClassVar[bool] = True  # LP_DEFAULTS, not the trained models' defaults

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return dict(LP_DEFAULTS)

    def __init__(self, task, model: str, config: dict | None = None, progress=None) -> None:
        if task.kind != "node" or task.multilabel:
            raise TypeError(f"label propagation needs a single-label node task, not {task.name!r}")
        unknown = set(config or {}) - set(LP_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)} for lp; valid: alpha, num_layers")
        self.task, self.cfg = task, {**LP_DEFAULTS, **(config or {})}
        self.progress: Progress | None = progress

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        task, c = self.task, self.cfg
        split = task.split(seed if run is None else run)
        curve, times, best = Curve("step"), [], (float("-inf"), 0.0, 0)
        clock = [time.perf_counter()]

        def after_step(out: torch.Tensor) -> torch.Tensor:  # PyG's default clamp, then measure
            nonlocal best
            out = out.clamp_(0.0, 1.0)
            times.append(time.perf_counter() - clock[0])
            t = len(times)
            val, test = task.evaluate(out, split.val), task.evaluate(out, split.test)
            curve.add(t, val, test)
            if self.progress:
                self.progress(t, 0.0, val)
            if val > best[0]:
                best = (val, test, t)
            clock[0] = time.perf_counter()
            return out

        lp = LabelPropagation(num_layers=c["num_layers"], alpha=c["alpha"])
        lp(task.data.y, task.data.edge_index, mask=split.train, post_step=after_step)
        return RunResult(best[0], best[1], best[2], "step", median(times), 0, curve)
