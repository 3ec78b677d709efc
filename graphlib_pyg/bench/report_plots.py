"""The report's figures: test scores with error bars, and learning curves with a std band.

Both draw one panel per dataset (and metric; curves also per step unit) and name every point
and line by its :func:`~graphlib_pyg.bench.report_table.variant_labels` entry, in one colour per
label across panels. The score plot puts the labels on the y axis and the numbers on a second
axis at the right, so no legend ever covers the data; its x axis spans the data (mean ± std),
not zero upwards, so models a point apart stay apart.

Figures are drawn on matplotlib's Agg canvas without touching pyplot's global state.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from graphlib_pyg.bench.report_table import _group_key, _scale, _short

#: Height in inches of one row (a point with its error bar) of the score plot.
ROW_INCHES = 0.32


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # Agg without touching pyplot's global backend
    return fig


def _colors(labels: list[str]) -> dict[str, Any]:
    """One colour per distinct label, in order of first appearance (tab10, then tab20)."""
    from matplotlib import colormaps

    names = list(dict.fromkeys(labels))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _unit_note(recs: list[dict[str, Any]]) -> str:
    return " (%)" if all(_scale(r) == 100.0 for r in recs) else ""


def _value(mean: float, std: float, runs: int, count: bool) -> str:
    """``mean ± std``, with the number of runs when a panel's rows differ in it; a single run
    has no spread to show."""
    if runs == 1:
        return f"{mean:.2f} (1 run)"
    return f"{mean:.2f} ± {std:.2f}" + (f" (n={runs})" if count else "")


def plot_scores(df: pd.DataFrame, labels: list[str], path: Path):
    """Test score per row as a point with a ±std error bar, one panel per (dataset, metric).

    Rows are sorted by mean test score, best on top; the x axis is fitted to the span of
    mean ± std of its panel. Fraction metrics are drawn as percentages.

    Returns:
        The matplotlib ``Figure`` saved to ``path``.
    """
    recs = [dict(r, label=lab) for r, lab in zip(df.to_dict("records"), labels, strict=True)]
    panels: dict[tuple, list[dict[str, Any]]] = {}
    for rec in recs:
        panels.setdefault((rec["dataset"], rec["metric"]), []).append(rec)
    colors = _colors(labels)
    heights = [ROW_INCHES * len(p) + 0.9 for p in panels.values()]
    fig = _new_figure(9.0, sum(heights) + 0.3)
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    for i, ((dataset, metric), panel) in enumerate(panels.items()):
        panel.sort(key=lambda r: r["test_mean"] * _scale(r))  # best last: at the top
        means = [r["test_mean"] * _scale(r) for r in panel]
        stds = [r["test_std"] * _scale(r) for r in panel]
        ax = fig.add_subplot(grid[i])
        for y, (rec, mean, std) in enumerate(zip(panel, means, stds, strict=True)):
            color = colors[rec["label"]]
            ax.errorbar(mean, y, xerr=std, fmt="o", color=color, capsize=3, markersize=5)
        lo = min(m - s for m, s in zip(means, stds, strict=True))
        hi = max(m + s for m, s in zip(means, stds, strict=True))
        pad = 0.08 * (hi - lo) or 0.05 * max(abs(hi), 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-0.6, len(panel) - 0.4)
        ax.set_yticks(range(len(panel)), [r["label"] for r in panel])
        ax.grid(axis="x", alpha=0.3)
        runs = [int(r["runs"]) for r in panel]
        right = ax.twinx()  # the numbers, beside their rows and off the data
        right.set_ylim(ax.get_ylim())
        mixed = len(set(runs)) > 1
        values = [_value(*v, mixed) for v in zip(means, stds, runs, strict=True)]
        right.set_yticks(range(len(panel)), values)
        n = f"{min(runs)}-{max(runs)}" if mixed else f"{runs[0]}"
        ax.set_title(f"{dataset}: test {metric}{_unit_note(panel)}, mean ± std over {n} runs")
    fig.savefig(path, dpi=120)
    return fig


def _run_curves(rows: list[dict[str, Any]]) -> dict[tuple, list[pd.DataFrame]]:
    """Per group key: one ``(step, val, unit)`` frame per run that recorded a curve."""
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
    return curves


def plot_curves(rows: list[dict[str, Any]], df: pd.DataFrame, labels: list[str], path: Path):
    """Validation curves: mean over runs with a ±std band, one panel per (dataset, step unit,
    metric); a step is drawn where at least half of the runs reached it (runs stopped early
    would otherwise leave a tail averaged over one or two runs). One legend, beside the panels.

    Returns:
        The matplotlib ``Figure`` saved to ``path``, or ``None`` (and nothing is written) when
        no run recorded a curve.
    """
    from matplotlib.ticker import MaxNLocator

    curves = _run_curves(rows)
    if not curves:
        return None
    lines = []  # (panel, label, steps, mean, std)
    for rec, label in zip(df.to_dict("records"), labels, strict=True):
        frames = curves.get(_group_key(rec, rec["config_id"]))
        for unit, runs in pd.concat(frames).groupby("unit") if frames else ():
            stats = runs.groupby("step")["val"].agg(["mean", "std", "count"])  # (S, 3)
            stats = stats[stats["count"] >= math.ceil(len(frames) / 2)] * _scale(rec)
            panel = (rec["dataset"], unit, rec["metric"], _unit_note([rec]))
            lines.append((panel, label, stats.index, stats["mean"], stats["std"].fillna(0.0)))
    panels = list(dict.fromkeys(p for p, *_ in lines))
    colors = _colors(labels)
    ncols = 1 if len(panels) == 1 else 2
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(6.0 * ncols + 3.0, 3.8 * nrows)
    shown: dict[str, Any] = {}
    for i, panel in enumerate(panels):
        dataset, unit, metric, note = panel
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for p, label, steps, mean, std in lines:
            if p == panel:
                color = colors[label]
                marker = "o" if len(steps) < 20 else None
                (shown[label],) = ax.plot(steps, mean, color=color, marker=marker, label=label)
                top = 100.0 if note else math.inf  # a band never leaves [0, 100] %
                low, high = (
                    (mean - std).clip(0.0 if note else -math.inf),
                    (mean + std).clip(None, top),
                )
                ax.fill_between(steps, low, high, color=color, alpha=0.2, lw=0)
        ax.set_title(f"{dataset}: validation {metric}")
        ax.set_xlabel(unit)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps, epochs, layers
        ax.set_ylabel(f"val{note}, mean ± std")
        ax.grid(alpha=0.3)
    fig.legend(list(shown.values()), list(shown), loc="outside right upper", fontsize="small")
    fig.savefig(path, dpi=120)
    return fig
