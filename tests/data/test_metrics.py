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


def _brute_force_hits(pos, neg, k):
    """Hits@K by counting, per positive: rank = 1 + #{neg > pos} + #{neg == pos} / 2 (OGB)."""
    hits = 0
    for p, row in zip(pos.tolist(), neg.tolist(), strict=True):
        rank = 1 + sum(n > p for n in row) + 0.5 * sum(n == p for n in row)
        hits += rank <= k
    return hits / len(pos)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 20, 50, 100])
def test_hits_at_any_k_with_per_positive_negatives_matches_brute_force(k):
    g = torch.Generator().manual_seed(k)
    pos = torch.randint(0, 40, (64,), generator=g).float()  # small integers: many ties
    neg = torch.randint(0, 40, (64, 30), generator=g).float()  # 30 negatives per positive
    got = link_metric(f"hits@{k}", pos, neg.view(-1), neg_per_pos=30)
    assert got == pytest.approx(_brute_force_hits(pos, neg, k), abs=1e-12)
    if k >= 31:  # past M + 1 every positive is a hit
        assert got == 1.0


def test_hits_at_k_per_positive_is_consistent_with_ogb_lists():
    from ogb.linkproppred import Evaluator

    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(50, generator=g), torch.randn(50, 20, generator=g)
    neg[:, :3] = pos.view(-1, 1)  # ties with the positive, counted half by OGB
    res = Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg})
    for k in (1, 3, 10):
        want = float(res[f"hits@{k}_list"].float().mean())
        assert link_metric(f"hits@{k}", pos, neg.view(-1), neg_per_pos=20) == pytest.approx(want)
    ks = [link_metric(f"hits@{k}", pos, neg.view(-1), neg_per_pos=20) for k in range(1, 23)]
    assert ks == sorted(ks) and ks[-1] == 1.0


def test_float64_scores_closer_than_float32_are_not_ties():
    pos = torch.tensor([1.0 + 1e-12], dtype=torch.float64)  # == 1.0 in float32
    neg = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert float(pos.float()) == 1.0  # the pair float32 cannot tell apart
    assert link_metric("hits@1", pos, neg) == 1.0  # shared negatives (OGB's Evaluator)
    assert link_metric("hits@1", pos, neg, neg_per_pos=2) == 1.0
    assert link_metric("hits@2", pos, neg, neg_per_pos=2) == 1.0
    assert link_metric("mrr", pos, neg, neg_per_pos=2) == 1.0  # a tie would rank 1.5
    assert link_metric("mrr", pos, neg) == 1.0
    assert link_metric("rocauc", pos, neg) == 1.0  # a tie would give 0.75
    # Mixed precision ranks in the wider type; low-precision and integer scores still work.
    assert link_metric("mrr", pos, neg.float(), neg_per_pos=2) == 1.0
    half = link_metric("hits@1", torch.tensor([2.0], dtype=torch.bfloat16), torch.tensor([1.0]))
    assert half == 1.0
    ints = link_metric("mrr", torch.tensor([3]), torch.tensor([1, 2, 3, 4]))
    assert ints == pytest.approx(1 / 2.5)  # rank 2.5: one negative above, one tie


def test_hits_at_zero_is_rejected():
    with pytest.raises(ValueError, match="K >= 1"):
        canonical_metric("hits@0")
