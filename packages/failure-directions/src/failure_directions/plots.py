"""Plots: the hardest and easiest images of each class side by side (the paper's Figs. 3-5 layout),
and the interventions' subgroup accuracies. Matplotlib with the Agg backend, PNG files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from failure_directions.metrics import rank_within_class

__all__ = ["plot_extremes", "plot_interventions"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _image(images: np.ndarray | None, files: Sequence[Path] | None, i: int) -> np.ndarray | None:
    if images is not None:
        return np.asarray(images[i])
    if files is not None:
        from PIL import Image

        try:
            with Image.open(files[i]) as im:
                im.thumbnail((96, 96))
                return np.asarray(im.convert("RGB"))
        except OSError:
            return None
    return None


def plot_extremes(
    scores: np.ndarray,
    labels: np.ndarray,
    out: str | os.PathLike,
    images: np.ndarray | None = None,
    files: Sequence[Path] | None = None,
    errors: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    k: int = 6,
    classes: Sequence[int] | None = None,
    title: str = "",
) -> Path:
    """Rows = classes; left the k hardest (most negative decision value), right the k easiest.

    A red frame marks an image the classifier got wrong, a green one an image it got right.
    """
    plt = _plt()
    ranks = rank_within_class(scores, labels)
    rows = [c for c in (classes if classes is not None else sorted(ranks)) if c in ranks]
    if not rows:
        raise ValueError("no class has decision values to plot")
    cols = 2 * k + 1
    fig, axes = plt.subplots(len(rows), cols, figsize=(0.9 * cols, 1.0 * len(rows) + 0.6), squeeze=False)
    for r, c in enumerate(rows):
        order = ranks[c]
        picks = list(order[:k]) + [None] + list(order[::-1][:k])
        for j, i in enumerate(picks):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i is None:
                ax.axis("off")
                continue
            img = _image(images, files, int(i))
            if img is not None:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1 if img.dtype != np.uint8 else 255)
            if errors is not None:
                color = "#d62728" if errors[i] else "#2ca02c"
                for s in ax.spines.values():
                    s.set_edgecolor(color)
                    s.set_linewidth(2.5)
            ax.set_title(f"{scores[i]:+.2g}", fontsize=6, pad=1)
        name = class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    axes[0, 0].annotate("hardest (most negative SVM decision) →", (0, 1.45), xycoords="axes fraction", fontsize=8)
    axes[0, k + 1].annotate("easiest (most positive) →", (0, 1.45), xycoords="axes fraction", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.02, wspace=0.08, hspace=0.35)
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_interventions(rows: Sequence[dict], out: str | os.PathLike, title: str = "") -> Path:
    """Bars: hard-subgroup and worst-group test accuracy per strategy, mean +- std over seeds.

    ``rows``: one dict per (seed, strategy) with keys strategy, hard_acc, worst_group_acc.
    """
    plt = _plt()
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    fig, ax = plt.subplots(figsize=(2.4 + 0.9 * len(names), 3.4))
    x = np.arange(len(names))
    for off, key, color, label in ((-0.2, "hard_acc", "#1f77b4", "hard subgroup"),
                                   (0.2, "worst_group_acc", "#ff7f0e", "worst group")):  # fmt: skip
        vals = [[r[key] for r in rows if r["strategy"] == n and r.get(key) is not None] for n in names]
        mean = [np.mean(v) if v else np.nan for v in vals]
        std = [np.std(v) if len(v) > 1 else 0 for v in vals]
        ax.bar(x + off, mean, 0.4, yerr=std, color=color, label=label, capsize=2)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
