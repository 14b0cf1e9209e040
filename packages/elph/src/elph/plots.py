"""The reproduction's figures (matplotlib, Agg): test HR@100 of every model beside the paper's Table 2
(the main plot), structure-only HR@100, sketch estimates against exact counts, and cost per link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_hits", "plot_sketch_accuracy", "plot_speed"]


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_hits(
    path: Path, results: dict[str, dict[str, list[float]]], paper: dict[str, dict[str, float]], title: str
) -> Path:
    """Bars of mean test HR@100 (error bar: std over seeds) beside the paper's number, one panel per dataset."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.6), squeeze=False)
    for ax, (ds, res) in zip(axes[0], results.items()):
        names = list(res)
        xs = np.arange(len(names))
        ax.bar(
            xs - 0.2,
            [100 * np.mean(res[n]) for n in names],
            0.4,
            yerr=[100 * np.std(res[n]) for n in names],
            label="ours",
        )
        ax.bar(xs + 0.2, [paper.get(ds, {}).get(n, np.nan) for n in names], 0.4, label="paper")
        ax.set_xticks(xs, names, rotation=30)
        ax.set_ylabel("test HR@100 (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{ds}: {title}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_sketch_accuracy(path: Path, scatter: dict[str, np.ndarray]) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    for ax, key in zip(axes, ("11", "22")):
        x, e = scatter[f"exact{key}"], scatter[f"est{key}"]
        ax.scatter(x, e, s=4, alpha=0.4)
        lim = [0, max(x.max(), e.max())]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set_xlabel(f"exact |N<={key[0]}(u) n N<={key[1]}(v)|")
        ax.set_ylabel("sketch estimate")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_speed(path: Path, rows: list[dict[str, Any]]) -> Path:
    """µs per link (log scale) of BUDDY and SEAL for each phase and dataset of the speed protocol."""
    plt = _plt()
    phases = ("preprocess_us_per_link", "inference_us_per_link", "end_to_end_us_per_link")
    fig, axes = plt.subplots(1, len(rows), figsize=(4.5 * len(rows), 3.5), squeeze=False)
    for ax, row in zip(axes[0], rows):
        xs = np.arange(len(phases))
        ax.bar(xs - 0.2, [row[p]["buddy"] for p in phases], 0.4, label="BUDDY")
        ax.bar(xs + 0.2, [row[p]["seal"] for p in phases], 0.4, label="SEAL")
        ax.set_xticks(xs, ["preprocess", "inference", "end to end"])
        ax.set_yscale("log")
        ax.set_ylabel("µs per link")
        ax.set_title(row["dataset"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
