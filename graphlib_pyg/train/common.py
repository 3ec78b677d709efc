"""What the backprop trainers share: their options, the model they build, its graph input.

:class:`ModelTrainer` is the base of the node, link and graph-level trainers
(:mod:`~graphlib_pyg.train.node`, :mod:`~graphlib_pyg.train.link`, :mod:`~graphlib_pyg.train.ncn`,
:mod:`~graphlib_pyg.train.graph`): it splits a run's config into training options
(:data:`TRAIN_DEFAULTS`), the model's own options (its registry entry) and, with
``augment="la"``, local-augmentation options, once; builds the named model; and gives the
execution :class:`~graphlib_pyg.distributed.Runtime`. Subclasses implement ``run``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from graphlib_pyg.data.tasks import Task
from graphlib_pyg.distributed import Runtime
from graphlib_pyg.nn.registry import MODELS, build_model, graph_input
from graphlib_pyg.train.base import RunResult, fit
from graphlib_pyg.train.checkpoint import Checkpoint, Stateful, run_identity
from graphlib_pyg.train.options import RunOptions, TrainOptions
from graphlib_pyg.train.precision import autocast
from graphlib_pyg.utils import resolve

#: Options that say how a run is saved, not what it computes: they are not part of its identity
#: (the checkpoint's config id here, the results store's run key in the harness).
CHECKPOINT_KEYS = ("checkpoint_every", "keep_checkpoints")


def resolve_device(name: str) -> torch.device:
    """The ``device`` option as a ``torch.device``; ``auto`` is CUDA when torch sees a GPU.

    A CUDA device on a machine without one is an error that says so, not a silent CPU run.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device must be cpu, cuda, cuda:K or auto; got {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r}, but torch sees no CUDA device on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda, cuda:K or auto; got {name!r}")
    return device


def _to(g, device: torch.device):
    """Move a graph input (sparse adjacency, edge_index or None) to ``device``."""
    return g if g is None else g.to(device)


#: Optimisers by the ``optimizer`` option: ``make(params, lr=, weight_decay=)``.
OPTIMIZERS: dict[str, Callable] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def cosine_with_warmup(opt: torch.optim.Optimizer, epochs: int, warmup: int) -> LambdaLR:
    """GraphGPS's ``cosine_with_warmup`` (graphgps/optimizer/extra_optimizers.py), stepped once
    per epoch: the lr factor rises linearly over ``warmup`` epochs (from 1e-6, the first
    epoch's), then follows half a cosine from 1 to 0 at ``epochs``."""
    if not 0 <= warmup < epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs) = [0, {epochs}), got {warmup}")

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return max(1e-6, epoch / warmup)
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return LambdaLR(opt, factor)


#: Per-epoch learning-rate schedules by the ``scheduler`` option: ``make(opt, epochs,
#: warmup_epochs)``. ``plateau`` (torch's ``ReduceLROnPlateau`` on the validation loss, options
#: ``plateau_factor``, ``plateau_patience``, ``min_lr``) steps after evaluations instead
#: (:meth:`ModelTrainer._scheduled`).
SCHEDULERS: dict[str, Callable] = {"cosine": cosine_with_warmup}
SCHEDULER_NAMES = (*SCHEDULERS, "plateau")


class ModelTrainer:
    """Train a named model on a task with backpropagation (one subclass per task type).

    Args:
        task: the task (its type picks the subclass: :mod:`graphlib_pyg.train.backprop`).
        model: model name (see :data:`graphlib_pyg.nn.registry.MODELS`).
        config: flat options: training options (:class:`~graphlib_pyg.train.options.
            TrainOptions`), model options (e.g. ``heads``) and ``la_*`` options, split once by
            :meth:`~graphlib_pyg.train.options.RunOptions.parse`.
        progress: optional callback ``progress(epoch, loss, val)`` for progress bars.
        augment: ``"none"`` or ``"la"`` (local augmentation, node tasks; its ``la_*`` options
            are read from ``config``, see :data:`graphlib_pyg.augment.la.LA_OPTIONS`).
    """

    own_defaults: ClassVar[bool] = False
    checkpoints: ClassVar[bool] = True  # run() saves to/resumes from self.checkpoint
    #: The file this trainer's runs save to and resume from (``None``: no checkpoints).
    checkpoint: str | os.PathLike | None = None

    def __init__(
        self,
        task: Task,
        model: str,
        config: dict | None = None,
        progress: Callable[[int, float, float], None] | None = None,
        augment: str = "none",
    ) -> None:
        self.task, self.spec = task, resolve(model, MODELS, "model")
        self.options = RunOptions.parse(model, config, augment)  # the one split
        self.cfg: TrainOptions = self.options.train
        self.model_options = dict(self.options.model)  # every builder option, defaults filled
        self.augment = None
        if self.options.augment is not None:
            from graphlib_pyg.augment.la import LocalAugmentationPlan

            self.augment = LocalAugmentationPlan(dict(self.options.augment))
        self.progress = progress
        cfg = self.cfg
        self.device = resolve_device(str(cfg.device))
        if not isinstance(cfg.checkpoint_every, int) or cfg.checkpoint_every < 0:
            raise ValueError(
                f"checkpoint_every must be an integer >= 0, got {cfg.checkpoint_every!r}"
            )

    def _build(
        self, in_channels: int, out_channels: int, input_dropout: float | None = None
    ) -> nn.Module:
        c = self.cfg
        if input_dropout is None:
            input_dropout = c.input_dropout
        return build_model(
            self.spec.name,
            in_channels,
            c.hidden,
            out_channels,
            c.num_layers,
            c.dropout,
            input_dropout,
            **self.model_options,
        )

    def _init(self, model: nn.Module, x: Tensor, graph_arg) -> None:
        """Re-initialise ``model`` by the ``init`` option (None: the layers' own defaults)."""
        kind = self.cfg.init
        if kind is None or kind == "default":
            return
        from graphlib_pyg.nn.init import INITS

        resolve(kind, INITS, "init")(model, x, graph_arg)

    def _graph_arg(self, graph) -> object:
        return graph_input(self.spec, self.task.index(graph), graph.edge_index)

    @classmethod
    def option_defaults(cls, model: str, augment: str = "none") -> dict:
        """Every option a run of ``model`` takes, with its default: the training options, the
        model's registry options and, with ``augment="la"``, the local-augmentation options."""
        return RunOptions.parse(model, None, augment).as_dict()  # what parse splits a run into

    def run(self, seed: int = 0, run: int | None = None) -> RunResult:
        raise NotImplementedError

    def config_id(self, seed: int, run: int) -> str:
        """What a checkpoint of this run must have been saved by: the trainer, model, task,
        every option that changes the result, the seed and the split."""
        options = {k: v for k, v in self.cfg.as_dict().items() if k not in CHECKPOINT_KEYS}
        ident = {
            "trainer": type(self).__name__,
            "model": self.spec.name,
            "task": self.task.name,
            "options": options,
            "model_options": self.model_options,
            "augment": self.augment.o if self.augment is not None else None,
            "seed": seed,
            "run": run,
        }
        return run_identity(ident)

    def _checkpoint(self, seed: int, run: int, parts: dict[str, Stateful]) -> Checkpoint | None:
        """The run's :class:`~graphlib_pyg.train.checkpoint.Checkpoint` at ``self.checkpoint``
        holding ``parts`` (``None`` without a path or with ``checkpoint_every=0``)."""
        c, path = self.cfg, self.checkpoint
        if path is None or not c.checkpoint_every:
            return None
        if self.runtime().distributed:
            raise ValueError("checkpoints are not supported in distributed runs")
        every, keep = c.checkpoint_every, bool(c.keep_checkpoints)
        return Checkpoint(path, every, self.config_id(seed, run), parts, keep)

    def _fit(self, step, evaluate, params: int, checkpoint: Checkpoint | None = None) -> RunResult:
        """The shared fit loop (:func:`~graphlib_pyg.train.base.fit`) with this run's epochs,
        evaluation cadence, patience and selection rule, saving to and resuming from
        ``checkpoint``."""
        c = self.cfg
        return fit(
            step,
            evaluate,
            epochs=c.epochs,
            eval_every=c.eval_every,
            patience=c.patience,
            select=c.select,
            params=params,
            progress=self.progress,
            checkpoint=checkpoint,
        )

    def _optimizer(self, params) -> torch.optim.Optimizer:
        """The run's optimiser (``optimizer``: :data:`OPTIMIZERS`) over ``params`` (tensors or
        parameter groups) at ``lr`` and ``weight_decay``; with ``clip_grad_norm``, every step
        first clips the gradients' total L2 norm (a step pre-hook, so every training loop
        clips the same way, after DDP has averaged the gradients)."""
        c = self.cfg
        make = resolve(c.optimizer, OPTIMIZERS, "optimizer")
        opt = make(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.clip_grad_norm is not None:
            if not c.clip_grad_norm > 0:
                raise ValueError(f"clip_grad_norm must be > 0, got {c.clip_grad_norm!r}")
            owned = [p for group in opt.param_groups for p in group["params"]]

            def clip(*_) -> None:
                clip_grad_norm_(owned, c.clip_grad_norm)

            opt.register_step_pre_hook(clip)
        return opt

    def _scheduled(self, step: Callable[[], float], evaluate: Callable[[], tuple], opt,
                   parts: dict) -> tuple[Callable[[], float], Callable[[], tuple]]:  # fmt: skip
        """``(step, evaluate)`` with the run's lr schedule (``scheduler``), which joins the
        checkpoint ``parts``: ``cosine`` steps after every epoch, ``plateau`` after every
        evaluation, on the validation loss (the third value ``evaluate`` returns; GraphGPS
        steps it on the validation loss too, and only with an evaluation every epoch)."""
        c = self.cfg
        if c.scheduler is None:
            return step, evaluate
        resolve(c.scheduler, dict.fromkeys(SCHEDULER_NAMES), "scheduler")  # unknown: an error
        if c.scheduler == "plateau":
            if c.eval_every != 1:
                raise ValueError(f"scheduler=plateau counts evaluations as epochs: it needs "
                                 f"eval_every=1, got {c.eval_every}")  # fmt: skip
            plateau = ReduceLROnPlateau(opt, "min", factor=c.plateau_factor,
                                        patience=c.plateau_patience, min_lr=c.min_lr)  # fmt: skip
            parts["schedule"] = plateau

            def evaluated() -> tuple:
                scores = evaluate()
                if len(scores) < 3:
                    raise ValueError(f"scheduler=plateau steps on the validation loss, which "
                                     f"{type(self).__name__} does not compute")  # fmt: skip
                plateau.step(scores[2])
                return scores

            return step, evaluated
        schedule = SCHEDULERS[c.scheduler](opt, c.epochs, c.warmup_epochs)
        parts["schedule"] = schedule

        def scheduled() -> float:
            loss = step()
            schedule.step()
            return loss

        return scheduled, evaluate

    def autocast(self) -> AbstractContextManager:
        """The context this run's forward passes and losses run in (``precision``:
        :func:`~graphlib_pyg.train.precision.autocast`); backward passes run outside it."""
        return autocast(self.cfg.precision, self.device)

    def runtime(self) -> Runtime:
        """Where this run executes (the joined process group, or ``device`` alone)."""
        return Runtime.current(self.device)

    def _hops(self) -> int:
        """How many hops of neighbourhood the model reads (its number of propagation steps)."""
        if self.spec.hops is not None:
            return int(self.spec.hops(self.model_options))
        return int(self.cfg.num_layers)

    def _check_runtime(self, runtime: Runtime) -> None:
        """Reject what this trainer cannot run distributed (the default: nothing)."""
        if runtime.distributed:
            raise ValueError(
                "distributed runs support node tasks and link tasks with a node encoder, "
                f"not {self.spec.name!r} on {self.task.name!r}"
            )
