"""The recurrent relational trainer (``graphlib bench --model rrn|ggnn --dataset sudoku``).

A :class:`~graphlib_pyg.nn.rrn.RRN` (``rrn``) or its non-recurrent baseline of the same width,
:class:`~graphlib_pyg.nn.gated_stack.GatedStack` (``ggnn``: one gated layer per step, weights not
shared, so it runs at most ``steps`` steps and is evaluated there), is trained on the puzzles of a
:class:`~graphlib_pyg.data.sudoku.SudokuTask` with cross-entropy at every one of ``steps``
recurrent steps (Palm et al. 2018: 32), averaged over steps and cells: every cell, givens
included, as the reference code does (``loss_cells=all``), or only the blanks
(``loss_cells=blank``). It is evaluated after ``eval_steps``
steps (the paper's 64: more than in training), once per epoch; the epoch with the best
validation solved fraction is selected (the one fit loop of :mod:`graphlib_pyg.train.base`),
which saves a mid-run checkpoint every ``checkpoint_every`` epochs when the harness gives the
run a path (model, optimiser, shuffling generator, every evaluation so far), so a long run
spreads over sessions.
``val``/``test`` of the result are solved fractions at ``eval_steps``; ``extra`` holds, for
the selected epoch, the solved fraction after every step (``val_solved_by_step``,
``test_solved_by_step``) and the accuracy at ``eval_steps`` over all cells (givens are
copied from the puzzle) and over the blank cells.
"""

from __future__ import annotations

import os
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from graphlib_pyg.nn.gated_stack import GatedStack
from graphlib_pyg.nn.rrn import RRN
from graphlib_pyg.train.base import Progress, RunResult, fit
from graphlib_pyg.train.checkpoint import (
    Checkpoint,
    EpochCounter,
    GeneratorState,
    Record,
    run_identity,
)
from graphlib_pyg.train.common import CHECKPOINT_KEYS
from graphlib_pyg.train.precision import autocast, check_precision
from graphlib_pyg.utils import count_parameters, seed_everything

#: Options of the RRN trainer, with the paper's defaults (Palm et al. 2018, Sudoku: batch 64,
#: Adam lr 2e-4, weight decay 1e-4, width 96, 32 training steps, evaluation at 64).
RRN_DEFAULTS: dict = {
    "epochs": 50,
    "batch_size": 64,
    "lr": 2e-4,
    "weight_decay": 1e-4,
    "hidden": 96,
    "embed": 16,
    "mlp_layers": 4,
    "steps": 32,
    "eval_steps": 64,
    "eval_every": 1,
    "patience": 0,
    "loss_cells": "all",  # the reference code's: every cell, givens included
    "precision": "fp32",
    "checkpoint_every": 1,  # epochs between mid-run checkpoints (with a path); 0: none
    "keep_checkpoints": False,
}

#: Sudoku cells: the given digit (0 = blank), the row and the column.
_VOCAB = [10, 9, 9]

#: Models of this trainer: ``build(config, classes)``, and their defaults over RRN_DEFAULTS.
MODELS: dict = {
    "rrn": lambda c, n: RRN(_VOCAB, n, c["hidden"], c["embed"], c["mlp_layers"]),
    "ggnn": lambda c, n: GatedStack(
        _VOCAB, n, c["steps"], c["hidden"], c["embed"], c["mlp_layers"]
    ),
}
MODEL_DEFAULTS: dict = {"rrn": {}, "ggnn": {"eval_steps": None}}  # None: at its depth, ``steps``


class RelationalTrainer:
    """Train an RRN on a Sudoku task; select on the validation solved fraction."""

    own_defaults: ClassVar[bool] = True  # RRN_DEFAULTS, not the node models' defaults
    checkpoints: ClassVar[bool] = True  # run() saves to/resumes from self.checkpoint
    #: The file this trainer's runs save to and resume from (``None``: no checkpoints).
    checkpoint: str | os.PathLike | None = None

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        return {**RRN_DEFAULTS, **MODEL_DEFAULTS.get(model, {})}

    def __init__(
        self, task, model: str = "rrn", config: dict | None = None, progress: Progress | None = None
    ) -> None:
        if getattr(task, "kind", None) != "sudoku":
            raise TypeError(f"the rrn trainer needs a Sudoku task, not {task!r}")
        if model not in MODELS:
            raise TypeError(f"the rrn trainer trains models {sorted(MODELS)}, not {model!r}")
        unknown = set(config or {}) - set(RRN_DEFAULTS)
        if unknown:
            valid = ", ".join(sorted(RRN_DEFAULTS))
            raise TypeError(f"unknown option(s) {sorted(unknown)} for {model}; valid: {valid}")
        self.task, self.model = task, model
        self.cfg = {**self.option_defaults(model), **(config or {})}
        if self.cfg["eval_steps"] is None:
            self.cfg["eval_steps"] = self.cfg["steps"]
        if self.cfg["loss_cells"] not in ("blank", "all"):
            raise ValueError(f"loss_cells must be 'blank' or 'all', got {self.cfg['loss_cells']!r}")
        check_precision(self.cfg["precision"])
        every = self.cfg["checkpoint_every"]
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ValueError(f"checkpoint_every must be an integer >= 0, got {every!r}")
        self.progress = progress
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        seed_everything(seed)
        task, c, device = self.task, self.cfg, self.device
        split = task.split(seed if run is None else run)
        model = MODELS[self.model](c, task.num_classes).to(device)
        if model.max_steps is not None and c["eval_steps"] > model.max_steps:
            raise ValueError(
                f"eval_steps={c['eval_steps']} exceeds the {model.max_steps} steps that "
                f"{self.model} (not recurrent) can run: set eval_steps <= steps"
            )
        opt = torch.optim.Adam(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        bs, epoch, evaluations = c["batch_size"], EpochCounter(), Record()
        parts = {"model": model, "optimizer": opt, "shuffle": GeneratorState(gen)}
        parts.update(epoch=epoch, evaluations=evaluations)

        def step() -> float:
            model.train()
            epoch.next()
            total, count = 0.0, 0
            order = split.train[torch.randperm(len(split.train), generator=gen)]
            for idx in order.split(bs):
                x, edge_index, y = (t.to(device) for t in task.batch(idx))
                with autocast(c["precision"], device):
                    logits = model(x, edge_index, c["steps"])  # (T, B * 81, 9)
                    if c["loss_cells"] == "blank":
                        logits, y = logits[:, x[:, 0] == 0], y[x[:, 0] == 0]  # (T, blanks, 9)
                    loss = F.cross_entropy(logits.reshape(-1, 9), y.repeat(logits.size(0)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            return total / count

        @torch.no_grad()
        def measure(idx: Tensor) -> dict:
            """On puzzles ``idx``: the solved fraction after each step; at the last step the
            accuracy over all cells and over the blanks, and the loss on the blanks."""
            model.eval()
            solved, cells, blanks, right_blanks, loss = torch.zeros(c["eval_steps"]), 0, 0, 0, 0.0
            for part in idx.split(4 * bs):
                x, edge_index, y = (t.to(device) for t in task.batch(part))
                with autocast(c["precision"], device):
                    logits = model(x, edge_index, c["eval_steps"]).float()  # (T, B * 81, 9)
                blank = x[:, 0] == 0  # givens are read from the puzzle, not predicted
                pred = torch.where(blank, logits.argmax(-1), x[:, 0] - 1)  # (T, B * 81)
                right = (pred == y).view(logits.size(0), -1, 81)  # (T, B, 81)
                solved += right.all(-1).float().sum(1).cpu()
                cells += int(right[-1].sum())
                blanks += int(blank.sum())
                right_blanks += int((pred[-1] == y)[blank].sum())
                loss += float(F.cross_entropy(logits[-1][blank], y[blank], reduction="sum"))
            return {
                "solved": (solved / len(idx)).tolist(),
                "cells": cells / (81 * len(idx)),
                "blanks": right_blanks / max(blanks, 1),
                "loss": loss / max(blanks, 1),
            }

        def evaluate() -> tuple[float, float, float]:
            val, test = measure(split.val), measure(split.test)
            evaluations[epoch.epoch] = {
                "val_solved_by_step": val["solved"],
                "test_solved_by_step": test["solved"],
                "val_cell_accuracy": val["cells"],
                "test_cell_accuracy": test["cells"],
                "val_blank_accuracy": val["blanks"],
                "test_blank_accuracy": test["blanks"],
            }
            return val["solved"][-1], test["solved"][-1], val["loss"]

        result = fit(
            step,
            evaluate,
            epochs=c["epochs"],
            eval_every=c["eval_every"],
            patience=c["patience"] or None,
            params=count_parameters(model),
            progress=self.progress,
            checkpoint=self._checkpoint(seed, run, parts),
        )
        result.extra = {
            "train_steps": c["steps"],
            "eval_steps": c["eval_steps"],
            **evaluations[result.best_step],
        }
        return result

    def _checkpoint(self, seed: int, run: int | None, parts: dict) -> Checkpoint | None:
        """The run's checkpoint at ``self.checkpoint`` (``None``: no path or
        ``checkpoint_every=0``), identified by the model, task, options, seed and split."""
        c = self.cfg
        if self.checkpoint is None or not c["checkpoint_every"]:
            return None
        options = {k: v for k, v in c.items() if k not in CHECKPOINT_KEYS}
        task = (self.task.name, self.task.split_name, len(self.task.puzzles))
        ident = {"trainer": type(self).__name__, "model": self.model, "task": task}
        ident.update(options=options, seed=seed, run=run)
        every, keep = c["checkpoint_every"], bool(c["keep_checkpoints"])
        return Checkpoint(self.checkpoint, every, run_identity(ident), parts, keep)
