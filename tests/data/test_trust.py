"""No code runs from a data or cache file; caches follow their raw files; arguments are checked.

Crafted files carry an object whose unpickling calls ``subprocess.call`` to write a marker file:
the marker appearing is the proof that code ran (``subprocess`` rather than ``os.system``, which
PyTorch's weights-only loader blocks outright: ``subprocess.call`` is the kind of global PyG's
``weights_only=False`` retry lets through). Every test works on a copy of the raw files in a
temporary folder and on a cache folder of its own; the network is blocked.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from graphlib_pyg.data.datasets import DatasetCorruptError
from graphlib_pyg.data.splits import forwardgnn_splits
from graphlib_pyg.data.tasks import load_task


class RunsCode:
    """Unpickling this runs a shell command: the marker file exists afterwards iff code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.call, (["sh", "-c", f"echo pwned > '{self.marker}'"],))


pytestmark = pytest.mark.usefixtures("offline")  # tests/data/conftest.py


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER_code_ran"


def copy_raw(data_root: Path, rel: str, dst_root: Path) -> Path:
    """A writable copy of ``data_root / rel`` at ``dst_root / rel``; returns the copy."""
    src = data_root / rel
    if not src.is_dir():
        pytest.skip(f"dataset files absent: {src}")
    dst = dst_root / rel
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def processed_file(cache: Path, pattern: str) -> Path:
    (path,) = list(cache.rglob(pattern))
    return path


# --------------------------------------------------------------------------- raw pickles


def test_crafted_planetoid_pickle_is_refused_and_runs_nothing(
    data_root, tmp_path, fresh_cache, marker
):
    root = tmp_path / "root"
    raw = copy_raw(data_root, "Planetoid/Cora/raw", root)
    (raw / "ind.cora.x").write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(DatasetCorruptError) as info:
        load_task("cora", root=root)
    assert str(raw / "ind.cora.x") in str(info.value)  # the file is named
    assert "subprocess.call" in str(info.value)  # the refused global is named
    assert not marker.exists(), "loading the crafted pickle ran its code"


def test_crafted_planetoid_geom_gcn_pickle_runs_nothing(data_root, tmp_path, fresh_cache, marker):
    root = tmp_path / "root"
    copy_raw(data_root, "Planetoid/Cora", root)
    graph = root / "Planetoid/Cora/geom-gcn/raw/ind.cora.graph"
    graph.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(DatasetCorruptError, match="ind.cora.graph"):
        load_task("cora", root=root, split="geom-gcn")
    assert not marker.exists()


def test_npz_with_a_pickled_object_array_is_refused_naming_file_and_array(
    tmp_path, fresh_cache, marker
):
    raw = tmp_path / "root" / "Amazon" / "Photo" / "raw"
    raw.mkdir(parents=True)
    path = raw / "amazon_electronics_photo.npz"
    np.savez(path, attr_data=np.array([RunsCode(marker)], dtype=object), labels=np.zeros(3))
    with pytest.raises(DatasetCorruptError) as info:
        load_task("amazon-photo", root=tmp_path / "root")
    assert "amazon_electronics_photo.npz" in str(info.value) and "attr_data" in str(info.value)
    assert not marker.exists()


def test_crafted_forwardgnn_split_is_named_and_runs_nothing(tmp_path, marker):
    folder = tmp_path / "node-5splits"
    folder.mkdir()
    for k in range(5):
        for part, idx in (("train", range(0, 6)), ("val", range(6, 8)), ("test", range(8, 10))):
            torch.save(torch.tensor(list(idx)), folder / f"{part}-node-index-split{k}.pt")
    bad = folder / "val-node-index-split3.pt"
    torch.save(RunsCode(marker), bad)
    with pytest.raises(Exception, match="val-node-index-split3.pt"):
        forwardgnn_splits(folder, 10)
    assert not marker.exists()


# --------------------------------------------------------------------------- processed files


@pytest.mark.parametrize("name", ["data.pt", "pre_transform.pt"])
def test_crafted_processed_file_is_rebuilt_never_unpickled(
    name, data_root, tmp_path, fresh_cache, marker
):
    root = tmp_path / "root"
    copy_raw(data_root, "Planetoid/Cora/raw", root)
    load_task("cora", root=root)
    target = processed_file(fresh_cache, f"Planetoid/Cora/processed/{name}")
    torch.save((RunsCode(marker), {}), target)
    with pytest.warns(RuntimeWarning, match=rf"{name}"):
        task = load_task("cora", root=root)
    assert not marker.exists(), f"loading a crafted {name} ran its code"
    assert task.num_nodes == 2708 and task.data.edge_index.size(1) == 10556


def test_truncated_processed_file_is_rebuilt_naming_it(data_root, tmp_path, fresh_cache):
    root = tmp_path / "root"
    copy_raw(data_root, "Planetoid/Cora/raw", root)
    first = load_task("cora", root=root)
    target = processed_file(fresh_cache, "Planetoid/Cora/processed/data.pt")
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.warns(RuntimeWarning) as record:
        again = load_task("cora", root=root)  # not blamed on the (intact) raw files
    assert any(str(target) in str(w.message) for w in record), [str(w.message) for w in record]
    assert torch.equal(again.data.edge_index, first.data.edge_index)


@pytest.mark.parametrize("what", ["processed", "split"])
def test_ogb_files_load_weights_only_even_when_the_environment_asks_otherwise(
    what, data_root, tmp_path, fresh_cache, marker, monkeypatch
):
    # PyTorch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD turns OGB's plain torch.load calls unsafe.
    root = tmp_path / "root"
    folder = copy_raw(data_root, "OGB/ogbl_ddi", root)
    if what == "split":
        target = folder / "split" / "target" / "train.pt"
        torch.save({"edge": RunsCode(marker)}, target)
    else:
        load_task("ogbl-ddi", root=root)
        target = processed_file(fresh_cache, "ogbl_ddi/processed/geometric_data_processed.pt")
        torch.save((RunsCode(marker), {}), target)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    if what == "split":
        with pytest.raises(DatasetCorruptError, match="train.pt"):
            load_task("ogbl-ddi", root=root)
    else:
        with pytest.warns(RuntimeWarning, match="geometric_data_processed.pt"):
            task = load_task("ogbl-ddi", root=root)
        assert task.num_nodes == 4267
    assert not marker.exists(), "an OGB file ran its code"


# --------------------------------------------------------------------------- cache vs raw files


def _cornell(data_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    raw = copy_raw(data_root, "WebKB/cornell/raw", root)
    return root, raw


def _truncate_lines(path: Path) -> bytes:
    blob = path.read_bytes()
    lines = blob.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))
    return blob


def test_truncated_raw_edge_file_is_refused_with_the_expected_counts(
    data_root, tmp_path, fresh_cache
):
    root, raw = _cornell(data_root, tmp_path)
    _truncate_lines(raw / "out1_graph_edges.txt")
    with pytest.raises(DatasetCorruptError, match=r"cornell.*183 nodes and 298 edges"):
        load_task("cornell", root=root)


def test_stale_cache_is_not_used_after_the_raw_files_change(data_root, tmp_path, fresh_cache):
    root, raw = _cornell(data_root, tmp_path)
    edges = raw / "out1_graph_edges.txt"
    assert load_task("cornell", root=root).data.edge_index.size(1) == 298
    original = _truncate_lines(edges)  # the cached full graph must not hide this
    with pytest.raises(DatasetCorruptError, match="298 edges"):
        load_task("cornell", root=root)
    edges.write_bytes(original)  # restored: processed again, the full graph
    assert load_task("cornell", root=root).data.edge_index.size(1) == 298


def test_edited_raw_features_are_processed_again(data_root, tmp_path, fresh_cache):
    # Same node and edge counts, other content: only keying the cache on the raw files sees it.
    root, raw = _cornell(data_root, tmp_path)
    before = load_task("cornell", root=root).data.x.clone()
    feats = raw / "out1_node_feature_label.txt"
    header, first, *rest = feats.read_text().splitlines(keepends=True)
    node, values, label = first.rstrip("\n").split("\t")
    flipped = ",".join("1" if v == "0" else "0" for v in values.split(","))
    feats.write_text(header + f"{node}\t{flipped}\t{label}\n" + "".join(rest))
    after = load_task("cornell", root=root).data.x
    assert not torch.equal(after[0], before[0]) and torch.equal(after[1:], before[1:])


# --------------------------------------------------------------------------- Peptides cache


def _tiny_peptides(root: Path, smiles: list[str]) -> Path:
    folder = root / "LRGB" / "peptides-functional"
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    labels = '"[0, 1, 0, 0, 0, 0, 0, 0, 0, 1]"'
    rows = "".join(f"{i},{s},X,{labels},{i}\n" for i, s in enumerate(smiles))
    with gzip.open(folder / "raw" / "peptide_multi_class_dataset.csv.gz", "wt") as f:
        f.write(",smiles,peptide_seq,labels,identifier\n" + rows)
    split = {"train": np.array([0]), "val": np.array([1]), "test": np.array([2])}
    (folder / "splits_random_stratified_peptide.pickle").write_bytes(pickle.dumps(split))
    return folder


def test_peptides_cache_is_rebuilt_when_unreadable_or_stale(tmp_path, fresh_cache):
    pytest.importorskip("rdkit", reason="rdkit (graphlib-pyg[lrgb]) not installed")
    root = tmp_path / "root"
    _tiny_peptides(root, ["CCO", "CC(=O)O", "c1ccccc1"])
    assert len(load_task("peptides-func", root=root).graphs) == 3
    (cache,) = list(fresh_cache.rglob("graphs.pt"))
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    with pytest.warns(RuntimeWarning, match="graphs.pt"):
        assert len(load_task("peptides-func", root=root).graphs) == 3
    _tiny_peptides(root, ["CCO", "CC(=O)O", "c1ccccc1", "CCN"])  # the raw CSV changes
    assert len(load_task("peptides-func", root=root).graphs) == 4


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"num_nodes": "abc"}, TypeError, r"csbm: num_nodes must be an integer >= 2, got 'abc'"),
        ({"num_nodes": 100.5}, TypeError, r"csbm: num_nodes must be an integer >= 2, got 100\.5"),
        ({"num_nodes": True}, TypeError, r"num_nodes must be an integer >= 2, got True"),
        ({"num_nodes": 1}, ValueError, r"num_nodes must be an integer >= 2, got 1"),
        ({"homophily": 1.5}, ValueError, r"homophily must be a finite number in \[0\.0, 1\.0\]"),
        ({"avg_degree": "8"}, TypeError, r"avg_degree must be a number >= 0\.0, got '8'"),
        ({"num_classes": 500, "num_nodes": 100}, ValueError, r"num_classes .* in \[2, 100\]"),
    ],
)
def test_synthetic_arguments_are_checked_by_name(params, error, match):
    with pytest.raises(error, match=match):
        load_task("csbm", **params)


def test_link_generator_names_its_own_arguments():
    with pytest.raises(TypeError, match=r"sbm_link: num_blocks must be an integer"):
        load_task("sbm-link", num_blocks=2.5)


@pytest.mark.parametrize(
    ("pe", "match"),
    [
        ("lap:500", r"pe='lap:500'.*'csbm' with 100 nodes; lap:K needs K in \[1, 98\]"),
        ("lapeig:100", r"pe='lapeig:100'.*100 nodes; lapeig:K needs K in \[1, 99\]"),
        ("lap:x", r"pe must be 'rwse:K', 'lap:K' or 'lapeig:K' with an integer K >= 1, got"),
    ],
)
def test_pe_size_is_checked_against_the_graph(pe, match):
    with pytest.raises(ValueError, match=match):
        load_task("csbm", num_nodes=100, pe=pe)


def test_pe_bound_is_exact():
    task = load_task("csbm", num_nodes=30, num_features=4, pe="lapeig:29")  # the largest K
    assert task.num_features == 4 + 2 * 29
    with pytest.raises(ValueError, match=r"lapeig:K needs K in \[1, 29\]"):
        load_task("csbm", num_nodes=30, num_features=4, pe="lapeig:30")  # was zero-padded
