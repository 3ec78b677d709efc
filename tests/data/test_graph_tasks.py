"""Graph-level tasks: Peptides-func loading, the AP metric, safe split loading, training."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from graphlib_pyg.data import DatasetNotFoundError
from graphlib_pyg.data.graph_tasks import (
    PEPTIDES_CSV,
    PEPTIDES_FOLDER,
    PEPTIDES_SPLIT,
    average_precision,
    load_peptides_func,
)
from graphlib_pyg.data.safe_io import ArraysOnlyUnpickler, UnsafeFileError, load_pickle
from graphlib_pyg.data.tasks import load_task

DATA = Path(os.environ.get("GRAPHLIB_DATA", "../shared/data")) / PEPTIDES_FOLDER


def test_average_precision_matches_sklearn_per_target():
    from sklearn.metrics import average_precision_score

    g = torch.Generator().manual_seed(0)
    y = (torch.rand(50, 4, generator=g) > 0.6).float()
    y[:, 3] = 1.0  # one class only: skipped
    y[0, 0] = float("nan")  # unlabelled: ignored
    s = torch.randn(50, 4, generator=g)
    expect = np.mean(
        [average_precision_score(y[1:, 0], s[1:, 0])]
        + [average_precision_score(y[:, t], s[:, t]) for t in (1, 2)]
    )
    assert average_precision(y, s) == pytest.approx(expect)
    with pytest.raises(ValueError, match="both positive and negative"):
        average_precision(torch.ones(5, 1), torch.randn(5, 1))


def test_split_unpickler_admits_arrays_only():
    ok = pickle.dumps({"train": np.arange(3), "val": np.arange(2)})
    assert ArraysOnlyUnpickler(io.BytesIO(ok)).load()["train"].tolist() == [0, 1, 2]
    bad = pickle.dumps({"train": Path("x")})
    with pytest.raises(pickle.UnpicklingError, match="refused pathlib"):
        ArraysOnlyUnpickler(io.BytesIO(bad)).load()
    with pytest.raises(UnsafeFileError):  # the same refusal is also an UnsafeFileError
        ArraysOnlyUnpickler(io.BytesIO(bad)).load()


def test_missing_peptides_files_name_the_expected_paths(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="peptide_multi_class_dataset.csv.gz"):
        load_peptides_func(tmp_path)


@pytest.mark.skipif(not (DATA / PEPTIDES_CSV).is_file(), reason=f"{DATA} not present")
def test_peptides_split_and_graphs():
    pytest.importorskip("rdkit", reason="rdkit (graphlib-pyg[lrgb]) not installed")
    import ast

    import pandas as pd

    from graphlib_pyg.data.graph_tasks import _smiles_graph

    idx = load_pickle(DATA / PEPTIDES_SPLIT)
    sizes = {k: len(v) for k, v in idx.items()}
    assert sizes == {"train": 10873, "val": 2331, "test": 2331}
    assert np.array_equal(np.sort(np.concatenate(list(idx.values()))), np.arange(15535))
    frame = pd.read_csv(DATA / PEPTIDES_CSV, nrows=20)
    for smiles, labels in zip(frame["smiles"], frame["labels"], strict=True):
        g = _smiles_graph(smiles, ast.literal_eval(labels))
        assert g.x.shape == (g.num_nodes, 9) and g.x.dtype == torch.long
        assert g.edge_attr.shape == (g.edge_index.size(1), 3)
        assert g.y.shape == (1, 10) and set(g.y.unique().tolist()) <= {0.0, 1.0}
        assert int(g.edge_index.max()) < g.num_nodes


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("gin", {}),
        ("graph_mamba", {"local_conv": "gin"}),
        ("graph_mamba", {"local_conv": "gin", "batch_order": "size"}),
        ("gps", {"local_conv": "gin"}),
    ],
)
def test_graph_level_training_learns(model, options):
    """Dense vs sparse random graphs with constant features: only structure separates them."""
    from graphlib_pyg.bench.harness import run_benchmark

    rows = run_benchmark(
        model,
        "graph-sbm",
        runs=1,
        epochs=8,
        data={"num_graphs": 200},
        progress=False,
        config={"hidden": 16, "lr": 0.01, "batch_size": 32, **options},
    )
    assert rows[0]["test"] > 0.9  # balanced classes: chance is 0.5


def test_graph_task_rejects_node_task_kind():
    with pytest.raises(ValueError, match="graph-level task"):
        load_task("graph-sbm", task="node")


def test_size_buckets_visit_every_graph_once_and_cut_padding():
    from graphlib_pyg.data.loaders import SizeBucketSampler

    sizes = torch.randint(5, 400, (1000,), generator=torch.Generator().manual_seed(0))
    sampler = SizeBucketSampler(sizes, 32, pool=10, generator=torch.Generator().manual_seed(1))
    first, second = list(sampler), list(sampler)
    for epoch in (first, second):
        assert len(epoch) == len(sampler) and max(map(len, epoch)) == 32
        assert sorted(i for b in epoch for i in b) == list(range(1000))

    def padding(batches) -> float:  # padded node slots over real nodes
        return sum(int(sizes[b].max()) * len(b) for b in batches) / int(sizes.sum())

    random = torch.randperm(1000, generator=torch.Generator().manual_seed(2)).split(32)
    assert padding(random) > 1.5 and padding(first) < 1.2
    assert first != second  # a fresh shuffle every epoch, not one fixed order
    again = SizeBucketSampler(sizes, 32, pool=10, generator=torch.Generator().manual_seed(1))
    assert list(again) == first  # the same seed gives the same epochs
    assert len(SizeBucketSampler(sizes[:70], 32, pool=2)) == 3  # pool of 64 (2 batches) + 6


def test_graph_level_batch_order_is_validated():
    from graphlib_pyg.bench.harness import run_benchmark

    with pytest.raises(ValueError, match="batch_order"):
        run_benchmark(
            "gin",
            "graph-sbm",
            runs=1,
            epochs=1,
            data={"num_graphs": 40},
            progress=False,
            config={"batch_order": "sorted"},
        )


def test_num_edge_features():
    """Bond feature columns reach the trainer through the task (0 on featureless edges)."""
    from torch_geometric.data import Data

    from graphlib_pyg.data.graph_tasks import GraphSplit, GraphTask

    assert load_task("graph-sbm", num_graphs=4).num_edge_features == 0
    ei = torch.tensor([[0, 1], [1, 0]])
    g = Data(x=torch.zeros(2, 9, dtype=torch.long), edge_index=ei, y=torch.tensor([0]))
    g.edge_attr = torch.zeros(2, 3, dtype=torch.long)
    split = GraphSplit(*(torch.tensor([0]),) * 3)
    assert GraphTask("t", [g], split, "accuracy", True).num_edge_features == 3


def test_unpacked_graphs_have_their_edges_in_csr_order_with_their_attributes():
    from torch_geometric.data import Data

    from graphlib_pyg.data.graph_tasks import _pack, _unpack

    gen = torch.Generator().manual_seed(0)
    graphs = []
    for n in (5, 3, 7):
        ei = torch.randint(0, n, (2, 3 * n), generator=gen)
        attr = torch.stack([ei[0], ei[1], torch.randint(0, 4, (3 * n,), generator=gen)], 1)
        graphs.append(Data(x=torch.zeros(n, 9, dtype=torch.long), edge_index=ei, edge_attr=attr,
                           y=torch.zeros(1, 10), num_nodes=n))  # fmt: skip
    for before, after in zip(graphs, _unpack(_pack(graphs)), strict=True):
        ei = after.edge_index
        key = ei[1] * after.num_nodes + ei[0]
        assert bool((key[1:] >= key[:-1]).all())
        assert torch.equal(after.edge_attr[:, :2].t(), ei)  # each edge kept its own attributes
        as_rows = lambda g: sorted(map(tuple, g.edge_attr.tolist()))  # noqa: E731
        assert as_rows(after) == as_rows(before)


def test_a_graph_task_knows_whether_all_its_graphs_are_undirected():
    from torch_geometric.data import Data

    from graphlib_pyg.data.graph_tasks import GraphSplit, GraphTask

    both = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    one_way = torch.tensor([[0, 1], [1, 2]])
    split = GraphSplit(torch.tensor([0]), torch.tensor([1]), torch.tensor([1]))

    def task(second):
        graphs = [Data(x=torch.ones(3, 1), edge_index=e, y=torch.tensor([0]), num_nodes=3)
                  for e in (both, second)]  # fmt: skip
        return GraphTask("t", graphs, split, "accuracy")

    assert task(both).undirected and not task(one_way).undirected
