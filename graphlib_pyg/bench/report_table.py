"""Benchmark reports rendered from the results file: Markdown table, CSV and PNG plots.

Results are data: every number here is read back from the JSON Lines results file the harness
appends to (one finished run per line), never taken from memory. A run line holds ``model``,
``dataset``, ``trainer``, ``augment``, ``run``, ``seed``, ``metric``, ``val``, ``test``,
``best_epoch``, ``params``, ``epoch_time_s``, ``peak_rss_mb``, ``config`` (a dict) and, optionally,
``curve`` (lists ``epoch``, ``train_loss``, ``val``, ``test`` per evaluated epoch) and
``val_as_input`` (collab protocol: validation edges were model input).

Runs are grouped by model, dataset, trainer, augmentation, metric, ``val_as_input`` and the
config without its per-run keys (``seed``, ``run``), so different hyper-parameters never mix;
the config is named by :func:`config_id`, a short stable hash. Per group the OGB protocol is
reported: mean and unbiased std (ddof=1) of the best-validation-epoch scores over runs.

Example:
    >>> from graphlib_pyg.bench.report import render_report
    >>> paths = render_report("results.jsonl", "report/")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['csv', 'curves', 'markdown', 'test_metric']
"""

from __future__ import annotations

import json
import math
import os
import statistics
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from graphlib_pyg.bench.results import (
    PER_RUN_CONFIG_KEYS,
    REQUIRED_KEYS,
    config_id,
    read_results,
)

_REQUIRED = REQUIRED_KEYS
# Fields that identify a group, in the order of the group key.
_KEY_FIELDS = ("model", "dataset", "trainer", "augment", "config_id", "metric", "val_as_input")
SUMMARY_COLUMNS = (
    "model dataset trainer augment config_id runs metric val_mean val_std test_mean test_std "
    "params best_step step_unit step_time_s epoch_time_s peak_rss_mb val_as_input config"
).split()
# Markdown columns: (header, right-aligned, cell of a summary record and its display scale).
_MD_COLUMNS = (
    ("model", False, lambda r, s: _text(r["model"])),
    ("dataset", False, lambda r, s: _text(r["dataset"])),
    ("trainer", False, lambda r, s: _text(r["trainer"])),
    ("augment", False, lambda r, s: _text(r["augment"])),
    ("config", False, lambda r, s: _text(r["config_id"])),
    ("metric", False, lambda r, s: _text(r["metric"])),
    ("val as input", False, lambda r, s: _text(r["val_as_input"])),
    ("runs", True, lambda r, s: str(int(r["runs"]))),
    ("val", True, lambda r, s: _pm(r["val_mean"], r["val_std"], s)),
    ("test", True, lambda r, s: _pm(r["test_mean"], r["test_std"], s)),
    ("params", True, lambda r, s: _num(r["params"], ",.0f")),
    ("best step", True, lambda r, s: _step(r["best_step"], r["step_unit"])),
    ("s / step", True, lambda r, s: _seconds(r["step_time_s"])),
    ("peak RSS (MB)", True, lambda r, s: _num(r["peak_rss_mb"], ",.0f")),
)


def summarize(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per group of runs: mean ± unbiased std of val/test and cost figures.

    A group is (model, dataset, trainer, augment, config_id, metric, val_as_input). Within a
    group a seed seen twice (a run repeated after a resume) counts once: the last line wins.

    Args:
        rows: runs as returned by :func:`read_results`.

    Returns:
        A DataFrame with columns :data:`SUMMARY_COLUMNS`: ``runs``; ``val_mean``, ``val_std``,
        ``test_mean``, ``test_std`` (std with ddof=1, 0.0 for a single run); ``params`` (max);
        ``best_step`` and ``step_time_s`` (medians) with their ``step_unit`` (what a step is:
        ``epoch``, ``step``, ...); ``epoch_time_s`` (median, epoch rows only);
        ``peak_rss_mb`` (max); ``config`` (JSON of the config without per-run keys). Sorted by
        dataset, model, trainer, augment, config_id.

    Raises:
        ValueError: a row lacks one of ``model``, ``dataset``, ``metric``, ``val``, ``test``.
    """
    groups: dict[tuple, dict[Any, dict[str, Any]]] = {}
    for i, row in enumerate(rows):
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise ValueError(f"result row {i} lacks keys {missing}: {_short(row)}")
        runs = groups.setdefault(_group_key(row), {})
        run_id = row.get("seed")
        if run_id is None:
            run_id = ("row", i)
        elif run_id in runs:
            warnings.warn(
                f"duplicate seed {run_id} for {_short(row)}; keeping the last", stacklevel=2
            )
        runs[run_id] = row

    records = []
    for key, runs in groups.items():
        group = list(runs.values())
        vals = [float(r["val"]) for r in group]
        tests = [float(r["test"]) for r in group]
        cfg = {
            k: v for k, v in (group[0].get("config") or {}).items() if k not in PER_RUN_CONFIG_KEYS
        }
        rec = dict(zip(_KEY_FIELDS, key, strict=True))
        rec.update(
            runs=len(group),
            val_mean=statistics.fmean(vals),
            val_std=_std(vals),
            test_mean=statistics.fmean(tests),
            test_std=_std(tests),
            params=_agg(group, "params", max),
            best_step=_agg([_step_of(r) for r in group], "best_step", statistics.median),
            step_unit=", ".join(sorted({_step_of(r)["step_unit"] for r in group})),
            step_time_s=_agg([_step_of(r) for r in group], "step_time_s", statistics.median),
            epoch_time_s=_agg(group, "epoch_time_s", statistics.median),
            peak_rss_mb=_agg(group, "peak_rss_mb", max),
            config=json.dumps(cfg, sort_keys=True, default=str),
        )
        records.append(rec)
    records.sort(
        key=lambda r: tuple(
            "" if r[k] is None else str(r[k])
            for k in ("dataset", "model", "trainer", "augment", "config_id")
        )
    )
    df = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    df["params"] = df["params"].astype("Int64")
    return df


def to_markdown(df: pd.DataFrame) -> str:
    """Render a :func:`summarize` table as Markdown (no ``tabulate`` needed).

    Val and test are shown as ``mean ± std``; when both means lie in [0, 1] the metric is a
    fraction and is shown as a percentage with 2 decimals (``81.52 ± 0.48``). The
    ``val as input`` column appears only when some run recorded it.
    """
    show_vai = bool(df["val_as_input"].notna().any())
    cols = [c for c in _MD_COLUMNS if show_vai or c[0] != "val as input"]
    recs = df.to_dict("records")
    body = [[cell(r, _scale(r)).replace("|", "\\|") for _, _, cell in cols] for r in recs]
    header = [h for h, _, _ in cols]
    widths = [max(len(h), *(len(r[j]) for r in body)) for j, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        padded = (
            c.rjust(w) if right else c.ljust(w)
            for c, w, (_, right, _) in zip(cells, widths, cols, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rules = (
        "-" * (w + 1) + ":" if right else ":" + "-" * (w + 1)
        for w, (_, right, _) in zip(widths, cols, strict=True)
    )
    rule = "|" + "|".join(rules) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in body)]) + "\n"


def render_report(results_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Render the report of a results file into ``out_dir`` (created if needed).

    Writes ``report.md`` (Markdown table + plots), ``report.csv`` (the :func:`summarize` table),
    ``test_metric.png`` (bars with std error bars: one bar per model, grouped by dataset) and,
    only if some run recorded a ``curve``, ``curves.png`` (validation metric vs epoch, mean over
    runs, one line per model per dataset). Files this call does not write are never touched: a
    ``curves.png`` already in ``out_dir`` stays when there are no curves (``report.md`` does not
    link it).

    Args:
        results_path: the JSON Lines results file.
        out_dir: the folder to write into.

    Returns:
        The paths written, under keys ``markdown``, ``csv``, ``test_metric`` and ``curves``.

    Raises:
        FileNotFoundError: the results file does not exist.
        ValueError: the results file holds no finished run.
    """
    rows = read_results(results_path)
    if not rows:
        raise ValueError(f"no finished runs in {results_path}")
    df = summarize(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "report.csv", "test_metric": out / "test_metric.png"}
    df.to_csv(paths["csv"], index=False)
    labels = _variant_labels(df)
    _plot_test(df, labels, paths["test_metric"])
    curves = out / "curves.png"
    if _plot_curves(rows, df, labels, curves):
        paths["curves"] = curves

    n_runs = int(df["runs"].sum())
    text = [
        "# Benchmark report",
        "",
        f"Rendered from `{results_path}`: {n_runs} runs in {len(df)} groups. Test score at the "
        "best-validation epoch; mean ± unbiased std over runs; metrics in [0, 1] shown as "
        "percentages.",
        "",
        to_markdown(df),
        "![test metric](test_metric.png)",
    ]
    if "curves" in paths:
        text += ["", "![validation curves](curves.png)"]
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text("\n".join(text) + "\n", encoding="utf-8")
    return paths


# --------------------------------------------------------------------------------------------
# helpers


def _norm(x: Any) -> Any:
    """None for missing values (None or NaN), so keys from rows and from a DataFrame agree."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _group_key(row: dict[str, Any], cid: str | None = None) -> tuple:
    """Group key of a run line, or of a summary record when its ``cid`` (config_id) is given."""
    vai = _norm(row.get("val_as_input"))
    return (
        row["model"],
        row["dataset"],
        _norm(row.get("trainer")),
        _norm(row.get("augment")),
        config_id(row.get("config")) if cid is None else cid,
        row["metric"],
        None if vai is None else bool(vai),
    )


def _short(row: dict[str, Any]) -> str:
    return "/".join(str(row.get(k)) for k in ("model", "dataset", "trainer", "augment"))


def _std(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _step_of(row: dict[str, Any]) -> dict[str, Any]:
    """A row's best step, its unit and seconds per step; rows written before the trainer
    contract stored ``best_epoch``/``epoch_time_s`` only (their unit: epoch)."""
    if "step_unit" in row:
        return row
    return {
        "best_step": row.get("best_epoch"),
        "step_unit": "epoch",
        "step_time_s": row.get("epoch_time_s"),
    }


def _step(x: Any, unit: Any) -> str:
    if _norm(x) is None or unit in (None, "none"):
        return "–"
    return f"{float(x):,.0f} {unit}{'s' if float(x) != 1 else ''}"


def _agg(group: list[dict[str, Any]], key: str, fn) -> float:
    xs = [float(r[key]) for r in group if _norm(r.get(key)) is not None]
    return fn(xs) if xs else math.nan


def _scale(rec: dict[str, Any]) -> float:
    """100 for fraction metrics (both means in [0, 1]), else 1."""
    return 100.0 if 0 <= rec["val_mean"] <= 1 and 0 <= rec["test_mean"] <= 1 else 1.0


def _text(x: Any) -> str:
    return "–" if _norm(x) is None else str(x)


def _pm(mean: float, std: float, scale: float) -> str:
    return f"{mean * scale:.2f} ± {std * scale:.2f}"


def _num(x: Any, fmt: str) -> str:
    return "–" if x is pd.NA or _norm(x) is None else format(float(x), fmt)


def _seconds(x: Any) -> str:
    return "–" if _norm(x) is None else f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _variant_labels(df: pd.DataFrame) -> list[str]:
    """Per summary row: the model, plus whichever key fields vary within a (dataset, model)."""
    varying = [
        f
        for f in ("trainer", "augment", "config_id", "metric", "val_as_input")
        if len(df) and df.groupby(["dataset", "model"])[f].nunique(dropna=False).max() > 1
    ]
    return [
        " ".join([str(rec["model"])] + [f"{f}={rec[f]}" for f in varying])
        for rec in df.to_dict("records")
    ]


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # Agg without touching pyplot's global backend
    return fig


def _plot_test(df: pd.DataFrame, labels: list[str], path: Path) -> None:
    datasets = list(dict.fromkeys(df["dataset"]))
    variants = list(dict.fromkeys(labels))
    width = 0.8 / len(variants)
    fig = _new_figure(max(6.0, 0.5 * len(df) + 2), 4.5)
    ax = fig.add_subplot()
    recs = df.to_dict("records")
    for j, variant in enumerate(variants):
        sub = [r for r, lab in zip(recs, labels, strict=True) if lab == variant]
        xs = [datasets.index(r["dataset"]) - 0.4 + width * (j + 0.5) for r in sub]
        ax.bar(
            xs,
            [r["test_mean"] * _scale(r) for r in sub],
            width,
            yerr=[r["test_std"] * _scale(r) for r in sub],
            capsize=3,
            label=variant,
        )
    metrics = {d: ", ".join(dict.fromkeys(df.loc[df["dataset"] == d, "metric"])) for d in datasets}
    ax.set_xticks(range(len(datasets)), [f"{d}\n({metrics[d]})" for d in datasets])
    ax.set_ylabel("test (mean ± std; % for metrics in [0, 1])")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _plot_curves(
    rows: list[dict[str, Any]], df: pd.DataFrame, labels: list[str], path: Path
) -> bool:
    """Validation curves, mean over runs per step, one panel per dataset and step unit (epochs
    of backprop trainers, layers of layer-local ones, ...). Returns False (writes nothing) if
    there are none."""
    from matplotlib.ticker import MaxNLocator

    from graphlib_pyg.train.base import Curve

    curves: dict[tuple, list[pd.DataFrame]] = {}
    for row in rows:
        if row.get("curve") is None:
            continue
        try:
            c = Curve.from_dict(row["curve"])
        except (ValueError, TypeError) as err:
            warnings.warn(f"skipping malformed curve of {_short(row)}: {err}", stacklevel=3)
            continue
        frame = pd.DataFrame({"step": c.step, "val": pd.to_numeric(c.val), "unit": c.unit})
        curves.setdefault(_group_key(row), []).append(frame)
    if not curves:
        return False
    lines = []  # (dataset, unit, metric, label, mean curve)
    for rec, label in zip(df.to_dict("records"), labels, strict=True):
        frames = curves.get(_group_key(rec, rec["config_id"]))
        for unit, runs in pd.concat(frames).groupby("unit") if frames else ():
            mean = runs.groupby("step")["val"].mean() * _scale(rec)  # (S,)
            lines.append((rec["dataset"], unit, rec["metric"], label, mean))
    panels = list(dict.fromkeys((d, u) for d, u, *_ in lines))
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(5.0 * ncols, 3.8 * nrows)
    for i, (dataset, unit) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        mets = []
        for d, u, metric, label, mean in lines:
            if (d, u) == (dataset, unit):
                ax.plot(
                    mean.index, mean.values, label=label, marker="o" if len(mean) < 20 else None
                )
                mets.append(metric)
        ax.set_title(f"{dataset} ({', '.join(dict.fromkeys(mets))})")
        ax.set_xlabel(unit)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps, epochs, layers
        ax.set_ylabel("val (mean over runs)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True
