"""Session-wide test setup: where raw datasets are read from and where processed files go.

* ``GRAPHLIB_DATA``: when unset, defaults to the repository's sibling ``../shared/data`` if that
  folder exists (the project's offline raw-data mirror). Tests that need real data skip with a
  reason naming the missing files when it is absent.
* ``GRAPHLIB_CACHE``: unless the user set it, points at a per-session temporary folder, so tests
  never write processed files into the (possibly read-only) data root or the user's home cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphlib_pyg.data.datasets import CACHE_ENV, DATA_ENV, missing_files, registry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"

# Set at import time so that anything evaluated during collection already sees it.
if not os.environ.get(DATA_ENV) and DEFAULT_DATA.is_dir():
    os.environ[DATA_ENV] = str(DEFAULT_DATA)


@pytest.fixture(scope="session", autouse=True)
def _graphlib_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Processed files go to a fresh per-session folder unless ``GRAPHLIB_CACHE`` is set."""
    user = os.environ.get(CACHE_ENV)
    if user:
        yield Path(user).expanduser()
        return
    cache = tmp_path_factory.mktemp("graphlib_cache")
    os.environ[CACHE_ENV] = str(cache)
    try:
        yield cache
    finally:
        os.environ.pop(CACHE_ENV, None)


def _data_root_or_skip() -> Path:
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.skip(f"GRAPHLIB_DATA not set / dataset files absent: {DEFAULT_DATA}")
    root = Path(value).expanduser()
    if not root.is_dir():
        pytest.skip(f"GRAPHLIB_DATA not set / dataset files absent: {root}")
    return root


@pytest.fixture
def data_root() -> Path:
    """The raw data root (``$GRAPHLIB_DATA``), or skip when it is not available."""
    return _data_root_or_skip()


def _require(name: str) -> Path:
    root = _data_root_or_skip()
    missing = missing_files(registry()[name], root)
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        pytest.skip(f"dataset {name!r} absent under {root}: missing {shown}{more}")
    return root


@pytest.fixture(scope="session")
def require_dataset() -> Callable[[str], Path]:
    """``require_dataset(name)`` returns the data root, or skips naming the missing raw files."""
    return _require
