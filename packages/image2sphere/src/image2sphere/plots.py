"""Plots: the Mollweide scatter of a distribution over SO(3) used by IPDF (Murphy et al. 2021, Fig. 2) and
Image2Sphere (Klee et al. 2023, Fig. 4), and training curves. matplotlib with the Agg backend."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

__all__ = ["plot_so3_distribution", "plot_curves"]


def _axis_and_tilt(rots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitude/latitude of R e_x and the tilt angle of R e_y around it (in [0, 2pi))."""
    ax = rots[:, :, 0]
    lon = np.arctan2(ax[:, 1], ax[:, 0])
    lat = np.arcsin(np.clip(ax[:, 2], -1, 1))
    # reference frame orthogonal to the axis: project e_z (or e_y near the poles)
    ref = np.where(np.abs(ax[:, 2:3]) < 0.99, np.array([[0, 0, 1.0]]), np.array([[0, 1.0, 0]]))
    u = ref - (ref * ax).sum(1, keepdims=True) * ax
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(ax, u)
    y = rots[:, :, 1]
    tilt = np.mod(np.arctan2((y * v).sum(1), (y * u).sum(1)), 2 * np.pi)
    return lon, lat, tilt


def plot_so3_distribution(
    probs: torch.Tensor,
    grid: torch.Tensor,
    path: str | Path,
    gt: torch.Tensor | None = None,
    image: torch.Tensor | None = None,
    title: str = "",
    min_prob_factor: float = 2.0,
) -> Path:
    """Mollweide scatter: one dot per grid rotation with probability above ``min_prob_factor / N``,
    placed at its first axis, coloured by the tilt about it, area proportional to probability;
    ground-truth rotations (all equivalents) as open circles."""
    p = probs.double().cpu().numpy()
    g = grid.double().cpu().numpy()
    keep = p > min_prob_factor / len(p)
    fig = plt.figure(figsize=(9 if image is not None else 7, 3.6))
    if image is not None:
        ax_img = fig.add_axes([0.0, 0.1, 0.22, 0.8])
        img = image.cpu().numpy()
        ax_img.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray")
        ax_img.axis("off")
        ax = fig.add_axes([0.25, 0.05, 0.73, 0.9], projection="mollweide")
    else:
        ax = fig.add_subplot(111, projection="mollweide")
    lon, lat, tilt = _axis_and_tilt(g[keep])
    ax.scatter(
        lon,
        lat,
        s=2000 * p[keep] / max(p.max(), 1e-12) * 0.05 + 1,
        c=tilt,
        cmap="hsv",
        vmin=0,
        vmax=2 * math.pi,
        alpha=0.8,
        linewidths=0,
    )
    if gt is not None:
        glon, glat, gtilt = _axis_and_tilt(gt.double().cpu().numpy().reshape(-1, 3, 3))
        ax.scatter(glon, glat, s=60, facecolors="none", edgecolors=plt.cm.hsv(gtilt / (2 * math.pi)), linewidths=1.2)
    ax.grid(True, alpha=0.3)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_title(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(rows: list[dict] | dict[str, list[dict]], keys: list[str], path: str | Path, title: str = "") -> Path:
    """One panel per metric key; ``rows`` of one run, or ``{label: rows}`` for one line per run."""
    runs = rows if isinstance(rows, dict) else {"": rows}
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, keys):
        for label, run_rows in runs.items():
            pts = [(r["step"], r[key]) for r in run_rows if key in r]
            if pts:
                ax.plot(*zip(*pts), label=label or None)
        if len(runs) > 1:
            ax.legend(fontsize=7)
        ax.set_xlabel("step")
        ax.set_title(key, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
