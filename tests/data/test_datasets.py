"""Real datasets from the raw mirror (``GRAPHLIB_DATA``): sizes, splits, metrics and error paths.

Every test that needs a dataset skips, naming the missing files, when it is absent. The network
is blocked for the whole module so that any download attempt fails fast instead of hanging.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
import torch

from graphlib_pyg.data.datasets import (
    DatasetCorruptError,
    DatasetNotFoundError,
    load_dataset,
    registry,
)
from graphlib_pyg.data.tasks import LinkTask, NodeTask, load_task

pytestmark = pytest.mark.usefixtures("offline")  # tests/data/conftest.py


def snapshot(folder: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``folder`` with (is_dir, size, mtime_ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (p.is_dir(), st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- Planetoid


@pytest.fixture(scope="module")
def cora(require_dataset) -> NodeTask:
    return load_task("cora", root=require_dataset("cora"))


def test_cora_public_split(cora):
    assert isinstance(cora, NodeTask)
    assert cora.num_nodes == 2708 and cora.num_classes == 7 and cora.num_features == 1433
    assert cora.data.edge_index.size(1) == 10556
    assert cora.split_name == "public" and cora.metric == "accuracy" and cora.num_splits == 1
    s = cora.split(0)
    assert (s.train.numel(), s.val.numel(), s.test.numel()) == (140, 500, 1000)
    assert torch.equal(s.train, torch.arange(140)) and torch.equal(s.val, torch.arange(140, 640))
    assert torch.cat([s.train, s.val, s.test]).unique().numel() == 1640
    assert cora.split(3) is s  # fixed split: every run uses it


def test_cora_features_row_normalised(cora):
    x = cora.data.x
    assert x.dtype == torch.float32 and bool((x >= 0).all())
    sums = x.sum(1)
    nonzero = sums > 0
    assert int(nonzero.sum()) == cora.num_nodes  # every Cora paper has at least one word
    torch.testing.assert_close(sums[nonzero], torch.ones(int(nonzero.sum())))


def test_cora_random_split_is_20_per_class(require_dataset):
    task = load_task("cora", root=require_dataset("cora"), split="random")
    s = task.split(0)
    assert torch.equal(torch.bincount(task.data.y[s.train], minlength=7), torch.full((7,), 20))
    assert (s.val.numel(), s.test.numel()) == (500, 1000)
    assert task.num_splits is None and not torch.equal(task.split(1).train, s.train)


def test_citeseer_loads(require_dataset):
    task = load_task("citeseer", root=require_dataset("citeseer"))
    assert isinstance(task, NodeTask)
    assert task.num_nodes == 3327 and task.num_classes == 6 and task.num_features == 3703
    s = task.split(0)
    assert (s.train.numel(), s.val.numel(), s.test.numel()) == (120, 500, 1000)


def test_cora_geom_gcn_split_gives_10_splits(require_dataset):
    task = load_task("cora", root=require_dataset("cora"), split="geom-gcn")
    assert task.split_name == "geom-gcn" and task.num_splits == 10
    assert task.split(10) is task.split(0)  # runs cycle through the fixed splits


def test_cora_geom_gcn_splits_are_node_index_sets(require_dataset):
    task = load_task("cora", root=require_dataset("cora"), split="geom-gcn")
    for k in range(10):
        s = task.split(k)
        assert s.train.dtype == torch.long
        assert (s.train.numel(), s.val.numel(), s.test.numel()) == (1192, 796, 497)
        parts = torch.cat([s.train, s.val, s.test])
        assert parts.unique().numel() == parts.numel()  # disjoint
    assert not torch.equal(task.split(0).train, task.split(1).train)


def test_webkb_geom_gcn_split_gives_10_splits(require_dataset):
    task = load_task("cornell", root=require_dataset("cornell"))
    assert task.split_name == "geom-gcn" and task.num_splits == 10
    assert task.num_nodes == 183 and task.num_classes == 5


# --------------------------------------------------------------------------- other node datasets


def test_tolokers_official(require_dataset):
    task = load_task("tolokers", root=require_dataset("tolokers"))
    assert isinstance(task, NodeTask)
    assert task.metric == "rocauc" and task.split_name == "official" and task.num_splits == 10
    assert task.num_nodes == 11758 and task.num_classes == 2
    s = task.split(0)
    parts = torch.cat([s.train, s.val, s.test])
    assert parts.unique().numel() == parts.numel() == task.num_nodes


def test_cora_ml_forwardgnn_splits(require_dataset):
    root = require_dataset("cora_ml")
    folder = root / "forwardgnn-datasplits" / "datasplits" / "CitationFull-Cora_ML" / "node-5splits"
    if not folder.is_dir():
        pytest.skip(f"ForwardGNN splits absent: {folder}")
    task = load_task("cora_ml", root=root, split="forwardgnn")
    assert task.num_nodes == 2995 and task.num_splits == 5
    for k in range(5):
        s = task.split(k)
        assert (s.train.numel(), s.val.numel(), s.test.numel()) == (1916, 480, 599)
        assert torch.equal(torch.cat([s.train, s.val, s.test]).sort().values, torch.arange(2995))
    # CitationFull features are row-normalised too
    sums = task.data.x.sum(1)
    torch.testing.assert_close(sums[sums > 0], torch.ones(int((sums > 0).sum())))


# --------------------------------------------------------------------------- OGB link


def test_ogbl_ddi_official_split(require_dataset, fresh_cache, monkeypatch):
    root = require_dataset("ogbl-ddi")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # any interactive prompt would fail
    folder = root / registry()["ogbl-ddi"].folder
    before = snapshot(folder)
    task = load_task("ogbl-ddi", root=root)
    assert snapshot(folder) == before, "loading wrote into GRAPHLIB_DATA"
    assert any(fresh_cache.rglob("processed/*.pt")), "processed files belong in GRAPHLIB_CACHE"

    assert isinstance(task, LinkTask)
    assert task.metric == "hits@20" and task.ogb_name == "ogbl-ddi" and task.num_splits == 1
    assert task.num_nodes == 4267 and task.num_features == 0
    s = task.split(0)
    assert s.train_pos.shape == (2, 1_067_911)
    assert s.val_pos.shape == (2, 133_489) and s.val_neg.shape == (2, 101_882)
    assert s.test_pos.shape == (2, 133_489) and s.test_neg.shape == (2, 95_599)
    assert s.graph.edge_index.size(1) == 2 * 1_067_911  # train edges, both directions
    assert task.split(5) is s


# --------------------------------------------------------------------------- files and errors


def test_loading_never_writes_into_data_root(require_dataset, fresh_cache):
    root = require_dataset("cora")
    folder = root / registry()["cora"].folder
    before = snapshot(folder)
    load_task("cora", root=root)
    load_task("cora", root=root, split="geom-gcn")
    assert snapshot(folder) == before, "loading wrote into GRAPHLIB_DATA"
    processed = {p.parent.as_posix() for p in fresh_cache.rglob("*.pt")}
    assert any(p.endswith("Planetoid/Cora/processed") for p in processed)
    assert any(p.endswith("Planetoid/Cora/geom-gcn/processed") for p in processed)


def test_missing_dataset_error_names_dataset_files_and_folder(tmp_path, fresh_cache):
    empty = tmp_path / "empty_root"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load_task("cora", root=empty)
    msg = str(info.value)
    assert "'cora'" in msg
    assert "ind.cora.x" in msg and "ind.cora.graph" in msg
    assert "Planetoid/Cora/raw" in msg
    assert str(empty) in msg
    assert "GRAPHLIB_DATA" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert list(empty.iterdir()) == []  # nothing written into the searched folder


def test_corrupt_raw_file_raises_corrupt_error(data_root, tmp_path, fresh_cache):
    src = data_root / "Planetoid" / "Cora" / "raw"
    if not (src / "ind.cora.graph").is_file():
        pytest.skip(f"GRAPHLIB_DATA not set / dataset files absent: {src}")
    root = tmp_path / "root"
    shutil.copytree(src, root / "Planetoid" / "Cora" / "raw")
    graph = root / "Planetoid" / "Cora" / "raw" / "ind.cora.graph"
    blob = graph.read_bytes()
    graph.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetCorruptError, match=r"dataset 'cora'") as info:
        load_task("cora", root=root)
    assert str(root / "Planetoid" / "Cora") in str(info.value)


def test_missing_dataset_not_masked_by_cache_of_another_root(
    require_dataset, tmp_path, fresh_cache
):
    load_task("cora", root=require_dataset("cora"))
    empty = tmp_path / "empty_root"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError):
        load_task("cora", root=empty)


def test_corrupt_dataset_not_masked_by_cache_of_another_root(
    require_dataset, tmp_path, fresh_cache
):
    good = require_dataset("cora")
    load_task("cora", root=good)
    root = tmp_path / "root"
    shutil.copytree(good / "Planetoid" / "Cora" / "raw", root / "Planetoid" / "Cora" / "raw")
    graph = root / "Planetoid" / "Cora" / "raw" / "ind.cora.graph"
    graph.write_bytes(graph.read_bytes()[:100])
    with pytest.raises(DatasetCorruptError):
        load_task("cora", root=root)


def test_unknown_dataset_lists_names_and_suggests():
    with pytest.raises(KeyError, match=r"unknown dataset 'coraa'\. Did you mean cora\b") as info:
        load_task("coraa")
    msg = str(info.value)
    assert "Valid:" in msg
    for name in ("cora", "citeseer", "tolokers", "ogbl-ddi", "csbm", "sbm-link"):
        assert name in msg


def test_load_dataset_unknown_name_lists_names():
    with pytest.raises(KeyError, match=r"Did you mean cora"):
        load_dataset("coraa")


def test_unknown_split_lists_valid_splits(require_dataset):
    with pytest.raises(ValueError, match=r"no split 'nope'; valid: public, random, geom-gcn"):
        load_task("cora", root=require_dataset("cora"), split="nope")


def test_unknown_link_split_lists_valid_splits():
    with pytest.raises(ValueError, match=r"no split 'nope'; valid: 70-10-20, 85-5-10, forwardgnn"):
        load_task("csbm", task="link", split="nope", num_nodes=50)
