"""Benchmark reports rendered from the results file: Markdown, CSV, PNG plots and optional HTML.

Results are data: the report is read back from the JSON Lines results file the harness appends
to, never taken from memory. It holds, in this order:

- a **leaderboard** when the file holds several datasets (:mod:`~graphlib_pyg.bench.leaderboard`:
  models x datasets, test mean ± std, the best per column in bold, the average rank per model);
- the **table** of every group of runs (:mod:`~graphlib_pyg.bench.report_table`), each row named
  by the options that set it apart from the model's other rows (``gmn node_layers=3``); the
  config hash stays in the CSV;
- the **score plot** (test mean ± std per row, sorted, one panel per dataset, on an axis fitted
  to the data) and the **learning curves** (validation mean ± std band per dataset) of
  :mod:`~graphlib_pyg.bench.report_plots`.

Example:
    >>> from graphlib_pyg.bench.report import render_report
    >>> paths = render_report("results.jsonl", "report/", html=True)  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['csv', 'curves', 'html', 'markdown', 'test_metric']
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from graphlib_pyg.bench.leaderboard import leaderboard, leaderboard_cells
from graphlib_pyg.bench.report_html import Section, render_html
from graphlib_pyg.bench.report_plots import plot_curves, plot_scores
from graphlib_pyg.bench.report_table import (
    SUMMARY_COLUMNS,
    markdown_table,
    summarize,
    table_cells,
    to_markdown,
    variant_labels,
)
from graphlib_pyg.bench.results import config_id, read_results

__all__ = [
    "SUMMARY_COLUMNS",
    "config_id",
    "read_results",
    "render_report",
    "report_command",
    "summarize",
    "to_markdown",
]


def render_report(
    results_path: str | os.PathLike, out_dir: str | os.PathLike, html: bool = False
) -> dict[str, Path]:
    """Render the report of a results file into ``out_dir`` (created if needed).

    Writes ``report.md`` (tables and figures), ``report.csv`` (the
    :func:`~graphlib_pyg.bench.report_table.summarize` table with each row's ``label`` and
    ``config_id``), ``test_metric.png`` (the score plot), ``curves.png`` only if some run
    recorded a curve, and ``report.html`` (everything in one file, figures embedded) with
    ``html=True``. Files this call does not write are never touched: a ``curves.png`` already
    in ``out_dir`` stays when there are no curves (``report.md`` does not link it).

    Args:
        results_path: the JSON Lines results file.
        out_dir: the folder to write into.
        html: also write the self-contained ``report.html``.

    Returns:
        The paths written, under keys ``markdown``, ``csv``, ``test_metric``, ``curves`` and
        ``html``.

    Raises:
        FileNotFoundError: the results file does not exist.
        ValueError: the results file holds no finished run.
    """
    rows = read_results(results_path)
    if not rows:
        raise ValueError(f"no finished runs in {results_path}")
    df = summarize(rows)
    labels = variant_labels(df)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "report.csv", "test_metric": out / "test_metric.png"}
    df.insert(1, "label", labels)
    df.to_csv(paths["csv"], index=False)
    df = df.drop(columns="label")
    plot_scores(df, labels, paths["test_metric"])
    if plot_curves(rows, df, labels, out / "curves.png") is not None:
        paths["curves"] = out / "curves.png"

    sections: list[Section] = []
    columns = df[["dataset", "metric"]].drop_duplicates()
    if len(columns) > 1:
        sections.append(("Leaderboard", leaderboard_cells(leaderboard(df, labels))))
    sections += [("All runs", table_cells(df)), ("Test scores", paths["test_metric"])]
    if "curves" in paths:
        sections.append(("Learning curves (validation)", paths["curves"]))
    intro = (
        f"Rendered from `{results_path}`: {int(df['runs'].sum())} runs in {len(df)} groups. "
        "Test score at the best-validation epoch; mean ± unbiased std over runs; metrics in "
        "[0, 1] shown as percentages. A model's rows are named by the options that differ "
        "between them; report.csv has each row's full config."
    )
    if len(columns) > 1:
        intro += " Leaderboard: the best per column in bold; rank 1 is the best in a column."
    text = ["# Benchmark report", "", intro]
    for heading, content in sections:
        text += ["", f"## {heading}", ""]
        if isinstance(content, Path):
            text.append(f"![{heading}]({content.name})")
        else:
            text.append(markdown_table(*content).rstrip("\n"))
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text("\n".join(text) + "\n", encoding="utf-8")
    if html:
        paths["html"] = out / "report.html"
        page = render_html("Benchmark report", intro, sections)
        paths["html"].write_text(page, encoding="utf-8")
    return paths


def report_command(results: str, out_dir: str | None = None, html: bool = False) -> int:
    """``graphlib report RESULTS [--out-dir DIR] [--html]``: render, print the Markdown and the
    paths written. Exit status 2 for a missing or empty results file, 1 for a folder that
    cannot be written."""
    out_dir = out_dir or str(Path(results).with_suffix("")) + "-report"
    try:
        paths = render_report(results, out_dir, html=html)
    except (FileNotFoundError, ValueError) as err:
        print(f"graphlib report: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an --out-dir that cannot be written
        where = f"{err.strerror}: {err.filename}" if err.filename else (err.strerror or err)
        print(f"graphlib report: {where}", file=sys.stderr)
        return 1
    print(paths["markdown"].read_text(encoding="utf-8"))
    for kind, path in sorted(paths.items()):
        print(f"{kind}: {path}", file=sys.stderr)
    return 0
