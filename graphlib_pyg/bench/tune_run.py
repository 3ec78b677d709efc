"""One seed of one ``graphlib tune`` trial: in this process, in a worker process (``--jobs``)
or data-parallel over ``--nproc`` ranks, the same function in every case.

A seed trains the trial's configuration with the trainer of the ordinary harness (the same
config resolution: trainer defaults, then :func:`~graphlib_pyg.bench.defaults.resolve_config`,
then the trial's options) and returns the selected validation score; test scores are never
looked at. Pruning uses the trainer's ``progress(step, loss, val)`` callback, called at each
evaluation (:func:`graphlib_pyg.train.base.fit`): the trial's first seed reports its
validation curve to the study (``trial.report``) and stops when the pruner says so; the other
seeds of a trial running at the same time (``--jobs``) stop as soon as the study's database
says the trial has ended. Every process reaches the study through its storage URL, so a worker
process needs nothing but this picklable :class:`TrialSetup`.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from graphlib_pyg.bench.harness import run_config as harness_config
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.distributed import all_reduce_mean, current, is_main, launch
from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.registry import TRAINERS


@dataclass(frozen=True)
class TrialSetup:
    """What every seed of every trial of one study shares (picklable, for worker processes).

    Attributes:
        model, dataset, trainer, augment: the run (``trainer`` already resolved by
            :func:`~graphlib_pyg.train.registry.trainer_for`).
        data: ``load_task`` options; root: the raw data root.
        epochs, preset: as ``graphlib bench --epochs/--preset``.
        storage, study: where the study lives (an SQLAlchemy URL) and its name.
        pruner: the pruner's settings (:func:`make_pruner`), ``None``: no pruning.
        nproc: data-parallel ranks per seed; poll: other seeds of a trial run at the same time,
            so they check whether the trial was pruned.
    """

    model: str
    dataset: str
    trainer: str
    augment: str
    storage: str
    study: str
    data: dict = field(default_factory=dict)
    root: str | None = None
    epochs: int | None = None
    preset: str | None = None
    pruner: dict | None = None
    nproc: int = 1
    poll: bool = False


def make_pruner(settings: dict | None):
    """Optuna's ``MedianPruner`` with ``settings`` (``NopPruner`` for ``None``)."""
    import optuna

    if settings is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(**settings)


#: A trial whose process stopped beating for ``grace_period`` s is marked failed by the next.
_HEARTBEAT = {"heartbeat_interval": 60, "grace_period": 180}


def storage_for(url: str):
    """Optuna's RDB storage of ``url``: SQLite waits up to 60 s for a lock held by another
    process; a heartbeat lets a later process mark trials of a killed process as failed."""
    import optuna

    sqlite = url.startswith("sqlite:///")
    engine = {"connect_args": {"timeout": 60}} if sqlite else {}
    if not sqlite:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **_HEARTBEAT)
    # Two processes creating one SQLite file's tables at once collide (alembic_version): the
    # first to hold the lock creates them, the others find them.
    with open(f"{url[len('sqlite:///') :]}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **_HEARTBEAT)


#: This process's storages by URL (one engine per database and process).
_STORAGES: dict = {}


def _storage(url: str):
    if url not in _STORAGES:
        _STORAGES[url] = storage_for(url)
    return _STORAGES[url]


@functools.lru_cache(maxsize=4)
def _study(url: str, name: str, pruner_json: str):
    import optuna

    pruner = make_pruner(json.loads(pruner_json))
    return optuna.load_study(study_name=name, storage=_storage(url), pruner=pruner)


@functools.lru_cache(maxsize=2)
def _task(dataset: str, root: str | None, data_json: str):
    return load_task(dataset, root=root, **json.loads(data_json))


def run_config(setup: TrialSetup, options: dict) -> dict:
    """The trainer config of a trial: the harness's :func:`~graphlib_pyg.bench.harness.
    run_config` of the study's model, dataset, trainer, epochs and preset."""
    s = setup
    return harness_config(s.model, s.dataset, s.trainer, options, s.epochs, s.preset)


class Reporter:
    """The trainer's ``progress(step, loss, val)`` for one seed of trial ``trial_id``: the
    first seed reports its curve and asks the pruner; the others (``poll``) ask the database
    whether the trial already ended. Under ``--nproc`` rank 0 decides for every rank."""

    def __init__(self, setup: TrialSetup, trial_id: int, first: bool) -> None:
        import optuna

        self.setup, self.trial_id, self.first = setup, trial_id, first
        study = _study(setup.storage, setup.study, json.dumps(setup.pruner))
        self.storage, self.trial = _storage(setup.storage), optuna.trial.Trial(study, trial_id)

    def __call__(self, step: int, loss: float, val: float) -> None:
        import optuna

        stop = False
        if is_main() and self.first and self.setup.pruner is not None:
            self.trial.report(val, step)
            stop = self.trial.should_prune()
        elif is_main() and self.setup.poll:
            stop = self.storage.get_trial(self.trial_id).state.is_finished()
        if current() is not None:  # every rank stops at the same evaluation, or none
            stop = all_reduce_mean(float(stop)) > 0
        if stop:
            raise optuna.TrialPruned(f"pruned at step {step} (validation {val:.4f})")


def _train(setup: TrialSetup, options: dict, seed: int, trial_id: int, first: bool) -> float:
    spec = MODELS.get(setup.model)
    data = dict(setup.data)
    if spec is not None and spec.link and "task" not in data:
        data["task"] = "link"  # as the harness: NCN-style models score pairs
    task = _task(setup.dataset, setup.root, json.dumps(data, sort_keys=True))
    kwargs = {"augment": setup.augment} if setup.augment != "none" else {}
    progress = Reporter(setup, trial_id, first) if setup.pruner or setup.poll else None
    trainer = TRAINERS[setup.trainer](
        task, setup.model, run_config(setup, options), progress=progress, **kwargs
    )
    return float(trainer.run(seed=seed).val)


def _rank(setup: TrialSetup, options: dict, seed: int, trial_id: int, first: bool, path: str):
    """One rank of a data-parallel seed; rank 0 writes the outcome to ``path``."""
    import optuna

    try:
        outcome = {"val": _train(setup, options, seed, trial_id, first)}
    except optuna.TrialPruned as err:
        outcome = {"pruned": str(err)}
    if is_main():
        Path(path).write_text(json.dumps(outcome))


def run_seed(setup: TrialSetup, options: dict, seed: int, trial_id: int, first: bool) -> float:
    """Train seed ``seed`` (and split ``seed``) of trial ``trial_id`` with trial ``options``;
    the selected validation score. Raises ``optuna.TrialPruned`` when the trial is pruned."""
    import optuna

    if setup.nproc <= 1:
        return _train(setup, options, seed, trial_id, first)
    with tempfile.TemporaryDirectory(prefix="graphlib-tune-") as tmp:
        path = os.path.join(tmp, "outcome.json")
        launch(_rank, setup.nproc, (setup, options, seed, trial_id, first, path))
        outcome = json.loads(Path(path).read_text())
    if "pruned" in outcome:
        raise optuna.TrialPruned(outcome["pruned"])
    return outcome["val"]


def init_worker(threads: int) -> None:
    """A ``--jobs`` worker process: ``threads`` intra-op threads, so N workers share the
    cores rather than each taking them all."""
    import torch

    torch.set_num_threads(max(1, threads))
    for storage in _STORAGES.values():  # a forked worker must not reuse the parent's links
        storage.engine.dispose(close=False)
    _STORAGES.clear()
    _study.cache_clear()


def rerun(kwargs: dict) -> None:
    """One process of the best configuration's rerun (``--jobs``/``--nproc``): the ordinary
    harness; processes sharing the results file claim runs, so none is run twice."""
    from graphlib_pyg.bench.harness import run_benchmark

    run_benchmark(**kwargs)
