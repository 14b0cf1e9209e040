"""PNG plots (matplotlib, Agg backend) of loss curves and kernel movement."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_curves", "plot_bars"]


def plot_curves(
    path: str | Path,
    curves: dict[str, np.ndarray],
    title: str,
    ylabel: str = "train loss",
    xlabel: str = "step",
    logy: bool = True,
    styles: dict[str, str] | None = None,
) -> Path:
    """One line per named curve."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, c in curves.items():
        ax.plot(np.arange(len(c)), c, (styles or {}).get(name, "-"), label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_bars(path: str | Path, values: dict[str, float], title: str, ylabel: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.bar(list(values), list(values.values()))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
