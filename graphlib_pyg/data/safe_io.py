"""Reading data and cache files without ever running code from them.

Every raw or processed file the data layer opens goes through one of three readers here:

* :func:`load_pickle` -- raw files stored as pickles (Planetoid's ``ind.*``, the Peptides split).
  :class:`ArraysOnlyUnpickler` resolves only NumPy array/dtype/scalar reconstruction, ``list`` and
  ``collections.defaultdict``; a SciPy CSR matrix is read as a :class:`CSRRecord` (its three arrays
  and shape, never SciPy's class), and the result is checked to hold plain data only.
* :func:`open_npz` -- ``.npz`` archives with ``allow_pickle=False``; each array is read on access,
  so unused pickled members are never touched.
* :func:`torch_load` -- ``.pt`` files with ``weights_only=True`` only, never a
  ``weights_only=False`` retry.

:func:`trusted_loading` wraps third-party loaders (PyG, OGB) whose ``torch.load`` calls are not
ours: inside it PyTorch is forced to ``weights_only=True`` even where a caller asks for
``False`` (PyG's retry of a failed processed file, its ``pre_transform.pt`` check), with the array
types those files hold allow-listed. Every error names the file; nothing in a refused file is
executed.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch


class DatasetCorruptError(RuntimeError):
    """A data or cache file exists but could not be read (truncated, wrong format, unsafe)."""


def shown(path: str | Path) -> Path:
    """The path to name in an error: a symlink (the cache's mirror of a raw file) resolved."""
    path = Path(path)
    return path.resolve() if path.is_symlink() else path


class UnsafeFileError(DatasetCorruptError, pickle.UnpicklingError):
    """A file asked for code or objects beyond plain arrays; it was refused, nothing was run."""


#: Globals a raw pickle may name: array reconstruction only (``numpy._core`` is NumPy 2's name).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "defaultdict"),
    ("__builtin__", "list"),  # Python 2 pickles (Planetoid's ind.*.graph)
    ("builtins", "list"),
}
_CSR_GLOBALS = {("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix")}


class CSRRecord:
    """What a pickled ``scipy.sparse.csr_matrix`` holds, read as plain attributes.

    The unpickler builds this instead of SciPy's class, so loading calls no SciPy code and cannot
    touch SciPy's class attributes. :meth:`to_array` checks the arrays and densifies them.
    """

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a CSR matrix's state must be a dict of its arrays")
        self.state = state

    def to_array(self) -> np.ndarray:
        """The dense (rows, cols) array; duplicate entries are summed, as SciPy's ``todense``."""
        import scipy.sparse as sp

        s = getattr(self, "state", {})
        parts = [s.get(k) for k in ("data", "indices", "indptr")]
        shape = s.get("_shape", s.get("shape"))
        if not all(isinstance(p, np.ndarray) and p.dtype.kind in "biuf" for p in parts):
            raise ValueError("CSR matrix without numeric data/indices/indptr arrays")
        if not (
            isinstance(shape, tuple)
            and len(shape) == 2
            and all(isinstance(d, int | np.integer) and d >= 0 for d in shape)
        ):
            raise ValueError(f"CSR matrix with an invalid shape {shape!r}")
        return sp.csr_matrix(tuple(parts), shape=tuple(int(d) for d in shape)).toarray()


class ArraysOnlyUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves array types only (see :data:`_ALLOWED_GLOBALS`).

    Any other global (``os.system``, ``builtins.eval``, a class with a ``__reduce__``) raises
    :class:`UnsafeFileError` before it is looked up, so nothing it names can run.
    """

    def find_class(self, module: str, name: str):
        if (module, name) in _CSR_GLOBALS:
            return CSRRecord
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeFileError(
                f"refused {module}.{name}: only NumPy arrays, SciPy CSR matrices and lists or "
                "dicts of them are read from pickles"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise UnsafeFileError("refused a persistent id: only plain arrays are read from pickles")


def _check_plain(obj, depth: int = 0) -> None:
    """Raise ``UnsafeFileError`` unless ``obj`` is plain data: arrays, containers, scalars."""
    if depth > 64:
        raise UnsafeFileError("nested more than 64 levels deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject or obj.dtype.kind not in "biufcUS":
            raise UnsafeFileError(f"holds an array of dtype {obj.dtype}; expected numbers")
    elif isinstance(obj, CSRRecord):
        _check_plain(getattr(obj, "state", {}), depth + 1)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, depth + 1)
            _check_plain(value, depth + 1)
        if isinstance(obj, collections.defaultdict) and obj.default_factory not in (None, list):
            raise UnsafeFileError("holds a defaultdict whose factory is not list")
    elif isinstance(obj, list | tuple):
        for value in obj:
            _check_plain(value, depth + 1)
    elif not isinstance(obj, int | float | complex | str | bytes | bool | np.generic | type(None)):
        raise UnsafeFileError(f"holds a {type(obj).__name__}; expected arrays and containers")


def load_pickle(path: str | Path, encoding: str = "latin1"):
    """Read a raw pickle of arrays without running anything it names.

    Args:
        path: the file.
        encoding: how Python 2 ``str`` objects are decoded (``latin1`` reads NumPy's buffers).

    Returns:
        The unpickled object: arrays, :class:`CSRRecord`, scalars and lists/dicts of them.

    Raises:
        UnsafeFileError: the file names a global outside the allow-list or holds other objects.
        DatasetCorruptError: the file is truncated or not a pickle.
    """
    path = shown(path)
    try:
        with open(path, "rb") as f:
            out = ArraysOnlyUnpickler(f, encoding=encoding).load()
        _check_plain(out)
    except UnsafeFileError as err:
        raise UnsafeFileError(f"{path}: {err}; nothing in the file was executed") from None
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 - truncated/garbled pickles raise many types
        raise DatasetCorruptError(
            f"{path}: not a readable pickle, truncated or corrupt ({type(err).__name__}: {err})"
        ) from err
    return out


class NpzArrays(Mapping):
    """Arrays of an ``.npz`` archive opened with ``allow_pickle=False``, each read on access."""

    def __init__(self, path: str | Path) -> None:
        self.path = shown(path)
        try:
            self._file = np.load(self.path, allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            raise DatasetCorruptError(
                f"{self.path}: not a readable .npz archive ({type(err).__name__}: {err})"
            ) from err
        if not isinstance(self._file, np.lib.npyio.NpzFile):
            self._file = None
            raise DatasetCorruptError(f"{self.path}: a single .npy array, not an .npz archive")

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._file[key]
        except KeyError:
            raise
        except ValueError as err:  # "Object arrays cannot be loaded when allow_pickle=False"
            if "allow_pickle" in str(err):
                raise UnsafeFileError(
                    f"{self.path}: array {key!r} is a pickled object array; only numeric arrays "
                    "are read (allow_pickle=False), nothing in the file was executed"
                ) from None
            raise DatasetCorruptError(f"{self.path}: array {key!r} is unreadable ({err})") from err
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise DatasetCorruptError(f"{self.path}: array {key!r} is unreadable ({err})") from err

    def __iter__(self) -> Iterator[str]:
        return iter(self._file.files)

    def __len__(self) -> int:
        return len(self._file.files)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_npz(path: str | Path) -> NpzArrays:
    """Open an ``.npz`` archive for reading numeric arrays (``with open_npz(p) as f: f["x"]``)."""
    return NpzArrays(path)


def _allowed_torch_globals() -> list:
    """Types a processed or OGB split file may hold besides tensors: PyG's data classes and the
    NumPy arrays OGB stores in its split dicts."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    from torch_geometric.data.data import Data, DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    allowed = [
        Data,
        DataEdgeAttr,
        DataTensorAttr,
        GlobalStorage,
        np.ndarray,
        np.dtype,
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
    ]
    allowed += [
        type(np.dtype(t))
        for t in (
            np.int64,
            np.int32,
            np.int16,
            np.int8,
            np.uint8,
            np.float64,
            np.float32,
            np.float16,
            np.bool_,
        )
    ]
    return allowed


_FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_FORCE_NO = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextlib.contextmanager
def trusted_loading() -> Iterator[None]:
    """Every ``torch.load`` in the block is ``weights_only=True``, whatever its caller asks.

    PyG retries a processed file that fails the safe load with ``weights_only=False`` and reads
    ``pre_transform.pt`` that way; OGB calls plain ``torch.load``. PyTorch's own switch
    (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``) turns all of those into safe loads for the duration of the
    block, so a crafted file fails to load instead of running; the array types PyG and OGB files
    hold are allow-listed (``torch.serialization.safe_globals``), nothing else.
    """
    saved = {k: os.environ.get(k) for k in (_FORCE, _FORCE_NO)}
    os.environ[_FORCE] = "1"
    os.environ.pop(_FORCE_NO, None)
    # Only what is not allowed yet: leaving ``safe_globals`` removes every global it added, which
    # would also drop PyG's own registrations (Data, ...) and those of an enclosing block.
    known = set(torch.serialization.get_safe_globals())
    extra = [g for g in _allowed_torch_globals() if g not in known]
    try:
        with torch.serialization.safe_globals(extra):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def torch_load(path: str | Path, map_location=None):
    """``torch.load(path, weights_only=True)`` with the allow-list of :func:`trusted_loading`.

    Raises:
        UnsafeFileError: the file needs a global outside the allow-list (it was not unpickled).
        DatasetCorruptError: the file is truncated or not a ``torch.save`` file.
    """
    path = shown(path)
    try:
        with trusted_loading():
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as err:
        if "Weights only load failed" in str(err):
            lines = [ln.strip() for ln in str(err).splitlines()]
            why = next((ln for ln in lines if "global" in ln.lower()), lines[0])
            raise UnsafeFileError(
                f"{path}: refused by the weights-only loader ({why}); nothing in the file was "
                "executed"
            ) from None
        raise DatasetCorruptError(
            f"{path}: not a readable torch.save file, truncated or corrupt ({err})"
        ) from err
    except Exception as err:  # noqa: BLE001 - truncated zip archives raise RuntimeError & co.
        raise DatasetCorruptError(
            f"{path}: not a readable torch.save file, truncated or corrupt "
            f"({type(err).__name__}: {err})"
        ) from err


def unreadable(paths) -> dict[Path, str]:
    """The files among ``paths`` that :func:`torch_load` refuses, with the reason for each."""
    out = {}
    for p in paths:
        try:
            torch_load(p, map_location="cpu")
        except (DatasetCorruptError, OSError) as err:
            out[Path(p)] = str(err)
    return out
