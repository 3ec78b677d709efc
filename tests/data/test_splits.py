"""Node and link splits: partitions, sizes, determinism and (above all) no leakage."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlib_pyg.data.splits import (
    LinkSplit,
    NodeSplit,
    per_class_split,
    random_link_split,
    random_node_split,
    splits_from_masks,
)
from graphlib_pyg.data.synthetic import csbm
from graphlib_pyg.data.tasks import LinkTask, NodeTask, load_task


def undirected_keys(pairs: Tensor, n: int) -> Tensor:
    """(2, P) -> (P,) key of each pair as an unordered pair."""
    lo, hi = torch.minimum(pairs[0], pairs[1]), torch.maximum(pairs[0], pairs[1])
    return lo * n + hi


def key_set(pairs: Tensor, n: int) -> set[int]:
    return set(undirected_keys(pairs, n).tolist())


def assert_no_leakage(split: LinkSplit, full_edge_index: Tensor, n: int, *, complete: bool) -> None:
    """The leakage checks every link split must pass.

    ``complete``: train/val/test positives together are every undirected edge of the full graph
    exactly once (true when no training edges are held out as message-passing-only edges).
    """
    full = key_set(full_edge_index, n)
    mp = split.graph.edge_index
    mp_keys = key_set(mp, n)
    # The message-passing graph is undirected and holds only full-graph edges.
    assert key_set(mp, n) <= full
    assert set(zip(mp[0].tolist(), mp[1].tolist(), strict=True)) == set(
        zip(mp[1].tolist(), mp[0].tolist(), strict=True)
    )
    assert split.graph.num_nodes == n

    tr, va, te = (undirected_keys(p, n) for p in (split.train_pos, split.val_pos, split.test_pos))
    for name, keys in (("train", tr), ("val", va), ("test", te)):
        assert keys.numel() == keys.unique().numel(), f"duplicate {name} positives"
        assert set(keys.tolist()) <= full, f"{name} positives that are not edges"
    # Validation/test positives never appear in the message-passing graph, in either direction.
    assert not (set(va.tolist()) & mp_keys), "validation edges leak into the graph"
    assert not (set(te.tolist()) & mp_keys), "test edges leak into the graph"
    for pos in (split.val_pos, split.test_pos):
        fwd = set(zip(pos[0].tolist(), pos[1].tolist(), strict=True))
        bwd = set(zip(pos[1].tolist(), pos[0].tolist(), strict=True))
        edges = set(zip(mp[0].tolist(), mp[1].tolist(), strict=True))
        assert not (fwd & edges) and not (bwd & edges)
    # Positives of different parts are disjoint ...
    assert not (set(tr.tolist()) & set(va.tolist()))
    assert not (set(tr.tolist()) & set(te.tolist()))
    assert not (set(va.tolist()) & set(te.tolist()))
    # ... and together cover every undirected (non-loop) edge once.
    no_loops = full_edge_index[:, full_edge_index[0] != full_edge_index[1]]
    if complete:
        assert tr.numel() + va.numel() + te.numel() == len(key_set(no_loops, n))
        assert set(tr.tolist()) | set(va.tolist()) | set(te.tolist()) == key_set(no_loops, n)

    # Negatives: never edges of the full graph (either direction), never self-loops, distinct.
    negs = torch.cat([split.val_neg, split.test_neg], 1)
    assert negs.numel() > 0
    assert bool((negs[0] != negs[1]).all()), "self-loop negatives"
    nk = undirected_keys(negs, n)
    assert nk.numel() == nk.unique().numel(), "duplicate negatives"
    assert not (set(nk.tolist()) & full), "negatives that are edges of the full graph"
    assert int(negs.min()) >= 0 and int(negs.max()) < n


@pytest.fixture(scope="module")
def graph() -> Data:
    return csbm(num_nodes=300, avg_degree=6.0, seed=0)


# --------------------------------------------------------------------------- link splits


def test_random_link_split_no_leakage(graph):
    n = graph.num_nodes
    split = random_link_split(graph, val=0.1, test=0.2, seed=0)
    assert_no_leakage(split, graph.edge_index, n, complete=True)
    m = graph.edge_index.size(1) // 2
    assert split.val_pos.size(1) == round(0.1 * m) and split.test_pos.size(1) == round(0.2 * m)
    assert split.val_neg.size(1) == split.val_pos.size(1)
    assert split.test_neg.size(1) == split.test_pos.size(1)
    # The message-passing graph is exactly the training edges, both directions.
    assert key_set(split.graph.edge_index, n) == key_set(split.train_pos, n)
    assert split.graph.edge_index.size(1) == 2 * split.train_pos.size(1)
    assert split.test_graph is split.graph and not split.val_as_input
    assert split.graph.x is graph.x


def test_random_link_split_on_directed_graph_with_duplicates_and_loops():
    n = 40
    g = torch.Generator().manual_seed(5)
    ei = torch.randint(0, n, (2, 200), generator=g)
    ei = torch.cat([ei, ei[:, :20], ei[:, :20].flip(0), torch.tensor([[4, 7], [4, 7]])], 1)
    data = Data(edge_index=ei, num_nodes=n)
    split = random_link_split(data, val=0.1, test=0.1, seed=3, neg_ratio=2.0)
    assert_no_leakage(split, ei, n, complete=True)
    assert split.val_neg.size(1) == round(2.0 * split.val_pos.size(1))


def test_random_link_split_seeded(graph):
    a = random_link_split(graph, seed=4)
    b = random_link_split(graph, seed=4)
    c = random_link_split(graph, seed=5)
    for field in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert torch.equal(a.graph.edge_index, b.graph.edge_index)
    assert not torch.equal(a.val_pos, c.val_pos)
    assert not torch.equal(a.test_pos, c.test_pos)
    assert not torch.equal(a.val_neg, c.val_neg)


def test_random_link_split_disjoint_train(graph):
    n = graph.num_nodes
    plain = random_link_split(graph, val=0.1, test=0.1, seed=1)
    split = random_link_split(graph, val=0.1, test=0.1, seed=1, disjoint_train=0.3)
    assert_no_leakage(split, graph.edge_index, n, complete=False)
    sup, mp = key_set(split.train_pos, n), key_set(split.graph.edge_index, n)
    # Supervision edges are held out of the message-passing graph ...
    assert sup and not (sup & mp)
    assert len(sup) == round(0.3 * plain.train_pos.size(1))
    # ... and together they are the training edges of the plain split with the same seed.
    assert sup | mp == key_set(plain.train_pos, n)
    assert torch.equal(split.val_pos, plain.val_pos) and torch.equal(split.test_pos, plain.test_pos)


def test_random_link_split_val_as_input(graph):
    n = graph.num_nodes
    plain = random_link_split(graph, val=0.1, test=0.2, seed=2)
    split = random_link_split(graph, val=0.1, test=0.2, seed=2, val_as_input=True)
    assert split.val_as_input
    assert_no_leakage(split, graph.edge_index, n, complete=True)
    assert torch.equal(split.graph.edge_index, plain.graph.edge_index)
    # Validation edges join the test-time graph (both directions); test edges never do.
    test_keys = key_set(split.test_graph.edge_index, n)
    assert test_keys == key_set(split.train_pos, n) | key_set(split.val_pos, n)
    assert not (test_keys & key_set(split.test_pos, n))
    tg = split.test_graph.edge_index
    assert tg.size(1) == 2 * len(test_keys)
    assert split.test_graph.num_nodes == n


def test_random_link_split_rejects_too_large_eval_fractions(graph):
    with pytest.raises(ValueError, match="leave no training edges"):
        random_link_split(graph, val=0.6, test=0.4)


def test_csbm_link_task_no_leakage():
    task = load_task("csbm", task="link", num_nodes=200)
    assert isinstance(task, LinkTask) and task.metric == "hits@100"
    assert_no_leakage(task.split(0), task.data.edge_index, task.num_nodes, complete=True)
    assert task.split(0) is task.split(0)  # cached per run
    assert not torch.equal(task.split(0).val_pos, task.split(1).val_pos)


def test_cora_link_task_no_leakage(require_dataset):
    root = require_dataset("cora")
    task = load_task("cora", root=root, task="link")
    assert isinstance(task, LinkTask) and task.num_nodes == 2708
    split = task.split(0)
    assert_no_leakage(split, task.data.edge_index, task.num_nodes, complete=True)
    assert split.graph.x is not None and split.graph.x.shape == (2708, 1433)


# --------------------------------------------------------------------------- node splits


@pytest.mark.parametrize(("n", "train", "val"), [(100, 0.6, 0.2), (1001, 0.1, 0.1), (7, 0.5, 0.0)])
def test_random_node_split_is_partition(n, train, val):
    s = random_node_split(n, train, val, seed=3)
    assert s.train.numel() == round(train * n) and s.val.numel() == round(val * n)
    assert s.test.numel() == n - s.train.numel() - s.val.numel()
    assert torch.equal(torch.cat([s.train, s.val, s.test]).sort().values, torch.arange(n))
    for part in (s.train, s.val, s.test):
        assert torch.equal(part, part.sort().values)
    same = random_node_split(n, train, val, seed=3)
    assert torch.equal(same.train, s.train) and torch.equal(same.test, s.test)


def test_random_node_split_seed_changes_split():
    assert not torch.equal(
        random_node_split(100, seed=0).train, random_node_split(100, seed=1).train
    )


@pytest.mark.parametrize(("train", "val"), [(0.0, 0.2), (0.8, 0.2), (0.5, -0.1)])
def test_random_node_split_rejects_bad_fractions(train, val):
    with pytest.raises(ValueError, match="train"):
        random_node_split(10, train, val)


def test_per_class_split():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 7, (2000,), generator=g)
    s = per_class_split(y, seed=0)
    assert torch.equal(torch.bincount(y[s.train], minlength=7), torch.full((7,), 20))
    assert s.val.numel() == 500 and s.test.numel() == 1000
    parts = torch.cat([s.train, s.val, s.test])
    assert parts.unique().numel() == parts.numel()  # disjoint
    assert not torch.equal(per_class_split(y, seed=1).train, s.train)
    assert torch.equal(per_class_split(y, seed=0).val, s.val)
    small = per_class_split(y, num_per_class=5, num_val=30, num_test=40, seed=2)
    assert torch.equal(torch.bincount(y[small.train], minlength=7), torch.full((7,), 5))
    assert small.val.numel() == 30 and small.test.numel() == 40


def test_node_split_masks():
    mask = torch.zeros(10, 3, dtype=torch.bool)
    mask[:4] = True
    splits = splits_from_masks(mask, ~mask, torch.zeros_like(mask))
    assert len(splits) == 3
    assert torch.equal(splits[0].train, torch.arange(4))
    assert torch.equal(splits[2].val, torch.arange(4, 10))
    one = NodeSplit(mask[:, 0], ~mask[:, 0], torch.tensor([], dtype=torch.long))
    assert torch.equal(one.train, torch.arange(4))


def test_node_split_from_uint8_masks():
    mask = torch.zeros(10, 2, dtype=torch.uint8)
    mask[:4] = 1
    splits = splits_from_masks(mask, 1 - mask, torch.zeros_like(mask))
    assert torch.equal(splits[0].train, torch.arange(4))
    assert torch.equal(splits[1].val, torch.arange(4, 10))


# --------------------------------------------------------------------------- synthetic tasks


def edge_homophily(data: Data) -> float:
    ei, y = data.edge_index, data.y
    return float((y[ei[0]] == y[ei[1]]).float().mean())


def test_csbm_task_homophily():
    high = load_task("csbm", num_nodes=500, homophily=0.9)
    assert isinstance(high, NodeTask) and high.num_nodes == 500
    assert abs(edge_homophily(high.data) - 0.9) < 0.05
    low = load_task("csbm", num_nodes=500, homophily=0.1)
    assert edge_homophily(low.data) < 0.2
    # undirected, no self-loops
    ei = high.data.edge_index
    assert bool((ei[0] != ei[1]).all())
    assert key_set(ei, 500) == key_set(ei.flip(0), 500)
    assert ei.size(1) == 2 * len(key_set(ei, 500))


def test_csbm_deterministic_per_seed():
    a, b, c = csbm(num_nodes=200, seed=7), csbm(num_nodes=200, seed=7), csbm(num_nodes=200, seed=8)
    for key in ("x", "y", "edge_index"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a.edge_index, c.edge_index) or not torch.equal(a.x, c.x)
    t1 = load_task("csbm", num_nodes=200, seed=7)
    assert torch.equal(t1.data.x, a.x) and torch.equal(t1.data.edge_index, a.edge_index)
    assert torch.equal(t1.split(0).train, load_task("csbm", num_nodes=200, seed=7).split(0).train)


def test_csbm_task_random_split_and_bad_split():
    task = load_task("csbm", num_nodes=200, train=0.5, val=0.25)
    s = task.split(0)
    assert (s.train.numel(), s.val.numel(), s.test.numel()) == (100, 50, 50)
    assert task.num_splits is None
    with pytest.raises(ValueError, match=r"no split 'public'; valid: random"):
        load_task("csbm", num_nodes=200, split="public")
