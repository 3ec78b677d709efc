"""The processed-file cache: one folder per version of the raw files, rebuilt when it fails.

Processed files go to ``GRAPHLIB_CACHE`` (default ``~/.cache/graphlib/processed``), under
``<hash of the raw root>/<name>-<raw_fingerprint>``. The fingerprint covers every raw file's path,
size and modification time, so a truncated, edited or restored raw file gets a fresh folder
instead of the graph processed from its earlier version; older folders of the same dataset are
removed once the new one loads. :func:`load_rebuilding` loads through the cache and rebuilds,
with a warning naming the files, what does not load (``weights_only=True`` only, see
:mod:`graphlib_pyg.data.safe_io`) or does not pass the caller's check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import graphlib_pyg.data.safe_io as safe_io
from graphlib_pyg.data.safe_io import DatasetCorruptError

CACHE_ENV = "GRAPHLIB_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, "~/.cache/graphlib/processed")).expanduser()


def raw_fingerprint(src: Path) -> str:
    """A short key of every file under ``src`` (path, size, modification time); ``processed/``
    folders are skipped. Any edit, truncation or replacement of a raw file changes it."""
    h = hashlib.sha1()
    if src.is_dir():
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d != "processed")
            for f in sorted(filenames):
                p = Path(dirpath) / f
                st = p.stat()
                h.update(f"{p.relative_to(src)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def cache_dir(name: str, src_root: Path, folder: str) -> Path:
    """Where ``name``'s processed files go for the raw folder ``src_root / folder`` as it is now.

    ``<cache>/<hash of the raw root>/<name>-<raw_fingerprint>``: files from another root, or from
    an earlier version of these raw files, are never mistaken for these.
    """
    root_key = hashlib.sha1(str(Path(src_root).resolve()).encode()).hexdigest()[:12]
    return cache_root() / root_key / f"{name}-{raw_fingerprint(Path(src_root) / folder)}"


def mirror(src: Path, dst: Path) -> None:
    """Recreate ``src``'s folders under ``dst`` and symlink its files; ``processed/`` is skipped.

    PyG and OGB write ``processed/`` next to ``raw/``: they run on this mirror, so the raw root
    may be read-only and is never written to.
    """
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if d != "processed"]
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in filenames:
            target = dst / rel / f
            source = Path(dirpath) / f
            if target.is_symlink() and target.resolve() != source.resolve():
                target.unlink()
            if not target.exists() and not target.is_symlink():
                target.symlink_to(source.resolve())


def drop_stale(base: Path, name: str) -> None:
    """Remove the cache folders of ``name`` keyed on earlier versions of its raw files."""
    if not base.parent.is_dir():
        return
    for p in base.parent.iterdir():
        if p != base and p.is_dir() and p.name.rsplit("-", 1)[0] == name:
            shutil.rmtree(p, ignore_errors=True)


def processed_files(dst: Path) -> list[Path]:
    """The ``.pt`` files in the ``processed/`` folders under ``dst``."""
    return sorted(p for p in dst.rglob("*.pt") if p.parent.name == "processed")


def load_rebuilding(
    name: str, load: Callable[[], object], dst: Path, src: Path, check: Callable[[object], None]
):
    """``load()`` with the processed files under ``dst``; rebuilt once from the raw files in
    ``src``, with a warning, when one of them does not load or the result fails ``check``.

    Args:
        name: the dataset, for messages.
        load: builds the dataset object, processing the raw files when no processed file exists.
        dst: the cache folder ``load`` reads and writes processed files in.
        src: the raw folder, for messages.
        check: raises :class:`DatasetCorruptError` when the loaded dataset is wrong.

    Raises:
        DatasetCorruptError: a raw file could not be read (named in the message), or the graph
            built from the raw files fails ``check``.
    """
    cached = bool(processed_files(dst))
    try:
        dataset = load()
    except Exception as err:
        broken = safe_io.unreadable(processed_files(dst))
        if not broken:
            if isinstance(err, DatasetCorruptError):  # a raw file, named in the message
                raise type(err)(f"dataset {name!r}: {err}") from err
            raise
        reasons = "\n  ".join(broken.values())
        warnings.warn(
            f"dataset {name!r}: processed file(s) in the cache could not be loaded and are "
            f"rebuilt from the raw files in {src}:\n  {reasons}",
            RuntimeWarning,
            stacklevel=3,
        )
        for p in broken:
            p.unlink()
        dataset, cached = load(), False
    try:
        check(dataset)
    except DatasetCorruptError:
        if not cached:
            raise
        warnings.warn(
            f"dataset {name!r}: the processed files in {dst} do not match the dataset; "
            f"rebuilding them from the raw files in {src}",
            RuntimeWarning,
            stacklevel=3,
        )
        for p in processed_files(dst):
            p.unlink()
        dataset = load()
        check(dataset)
    return dataset
