"""Dataset names -> raw graphs, with read-only raw roots and a separate processed cache.

Raw files are looked up under ``GRAPHLIB_DATA`` (default ``~/.cache/graphlib/data``), which may be
read-only. PyG and OGB loaders write ``processed/`` next to ``raw/``, so each dataset's raw
folder is mirrored into ``GRAPHLIB_CACHE`` (default ``~/.cache/graphlib/processed``) as a tree of
symlinks and the loader runs there. Missing files are downloaded into the cache when the network
allows it; otherwise the error names the dataset, the files expected and the folder searched.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

DATA_ENV = "GRAPHLIB_DATA"
CACHE_ENV = "GRAPHLIB_CACHE"


class DatasetNotFoundError(FileNotFoundError):
    """Raw files of a dataset are missing and could not be downloaded."""


class DatasetCorruptError(RuntimeError):
    """Raw files exist but could not be read (truncated, wrong format)."""


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, "~/.cache/graphlib/data")).expanduser()


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, "~/.cache/graphlib/processed")).expanduser()


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's raw files live and how PyG/OGB loads them.

    Args:
        name: our dataset name (``load_task`` key).
        kind: ``"node"`` or ``"link"``.
        folder: raw folder relative to the data root, mirrored into the cache.
        files: raw files relative to ``folder`` that must exist.
        load: ``load(root)`` -> PyG dataset, where ``root`` is the cache-side parent the PyG class
            expects (``<cache>/<folder's parent>``).
        splits: named node splits this dataset offers, first = default.
        metric: default metric.
    """

    name: str
    kind: str
    folder: str
    files: tuple[str, ...]
    load: Callable[[Path], object] = field(repr=False)
    splits: tuple[str, ...] = ("random",)
    metric: str = "accuracy"
    family: str = ""


def _geom_split_files(stem: str, sub: str = "raw") -> tuple[str, ...]:
    return tuple(f"{sub}/{stem}_split_0.6_0.2_{i}.npz" for i in range(10))


def _planetoid(name: str) -> DatasetSpec:
    from torch_geometric.datasets import Planetoid

    low = name.lower()
    ind = tuple(
        f"raw/ind.{low}.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    )
    return DatasetSpec(
        low,
        "node",
        f"Planetoid/{name}",
        ind,
        lambda root, n=name: Planetoid(str(root), n),
        ("public", "random", "geom-gcn"),
        family="planetoid",
    )


def _citationfull(name: str, key: str) -> DatasetSpec:
    from torch_geometric.datasets import CitationFull

    low = name.lower()
    return DatasetSpec(
        key,
        "node",
        f"CitationFull/{low}",
        (f"raw/{low}.npz",),
        lambda root, n=name: CitationFull(str(root), n),
        ("random", "forwardgnn") if low in ("cora_ml", "citeseer") else ("random",),
        family="citationfull",
    )


def _shchur(cls_name: str, name: str, key: str, file: str) -> DatasetSpec:
    import torch_geometric.datasets as D

    cls = getattr(D, cls_name)
    return DatasetSpec(
        key,
        "node",
        f"{cls_name}/{name}",
        (f"raw/{file}",),
        lambda root, n=name: cls(str(root), n),
        ("random", "forwardgnn") if key == "amazon-photo" else ("random",),
        family=cls_name.lower(),
    )


def _heterophilous(key: str, metric: str) -> DatasetSpec:
    from torch_geometric.datasets import HeterophilousGraphDataset

    folder = key.replace("-", "_")
    return DatasetSpec(
        key,
        "node",
        f"HeterophilousGraphDataset/{folder}",
        (f"raw/{folder}.npz",),
        lambda root, n=key: HeterophilousGraphDataset(str(root), n),
        ("official",),
        metric,
        family="heterophilous",
    )


def _geomgcn(key: str) -> DatasetSpec:
    import torch_geometric.datasets as D

    base = ("out1_node_feature_label.txt", "out1_graph_edges.txt")
    if key in ("chameleon", "squirrel"):
        files = tuple(f"geom_gcn/raw/{f}" for f in base) + _geom_split_files(key, "geom_gcn/raw")
        return DatasetSpec(
            key,
            "node",
            f"WikipediaNetwork/{key}",
            files,
            lambda root, n=key: D.WikipediaNetwork(str(root), n),
            ("geom-gcn",),
            family="geom-gcn",
        )
    if key == "actor":
        files = tuple(f"raw/{f}" for f in base) + _geom_split_files("film")
        return DatasetSpec(
            key,
            "node",
            "Actor",
            files,
            lambda root: D.Actor(str(root / "Actor")),
            ("geom-gcn",),
            family="geom-gcn",
        )
    files = tuple(f"raw/{f}" for f in base) + _geom_split_files(key)
    return DatasetSpec(
        key,
        "node",
        f"WebKB/{key}",
        files,
        lambda root, n=key: D.WebKB(str(root), n),
        ("geom-gcn",),
        family="geom-gcn",
    )


def _ogb_master(kind: str):
    import importlib

    import pandas as pd

    mod = importlib.import_module(f"ogb.{'nodeproppred' if kind == 'node' else 'linkproppred'}")
    path = Path(mod.__file__).parent / "master.csv"
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def _ogb(key: str, kind: str) -> DatasetSpec:
    info = _ogb_master(kind)[key]
    folder = key.replace("-", "_")
    files = (f"RELEASE_v{info['version']}.txt", "raw/", f"split/{info['split']}/")

    def load(root: Path, key=key, kind=kind):
        if kind == "node":
            from ogb.nodeproppred import PygNodePropPredDataset as Cls
        else:
            from ogb.linkproppred import PygLinkPropPredDataset as Cls
        with ogb_safe_load():
            return Cls(key, root=str(root))

    metric = info["eval metric"]
    return DatasetSpec(key, kind, f"OGB/{folder}", files, load, ("official",), metric, "ogb")


def _registry() -> dict[str, DatasetSpec]:
    specs = [
        _planetoid("Cora"),
        _planetoid("CiteSeer"),
        _planetoid("PubMed"),
        _citationfull("Cora_ML", "cora_ml"),
        _citationfull("CiteSeer", "citeseer_full"),
        _citationfull("DBLP", "dblp"),
        _shchur("Amazon", "Photo", "amazon-photo", "amazon_electronics_photo.npz"),
        _shchur("Amazon", "Computers", "amazon-computers", "amazon_electronics_computers.npz"),
        _shchur("Coauthor", "CS", "coauthor-cs", "ms_academic_cs.npz"),
        _shchur("Coauthor", "Physics", "coauthor-physics", "ms_academic_phy.npz"),
    ]
    specs += [
        _heterophilous(k, m)
        for k, m in (
            ("minesweeper", "rocauc"),
            ("tolokers", "rocauc"),
            ("questions", "rocauc"),
            ("roman-empire", "accuracy"),
            ("amazon-ratings", "accuracy"),
        )
    ]
    specs += [
        _geomgcn(k) for k in ("chameleon", "squirrel", "actor", "cornell", "texas", "wisconsin")
    ]
    for kind in ("node", "link"):
        master = _ogb_master(kind)
        # Heterogeneous graphs (ogbn-mag, ogbl-biokg) and knowledge graphs with relation types
        # (ogbl-wikikg2) do not fit a homogeneous NodeTask/LinkTask.
        specs += [
            _ogb(k, kind)
            for k in master.columns
            if master[k]["is hetero"] != "True" and k != "ogbl-wikikg2"
        ]
    return {s.name: s for s in specs}


_REGISTRY: dict[str, DatasetSpec] | None = None


def registry() -> dict[str, DatasetSpec]:
    """All file-backed datasets by name (synthetic ones: :mod:`graphlib_pyg.data.synthetic`)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


def unknown_dataset(name: str) -> KeyError:
    """The error for an unknown dataset name: close matches and every valid name."""
    from graphlib_pyg.data.synthetic import GENERATORS

    names = sorted(registry()) + sorted(GENERATORS)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"unknown dataset {name!r}.{hint} Valid: {', '.join(names)}")


def missing_files(spec: DatasetSpec, root: Path | None = None) -> list[Path]:
    """Expected raw files of ``spec`` that are absent under ``root`` (default: the data root)."""
    base = Path(root or data_root()) / spec.folder
    out = []
    for f in spec.files:
        p = base / f
        if f.endswith("/"):
            if not p.is_dir() or not any(p.iterdir()):
                out.append(p)
        elif not p.is_file():
            out.append(p)
    return out


def _mirror(src: Path, dst: Path) -> None:
    """Recreate ``src``'s folders under ``dst`` and symlink its files; ``processed/`` is skipped."""
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


def load_dataset(name: str, root: str | Path | None = None):
    """Load a file-backed dataset by name and return the PyG/OGB dataset object.

    Args:
        name: a key of :func:`registry`.
        root: raw data root (default ``$GRAPHLIB_DATA``); may be read-only.

    Raises:
        DatasetNotFoundError: raw files are missing and downloading failed.
        DatasetCorruptError: raw files exist but could not be parsed.
    """
    reg = registry()
    if name not in reg:
        raise unknown_dataset(name)
    spec = reg[name]
    src_root = Path(root).expanduser() if root is not None else data_root()
    src = src_root / spec.folder
    # One cache folder per raw root: files from another root are never mistaken for these.
    root_key = hashlib.sha1(str(src_root.resolve()).encode()).hexdigest()[:12]
    dst = cache_root() / root_key / spec.folder
    missing = missing_files(spec, src_root)
    if src.is_dir():
        _mirror(src, dst)
    if spec.family == "ogb" and missing and dst.is_dir():
        # ogb asks an interactive y/N question when the folder exists without its RELEASE file.
        if not (dst / spec.files[0]).exists():
            shutil.rmtree(dst)
    loader_root = dst.parent
    try:
        return spec.load(loader_root)
    except Exception as err:  # noqa: BLE001 - re-raised with the dataset named
        if missing:
            listing = "\n  ".join(str(p.relative_to(src_root)) for p in missing)
            raise DatasetNotFoundError(
                f"dataset {name!r}: raw files not found under {src_root} and download failed "
                f"({type(err).__name__}: {err}).\nExpected (relative to {src_root}):\n  {listing}\n"
                f"Set {DATA_ENV} to the folder that holds them."
            ) from err
        raise DatasetCorruptError(
            f"dataset {name!r}: could not read the raw files in {src} "
            f"({type(err).__name__}: {err}). They may be truncated or corrupt; processed files "
            f"were written only to {dst}, which can be deleted safely."
        ) from err


@contextlib.contextmanager
def ogb_safe_load():
    """Let ogb's plain ``torch.load`` calls read its files under ``weights_only=True``.

    ogb 1.3.6 saves processed graphs as PyG ``Data`` and split files as dicts of numpy arrays; both
    are plain data. This allowlists exactly those types for the duration of the block instead of
    turning safe loading off.
    """
    from numpy._core.multiarray import _reconstruct
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    allowed = [
        DataEdgeAttr,
        DataTensorAttr,
        GlobalStorage,
        np.ndarray,
        np.dtype,
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
    ]
    allowed += [
        type(np.dtype(t))
        for t in (np.int64, np.int32, np.float32, np.float64, np.bool_, np.int16, np.uint8)
    ]
    with torch.serialization.safe_globals(allowed):
        yield


def graph_from_dataset(ds) -> Data:
    """The single graph of a PyG dataset as a plain ``Data`` (labels flattened when 1-column)."""
    data = ds[0]
    if isinstance(data, tuple):  # ogb's non-PyG datasets
        raise TypeError("expected a PyG dataset")
    out = Data(edge_index=data.edge_index, num_nodes=data.num_nodes)
    for key in (
        "x",
        "y",
        "edge_weight",
        "edge_attr",
        "train_mask",
        "val_mask",
        "test_mask",
        "node_year",
        "edge_year",
        "node_species",
    ):
        if key in data:
            out[key] = data[key]
    if (
        "edge_weight" not in out
        and "edge_attr" in data
        and data.edge_attr is not None
        and data.edge_attr.dim() == 2
        and data.edge_attr.size(1) == 1
        and data.edge_attr.size(0) == data.edge_index.size(1)
    ):
        out.edge_weight = data.edge_attr.view(-1).float()
    return out
