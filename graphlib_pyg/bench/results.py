"""The results store: one JSON line per finished run, appended atomically.

Each finished run is written with a single ``os.write`` on an ``O_APPEND`` descriptor followed by
``fsync``, so a crash leaves at most one truncated last line; readers skip it
(:func:`graphlib_pyg.bench.report.read_results`) and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from graphlib_pyg.bench.report import config_id, read_results


def run_key(row: dict) -> tuple:
    """What identifies a run: the resume key."""
    return (
        row["model"],
        row["dataset"],
        row.get("trainer", "backprop"),
        row.get("augment", "none"),
        config_id(row.get("config")),
        int(row["run"]),
    )


def append_result(path: str | os.PathLike, row: dict) -> None:
    """Append ``row`` as one JSON line, atomically, creating the file and its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, sort_keys=True, default=_jsonable) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:  # a crash may have left a broken last line without its newline
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def finished(path: str | os.PathLike | None) -> dict[tuple, dict]:
    """Runs already in the results file, by :func:`run_key` (empty if there is no file)."""
    if path is None or not Path(path).exists():
        return {}
    return {run_key(r): r for r in read_results(path) if "run" in r}


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results file")
