"""``graphlib tune``: hyper-parameter search on Optuna, selected on validation, rerun by the
harness.

    graphlib tune --model sage --dataset amazon-computers --trials 30 --runs-per-trial 2 \\
        lr=log(1e-3..3e-2) hidden=[64,128,256] dropout=0.1..0.7 --out results.jsonl

1. The search space (``key=low..high``, ``key=log(low..high)``, ``key=[a,b,c]``, ``--space
   FILE.yaml``; ``key=value`` fixes an option) is checked against the run's typed options
   before anything trains (:mod:`~graphlib_pyg.bench.tune_space`).
2. The study lives in Optuna's RDB storage: ``sqlite:///<out>.tune.db`` next to the results
   file by default, or any SQLAlchemy URL (``--storage``). ``--trials N`` is the number of
   finished (complete or pruned) trials the study should reach, counted over every process
   working on it: rerunning the same command after an interrupt runs only what is missing, and
   several processes (or machines, on one PostgreSQL URL) can work on one study at once.
   A study remembers its setup (run, space, seeds per trial); the same name with another setup
   is an error.
3. A trial trains ``--runs-per-trial`` seeds (``--jobs`` of them at once, each ``--nproc``
   ranks data-parallel) and scores the mean validation metric; the first seed's validation
   curve feeds the pruner (:mod:`~graphlib_pyg.bench.tune_run`). Test scores are not read.
4. The best trial's configuration is rerun for ``--runs`` seeds by
   :func:`~graphlib_pyg.bench.harness.run_benchmark` into ``--out``, where ``graphlib report``
   sees it; the study's report (best configuration, top trials, PNG plots) goes to
   ``--report-dir`` (:mod:`~graphlib_pyg.bench.tune_report`).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import re
import statistics
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

SAMPLERS = ("tpe", "random", "grid")

#: Worker processes start fresh (spawn): a forked child of a process whose OpenMP thread pool
#: has run can deadlock in its first parallel region (GNU libgomp is not fork-safe).
SPAWN = multiprocessing.get_context("spawn")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smh]?)$")


def add_parser(sub) -> None:
    """Register ``graphlib tune`` on the ``graphlib`` sub-parsers."""
    t = sub.add_parser(
        "tune",
        help="hyper-parameter search on Optuna; the best configuration is rerun as a benchmark",
        epilog="Search space: key=low..high, key=log(low..high), key=[a,b,c] (key=value fixes "
        "an option). Watch a study live: optuna-dashboard sqlite:///PATH.tune.db",
    )
    t.add_argument("--model", required=True)
    t.add_argument("--dataset", required=True)
    t.add_argument("--trainer", default="backprop")
    t.add_argument("--augment", default="none")
    t.add_argument(
        "--trials",
        type=int,
        default=None,
        help="finished trials the study should reach (default 20; grid: its size)",
    )
    t.add_argument("--space", default=None, help="YAML search space (key: range or choices)")
    t.add_argument("--runs-per-trial", type=int, default=1, help="seeds per trial (default 1)")
    t.add_argument("--runs", type=int, default=10, help="seeds of the best config's rerun")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--timeout", default=None, help="start no trial after this long: 90s, 30m, 2h")
    t.add_argument("--study", default=None, help="study name (default MODEL-DATASET[-TRAINER])")
    t.add_argument(
        "--storage",
        default=None,
        help="SQLAlchemy URL or SQLite file (default sqlite:///<out>.tune.db)",
    )
    t.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    t.add_argument("--pruner", choices=("median", "none"), default="median")
    t.add_argument("--seed", type=int, default=None, help="sampler seed (default: random)")
    t.add_argument("--jobs", type=int, default=1, help="processes running a trial's seeds")
    t.add_argument("--nproc", type=int, default=1, help="data-parallel ranks per seed")
    t.add_argument("--out", default="results.jsonl", help="results file of the rerun")
    t.add_argument("--report-dir", default=None, help="default <out>-tune-<study>/")
    t.add_argument("--top", type=int, default=10, help="trials in the report's table")
    t.add_argument("--no-rerun", action="store_true", help="search only, no rerun")
    t.add_argument("--preset", default=None)
    t.add_argument("--root", default=None, help="raw data root (default $GRAPHLIB_DATA)")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("options", nargs="*", help="key=low..high, key=log(low..high), key=[a,b,c]")
    t.set_defaults(func=cmd_tune)


def parse_duration(text: str | None) -> float | None:
    """``"90"``, ``"90s"``, ``"30m"``, ``"2h"`` -> seconds."""
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--timeout must be a positive duration like 90s, 30m or 2h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def storage_url(storage: str | None, out: str) -> str:
    """``--storage`` as a URL: given as one, an SQLite file, or ``<out>.tune.db``."""
    if storage is not None and "://" in storage:
        return storage
    path = Path(storage) if storage is not None else Path(out).with_suffix(".tune.db")
    return f"sqlite:///{path.resolve()}"


def prepare(args: argparse.Namespace) -> dict:
    """Everything a tuning run needs, checked before anything trains (raises with a message
    naming the bad argument or key)."""
    from graphlib_pyg.bench.harness import AUGMENTS, DATA_KEYS
    from graphlib_pyg.bench.options import check_run_options
    from graphlib_pyg.bench.results import check_store
    from graphlib_pyg.bench.tune_run import TrialSetup, run_config
    from graphlib_pyg.bench.tune_space import check_space, grid, parse_space
    from graphlib_pyg.data.datasets import unknown_dataset
    from graphlib_pyg.data.tasks import available_tasks
    from graphlib_pyg.nn.registry import MODELS
    from graphlib_pyg.train.options import TRAIN_DEFAULTS
    from graphlib_pyg.train.registry import MODEL_TRAINERS, TRAINERS, trainer_for
    from graphlib_pyg.utils import resolve

    for flag in ("trials", "runs_per_trial", "runs", "epochs", "jobs", "nproc", "top"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    trainer = trainer_for(args.model, args.trainer)
    resolve(trainer, TRAINERS, "trainer")
    resolve(args.augment, AUGMENTS, "augmentation")
    resolve(args.model, {**MODELS, **MODEL_TRAINERS}, "model")
    if args.dataset not in available_tasks():
        raise unknown_dataset(args.dataset)
    if args.nproc > 1 and trainer != "backprop":
        raise ValueError(f"--nproc needs the backprop trainer, not {trainer!r}")
    space, fixed = parse_space(args.options, args.space)
    data = {k[5:]: fixed.pop(k) for k in list(fixed) if k.startswith("data.")}
    data.update({k: fixed.pop(k) for k in list(fixed) if k in DATA_KEYS})
    searched = [k for k in space if k.startswith("data.") or k in DATA_KEYS]
    if searched:
        raise ValueError(f"{searched[0]}: data options can be fixed, not searched")
    space = check_space(space, args.model, trainer, args.augment)
    if not space:
        raise ValueError(
            "nothing to search: give a range or choices (key=low..high, "
            "key=log(low..high), key=[a,b,c]) or --space FILE"
        )
    fixed = check_run_options(fixed, args.model, trainer, args.augment)
    trials = args.trials
    if args.sampler == "grid":
        points = grid(space)
        trials = trials or math.prod(len(v) for v in points.values())
    timeout = parse_duration(args.timeout)
    check_store(args.out)
    study = args.study or "-".join(
        [args.model, args.dataset]
        + [x for x in (trainer, args.augment) if x not in ("backprop", "none")]
    )
    setup = TrialSetup(
        args.model,
        args.dataset,
        trainer,
        args.augment,
        storage_url(args.storage, args.out),
        study,
        data=data,
        root=args.root,
        epochs=args.epochs,
        preset=args.preset,
        nproc=args.nproc,
        poll=args.jobs > 1 and args.runs_per_trial > 1,
    )
    if args.pruner == "median":  # the median of earlier trials at the same step, after a warmup
        epochs = run_config(setup, fixed).get("epochs", TRAIN_DEFAULTS["epochs"])
        warmup = max(1, int(epochs) // 10)
        setup = TrialSetup(
            **{**asdict(setup), "pruner": {"n_startup_trials": 5, "n_warmup_steps": warmup}}
        )
    meta = {
        "model": args.model,
        "dataset": args.dataset,
        "trainer": trainer,
        "augment": args.augment,
        "space": {k: str(v) for k, v in sorted(space.items())},
        "fixed": fixed,
        "data": data,
        "runs_per_trial": args.runs_per_trial,
        "epochs": args.epochs,
        "preset": args.preset,
    }
    return {
        "setup": setup,
        "space": space,
        "fixed": fixed,
        "trials": trials or 20,
        "timeout": timeout,
        "meta": json.loads(json.dumps(meta)),
    }


def make_sampler(name: str, space: dict, seed: int | None):
    import optuna

    from graphlib_pyg.bench.tune_space import grid

    if name == "grid":
        return optuna.samplers.GridSampler(grid(space), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: processes sharing a study do not all sample next to one running trial
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def open_study(plan: dict, args: argparse.Namespace):
    """Create or load the study; a study run with another setup is an error."""
    import optuna

    from graphlib_pyg.bench.tune_run import make_pruner, storage_for

    setup = plan["setup"]
    study = optuna.create_study(
        study_name=setup.study,
        storage=storage_for(setup.storage),
        sampler=make_sampler(args.sampler, plan["space"], args.seed),
        pruner=make_pruner(setup.pruner),
        direction="maximize",
        load_if_exists=True,
    )
    stored = study.user_attrs.get("setup")
    if stored is None:
        study.set_user_attr("setup", plan["meta"])
    elif stored != plan["meta"]:
        diff = sorted(k for k in plan["meta"] if stored.get(k) != plan["meta"][k])
        raise ValueError(
            f"study {setup.study!r} in {setup.storage} was run with another "
            f"{', '.join(diff)}; give --study NAME for a new study"
        )
    if args.seed is not None and study.trials:  # a resumed seeded sampler must not redraw
        study.sampler = make_sampler(args.sampler, plan["space"], args.seed + len(study.trials))
    return study


def optimize(study, plan: dict, args: argparse.Namespace) -> None:
    """Run trials until the study has ``plan["trials"]`` finished ones (or ``--timeout``)."""
    import optuna
    import torch

    from graphlib_pyg.bench.tune_run import init_worker, run_seed
    from graphlib_pyg.bench.tune_space import suggest

    setup, fixed = plan["setup"], plan["fixed"]
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=states))
    todo = plan["trials"] - done
    print(
        f"graphlib tune: study {setup.study} ({setup.storage}): {done} trials finished, "
        f"{max(todo, 0)} to run",
        file=sys.stderr,
    )
    if todo <= 0:
        return
    jobs = min(args.jobs, args.runs_per_trial)
    pool = None
    if jobs > 1:
        threads = torch.get_num_threads() // jobs
        pool = ProcessPoolExecutor(jobs, SPAWN, initializer=init_worker, initargs=(threads,))

    def objective(trial) -> float:
        options = {**fixed, **suggest(trial, plan["space"])}
        seeds = range(args.runs_per_trial)
        tid = trial._trial_id  # the storage's id: worker processes reach the trial by it
        if pool is None:
            vals = [run_seed(setup, options, s, tid, s == 0) for s in seeds]
        else:
            futures = [pool.submit(run_seed, setup, options, s, tid, s == 0) for s in seeds]
            vals = [f.result() for f in futures]
        trial.set_user_attr("val_runs", vals)
        return statistics.fmean(vals)

    stop = optuna.study.MaxTrialsCallback(plan["trials"], states=states)
    try:
        study.optimize(
            objective,
            n_trials=todo,
            timeout=plan["timeout"],
            callbacks=[stop],
            catch=(FloatingPointError,),
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def rerun_best(study, plan: dict, args: argparse.Namespace) -> list[dict]:
    """The best trial's configuration for ``--runs`` seeds through the harness, into --out."""
    from graphlib_pyg.bench.harness import run_benchmark
    from graphlib_pyg.bench.tune_run import rerun
    from graphlib_pyg.distributed import launch

    setup = plan["setup"]
    kwargs = dict(
        trainer=setup.trainer,
        augment=setup.augment,
        runs=args.runs,
        epochs=setup.epochs,
        out=args.out,
        config={**plan["fixed"], **study.best_trial.params},
        data=setup.data,
        root=setup.root,
        preset=setup.preset,
    )
    kwargs.update(model=setup.model, dataset=setup.dataset, progress=False)
    if args.nproc > 1:
        launch(rerun, args.nproc, (kwargs,))
    elif args.jobs > 1:  # the processes claim seeds of one results file: none runs twice
        with ProcessPoolExecutor(args.jobs, SPAWN) as pool:
            for future in [pool.submit(rerun, kwargs) for _ in range(args.jobs)]:
                future.result()
    return run_benchmark(**{**kwargs, "progress": not args.no_progress})  # trains what is missing


def cmd_tune(args: argparse.Namespace) -> int:
    import optuna

    from graphlib_pyg.bench.report import summarize, to_markdown
    from graphlib_pyg.bench.results import StoreError
    from graphlib_pyg.bench.tune_report import write_report

    optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        plan = prepare(args)
        study = open_study(plan, args)
    except KeyError as err:
        print(f"graphlib tune: {err.args[0]}", file=sys.stderr)
        return 2
    except (TypeError, ValueError, FileNotFoundError, StoreError) as err:
        print(f"graphlib tune: {err}", file=sys.stderr)
        return 2
    setup = plan["setup"]
    try:
        optimize(study, plan, args)
        out_dir = args.report_dir or f"{Path(args.out).with_suffix('')}-tune-{setup.study}"
        paths = write_report(study, out_dir, top=args.top)
        print(Path(paths["markdown"]).read_text())
        if not args.no_rerun:
            rows = rerun_best(study, plan, args)
            print(to_markdown(summarize(rows)))
            print(
                f"\nbest configuration rerun for {len(rows)} seeds; results appended to {args.out}",
                file=sys.stderr,
            )
    except KeyboardInterrupt:
        print(
            f"graphlib tune: interrupted; study {setup.study} in {setup.storage} keeps its "
            "finished trials: rerun the same command to continue",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError, RuntimeError, FloatingPointError) as err:
        print(f"graphlib tune: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
