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
        if metric.startswith("hits@") and not metric[5:].isdigit():
            raise ValueError(f"bad metric {metric!r}: expected hits@K with an integer K")
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

    Args:
        metric: ``hits@K``, ``mrr`` or ``rocauc``.
        pos: (P,) scores of positive pairs.
        neg: (M,) scores of shared negatives, or (P * neg_per_pos,) per-positive negatives.
        neg_per_pos: set for per-positive negatives (MRR protocol).
        ogb_name: OGB dataset whose Evaluator to use (default: ogbl-ddi's, with K overridden).
    """
    metric = canonical_metric(metric)
    pos, neg = pos.detach().cpu().view(-1).float(), neg.detach().cpu().view(-1).float()
    if metric == "rocauc":
        from sklearn.metrics import roc_auc_score

        y = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
        return float(roc_auc_score(y.numpy(), torch.cat([pos, neg]).numpy()))
    if metric.startswith("hits@"):
        k = int(metric[5:])
        ev = _ogb_evaluator(ogb_name or "ogbl-ddi")
        old = ev.K
        try:
            ev.K = k
            if neg_per_pos is not None:
                # Hits@K per positive against its own negatives (the MRR protocol's hits list).
                return _mrr_style(pos, neg, neg_per_pos, f"hits@{k}_list")
            return float(ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})[f"hits@{k}"])
        finally:
            ev.K = old
    if metric == "mrr":
        if neg_per_pos is None:
            neg_per_pos = neg.numel()
            neg = neg.repeat(pos.numel())
        return _mrr_style(pos, neg, neg_per_pos, "mrr_list")
    raise ValueError(f"metric {metric!r} is not a link metric")


def _mrr_style(pos: Tensor, neg: Tensor, neg_per_pos: int, key: str) -> float:
    ev = _ogb_evaluator("ogbl-citation2")
    res = ev._eval_mrr(pos, neg.view(pos.numel(), neg_per_pos), type_info="torch")
    return float(res[key].float().mean())
