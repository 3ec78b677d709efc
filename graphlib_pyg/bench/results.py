"""The results store: one JSON line per finished run, appended atomically.

Each finished run is appended under an exclusive ``flock`` of the results file, with every byte
checked (short writes are continued) and ``fsync``. When the disk is full (or any write fails)
the file is truncated back to its previous size, so it stays parseable, and :class:`StoreError`
says so. A crash mid-write can still leave a truncated last line; readers skip it
(:func:`read_results`) and the next append starts on a fresh line.

:func:`check_store` refuses, before anything trains, a path that is not a results file (e.g. the
YAML grid just given to ``--config``) or that cannot be written. :func:`claim_runs` lets several
processes share one file: each run is claimed (a byte-range lock on the sidecar file
``<results>.lock``, released when the process ends, even by a crash) and the store re-read right
before it starts, so a run that another process finished or is running is not run twice.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one process per results file
    fcntl = None

#: Config keys that vary per run and so do not identify a configuration.
PER_RUN_CONFIG_KEYS = ("seed", "run")
#: Keys every result row has (what the report needs to place and score a run).
REQUIRED_KEYS = ("model", "dataset", "metric", "val", "test")


class StoreError(OSError):
    """A results file could not be written (full disk, read-only folder, ...); keeps the errno."""


class NotAResultsFileError(ValueError):
    """An existing file that does not hold result rows (the store refuses to append to it)."""


def _scan(path: Path) -> Iterator[tuple[int, bytes, Any, str | None]]:
    """``(line number, raw line, parsed value or None, why it is not a JSON object or None)``
    for each non-blank line: the one reader of the results format."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
                yield lineno, raw, None, f"unparsable ({err})"
                continue
            yield lineno, raw, value, None if isinstance(value, dict) else "not a JSON object"


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
    for lineno, _, value, why in _scan(path):
        if why is not None:
            warnings.warn(f"{path}: skipping line {lineno}: {why}", stacklevel=2)
        else:
            rows.append(value)
    return rows


def check_store(path: str | os.PathLike) -> None:
    """Check, before any run trains, that results can be appended to ``path``.

    A missing file is created empty (with its folder), which proves the folder is writable. An
    existing file must be a regular, writable file whose non-blank lines are all result rows
    (JSON objects with :data:`REQUIRED_KEYS`) or lines cut short by a crash (starting with ``{``
    but unparsable); anything else, such as a YAML config, is refused rather than appended to.

    Raises:
        NotAResultsFileError: ``path`` exists and is not a results file (the message names it
            and the first offending line).
        StoreError: ``path`` or its folder cannot be created or written (names the path).
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise NotAResultsFileError(f"results file {path} is not a regular file")
    if path.is_file() and path.stat().st_size:
        for lineno, raw, value, why in _scan(path):
            if why is None:
                missing = [k for k in REQUIRED_KEYS if k not in value]
                if not missing:
                    continue
                what = f"a JSON object without {', '.join(missing)}"
            elif value is None and raw.lstrip().startswith(b"{"):
                continue  # a row cut short by a crash mid-write: readers skip it
            else:
                what = "not JSON" if value is None else "not a JSON object"
            raise NotAResultsFileError(
                f"{path} is not a results file (line {lineno} is {what}: "
                f"{raw[:60].decode('utf-8', 'replace').rstrip()!r}); refusing to append to it. "
                "Give --out a new .jsonl path or one written by graphlib bench"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as err:
        raise StoreError(
            err.errno, f"cannot write results file {path}: {err.strerror or err}"
        ) from err


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
    """Append ``row`` as one JSON line, creating the file and its folder if needed.

    The line is written whole or not at all: under an exclusive lock of the file (so appends of
    other processes cannot interleave), short writes are continued, and on any failure (e.g.
    ``ENOSPC``) the file is truncated back to the size it had before.

    Raises:
        StoreError: the line could not be written (the message names the file and the cause,
            and says whether the file was restored).
    """
    path = Path(path)
    data = (json.dumps(row, sort_keys=True, default=_jsonable) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise StoreError(err.errno, f"cannot write results file {path}: {err.strerror}") from err
    try:
        _lock(fd, fcntl.LOCK_EX if fcntl else 0)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a crash left a broken last line without its newline
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError as err:
            raise _restore(fd, path, size, err) from err
    finally:
        os.close(fd)  # also releases the lock


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written; a write of 0 bytes is ENOSPC."""
    view, done = memoryview(data), 0
    while done < len(data):
        n = os.write(fd, view[done:])
        if n <= 0:
            raise OSError(errno.ENOSPC, f"write stored 0 of {len(data) - done} bytes")
        done += n


def _restore(fd: int, path: Path, size: int, err: OSError) -> StoreError:
    """Truncate the file back to ``size`` after a failed append; the error to raise."""
    cause = err.strerror or str(err)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
        state = f"the file was truncated back to its previous {size} bytes"
    except OSError as again:
        state = (
            f"truncating it back to {size} bytes failed too ({again.strerror}); its last line "
            "may be cut short (readers skip it)"
        )
    return StoreError(
        err.errno or errno.EIO,
        f"could not append a result to {path} ({cause}); {state}; this run is not saved",
    )


def finished(path: str | os.PathLike | None) -> dict[tuple, dict]:
    """Runs already in the results file, by :func:`run_key` (empty if there is no file)."""
    if path is None or not Path(path).exists():
        return {}
    return {run_key(r): r for r in read_results(path) if "run" in r}


class RunClaim:
    """An exclusive claim on one run of a results file, held while that run trains.

    A one-byte ``fcntl`` lock of ``<results>.lock`` at an offset derived from the run key. The
    kernel releases it when the process ends, so a crashed process never leaves a stale claim.
    Claims are per process (two claims of one process do not exclude each other).
    """

    def __init__(self, path: Path, key: tuple) -> None:
        digest = hashlib.sha1(repr(key).encode()).digest()
        self.offset = 1 + int.from_bytes(digest[:6], "big")  # byte 0 is left unused
        self.path, self.fd = path, os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, wait: bool) -> bool:
        """Take the claim; ``False`` (without waiting) if another process holds it."""
        if fcntl is None:
            return True
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, self.offset)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                return False
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            warnings.warn(f"{self.path}: file locks unsupported ({err}); not locking", stacklevel=3)
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # drops the lock
            self.fd = None


def claim_runs(
    path: str | os.PathLike | None, base: dict, runs: Iterable[int], lock: bool = True
) -> Iterator[tuple[int, dict | None]]:
    """Claim the runs of one benchmark in turn: yields ``(run, stored row or None)``.

    For each run (``base`` plus ``"run": run`` gives its :func:`run_key`), the run is claimed
    and the store re-read right before the run starts; the stored row comes back when the run
    is already in the file (the caller skips it), else ``None`` (the caller trains it and
    appends it before asking for the next run, which releases the claim). Runs that another
    process is running are put off to the end and then waited for: their rows usually arrive
    with the other process's append; if it died without one, the run is ours.

    Args:
        path: the results file, or ``None`` (nothing stored: every run comes back ``None``).
        base: a result row without ``run`` (model, dataset, trainer, augment, config).
        runs: run indices, in order.
        lock: claim runs; ``False`` (e.g. ranks of one distributed run) only reads the store.
    """
    if path is None:
        yield from ((run, None) for run in runs)
        return
    if not lock:
        done = finished(path)
        yield from ((run, done.get(run_key({**base, "run": run}))) for run in runs)
        return
    todo = [(run, False) for run in runs]  # (run, wait for its claim)
    while todo:
        run, wait = todo.pop(0)
        key = run_key({**base, "run": run})
        claim = RunClaim(Path(path), key)
        try:
            if not claim.acquire(wait):  # another process is running it: come back at the end
                todo.append((run, True))
                continue
            yield run, finished(path).get(key)
        finally:
            claim.release()


def _lock(fd: int, op: int) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, op)
    except OSError as err:  # a filesystem without flock: appends stay single writes
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results file")
