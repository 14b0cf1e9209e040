"""Grokking metrics from an evaluation history (Omnigrok, Liu et al. ICLR 2023, Figs. 3-6).

* ``t_train``: the first evaluated step at which train accuracy reaches ``train_threshold`` (99%);
* ``t_test``: the first evaluated step at which test accuracy reaches its plateau, i.e. comes within
  ``plateau_tol`` (2 points) of the best test accuracy of the run;
* ``delay = t_test / t_train`` (grokking: delay >> 1; no grokking: delay ~ 1);
* the weight norm at both steps (grokking by norm decay: the norm at ``t_test`` is far below the
  norm at ``t_train``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["eval_schedule", "first_step_reaching", "plateau_step", "grokking_metrics", "recovery"]


def eval_schedule(steps: int, n: int = 150) -> list[int]:
    """Step 0 plus about ``n`` log-spaced steps up to ``steps`` (dense early, where train accuracy jumps)."""
    if steps <= 0:
        return [0]
    pts = np.unique(np.round(np.geomspace(1, steps, max(2, n))).astype(int))
    return [0, *[int(s) for s in pts if 0 < s < steps], int(steps)]


def first_step_reaching(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """The first step whose value is >= ``threshold``; None if never."""
    for s, v in zip(steps, values):
        if v >= threshold:
            return int(s)
    return None


def plateau_step(steps: Sequence[int], values: Sequence[float], tol: float = 0.02) -> int | None:
    """The first step whose value is within ``tol`` of the run's best value."""
    if len(values) == 0:
        return None
    return first_step_reaching(steps, values, float(np.max(values)) - tol)


def grokking_metrics(
    history: Sequence[dict[str, Any]], train_threshold: float = 0.99, plateau_tol: float = 0.02
) -> dict[str, Any]:
    """``t_train``, ``t_test``, ``delay``, the norms at both steps and the accuracies that matter."""
    steps = [r["step"] for r in history]
    tr = [r["train_acc"] for r in history]
    te = [r["test_acc"] for r in history]
    norms = {r["step"]: r["norm"] for r in history}
    t_train = first_step_reaching(steps, tr, train_threshold)
    t_test = plateau_step(steps, te, plateau_tol)
    delay = None
    if t_train is not None and t_test is not None:
        delay = max(t_test, 1) / max(t_train, 1)
    return {
        "t_train": t_train,
        "t_test": t_test,
        "delay": delay,
        "gap_steps": None if delay is None else t_test - t_train,
        "best_test_acc": float(max(te)) if te else None,
        "final_test_acc": float(te[-1]) if te else None,
        "final_train_acc": float(tr[-1]) if tr else None,
        "norm_at_t_train": norms.get(t_train),
        "norm_at_t_test": norms.get(t_test),
        "final_norm": float(history[-1]["norm"]) if history else None,
        **recovery(history, t_train),
    }


def recovery(history: Sequence[dict[str, Any]], t_train: int | None) -> dict[str, Any]:
    """How much test accuracy rose after the fit (``best after t_fit - at t_fit``).

    ``t_fit`` is ``t_train``, or the first step of the best train accuracy when 99% was never reached.
    """
    if not history:
        return {"test_acc_at_t_train": None, "test_gain_after_fit": None}
    if t_train is None:
        best = max(r["train_acc"] for r in history)
        t_train = next(r["step"] for r in history if r["train_acc"] == best)
    at = next(r["test_acc"] for r in history if r["step"] == t_train)
    later = max(r["test_acc"] for r in history if r["step"] >= t_train)
    return {"test_acc_at_t_train": float(at), "test_gain_after_fit": float(later - at)}
