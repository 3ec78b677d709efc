"""The leaderboard: models x datasets, test mean ± std, the best per column marked, mean rank.

A row is a variant (its :func:`~graphlib_pyg.bench.report_table.variant_labels` entry, which
names a variant the same way on every dataset), a column a dataset with its metric. Every metric
of the library is "higher is better" (:mod:`graphlib_pyg.data.metrics`), so in each column the
highest mean is best and ranks 1; ties share the better rank. A variant's average rank is over
the columns it has a score in (the cell says how many when that is not all of them); rows are
sorted by it.

Example:
    >>> from graphlib_pyg.bench.leaderboard import leaderboard, leaderboard_cells
    >>> board = leaderboard(summary, labels)  # doctest: +SKIP
    >>> print(markdown_table(*leaderboard_cells(board)))  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from graphlib_pyg.bench.report_table import _scale


def leaderboard(df: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The leaderboard of a :func:`~graphlib_pyg.bench.report_table.summarize` table.

    Args:
        df: the summary, one row per group of runs.
        labels: its :func:`~graphlib_pyg.bench.report_table.variant_labels`.

    Returns:
        A frame indexed by label, sorted by average rank, with per column ``"dataset (metric)"``
        four columns ``(column, "mean")``, ``(column, "std")`` (percentages for fraction
        metrics), ``(column, "runs")`` and ``(column, "rank")``, then ``("avg rank", "")`` and
        ``("ranked on", "")`` (the number of columns the variant has a score in).
    """
    recs = df.to_dict("records")
    long = pd.DataFrame(
        {
            "label": labels,
            "column": [f"{r['dataset']} ({r['metric']})" for r in recs],
            "mean": [r["test_mean"] * _scale(r) for r in recs],
            "std": [r["test_std"] * _scale(r) for r in recs],
            "runs": [int(r["runs"]) for r in recs],
        }
    )
    columns = list(dict.fromkeys(long["column"]))
    mean = long.pivot(index="label", columns="column", values="mean")[columns]  # (V, C)
    std = long.pivot(index="label", columns="column", values="std")[columns]  # (V, C)
    runs = long.pivot(index="label", columns="column", values="runs")[columns]  # (V, C)
    rank = mean.rank(axis=0, ascending=False, method="min")  # (V, C): 1 is best
    parts = {}
    for c in columns:
        parts[c, "mean"], parts[c, "std"], parts[c, "runs"] = mean[c], std[c], runs[c]
        parts[c, "rank"] = rank[c]
    parts["avg rank", ""] = rank.mean(axis=1)
    parts["ranked on", ""] = rank.notna().sum(axis=1)
    board = pd.DataFrame(parts)
    board.columns = pd.MultiIndex.from_tuples(board.columns)
    order = sorted(board.index, key=lambda v: (board.loc[v, ("avg rank", "")], v))
    return board.loc[order]


def leaderboard_cells(board: pd.DataFrame) -> tuple[list[str], list[bool], list[list[str]]]:
    """Header, right-alignment and body of a :func:`leaderboard`: ``mean ± std`` cells (``mean
    (1 run)`` for a single run) with the best of each column in bold (``**...**``), ``–`` where
    a variant has no score."""
    columns = list(dict.fromkeys(c for c, _ in board.columns if c not in ("avg rank", "ranked on")))
    total = len(columns)
    body = []
    for label, row in board.iterrows():
        cells = [str(label)]
        for c in columns:
            if pd.isna(row[c, "mean"]):
                cells.append("–")
                continue
            text = f"{row[c, 'mean']:.2f} ± {row[c, 'std']:.2f}"
            if row[c, "runs"] == 1:  # no spread to show
                text = f"{row[c, 'mean']:.2f} (1 run)"
            cells.append(f"**{text}**" if row[c, "rank"] == 1 else text)
        n = int(row["ranked on", ""])
        cells.append(f"{row['avg rank', '']:.2f}" + ("" if n == total else f" ({n}/{total})"))
        body.append(cells)
    return ["model", *columns, "avg rank"], [False] + [True] * (total + 1), body
