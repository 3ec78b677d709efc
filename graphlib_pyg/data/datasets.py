"""Dataset names -> raw graphs, with read-only raw roots and a separate processed cache.

Raw files are looked up under ``GRAPHLIB_DATA`` (default ``~/.cache/graphlib/data``), which may be
read-only. PyG and OGB loaders write ``processed/`` next to ``raw/``, so each dataset's raw
folder is mirrored into ``GRAPHLIB_CACHE`` (default ``~/.cache/graphlib/processed``) as a tree of
symlinks and the loader runs there. Missing files are downloaded into the cache when the network
allows it; otherwise the error names the dataset, the files expected and the folder searched.

Trust: every file is read through :mod:`graphlib_pyg.data.safe_io` (raw pickles with an arrays-only
unpickler, ``.npz`` with ``allow_pickle=False``, ``.pt`` with ``weights_only=True`` only). The cache
folder is keyed on the raw files' sizes and modification times, so edited raw files are processed
again; a processed file that does not load is rebuilt from the raw files with a warning; a loaded
graph is checked against the dataset's published node and edge counts (:data:`KNOWN_SIZES`).
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch_geometric.data import Data

import graphlib_pyg.data.safe_io as safe_io
from graphlib_pyg.data.cache import CACHE_ENV as CACHE_ENV
from graphlib_pyg.data.cache import cache_dir, drop_stale, load_rebuilding, mirror
from graphlib_pyg.data.cache import cache_root as cache_root
from graphlib_pyg.data.readers import trusted
from graphlib_pyg.data.safe_io import DatasetCorruptError as DatasetCorruptError
from graphlib_pyg.data.safe_io import UnsafeFileError as UnsafeFileError

DATA_ENV = "GRAPHLIB_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """Raw files of a dataset are missing and could not be downloaded."""


#: (nodes, directed edges as PyG stores them) as published in PyG's dataset tables and checked on
#: the raw mirror (shared/data MANIFESTs); a graph of another size has truncated/modified files.
KNOWN_SIZES: dict[str, tuple[int, int]] = {
    "cora": (2708, 10556),
    "citeseer": (3327, 9104),
    "pubmed": (19717, 88648),
    "cora_ml": (2995, 16316),
    "citeseer_full": (4230, 10674),
    "dblp": (17716, 105734),
    "amazon-photo": (7650, 238162),
    "amazon-computers": (13752, 491722),
    "coauthor-cs": (18333, 163788),
    "coauthor-physics": (34493, 495924),
    "minesweeper": (10000, 78804),
    "tolokers": (11758, 1038000),
    "chameleon": (2277, 36101),
    "squirrel": (5201, 217073),
    "actor": (7600, 30019),
    "cornell": (183, 298),
    "texas": (183, 325),
    "wisconsin": (251, 515),
    "ogbl-ddi": (4267, 2135822),
    "ogbn-arxiv": (169343, 1166243),
}


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, "~/.cache/graphlib/data")).expanduser()


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's raw files live and how PyG/OGB loads them.

    Args:
        name: our dataset name (``load_task`` key).
        kind: ``"node"`` or ``"link"``.
        folder: raw folder relative to the data root, mirrored into the cache.
        files: raw files relative to ``folder`` that must exist.
        load: ``load(root, **options)`` -> PyG dataset, where ``root`` is the cache-side parent
            the PyG class expects (``<cache>/<folder's parent>``).
        splits: named node splits this dataset offers, first = default.
        metric: default metric.
        size: (nodes, edges) the loaded graph must have, when published (:data:`KNOWN_SIZES`).
    """

    name: str
    kind: str
    folder: str
    files: tuple[str, ...]
    load: Callable[[Path], object] = field(repr=False)
    splits: tuple[str, ...] = ("random",)
    metric: str = "accuracy"
    family: str = ""

    @property
    def size(self) -> tuple[int, int] | None:
        return KNOWN_SIZES.get(self.name)


def _geom_split_files(stem: str, sub: str = "raw") -> tuple[str, ...]:
    return tuple(f"{sub}/{stem}_split_0.6_0.2_{i}.npz" for i in range(10))


def _planetoid(name: str) -> DatasetSpec:
    low = name.lower()
    ind = tuple(
        f"raw/ind.{low}.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    )
    return DatasetSpec(
        low,
        "node",
        f"Planetoid/{name}",
        ind,
        lambda root, n=name, **kw: trusted("Planetoid")(str(root), n, **kw),
        ("public", "random", "geom-gcn"),
        family="planetoid",
    )


def _citationfull(name: str, key: str) -> DatasetSpec:
    low = name.lower()
    return DatasetSpec(
        key,
        "node",
        f"CitationFull/{low}",
        (f"raw/{low}.npz",),
        lambda root, n=name: trusted("CitationFull")(str(root), n),
        ("random", "forwardgnn") if low in ("cora_ml", "citeseer") else ("random",),
        family="citationfull",
    )


def _shchur(cls_name: str, name: str, key: str, file: str) -> DatasetSpec:
    return DatasetSpec(
        key,
        "node",
        f"{cls_name}/{name}",
        (f"raw/{file}",),
        lambda root, n=name, c=cls_name: trusted(c)(str(root), n),
        ("random", "forwardgnn") if key == "amazon-photo" else ("random",),
        family=cls_name.lower(),
    )


def _heterophilous(key: str, metric: str) -> DatasetSpec:
    folder = key.replace("-", "_")
    return DatasetSpec(
        key,
        "node",
        f"HeterophilousGraphDataset/{folder}",
        (f"raw/{folder}.npz",),
        lambda root, n=key: trusted("HeterophilousGraphDataset")(str(root), n),
        ("official",),
        metric,
        family="heterophilous",
    )


def _geomgcn(key: str) -> DatasetSpec:
    base = ("out1_node_feature_label.txt", "out1_graph_edges.txt")
    if key in ("chameleon", "squirrel"):
        files = tuple(f"geom_gcn/raw/{f}" for f in base) + _geom_split_files(key, "geom_gcn/raw")
        return DatasetSpec(
            key,
            "node",
            f"WikipediaNetwork/{key}",
            files,
            lambda root, n=key: trusted("WikipediaNetwork")(str(root), n),
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
            lambda root: trusted("Actor")(str(root / "Actor")),
            ("geom-gcn",),
            family="geom-gcn",
        )
    files = tuple(f"raw/{f}" for f in base) + _geom_split_files(key)
    return DatasetSpec(
        key,
        "node",
        f"WebKB/{key}",
        files,
        lambda root, n=key: trusted("WebKB")(str(root), n),
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
        return Cls(key, root=str(root))  # inside load_dataset's safe_io.trusted_loading()

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


def check_size(spec: DatasetSpec, data, where: Path) -> None:
    """Raise :class:`DatasetCorruptError` if ``data`` is not the size :data:`KNOWN_SIZES` gives."""
    if spec.size is None:
        return
    got = (int(data.num_nodes), int(data.edge_index.size(1)))
    if got != spec.size:
        raise DatasetCorruptError(
            f"dataset {spec.name!r}: the raw files in {where} give {got[0]} nodes and {got[1]} "
            f"edges, but {spec.name} has {spec.size[0]} nodes and {spec.size[1]} edges. The raw "
            "files are truncated or modified: replace them with the published ones."
        )


def load_dataset(name: str, root: str | Path | None = None, **options):
    """Load a file-backed dataset by name and return the PyG/OGB dataset object.

    Every file is read through :mod:`~graphlib_pyg.data.safe_io` (no code runs from a data or
    cache file). Processed files are cached per version of the raw files; one that does not load is
    rebuilt from the raw files with a warning; the graph is checked against :data:`KNOWN_SIZES`.

    Args:
        name: a key of :func:`registry`.
        root: raw data root (default ``$GRAPHLIB_DATA``); may be read-only.
        **options: passed to the PyG class (e.g. ``split="geom-gcn"`` for Planetoid).

    Raises:
        DatasetNotFoundError: raw files are missing and downloading failed.
        DatasetCorruptError: raw files exist but could not be read, hold something other than
            plain arrays (:class:`UnsafeFileError`), or give a graph of the wrong size.
    """
    reg = registry()
    if name not in reg:
        raise unknown_dataset(name)
    spec = reg[name]
    src_root = Path(root).expanduser() if root is not None else data_root()
    src = src_root / spec.folder
    base = cache_dir(name, src_root, spec.folder)
    dst = base / spec.folder
    missing = missing_files(spec, src_root)
    if src.is_dir():
        mirror(src, dst)
    if spec.family == "ogb" and missing and dst.is_dir():
        # ogb asks an interactive y/N question when the folder exists without its RELEASE file.
        if not (dst / spec.files[0]).exists():
            shutil.rmtree(dst)
    with safe_io.trusted_loading():
        try:
            dataset = load_rebuilding(
                name,
                lambda: spec.load(dst.parent, **options),
                dst,
                src,
                lambda d: check_size(spec, d[0], src),
            )
        except DatasetCorruptError:
            raise
        except Exception as err:  # noqa: BLE001 - re-raised with the dataset named
            if missing:
                listing = "\n  ".join(str(p.relative_to(src_root)) for p in missing)
                raise DatasetNotFoundError(
                    f"dataset {name!r}: raw files not found under {src_root} and download failed "
                    f"({type(err).__name__}: {err}).\nExpected (relative to {src_root}):\n"
                    f"  {listing}\nSet {DATA_ENV} to the folder that holds them."
                ) from err
            raise DatasetCorruptError(
                f"dataset {name!r}: could not read the raw files in {src} "
                f"({type(err).__name__}: {err}). They may be truncated or corrupt; processed "
                f"files were written only to {dst}, which can be deleted safely."
            ) from err
    drop_stale(base, name)
    return dataset


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
