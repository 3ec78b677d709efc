"""The trainer contract: what every trainer takes, what it returns, and the one fit loop.

A trainer is a class built as ``Trainer(task, model, config, progress=...)`` whose ``run(seed,
run)`` trains a fresh model with ``seed`` on split ``run`` and returns a :class:`RunResult`. The
harness (:mod:`graphlib_pyg.bench`) only ever sees this contract, so a new trainer is one file
plus one entry in :data:`graphlib_pyg.train.registry.TRAINERS`.

- :class:`Curve`: a learning curve the report can always draw: what its x axis counts
  (``unit``: ``"epoch"``, ``"step"`` or ``"layer"``), the x values, the validation (and, where
  measured, test) metric, and optionally the training loss.
- :class:`RunResult`: the selected validation and test metric, the best step and what a step
  is, the median seconds per step, the parameter count and the curve.
- :class:`Selector` and :func:`fit`: model selection (best validation metric, or lowest
  validation loss) with patience-based early stopping, shared by every trainer.

Checkpoints (one optional hook): a trainer whose class sets ``checkpoints = True`` has an
attribute ``checkpoint`` (a path, default ``None``) that may be set before ``run()``. The run
then saves its state there (through :func:`fit`: every ``checkpoint_every`` epochs, and when
SIGINT/SIGTERM arrives, at the end of that epoch, before the signal goes on as it would have),
resumes from it when it holds this run's state, and deletes it when the run finishes
(:mod:`~graphlib_pyg.train.checkpoint`). The harness sets ``<results>.ckpt/<run>.pt``; trainers
without the flag are never given a path. The backprop trainers (node, link, NCN, graph-level)
and the RRN trainer checkpoint; the layer-local ones do not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from graphlib_pyg.train.checkpoint import Checkpoint, Interrupts
from graphlib_pyg.utils import release_free_memory

#: Units a step (and a curve's x axis) may count.
UNITS = ("epoch", "step", "layer", "none")

#: ``progress(step, loss, val)``: called after each evaluation.
Progress = Callable[[int, float, float], None]


@dataclass
class Curve:
    """A learning curve: metric values at the evaluated steps.

    Attributes:
        unit: what ``step`` counts (:data:`UNITS`).
        step: the x values, increasing.
        val: validation metric at each step.
        test: test metric at each step, or empty when the trainer does not measure it.
        train_loss: training loss at each step, or empty.
    """

    unit: str
    step: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"curve unit must be one of {UNITS}, got {self.unit!r}")

    def add(self, step: int, val: float, test: float | None = None, loss: float | None = None):
        self.step.append(int(step))
        self.val.append(float(val))
        if test is not None:
            self.test.append(float(test))
        if loss is not None:
            self.train_loss.append(float(loss))

    def __len__(self) -> int:
        return len(self.step)

    def to_dict(self) -> dict:
        """The curve as stored in a results row (lists of plain numbers)."""
        out = {"unit": self.unit, "step": self.step, "val": self.val}
        if self.test:
            out["test"] = self.test
        if self.train_loss:
            out["train_loss"] = self.train_loss
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Curve:
        """Read a stored curve, including the older layouts (``epoch`` or ``layer`` lists in
        place of ``unit``/``step``). Raises ``ValueError`` naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"a curve is a mapping, got {type(d).__name__}")
        if "unit" in d:
            unit, step = d["unit"], d.get("step")
        else:  # rows written before the contract: {"epoch": [...]} or {"layer": [...]}
            unit = next((u for u in ("epoch", "layer", "step") if u in d), None)
            step = d.get(unit) if unit else None
        if step is None or "val" not in d:
            raise ValueError(f"a curve needs step values and val; got keys {sorted(d)}")
        curve = cls(unit, [int(s) for s in step], [float(v) for v in d["val"]])
        curve.test = [float(v) for v in d.get("test") or []]
        curve.train_loss = [float(v) for v in d.get("train_loss") or []]
        for name in ("val", "test", "train_loss"):
            values = getattr(curve, name)
            if values and len(values) != len(curve.step):
                raise ValueError(f"curve {name} has {len(values)} values for {len(step)} steps")
        return curve


@dataclass
class RunResult:
    """What one training run produced.

    Attributes:
        val, test: the selected model's validation and test metric (OGB protocol: test at the
            best validation step).
        best_step: the selected step, counted in ``step_unit``.
        step_unit: what a step is (:data:`UNITS`): ``"epoch"`` for backprop trainers,
            ``"step"`` (optimiser steps, summed over layers) for layer-local ones, ``"none"``
            where nothing is trained.
        step_time_s: median seconds per step.
        params: number of trained parameters.
        curve: the learning curve, or ``None`` (nothing trained).
        extra: further named results of the run (plain numbers, strings, lists or mappings),
            recorded in the row under ``extra``; e.g. the downstream scores of a pre-trained
            encoder (:mod:`~graphlib_pyg.train.ssl`). Empty for most trainers.
    """

    val: float
    test: float
    best_step: int
    step_unit: str
    step_time_s: float
    params: int
    curve: Curve | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.step_unit not in UNITS:
            raise ValueError(f"step_unit must be one of {UNITS}, got {self.step_unit!r}")

    @property
    def best_epoch(self) -> int | None:
        """The best epoch where a step is an epoch, else ``None``."""
        return self.best_step if self.step_unit == "epoch" else None

    @property
    def epoch_time_s(self) -> float | None:
        """Median seconds per epoch where a step is an epoch, else ``None``."""
        return self.step_time_s if self.step_unit == "epoch" else None

    def row(self) -> dict:
        """The result's fields of a results row (see :mod:`graphlib_pyg.bench.results`)."""
        out = {
            "val": self.val,
            "test": self.test,
            "best_step": self.best_step,
            "step_unit": self.step_unit,
            "step_time_s": self.step_time_s,
            "params": self.params,
        }
        if self.step_unit == "epoch":  # the older keys, kept where they mean what they say
            out.update(best_epoch=self.best_step, epoch_time_s=self.step_time_s)
        if self.curve is not None and len(self.curve):
            out["curve"] = self.curve.to_dict()
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


class Trainer(Protocol):
    """What the harness calls. ``own_defaults``: the trainer brings its own defaults (the
    per-model/per-dataset benchmark defaults of :mod:`graphlib_pyg.bench.defaults` do not
    apply). ``checkpoints`` (optional, ``False`` when absent): ``run`` saves to and resumes
    from the file ``checkpoint`` (``str | os.PathLike | None``, set before ``run``)."""

    own_defaults: ClassVar[bool]
    checkpoints: ClassVar[bool]

    def __init__(
        self, task, model: str, config: dict | None = None, progress: Progress | None = None
    ) -> None: ...

    def run(self, seed: int = 0, run: int | None = None) -> RunResult: ...


class Selector:
    """Model selection with patience: which evaluation is the best so far, and when to stop.

    ``select="metric"`` keeps the evaluation with the strictly best validation metric; when a
    validation loss is given, patience also resets when the loss improves (the GAT paper's
    rule). ``select="loss"`` keeps the one with the lowest validation loss (PyG's citation
    benchmark protocol, used by the APPNP/DAGNN code) and counts patience on the loss alone.

    Args:
        patience: evaluations without improvement before stopping (``None`` or 0: never).
        select: ``"metric"`` or ``"loss"``.
    """

    def __init__(self, patience: int | None = None, select: str = "metric") -> None:
        if select not in ("metric", "loss"):
            raise ValueError(f"select must be 'metric' or 'loss', got {select!r}")
        self.patience, self.select = patience, select
        self.best_val, self.best_loss, self.bad = -math.inf, math.inf, 0

    def update(self, val: float, val_loss: float | None = None) -> bool:
        """Record one evaluation; True when it is the new selected one."""
        if self.select == "loss":
            if val_loss is None:
                raise ValueError("select='loss' needs a validation loss; this task has none")
            best = improved = val_loss < self.best_loss
            if best:
                self.best_loss = val_loss
        else:
            best = improved = val > self.best_val
            if best:
                self.best_val = val
            if val_loss is not None and val_loss < self.best_loss:
                self.best_loss, improved = val_loss, True
        self.bad = 0 if improved else self.bad + 1
        return best

    @property
    def stop(self) -> bool:
        return bool(self.patience) and self.bad >= self.patience

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the selection so far."""
        return {"best_val": self.best_val, "best_loss": self.best_loss, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.best_val, self.best_loss = float(state["best_val"]), float(state["best_loss"])
        self.bad = int(state["bad"])


def fit(
    step: Callable[[], float],
    evaluate: Callable[[], tuple],
    *,
    epochs: int,
    eval_every: int = 1,
    patience: int | None = None,
    select: str = "metric",
    params: int = 0,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> RunResult:
    """The one fit loop: ``epochs`` calls of ``step()``, evaluation every ``eval_every`` epochs
    (and after the last), selection and early stopping by :class:`Selector`.

    Args:
        step: one epoch of training; returns its mean training loss.
        evaluate: ``(val, test)`` or ``(val, test, val_loss)`` of the current model.
        params: the parameter count recorded in the result.
        checkpoint: where this run saves its state (every ``checkpoint.every`` epochs, at the
            end of the epoch in which SIGINT/SIGTERM arrived, before the signal goes on to its
            handler, and at the end with ``checkpoint.keep``) and resumes from; ``None``: no
            checkpoints, signals act at once.

    Returns:
        A :class:`RunResult` in epochs, with the validation/test/loss curve.
    """
    if epochs < 1 or eval_every < 1:
        raise ValueError(f"epochs and eval_every must be >= 1, got {epochs} and {eval_every}")
    selector = Selector(patience, select)
    best, times, curve, start = (-math.inf, -math.inf, 0), [], Curve("epoch"), 1
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:  # resume after the saved epoch (or return: the run was finished)
        selector.load_state_dict(saved["selector"])
        best, times = tuple(saved["best"]), list(saved["times"])
        curve = Curve.from_dict(saved["curve"])
        start = epochs + 1 if saved["done"] else int(saved["epoch"]) + 1
    with Interrupts() if checkpoint is not None else nullcontext() as interrupts:
        for epoch in range(start, epochs + 1):
            t0 = time.perf_counter()
            loss = step()
            times.append(time.perf_counter() - t0)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at epoch {epoch}")
            if not epoch % eval_every or epoch == epochs:
                val, test, *val_loss = evaluate()
                curve.add(epoch, val, test, loss)
                if progress:
                    progress(epoch, loss, val)
                if selector.update(val, val_loss[0] if val_loss else None):
                    best = (val, test, epoch)
            release_free_memory()  # batches of varying size fragment the C heap
            done = selector.stop or epoch == epochs
            if checkpoint is not None and (
                interrupts.pending is not None
                or (checkpoint.keep if done else checkpoint.due(epoch))
            ):
                loop = {"epoch": epoch, "done": done, "selector": selector.state_dict()}
                loop.update(best=list(best), times=times, curve=curve.to_dict())
                checkpoint.save(loop)
                interrupts.deliver()
            if done:
                break
    if checkpoint is not None:
        checkpoint.finish()
    return RunResult(best[0], best[1], best[2], "epoch", median(times), params, curve)


def median(times: list[float]) -> float:
    """The upper median (the middle value of the sorted list; 0 for an empty one)."""
    return sorted(times)[len(times) // 2] if times else 0.0
