"""Metrics of the OGB protocol: ``ogb.Evaluator`` for OGB tasks and for Hits@K / MRR everywhere.

Every metric here is "higher is better". Metric names: ``accuracy``, ``rocauc``, ``hits@K``,
``mrr``; OGB's own names (``acc``, ``rocauc``, ``hits@50``, ``mrr``) map onto these.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

_OGB_ALIASES = {"acc": "accuracy"}


def canonical_metric(metric: str) -> str:
    metric = _OGB_ALIASES.get(metric, metric)
    if metric in ("accuracy", "rocauc", "mrr") or metric.startswith("hits@"):
        if metric.startswith("hits@") and not (metric[5:].isdigit() and int(metric[5:]) >= 1):
            raise ValueError(f"bad metric {metric!r}: expected hits@K with an integer K >= 1")
        return metric
    raise ValueError(f"unknown metric {metric!r}; valid: accuracy, rocauc, hits@K, mrr")


@functools.cache
def _ogb_evaluator(name: str):
    from ogb.linkproppred import Evaluator as LinkEvaluator
    from ogb.nodeproppred import Evaluator as NodeEvaluator

    return (NodeEvaluator if name.startswith("ogbn-") else LinkEvaluator)(name)


def node_metric(metric: str, y_true: Tensor, out: Tensor, ogb_name: str | None = None) -> float:
    """Score node predictions.

    Args:
        metric: ``accuracy`` or ``rocauc``.
        y_true: (n,) class indices, or (n, T) binary targets (multi-label).
        out: (n, C) logits, or (n, T) logits for multi-label.
        ogb_name: when set (``ogbn-*``), OGB's Evaluator computes the metric.
    """
    metric = canonical_metric(metric)
    out, y_true = out.detach().cpu(), y_true.detach().cpu()
    multilabel = y_true.dim() == 2 and y_true.size(1) > 1
    if ogb_name is not None:
        ev = _ogb_evaluator(ogb_name)
        if ev.eval_metric == "acc":
            pred = out.argmax(-1, keepdim=True)
            return float(ev.eval({"y_true": y_true.view(-1, 1), "y_pred": pred})["acc"])
        res = ev.eval({"y_true": y_true, "y_pred": out})
        return float(res[ev.eval_metric])
    if metric == "accuracy":
        if multilabel:
            return float(((out > 0) == y_true.bool()).float().mean())
        return float((out.argmax(-1) == y_true.view(-1)).float().mean())
    if metric == "rocauc":
        from sklearn.metrics import roc_auc_score

        if multilabel:
            cols = [t for t in range(y_true.size(1)) if 0 < y_true[:, t].sum() < y_true.size(0)]
            return float(sum(roc_auc_score(y_true[:, t], out[:, t]) for t in cols) / len(cols))
        score = out[:, 1] - out[:, 0] if out.dim() == 2 and out.size(1) == 2 else out.view(-1)
        return float(roc_auc_score(y_true.view(-1).numpy(), score.numpy()))
    raise ValueError(f"metric {metric!r} is not a node metric")


def link_metric(
    metric: str,
    pos: Tensor,
    neg: Tensor,
    neg_per_pos: int | None = None,
    ogb_name: str | None = None,
) -> float:
    """Score link predictions.

    Scores keep the caller's precision (float64 scores are ranked as float64; see
    :func:`_score_dtype`), so two scores that differ only beyond float32 are not made a tie.

    Args:
        metric: ``hits@K`` (any K >= 1), ``mrr`` or ``rocauc``.
        pos: (P,) scores of positive pairs.
        neg: (M,) scores of shared negatives, or (P * neg_per_pos,) per-positive negatives.
        neg_per_pos: set for per-positive negatives (MRR protocol). Hits@K is then the fraction
            of positives whose OGB rank among their own negatives is at most K (see
            :func:`_ogb_rank`), for any K; OGB's lists are used for the K it returns (1, 3, 10).
        ogb_name: OGB dataset whose Evaluator to use (default: ogbl-ddi's, with K overridden).
    """
    metric = canonical_metric(metric)
    dtype = _score_dtype(pos, neg)
    pos = pos.detach().cpu().view(-1).to(dtype)
    neg = neg.detach().cpu().view(-1).to(dtype)
    if metric == "rocauc":
        from sklearn.metrics import roc_auc_score

        y = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
        return float(roc_auc_score(y.numpy(), torch.cat([pos, neg]).numpy()))
    if metric.startswith("hits@"):
        k = int(metric[5:])
        if neg_per_pos is not None:
            # Hits@K per positive against its own negatives (the MRR protocol's hits lists).
            return _per_positive_hits(pos, neg, neg_per_pos, k)
        ev = _ogb_evaluator(ogb_name or "ogbl-ddi")
        old = ev.K
        try:
            ev.K = k
            return float(ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})[f"hits@{k}"])
        finally:
            ev.K = old
    if metric == "mrr":
        if neg_per_pos is None:
            neg_per_pos = neg.numel()
            neg = neg.repeat(pos.numel())
        return _mean(_mrr_lists(pos, neg, neg_per_pos)["mrr_list"])
    raise ValueError(f"metric {metric!r} is not a link metric")


def _score_dtype(pos: Tensor, neg: Tensor) -> torch.dtype:
    """The dtype both score tensors are ranked in: their common floating type, never narrower.

    float64 stays float64; float16/bfloat16 widen to float32 (exact; NumPy and scikit-learn have
    no bfloat16); integer and boolean scores become float64 (exact for integers up to 2**53).
    """
    dtype = torch.promote_types(pos.dtype, neg.dtype)
    if not dtype.is_floating_point:
        return torch.float64
    return torch.promote_types(dtype, torch.float32)


#: The K of the per-positive ``hits@K_list`` that OGB's ``Evaluator._eval_mrr`` returns.
_OGB_HITS_LISTS = (1, 3, 10)


def _mrr_lists(pos: Tensor, neg: Tensor, neg_per_pos: int) -> dict[str, Tensor]:
    """OGB's per-positive lists (``mrr_list``, ``hits@{1,3,10}_list``) for (P,) ``pos`` ranked
    against their own ``neg_per_pos`` negatives each (ogbl-citation2's Evaluator)."""
    ev = _ogb_evaluator("ogbl-citation2")
    return ev._eval_mrr(pos, neg.view(pos.numel(), neg_per_pos), type_info="torch")  # (P,) each


def _ogb_rank(pos: Tensor, neg: Tensor) -> Tensor:
    """OGB's rank of each positive among its negatives, ties counted half.

    ``1 + (#{neg > pos} + #{neg >= pos}) / 2``: the mean of the optimistic and pessimistic ranks,
    exactly as ``ogb.linkproppred.Evaluator._eval_mrr`` computes it (its ``hits@K_list`` is
    ``rank <= K``).

    Shapes:
        - **input:** pos (P,), neg (P, M)
        - **output:** (P,) float ranks in [1, M + 1]
    """
    pos = pos.view(-1, 1)  # (P, 1)
    optimistic = (neg > pos).sum(dim=1)  # (P,)
    pessimistic = (neg >= pos).sum(dim=1)  # (P,)
    return 0.5 * (optimistic + pessimistic).to(torch.float64) + 1


def _per_positive_hits(pos: Tensor, neg: Tensor, neg_per_pos: int, k: int) -> float:
    if k in _OGB_HITS_LISTS:
        return _mean(_mrr_lists(pos, neg, neg_per_pos)[f"hits@{k}_list"])
    rank = _ogb_rank(pos, neg.view(pos.numel(), neg_per_pos))  # (P,)
    return _mean(rank <= k)


def _mean(values: Tensor) -> float:
    return float(values.to(torch.float64).mean())
