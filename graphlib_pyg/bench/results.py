"""The results store: one JSON line per finished run, appended atomically.

Each finished run is written with a single ``os.write`` on an ``O_APPEND`` descriptor followed by
``fsync``, so a crash leaves at most one truncated last line; readers skip it
(:func:`read_results`) and the next append starts on a fresh line.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

#: Config keys that vary per run and so do not identify a configuration.
PER_RUN_CONFIG_KEYS = ("seed", "run")


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON Lines results file, one finished run per line.

    Blank lines are ignored. A line that is not a JSON object (e.g. a last line cut short by a
    crash mid-write) is skipped with a ``UserWarning`` naming its line number.

    Args:
        path: the results file.

    Returns:
        The runs, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file not found: {path}")
    rows: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
                warnings.warn(f"{path}: skipping unparsable line {lineno} ({err})", stacklevel=2)
                continue
            if not isinstance(row, dict):
                warnings.warn(f"{path}: skipping line {lineno}: not a JSON object", stacklevel=2)
                continue
            rows.append(row)
    return rows


def config_id(config: dict[str, Any] | None) -> str:
    """Short stable hash of a run config without its per-run keys (``seed``, ``run``)."""
    cfg = {k: v for k, v in (config or {}).items() if k not in PER_RUN_CONFIG_KEYS}
    blob = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:8]


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
