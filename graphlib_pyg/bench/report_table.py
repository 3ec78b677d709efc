"""The report's table: runs grouped and summarised, each row named by what sets it apart.

Results are data: every number here is read back from the JSON Lines results file the harness
appends to (one finished run per line, :mod:`graphlib_pyg.bench.results`), never taken from
memory. A run line holds ``model``, ``dataset``, ``trainer``, ``augment``, ``run``, ``seed``,
``metric``, ``val``, ``test``, ``best_step``, ``step_unit``, ``params``, ``step_time_s``,
``peak_rss_mb``, ``config`` (a dict) and, optionally, ``curve`` and ``val_as_input`` (collab
protocol: validation edges were model input).

Runs are grouped by model, dataset, trainer, augmentation, metric, ``val_as_input`` and the
config without its per-run keys (``seed``, ``run``), so different hyper-parameters never mix;
the CSV names the config by :func:`config_id`, a short stable hash. A reader sees
:func:`variant_labels` instead: the model plus the options that differ between rows of the same
model (``gmn node_layers=3``). Per group the OGB protocol is reported: mean and unbiased std
(ddof=1) of the best-validation-epoch scores over runs.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd

from graphlib_pyg.bench.results import (
    PER_RUN_CONFIG_KEYS,
    REQUIRED_KEYS,
    config_id,
)

_REQUIRED = REQUIRED_KEYS
# Fields that identify a group, in the order of the group key.
_KEY_FIELDS = ("model", "dataset", "trainer", "augment", "config_id", "metric", "val_as_input")
SUMMARY_COLUMNS = (
    "model dataset trainer augment config_id runs metric val_mean val_std test_mean test_std "
    "params best_step step_unit step_time_s epoch_time_s peak_rss_mb val_as_input config"
).split()
# Table columns: (header, right-aligned, cell of a summary record and its display scale);
# a record's ``label`` is its :func:`variant_labels` entry without the fields shown beside it.
_TABLE_COLUMNS = (
    ("model", False, lambda r, s: r["label"]),
    ("dataset", False, lambda r, s: _text(r["dataset"])),
    ("trainer", False, lambda r, s: _text(r["trainer"])),
    ("augment", False, lambda r, s: _text(r["augment"])),
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
        dataset, model, trainer, augment and config.

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
            _natural("" if r[k] is None else str(r[k]))
            for k in ("dataset", "model", "trainer", "augment", "config")
        )
    )
    df = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    df["params"] = df["params"].astype("Int64")
    return df


def table_cells(df: pd.DataFrame) -> tuple[list[str], list[bool], list[list[str]]]:
    """The cells of a :func:`summarize` table: header, right-alignment per column, body.

    The ``model`` column holds the :func:`variant_labels` of the rows (the trainer, augmentation
    and metric have their own columns). Val and test are shown as ``mean ± std``; when both
    means lie in [0, 1] the metric is a fraction and is shown as a percentage with 2 decimals
    (``81.52 ± 0.48``). The ``val as input`` column appears only when some run recorded it.
    """
    show_vai = bool(df["val_as_input"].notna().any())
    cols = [c for c in _TABLE_COLUMNS if show_vai or c[0] != "val as input"]
    recs = df.to_dict("records")
    for rec, label in zip(recs, variant_labels(df, fields=()), strict=True):
        rec["label"] = label
    body = [[cell(r, _scale(r)) for _, _, cell in cols] for r in recs]
    return [h for h, _, _ in cols], [right for _, right, _ in cols], body


def markdown_table(header: list[str], right: list[bool], body: list[list[str]]) -> str:
    """A Markdown table, columns padded to their widths (no ``tabulate`` needed)."""
    body = [[c.replace("|", "\\|") for c in row] for row in body]
    widths = [max(len(h), *(len(r[j]) for r in body)) for j, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        padded = (
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rules = (
        "-" * (w + 1) + ":" if r else ":" + "-" * (w + 1)
        for w, r in zip(widths, right, strict=True)
    )
    return "\n".join([line(header), "|" + "|".join(rules) + "|", *map(line, body)]) + "\n"


def to_markdown(df: pd.DataFrame) -> str:
    """Render a :func:`summarize` table as Markdown (cells of :func:`table_cells`)."""
    return markdown_table(*table_cells(df))


#: Key fields a label names when they differ between rows of one model on one dataset.
LABEL_FIELDS = ("trainer", "augment", "metric", "val_as_input")
_ABSENT = "\0absent"


def variant_labels(df: pd.DataFrame, fields: tuple[str, ...] = LABEL_FIELDS) -> list[str]:
    """Per :func:`summarize` row: its model plus what sets it apart from the model's other rows.

    An option (a config key; nested keys joined by dots, ``data.split``) is named when its value
    differs between rows of the same model, trainer and augmentation on some dataset; a field of
    ``fields`` when it differs between rows of the same model on some dataset. Every row of a
    model names the same keys, so a variant has one label on every dataset (a leaderboard row);
    options a row's config lacks are left out. Rows of one group key that would still print
    alike get their ``config_id`` appended.

    Example: three ``gmn`` rows on tolokers that differ in ``epochs``, one of them also with
    ``node_layers=3``, are ``gmn epochs=100``, ``gmn epochs=250`` and
    ``gmn epochs=150 node_layers=3``; the single ``gcn`` row is ``gcn``.
    """
    recs = df.to_dict("records")
    configs = [_flat(json.loads(r["config"])) for r in recs]
    shown_fields: dict[Any, set[str]] = defaultdict(set)
    shown_keys: dict[tuple, set[str]] = defaultdict(set)
    rows_of: dict[tuple, list[int]] = defaultdict(list)  # (model, dataset) -> row indices
    for i, rec in enumerate(recs):
        rows_of[rec["model"], rec["dataset"]].append(i)
    for (model, _), rows in rows_of.items():
        shown_fields[model] |= {f for f in fields if len({_text(recs[i][f]) for i in rows}) > 1}
        families: dict[tuple, list[int]] = defaultdict(list)
        for i in rows:
            families[_family(recs[i])].append(i)
        for family, members in families.items():
            for key in set().union(*(configs[i] for i in members)):
                if len({_value(configs[i].get(key, _ABSENT)) for i in members}) > 1:
                    shown_keys[family].add(key)
    labels = []
    for rec, cfg in zip(recs, configs, strict=True):
        parts = [str(rec["model"])]
        parts += [f"{f}={_text(rec[f])}" for f in fields if f in shown_fields[rec["model"]]]
        keys = sorted(k for k in shown_keys[_family(rec)] if k in cfg)
        labels.append(" ".join(parts + [f"{k}={_value(cfg[k])}" for k in keys]))
    clash = Counter((*_group_key(r, ""), lab) for r, lab in zip(recs, labels, strict=True))
    return [
        f"{lab} [{r['config_id']}]" if clash[(*_group_key(r, ""), lab)] > 1 else lab
        for r, lab in zip(recs, labels, strict=True)
    ]


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


def _natural(text: str) -> tuple:
    """Sort key that orders the numbers in ``text`` by value (``K=2`` before ``K=10``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text))


def _family(rec: dict[str, Any]) -> tuple:
    return rec["model"], _text(rec["trainer"]), _text(rec["augment"])


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config with nested dicts flattened to dotted keys (``{"data": {"split": s}}`` ->
    ``{"data.split": s}``)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _value(x: Any) -> str:
    """An option value as it is typed on the command line: ``gcn``, ``3``, ``true``, ``[15,10]``."""
    return x if isinstance(x, str) else json.dumps(x, separators=(",", ":"), default=str)
