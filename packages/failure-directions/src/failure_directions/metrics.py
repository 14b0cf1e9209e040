"""How well the SVM decision values surface failures (Jain et al. ICLR 2023, Sec. 4 and App. C).

* ``rank_within_class``: test images of each class from hardest (most negative s_c) to easiest; ties
  are broken by the row index, so a ranking is a deterministic function of the decision values.
* ``error_auc``: ROC-AUC of -s at predicting the classifier's errors, pooled over the classes with an
  SVM and per class (the paper reports the SVM's balanced accuracy; both are given).
* ``balanced_accuracy``: the official metric (mean of the accuracy on correct and on wrong points).
* ``precision_at_k``: the fraction of errors (or of a known subgroup) among each class's top-k.
* ``subgroup_recovery``: for a planted subpopulation, ROC-AUC of -s for membership within the
  affected classes and precision@|g| (top-|g| of the class are the subgroup) against the base rate.
"""

from __future__ import annotations

import numpy as np

from orals23_shared.metrics import roc_auc

__all__ = [
    "balanced_accuracy",
    "error_auc",
    "precision_at_k",
    "rank_within_class",
    "subgroup_recovery",
]


def rank_within_class(scores: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Row indices of each class sorted by ascending score (hardest first), ties by index; NaN rows dropped."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    out: dict[int, np.ndarray] = {}
    for c in np.unique(labels):
        idx = np.flatnonzero((labels == c) & ~np.isnan(scores))
        if idx.size:
            out[int(c)] = idx[np.lexsort((idx, scores[idx]))]
    return out


def _auc_or_none(scores: np.ndarray, positives: np.ndarray) -> float | None:
    if positives.all() or not positives.any():
        return None
    return roc_auc(scores, positives.astype(np.int64))


def error_auc(scores: np.ndarray, labels: np.ndarray, preds: np.ndarray) -> dict:
    """AUC of -s at predicting errors: ``pooled`` over rows with a score, ``per_class`` and their ``mean``."""
    scores = np.asarray(scores, dtype=np.float64)
    labels, preds = np.asarray(labels), np.asarray(preds)
    ok = ~np.isnan(scores)
    err = preds != labels
    per_class = {
        int(c): _auc_or_none(-scores[ok & (labels == c)], err[ok & (labels == c)]) for c in np.unique(labels[ok])
    }
    vals = [v for v in per_class.values() if v is not None]
    return {
        "pooled": _auc_or_none(-scores[ok], err[ok]),
        "mean_per_class": float(np.mean(vals)) if vals else None,
        "per_class": per_class,
        "n": int(ok.sum()),
        "error_rate": float(err[ok].mean()) if ok.any() else None,
    }


def balanced_accuracy(scores: np.ndarray, labels: np.ndarray, preds: np.ndarray) -> float | None:
    """Official metric: mean over {correct, wrong} of the accuracy of the SVM's prediction (s >= 0: correct)."""
    scores = np.asarray(scores, dtype=np.float64)
    ok = ~np.isnan(scores)
    correct = (np.asarray(preds) == np.asarray(labels))[ok]
    pred_correct = scores[ok] >= 0
    accs = [float((pred_correct[correct == v] == v).mean()) for v in (True, False) if (correct == v).any()]
    return float(np.mean(accs)) if accs else None


def precision_at_k(scores: np.ndarray, labels: np.ndarray, positives: np.ndarray, k: int) -> dict:
    """Per class: the fraction of ``positives`` among the k hardest rows, and the class's base rate."""
    positives = np.asarray(positives, dtype=bool)
    per_class = {}
    for c, order in rank_within_class(scores, labels).items():
        top = order[: min(k, order.size)]
        per_class[c] = {"precision": float(positives[top].mean()), "base_rate": float(positives[order].mean())}
    precs = [v["precision"] for v in per_class.values()]
    bases = [v["base_rate"] for v in per_class.values()]
    return {
        "k": int(k),
        "mean_precision": float(np.mean(precs)) if precs else None,
        "mean_base_rate": float(np.mean(bases)) if bases else None,
        "per_class": per_class,
    }


def subgroup_recovery(
    scores: np.ndarray, labels: np.ndarray, member: np.ndarray, classes: list[int] | None = None
) -> dict:
    """Recovery of a planted subgroup within each affected class by ascending score (hardest first).

    ``precision`` is precision@|g_c| (|g_c| = members of class c), ``auc`` the ROC-AUC of -score for
    membership; ``base_rate`` = |g_c| / |class c|. Means are over the affected classes.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    member = np.asarray(member, dtype=bool)
    if classes is None:
        classes = sorted(int(c) for c in np.unique(labels[member]))
    ranks = rank_within_class(scores, labels)
    per_class = {}
    for c in classes:
        order = ranks.get(int(c))
        if order is None:
            continue
        g = int(member[order].sum())
        if g == 0 or g == order.size:
            continue
        per_class[int(c)] = {
            "k": g,
            "precision": float(member[order[:g]].mean()),
            "base_rate": g / order.size,
            "auc": roc_auc(-scores[order], member[order].astype(np.int64)),
        }
    if not per_class:
        return {"per_class": {}, "precision": None, "base_rate": None, "auc": None}
    return {
        "per_class": per_class,
        "precision": float(np.mean([v["precision"] for v in per_class.values()])),
        "base_rate": float(np.mean([v["base_rate"] for v in per_class.values()])),
        "auc": float(np.mean([v["auc"] for v in per_class.values()])),
    }
