import pytest
import torch

from graphlib_pyg.data.metrics import canonical_metric, link_metric, node_metric


def test_hits_at_k_counts_positives_above_kth_negative():
    neg = torch.arange(100, dtype=torch.float)  # 3rd-highest negative = 97
    pos = torch.tensor([98.0, 97.0, 50.0, 99.5])
    # OGB counts positives strictly above the K-th highest negative.
    assert link_metric("hits@3", pos, neg) == pytest.approx(2 / 4)
    assert link_metric("hits@1", pos, neg) == pytest.approx(1 / 4)


def test_mrr_per_positive_negatives():
    pos = torch.tensor([5.0, 0.5])
    neg = torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])  # 3 negatives per positive
    # rank 1 and rank 4 -> MRR = (1 + 1/4) / 2
    assert link_metric("mrr", pos, neg, neg_per_pos=3) == pytest.approx(0.625)


def test_rocauc_link_and_node():
    assert link_metric("rocauc", torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    y = torch.tensor([0, 1, 1, 0])
    out = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    assert node_metric("rocauc", y, out) == 1.0
    assert node_metric("accuracy", y, out) == 1.0
    assert node_metric("accuracy", torch.tensor([1, 1, 1, 1]), out) == 0.5


def test_ogb_node_evaluator_path():
    y = torch.tensor([0, 1, 2, 3])
    out = torch.eye(4)[[0, 1, 2, 0]]
    assert node_metric("accuracy", y, out, ogb_name="ogbn-arxiv") == 0.75


def test_unknown_metric_lists_valid():
    with pytest.raises(ValueError, match="hits@K"):
        canonical_metric("f1")
    with pytest.raises(ValueError, match="integer K"):
        canonical_metric("hits@x")
