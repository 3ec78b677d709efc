"""Fixtures of the data-layer tests: no network, and a processed-file cache of a test's own."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphlib_pyg.data.datasets import CACHE_ENV


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in tests")


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Every socket connection fails: a loader that tries to download is caught."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket.socket, "connect_ex", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        yield


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own, so nothing processed earlier can be reused."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache
