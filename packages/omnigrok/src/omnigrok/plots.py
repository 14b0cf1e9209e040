"""Plots of Omnigrok's figures: accuracy vs step (log x) with the weight norm (Figs. 3-6), LU curves (Fig. 1-2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_runs", "plot_lu"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runs(panels: Sequence[tuple[str, Sequence[dict[str, Any]]]], path: str | Path) -> Path:
    """One panel per run: train/test accuracy (left axis) and weight norm (right axis) vs step, log x."""
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, (title, hist) in zip(axes[0], panels):
        steps = [max(h["step"], 1) for h in hist]
        ax.plot(steps, [h["train_acc"] for h in hist], color="tab:red", label="train")
        ax.plot(steps, [h["test_acc"] for h in hist], color="tab:green", label="test")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("optimization step")
        ax.set_ylabel("accuracy")
        ax.set_title(title, fontsize=9)
        ax2 = ax.twinx()
        ax2.plot(steps, [h["norm"] for h in hist], color="tab:purple", ls="--", label="weight norm")
        ax2.set_ylabel("weight norm", color="tab:purple")
        if ax is axes[0][0]:
            lines = ax.get_lines() + ax2.get_lines()
            ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="center left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lu(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "LU landscape") -> Path:
    """Final train/test loss (left) and accuracy (right) against the fixed norm ``alpha * w0``."""
    plt = _plt()
    rows = sorted(rows, key=lambda r: r["alpha"])
    a = [r["alpha"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    ax1.plot(a, [r["train_loss"] for r in rows], "o-", color="tab:red", label="train loss (L)")
    ax1.plot(a, [r["test_loss"] for r in rows], "o-", color="tab:green", label="test loss (U)")
    ax1.set_yscale("log")
    ax2.plot(a, [r["train_acc"] for r in rows], "o-", color="tab:red", label="train acc")
    ax2.plot(a, [r["test_acc"] for r in rows], "o-", color="tab:green", label="test acc")
    for ax, lab in ((ax1, "final loss"), (ax2, "final accuracy")):
        ax.set_xscale("log")
        ax.set_xticks(a, [f"{v:g}" for v in a])  # the swept alphas, not overlapping log minor labels
        ax.minorticks_off()
        ax.set_xlabel("alpha = fixed weight norm / w0")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
