"""The ``graphlib`` command: ``bench``, ``report`` and ``datasets``.

Names given on the command line (models, datasets, trainers, augmentations) are resolved once,
here at the edge; an unknown name exits with a message listing the valid ones.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import yaml

DEFAULT_GRID = [("mlp", "csbm"), ("gcn", "csbm"), ("gcn", "cora")]


#: Exponent floats without a dot ("5e-4"), which YAML 1.1 (PyYAML) reads as strings.
_EXP_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _numbers(value):
    """``value`` with YAML-1.1 string exponents (``5e-4``) read as floats, recursively."""
    if isinstance(value, str) and _EXP_FLOAT.match(value):
        return float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _parse_options(pairs: list[str]) -> tuple[dict, dict]:
    """``key=value`` strings -> (trainer/model options, ``data.``-prefixed load_task options)."""
    opts, data = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"graphlib: expected key=value, got {pair!r}")
        parsed = _numbers(yaml.safe_load(value)) if value else None
        if key.startswith("data."):
            data[key[5:]] = parsed
        else:
            opts[key] = parsed
    return opts, data


def _grid_from_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"graphlib: config file not found: {p}")
    spec = _numbers(yaml.safe_load(p.read_text()) or {})
    allowed = {"models", "datasets", "runs", "epochs", "trainer", "augment", "options", "data"}
    unknown = set(spec) - allowed
    if unknown:
        raise SystemExit(
            f"graphlib: unknown keys {sorted(unknown)} in {p}; valid: {', '.join(sorted(allowed))}"
        )
    return spec


def _split_names(values: list[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.split(",") if v]


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
    from graphlib_pyg.bench.harness import run_benchmark
    from graphlib_pyg.bench.report import summarize, to_markdown
    from graphlib_pyg.data.datasets import missing_files, registry
    from graphlib_pyg.distributed import current, init_from_env, is_main, launch

    if args.nproc is not None and args.nproc < 1:
        raise SystemExit(f"graphlib bench: --nproc must be >= 1, got {args.nproc}")
    if args.nproc and args.nproc > 1 and current() is None:
        if "WORLD_SIZE" in os.environ:
            raise SystemExit("graphlib bench: --nproc inside torchrun; use one or the other")
        try:
            launch(_bench_rank, args.nproc, (["bench", *_without_nproc(args.argv)],))
        except RuntimeError as err:
            print(f"graphlib bench --nproc {args.nproc}: {err}", file=sys.stderr)
            return 1
        return 0
    init_from_env()  # under torchrun: join the process group (no-op in one process)
    opts, data = _parse_options(args.options)
    spec = _grid_from_yaml(args.config) if args.config else {}
    models = _split_names(args.model) or spec.get("models")
    datasets = _split_names(args.dataset) or spec.get("datasets")
    runs, epochs = args.runs or spec.get("runs"), args.epochs or spec.get("epochs")
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
        runs, epochs = runs or 3, epochs or 100
        print(
            f"graphlib bench: default benchmark ({', '.join(f'{m}/{d}' for m, d in grid)}, "
            f"{runs} runs, {epochs} epochs)",
            file=sys.stderr,
        )
    rows = []
    for model, dataset in grid:
        try:
            rows += run_benchmark(
                model,
                dataset,
                trainer=trainer,
                augment=augment,
                runs=runs or 10,
                start=args.start,
                epochs=epochs,
                out=args.out,
                config=opts,
                data=data,
                root=args.root,
                progress=not args.no_progress,
            )
        except (KeyError, TypeError, ValueError, FileNotFoundError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"graphlib bench: {model}/{dataset}: {msg}", file=sys.stderr)
            return 2
    if not is_main():
        return 0
    print(to_markdown(summarize(rows)))
    if args.out:
        print(f"\nresults appended to {args.out}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from graphlib_pyg.bench.report import render_report

    out_dir = args.out_dir or str(Path(args.results).with_suffix("")) + "-report"
    try:
        paths = render_report(args.results, out_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"graphlib report: {err}", file=sys.stderr)
        return 2
    print(Path(paths["markdown"]).read_text())
    for kind, path in sorted(paths.items()):
        print(f"{kind}: {path}", file=sys.stderr)
    return 0


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
    b = sub.add_parser("bench", help="run a benchmark (no arguments: a short default one)")
    b.add_argument("--model", action="append", help="model name(s), comma-separated")
    b.add_argument("--dataset", action="append", help="dataset name(s), comma-separated")
    b.add_argument("--trainer", default=None, help="trainer (default: backprop)")
    b.add_argument("--augment", default=None, help="augmentation (default: none)")
    b.add_argument("--runs", type=int, default=None, help="seeds/splits (default 10)")
    b.add_argument(
        "--start", type=int, default=0, help="first seed (split seeds over processes; default 0)"
    )
    b.add_argument("--epochs", type=int, default=None)
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
    r = sub.add_parser("report", help="render Markdown/CSV/PNG from a results file")
    r.add_argument("results")
    r.add_argument("--out-dir", default=None)
    r.set_defaults(func=cmd_report)
    d = sub.add_parser("datasets", help="list datasets and whether their files are present")
    d.add_argument("--root", default=None)
    d.set_defaults(func=cmd_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        # key=value options may stand anywhere among the flags: parse them intermixed.
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        args = sub.choices["bench"].parse_intermixed_args(argv[1:])
        args.argv = argv[1:]
    else:
        args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
