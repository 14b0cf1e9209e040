"""Metrics every paper package reports, in numpy.

Conventions (stated once, used everywhere):

* ``accuracy`` takes predicted labels, or scores/probabilities of shape (n, C) (argmax is taken).
* ``expected_calibration_error`` uses 15 equal-width confidence bins over [0, 1] (Guo et al., 2017;
  Naeini et al., 2015): ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)|. A confidence of exactly 0 falls
  in the first bin, every other confidence c in bin ceil(c * n_bins) - 1 (right-closed bins).
* Ranks are 1-based: rank 1 is the best. ``rank_of_positive`` uses the *mean* rank for ties (the
  "realistic" rank of Berrendorf et al.), so a model that scores everything equal gets no credit.
* Filtered setting (link prediction / KG completion): before ranking, remove from the candidate list
  every *other* true item (train/valid/test positives) for the same query; pass the remaining
  negative scores to ``rank_of_positive``. The function itself never filters: the caller decides.
* ``hits_at_k`` with more candidates than negatives (k > number of negatives) is what the OGB
  evaluator does: the positive is counted as a hit when it beats the k-th best negative, and when
  there are fewer than k negatives every positive counts as a hit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "accuracy",
    "expected_calibration_error",
    "hits_at_k",
    "hits_at_k_ogb",
    "mean_reciprocal_rank",
    "rank_of_positive",
    "roc_auc",
]


def _as_1d(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def accuracy(pred: ArrayLike, target: ArrayLike) -> float:
    """Fraction of correct predictions. ``pred`` is labels (n,) or scores (n, C)."""
    p = np.asarray(pred)
    t = _as_1d(target, "target")
    if p.ndim == 2:
        p = p.argmax(axis=1)
    if p.shape != t.shape:
        raise ValueError(f"pred has {p.shape[0]} rows but target has {t.shape[0]}")
    if t.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(p == t))


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """ECE with ``n_bins`` equal-width bins on the top-class confidence.

    ``probs``: (n, C) class probabilities (rows sum to 1), or (n,) probability of class 1 for binary
    problems (the confidence is then max(p, 1-p)).
    """
    p = np.asarray(probs, dtype=np.float64)
    y = _as_1d(labels, "labels")
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"probs must be (n, C) with n={y.shape[0]}, got {p.shape}")
    if np.any(p < -1e-9) or np.any(np.abs(p.sum(axis=1) - 1.0) > 1e-4):
        raise ValueError("probs must be non-negative rows summing to 1 (pass softmax outputs, not logits)")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def rank_of_positive(pos_score: ArrayLike, neg_scores: ArrayLike) -> np.ndarray:
    """1-based rank of each positive among its negatives; ties get the mean rank.

    ``pos_score``: (n,); ``neg_scores``: (n, m) (each positive has its own negatives) or (m,)
    (one shared negative set, as in Planetoid HR@K). Higher score = better.
    """
    pos = _as_1d(pos_score, "pos_score").astype(np.float64)
    neg = np.asarray(neg_scores, dtype=np.float64)
    if neg.ndim == 1:
        neg = neg[None, :]
    if neg.ndim != 2 or neg.shape[0] not in (1, pos.shape[0]):
        raise ValueError(f"neg_scores must be (m,) or (n, m) with n={pos.shape[0]}, got {neg.shape}")
    if neg.shape[0] == 1 and pos.shape[0] > 1:
        srt = np.sort(neg[0])
        greater = srt.size - np.searchsorted(srt, pos, side="right")
        equal = np.searchsorted(srt, pos, side="right") - np.searchsorted(srt, pos, side="left")
    else:
        greater = (neg > pos[:, None]).sum(axis=1)
        equal = (neg == pos[:, None]).sum(axis=1)
    return 1.0 + greater + equal / 2.0


def mean_reciprocal_rank(ranks: ArrayLike) -> float:
    """MRR = mean(1 / rank) for 1-based ranks."""
    r = _as_1d(ranks, "ranks").astype(np.float64)
    if r.size == 0 or np.any(r < 1):
        raise ValueError("ranks must be a non-empty array of 1-based ranks")
    return float(np.mean(1.0 / r))


def hits_at_k(ranks: ArrayLike, k: int) -> float:
    """Fraction of 1-based ranks <= k."""
    r = _as_1d(ranks, "ranks").astype(np.float64)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if r.size == 0:
        raise ValueError("hits@k of an empty set is undefined")
    return float(np.mean(r <= k))


def hits_at_k_ogb(pos_scores: ArrayLike, neg_scores: ArrayLike, k: int) -> float:
    """OGB-style Hits@K with one shared negative set (Planetoid / ogbl-collab / ogbl-ddi).

    A positive is a hit when it scores strictly above the k-th highest negative. With fewer than
    k negatives every positive is a hit (OGB returns 1.0 in that case).
    """
    pos = _as_1d(pos_scores, "pos_scores").astype(np.float64)
    neg = _as_1d(neg_scores, "neg_scores").astype(np.float64)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if neg.size < k:
        return 1.0
    kth = np.sort(neg)[-k]
    return float(np.mean(pos > kth))


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half). labels in {0, 1}."""
    s = _as_1d(scores, "scores").astype(np.float64)
    y = _as_1d(labels, "labels")
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.shape[0]}) and labels ({y.shape[0]}) differ in length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs at least one positive and one negative")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
