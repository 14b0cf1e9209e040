"""The LU landscape: final train and test loss as a function of the fixed weight norm (Omnigrok Sec. 2).

For each ``alpha`` the model is trained on the sphere ``||theta|| = alpha * w0`` (weight decay 0,
rescaled after every step). The paper's mechanism: training loss is L-shaped in ``w`` (high only
below a critical norm), test loss is U-shaped (a "Goldilocks zone" of good generalisation, worse for
large norms). ``lu_shape`` checks both shapes with bars fixed in code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from omnigrok.train import TrainConfig, train

__all__ = ["run_landscape", "lu_shape", "L_WALL", "U_RISE"]

#: L-shape bar: the smallest norm's final train loss is >= L_WALL times the largest train loss at
#: alpha >= 1 (a wall on the left, a low floor on the right).
L_WALL = 10.0
#: U-shape bar: the test-loss minimum is at an interior alpha and both ends are >= U_RISE times it.
U_RISE = 1.25


def run_landscape(
    cfg: TrainConfig,
    alphas: Sequence[float],
    done: dict[float, dict[str, Any]] | None = None,
    on_result: Callable[[float, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Constrained runs of the resolved ``cfg`` at each alpha; ``done`` holds results to skip (resume)."""
    done = dict(done or {})
    rows = []
    for a in alphas:
        if a not in done:
            run = train(replace(cfg, alpha=float(a), constrained=True, weight_decay=0.0))
            last = run["history"][-1]
            done[a] = {
                "alpha": float(a),
                "norm": last["norm"],
                "w0": run["w0"],
                **{k: last[k] for k in ("train_loss", "test_loss", "train_acc", "test_acc")},
                "best_train_acc": max(h["train_acc"] for h in run["history"]),
                "best_test_acc": max(h["test_acc"] for h in run["history"]),
                "min_test_loss": min(h["test_loss"] for h in run["history"]),
            }
            if on_result is not None:
                on_result(a, done[a])
        rows.append(done[a])
    return rows


def lu_shape(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Is train loss L-shaped and test loss U-shaped against alpha? Numbers and booleans."""
    rows = sorted(rows, key=lambda r: r["alpha"])
    alphas = np.array([r["alpha"] for r in rows])
    tr = np.array([r["train_loss"] for r in rows])
    te = np.array([r["test_loss"] for r in rows])
    right = tr[alphas >= 1.0]
    wall = float(tr[0] / max(right.max(), 1e-30)) if right.size and alphas[0] < 1.0 else float("nan")
    i_min = int(np.argmin(te))
    rise_left, rise_right = float(te[0] / te[i_min]), float(te[-1] / te[i_min])
    return {
        "l_wall_ratio": wall,
        "l_shaped": bool(wall >= L_WALL),
        "test_argmin_alpha": float(alphas[i_min]),
        "u_rise_left": rise_left,
        "u_rise_right": rise_right,
        "u_shaped": bool(0 < i_min < len(rows) - 1 and rise_left >= U_RISE and rise_right >= U_RISE),
    }
