"""The graphlib command: bench, report, datasets, models, trainers and options.

Names given on the command line (models, datasets, trainers, augmentations) are resolved once,
here at the edge; an unknown name exits with a message listing the valid ones. Options
(``key=value``, ``--runs``, ``--epochs``, a YAML grid) are checked for type and range before
anything trains (:mod:`graphlib_pyg.bench.options`).

Every error is one line on stderr: exit 2 for a bad command line, config or option, exit 1 for a
failure while running (a results file that cannot be written, a corrupt dataset, a diverging
loss), exit 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

DEFAULT_GRID = [("mlp", "csbm"), ("gcn", "csbm"), ("gcn", "cora")]
#: Keys of a YAML grid (``--config``) with their defaults' types.
GRID_SCHEMA = {
    "models": [],
    "datasets": [],
    "runs": 10,
    "epochs": 100,
    "trainer": "backprop",
    "augment": "none",
    "options": {},
    "data": {},
}


class UsageError(ValueError):
    """A bad command line or config file: printed as one line, exit status 2."""


def _yaml(text: str, what: str, located: bool = True):
    """``yaml.safe_load(text)`` with exponent floats; a syntax error names ``what`` and the
    line and column."""
    from graphlib_pyg.bench.options import yaml_numbers

    try:
        return yaml_numbers(yaml.safe_load(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark and located else ""
        problem = getattr(err, "problem", None) or err
        raise UsageError(f"cannot parse {what}{at}: {problem}") from None


def _parse_options(pairs: list[str]) -> tuple[dict, dict]:
    """``key=value`` strings -> (trainer/model options, ``data.``-prefixed load_task options)."""
    opts, data = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {pair!r}")
        parsed = _yaml(value, f"the value of {key} ({value!r})", located=False) if value else None
        if key.startswith("data."):
            data[key[5:]] = parsed
        else:
            opts[key] = parsed
    return opts, data


def _grid_from_yaml(path: str) -> dict:
    """The checked grid of a YAML config (:data:`GRID_SCHEMA`); ``models``/``datasets`` may be
    one name or a comma-separated string."""
    from graphlib_pyg.bench.options import check_options

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file not found: {p}")
    try:
        spec = _yaml(p.read_text(encoding="utf-8"), f"config {p}")
    except UnicodeDecodeError as err:
        raise UsageError(f"config {p} is not UTF-8 text ({err.reason})") from err
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise UsageError(f"config {p} must map keys to values (models: [...], ...), not a "
                         f"{type(spec).__name__}")  # fmt: skip
    for key in ("models", "datasets"):
        if isinstance(spec.get(key), str):  # one name, or comma-separated names
            spec[key] = [spec[key]]
    try:
        spec = check_options(spec, GRID_SCHEMA, f"config {p}")
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err
    for key in ("models", "datasets"):
        if key in spec:
            if not all(isinstance(v, str) for v in spec[key]):
                raise UsageError(f"config {p}: {key} must be names, got {spec[key]!r}")
            spec[key] = _split_names(spec[key], f"{key} in {p}")
    return spec


def _split_names(values: list[str] | None, what: str) -> list[str] | None:
    """Comma-separated names; ``None`` if none were given, an error if given but all empty."""
    if values is None:
        return None
    names = [v.strip() for item in values for v in item.split(",") if v.strip()]
    if not names:
        raise UsageError(f"{what} {', '.join(map(repr, values))} names nothing")
    return names


def _check_counts(runs, epochs, start) -> None:
    """``--runs``/``--epochs``/``--start`` (or their YAML values) in range."""
    from graphlib_pyg.bench.options import range_of

    for key, value in (("runs", runs), ("epochs", epochs), ("start", start)):
        if value is not None and not range_of(key).contains(value):
            raise UsageError(f"--{key} must be {range_of(key)}, got {value!r}")


def _error(err: BaseException) -> str:
    """One line for an error: a KeyError's message without quotes, an OSError's with its
    file."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err)


def _bench_rank(argv: list[str]) -> int:
    """One rank of ``graphlib bench --nproc N`` (the process group is already joined)."""
    return main(argv)


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def cmd_bench(args: argparse.Namespace) -> int:
    from graphlib_pyg.bench.harness import DATA_KEYS, run_benchmark
    from graphlib_pyg.bench.options import check_run_options
    from graphlib_pyg.bench.report import summarize, to_markdown
    from graphlib_pyg.bench.results import StoreError, check_store
    from graphlib_pyg.data.datasets import (
        DatasetCorruptError,
        missing_files,
        registry,
        unknown_dataset,
    )
    from graphlib_pyg.data.tasks import available_tasks
    from graphlib_pyg.distributed import current, init_from_env, is_main, launch

    if args.nproc is not None and args.nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc and args.nproc > 1 and current() is None:
        if "WORLD_SIZE" in os.environ:
            raise UsageError("--nproc inside torchrun; use one or the other")
        try:
            launch(_bench_rank, args.nproc, (["bench", *_without_nproc(args.argv)],))
        except RuntimeError as err:
            print(f"graphlib bench --nproc {args.nproc}: {err}", file=sys.stderr)
            return 1
        return 0
    init_from_env()  # under torchrun: join the process group (no-op in one process)
    opts, data = _parse_options(args.options)
    spec = _grid_from_yaml(args.config) if args.config else {}
    models = _split_names(args.model, "--model") or spec.get("models")
    datasets = _split_names(args.dataset, "--dataset") or spec.get("datasets")
    runs = args.runs if args.runs is not None else spec.get("runs")
    epochs = args.epochs if args.epochs is not None else spec.get("epochs")
    _check_counts(runs, epochs, args.start)
    trainer = args.trainer or spec.get("trainer", "backprop")
    augment = args.augment or spec.get("augment", "none")
    opts = {**spec.get("options", {}), **opts}
    data = {**spec.get("data", {}), **data}
    if models or datasets:
        grid = [(m, d) for d in (datasets or ["csbm"]) for m in (models or ["gcn"])]
    else:  # the short default benchmark: synthetic task, plus Cora when its files are present
        grid = [
            (m, d)
            for m, d in DEFAULT_GRID
            if d not in registry() or not missing_files(registry()[d], args.root)
        ]
        runs, epochs = 3 if runs is None else runs, 100 if epochs is None else epochs
        print(
            f"graphlib bench: default benchmark ({', '.join(f'{m}/{d}' for m, d in grid)}, "
            f"{runs} runs, {epochs} epochs)",
            file=sys.stderr,
        )
    rows, where = [], ""
    try:  # first what every cell of the grid needs, so a bad one fails before any trains
        for model, dataset in grid:
            where = f"{model}/{dataset}: "
            if dataset not in available_tasks():
                raise unknown_dataset(dataset)
            check_run_options({k: v for k, v in opts.items() if k not in DATA_KEYS}, model,
                              trainer, augment)  # fmt: skip
        where = ""
        if args.out:
            check_store(args.out)
        for model, dataset in grid:
            where = f"{model}/{dataset}: "
            rows += run_benchmark(
                model,
                dataset,
                trainer=trainer,
                augment=augment,
                runs=10 if runs is None else runs,
                start=args.start,
                epochs=epochs,
                out=args.out,
                config=opts,
                data=data,
                root=args.root,
                progress=not args.no_progress,
                preset=args.preset,
            )
    except StoreError as err:  # the results file cannot be written
        print(f"graphlib bench: {where}{_error(err)}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError, FileNotFoundError) as err:
        print(f"graphlib bench: {where}{_error(err)}", file=sys.stderr)
        return 2
    except (OSError, DatasetCorruptError, FloatingPointError) as err:
        print(f"graphlib bench: {where}{type(err).__name__}: {_error(err)}", file=sys.stderr)
        return 1
    if not is_main():
        return 0
    print(to_markdown(summarize(rows)))
    if args.out:
        print(f"\nresults appended to {args.out}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from graphlib_pyg.bench.report import report_command

    return report_command(args.results, args.out_dir, html=args.html)


def cmd_datasets(args: argparse.Namespace) -> int:
    from graphlib_pyg.data.datasets import data_root, missing_files, registry
    from graphlib_pyg.data.synthetic import GENERATORS

    root = Path(args.root) if args.root else data_root()
    print(f"raw data root: {root}")
    print(f"{'dataset':<20} {'task':<5} {'status':<10} splits / missing files")
    for name, kind_gen in sorted(GENERATORS.items()):
        print(f"{name:<20} {kind_gen[0]:<5} {'built-in':<10} generated in code")
    for name, spec in sorted(registry().items()):
        missing = missing_files(spec, root)
        status = "missing" if missing else "available"
        detail = (
            ", ".join(str(p.relative_to(root)) for p in missing[:2])
            + (f" (+{len(missing) - 2} more)" if len(missing) > 2 else "")
            if missing
            else ", ".join(spec.splits)
        )
        print(f"{name:<20} {spec.kind:<5} {status:<10} {detail}")
    from graphlib_pyg.data import graph_tasks as gt

    print(f"{'graph-sbm':<20} {'graph':<5} {'built-in':<10} generated in code")
    folder = root / gt.PEPTIDES_FOLDER
    missing = [f for f in (gt.PEPTIDES_CSV, gt.PEPTIDES_SPLIT) if not (folder / f).is_file()]
    detail = ", ".join(f"{gt.PEPTIDES_FOLDER}/{f}" for f in missing) or "official (needs rdkit)"
    status = "missing" if missing else "available"
    print(f"{'peptides-func':<20} {'graph':<5} {status:<10} {detail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "bench",
        help="run a benchmark (no arguments: a short default one)",
        epilog="graphlib models, graphlib trainers and graphlib options MODEL list the models, "
        "the trainers and a model's key=value options with their defaults.",
    )
    b.add_argument("--model", action="append", help="model name(s), comma-separated")
    b.add_argument("--dataset", action="append", help="dataset name(s), comma-separated")
    b.add_argument("--trainer", default=None, help="trainer (default: backprop)")
    b.add_argument("--augment", default=None, help="augmentation (default: none)")
    b.add_argument("--runs", type=int, default=None, help="seeds/splits (default 10)")
    b.add_argument(
        "--start", type=int, default=0, help="first seed (split seeds over processes; default 0)"
    )
    b.add_argument("--epochs", type=int, default=None)
    b.add_argument(
        "--preset",
        default=None,
        help="published defaults to use in place of the dataset's (peptides-func: lrgb, tuned)",
    )
    b.add_argument("--out", default=None, help="JSON Lines results file (resumable)")
    b.add_argument("--config", default=None, help="YAML grid: models, datasets, options, ...")
    b.add_argument("--root", default=None, help="raw data root (default $GRAPHLIB_DATA)")
    b.add_argument("--no-progress", action="store_true")
    b.add_argument(
        "--nproc",
        type=int,
        default=None,
        help="data-parallel processes on this machine (gloo on CPU, nccl on CUDA)",
    )
    b.add_argument("options", nargs="*", help="key=value options, e.g. lr=0.01 data.split=random")
    b.set_defaults(func=cmd_bench)
    r = sub.add_parser("report", help="render Markdown/CSV/PNG (and HTML) from a results file")
    r.add_argument("results")
    r.add_argument("--out-dir", default=None, help="default: RESULTS without suffix + -report")
    r.add_argument("--html", action="store_true", help="also a self-contained report.html")
    r.set_defaults(func=cmd_report)
    d = sub.add_parser("datasets", help="list datasets and whether their files are present")
    d.add_argument("--root", default=None)
    d.set_defaults(func=cmd_datasets)
    sub.add_parser("models", help="list the models").set_defaults(func=cmd_catalog)
    sub.add_parser("trainers", help="list the trainers").set_defaults(func=cmd_catalog)
    o = sub.add_parser("options", help="a model's options: type, value and where it comes from")
    o.add_argument("model")
    o.add_argument("--trainer", default="backprop")
    o.add_argument("--augment", default="none")
    o.add_argument("--dataset", default=None, help="show that dataset's benchmark defaults")
    o.set_defaults(func=cmd_catalog)
    from graphlib_pyg.bench.tune import add_parser as add_tune  # graphlib tune: its own module

    add_tune(sub)
    return parser


def cmd_catalog(args: argparse.Namespace) -> int:
    """``graphlib models``, ``trainers`` and ``options MODEL``, from the tool's own tables."""
    from graphlib_pyg.bench import catalog

    try:
        if args.command == "models":
            print(catalog.models_text())
        elif args.command == "trainers":
            print(catalog.trainers_text())
        else:
            print(catalog.options_text(args.model, args.trainer, args.augment, args.dataset))
    except KeyError as err:
        raise UsageError(err.args[0]) from err
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("bench", "tune"):
        # key=value options may stand anywhere among the flags: parse them intermixed.
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        args = sub.choices[argv[0]].parse_intermixed_args(argv[1:])
        args.command, args.argv = argv[0], argv[1:]
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"graphlib {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        saved = f"; finished runs are in {out}: rerun the same command to resume" if out else ""
        print(f"graphlib {args.command}: interrupted{saved}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
