"""The benchmark harness: multi-seed runs under the OGB protocol, resumable results.

``run_benchmark`` trains seeds ``0..R-1`` (run r uses seed r and split r), keeps each run's
best-validation epoch, and appends each finished run to the results file the moment it ends. Runs
already in the file (same model, dataset, trainer, augmentation, config and run index) are
skipped, so an interrupted benchmark resumes where it stopped.

Runs of trainers that checkpoint (``checkpoints = True``: the backprop trainers) also save their
state mid-run, to ``<out>.ckpt/<run>.pt`` (:func:`checkpoint_path`), every ``checkpoint_every``
epochs and on SIGINT/SIGTERM; a rerun of the same command resumes an unfinished run from there.
Without ``out``, and in distributed runs, nothing is checkpointed. ``checkpoint_every`` and
``keep_checkpoints`` are not part of a run's identity (:data:`CHECKPOINT_KEYS`): they are left
out of the recorded config.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
from pathlib import Path

from tqdm.auto import tqdm

from graphlib_pyg.bench.defaults import resolve_config
from graphlib_pyg.bench.options import check_run_options, run_options
from graphlib_pyg.bench.results import append_result, check_store, claim_runs, run_key
from graphlib_pyg.data.datasets import unknown_dataset
from graphlib_pyg.data.tasks import LinkTask, available_tasks, load_task
from graphlib_pyg.distributed import current, is_main
from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.common import CHECKPOINT_KEYS
from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS, trainer_for
from graphlib_pyg.utils import resolve

#: Augmentations by CLI name (``none`` = the model as it is; ``la`` = local augmentation, whose
#: ``la_*`` options are listed in :data:`graphlib_pyg.augment.la.LA_OPTIONS`).
AUGMENTS: dict[str, object] = {"none": None, "la": "la"}

#: Config keys that are passed to ``load_task`` rather than to the trainer.
DATA_KEYS = ("split", "task", "metric", "val_as_input", "pe")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def checkpoint_path(out: str | Path, key: tuple) -> Path:
    """Where the run with results-store key ``key`` (:func:`~graphlib_pyg.bench.results.run_key`)
    of results file ``out`` keeps its mid-run checkpoint: ``<out>.ckpt/<hash of key>.pt``."""
    digest = hashlib.sha1(json.dumps(list(key)).encode("utf-8")).hexdigest()[:16]
    return Path(f"{out}.ckpt") / f"{digest}.pt"


def run_config(
    model: str,
    dataset: str,
    trainer: str,
    user: dict,
    epochs: int | None = None,
    preset: str | None = None,
) -> dict:
    """A run's trainer config: the benchmark defaults of (model, dataset) under ``user``'s
    options (:func:`~graphlib_pyg.bench.defaults.resolve_config`), or ``user``'s alone for a
    trainer with defaults of its own (heuristics reject any option; SF has ForwardGNN's);
    ``epochs`` given overrides both."""
    if TRAINERS[trainer].own_defaults:
        cfg = dict(user)
    else:
        cfg = resolve_config(model, dataset, user, preset)
    if epochs is not None:
        cfg["epochs"] = epochs
    return cfg


def run_benchmark(
    model: str,
    dataset: str,
    *,
    trainer: str = "backprop",
    augment: str = "none",
    runs: int = 10,
    start: int = 0,
    epochs: int | None = None,
    out: str | Path | None = None,
    config: dict | None = None,
    data: dict | None = None,
    root: str | Path | None = None,
    progress: bool = True,
    preset: str | None = None,
) -> list[dict]:
    """Run seeds ``start..runs-1`` of ``model`` on ``dataset``; one result row per run.

    Args:
        model: model name (:data:`graphlib_pyg.nn.models.MODELS`).
        dataset: dataset name (:func:`graphlib_pyg.data.available_tasks`).
        trainer: trainer name (:data:`TRAINERS`).
        augment: augmentation name (:data:`AUGMENTS`).
        runs: number of seeds/splits.
        start: first seed to run. Processes (or machines) sharing one ``out`` file can split a
            benchmark's seeds, e.g. ``start=0, runs=5`` and ``start=5, runs=10``.
        epochs: training epochs (default: the model/dataset default).
        out: JSON Lines results file; finished runs found there are skipped.
        config: trainer/model options overriding the defaults (``lr``, ``hidden``, ...).
        data: ``load_task`` options (``split``, ``task``, ``metric``, generator parameters).
        root: raw data root (default ``$GRAPHLIB_DATA``).
        progress: show a progress bar.
        preset: a published set of defaults in place of the (dataset, model) ones
            (:data:`~graphlib_pyg.bench.defaults.PEPTIDES_PRESETS`: ``lrgb``, ``tuned``);
            recorded in the row's config.

    Returns:
        Rows with keys ``model, dataset, trainer, augment, run, seed, metric, peak_rss_mb,
        config`` and the result's (:meth:`~graphlib_pyg.train.base.RunResult.row`: ``val, test,
        best_step, step_unit, step_time_s, params``, ``curve``; ``best_epoch`` and
        ``epoch_time_s`` where a step is an epoch), and ``precision`` for trainers that take
        that option.
    """
    trainer = trainer_for(model, trainer)  # e.g. heuristics: nothing to backpropagate
    trainer_cls = resolve(trainer, TRAINERS, "trainer")
    resolve(augment, AUGMENTS, "augmentation")
    if augment != "none" and trainer != "backprop":
        raise ValueError(f"--augment {augment} needs a trained model, not trainer {trainer!r}")
    resolve(model, {**MODELS, **MODEL_TRAINERS}, "model")
    if dataset not in available_tasks():
        raise unknown_dataset(dataset)
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if not 0 <= start < runs:
        raise ValueError(f"start must be in [0, runs) = [0, {runs}), got {start}")
    if current() is not None and trainer != "backprop":
        raise ValueError(f"distributed runs support the backprop trainer, not {trainer!r}")
    data, user = dict(data or {}), dict(config or {})
    for key in DATA_KEYS:  # allow split=... etc. among the plain key=value options
        if key in user:
            data[key] = user.pop(key)
    schema = run_options(model, trainer, augment)
    user = check_run_options(user, model, trainer, augment, schema)  # types, ranges, keys
    if out is not None:
        check_store(out)  # a results file we can append to, before anything trains
    cfg = run_config(model, dataset, trainer, user, epochs, preset)
    spec = MODELS.get(model)
    if spec is not None and spec.link and "task" not in data:
        data["task"] = "link"  # NCN-style models only score pairs: cora -> its link task
    task = load_task(dataset, root=root, **data)
    record = {k: v for k, v in cfg.items() if k not in CHECKPOINT_KEYS}
    record["data"] = {**data, "split": task.split_name}
    if preset is not None:  # only where given: the config ids of other rows stay as they were
        record["preset"] = preset
    base = {
        "model": model,
        "dataset": dataset,
        "trainer": trainer,
        "augment": augment,
        "config": record,
    }
    rows = []
    bar = tqdm(
        total=runs - start,
        desc=f"{model}/{dataset}",
        disable=not progress or not is_main(),
        file=sys.stderr,
        leave=False,
    )
    # Each run is claimed and the store re-read right before it starts: a run another process
    # finished or is running (same --out) is not run twice (in a distributed run: read once).
    for run, stored in claim_runs(out, base, range(start, runs), lock=current() is None):
        row = {**base, "run": run}
        if stored is not None:
            rows.append(stored)
            bar.update()
            continue

        def show(epoch: int, loss: float, val: float, run=run) -> None:
            bar.set_postfix(
                run=run, epoch=epoch, loss=f"{loss:.3f}", val=f"{val:.4f}", refresh=False
            )

        kwargs = {"augment": augment} if augment != "none" else {}
        trainer = trainer_cls(task, model, cfg, progress=show if progress else None, **kwargs)
        if out is not None and current() is None and getattr(trainer, "checkpoints", False):
            trainer.checkpoint = checkpoint_path(out, run_key(row))  # see train/base.py
        result = trainer.run(seed=run)
        row.update(seed=run, metric=task.metric, **result.row())
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if "precision" in (schema or {}):  # every row of a trainer that has the option says which
            row["precision"] = cfg.get("precision", schema["precision"])
        if isinstance(task, LinkTask):
            row["val_as_input"] = task.split(run).val_as_input
        if out is not None and is_main():  # in a distributed run only rank 0 writes
            append_result(out, row)
        rows.append(row)
        bar.update()
    bar.close()
    return sorted(rows, key=lambda r: r["run"])  # runs put off come last
