"""Rate, distortion and the beta-weighted loss of a trained VAE at any beta (paper Section 6, Figures 3-5).

Rate ``R = E_x KL(q(z|x) || N(0, I))`` is exact (closed form per example); distortion ``D = E_x E_q[-log p(x|z)]`` is
a Monte-Carlo average over ``samples`` reparameterised draws, with the *same* noise at every beta (common random
numbers) so that the curve's shape is not noise. The linear VAE's distortion is computed exactly. An MR-VAE is
evaluated by feeding every example the same ``xi(beta)`` (official ``fixed_forward``); a beta-VAE has one (R, D) point.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mr_vae.model import BetaRange, LinearVAE

__all__ = [
    "beta_grid",
    "monotone_steps",
    "plot_rd",
    "rate_distortion",
    "rd_curve",
    "weighted_loss",
    "write_curve",
]


def beta_grid(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced betas from ``lo`` to ``hi`` (the official evaluation sweep uses 20 on [0.01, 10])."""
    return [float(b) for b in np.logspace(np.log10(lo), np.log10(hi), n)]


@torch.no_grad()
def rate_distortion(
    model: nn.Module,
    x: Tensor,
    xi: float | None,
    samples: int = 4,
    seed: int = 0,
    batch: int = 1000,
) -> tuple[float, float]:
    """Mean rate and distortion (nats per example) on ``x`` with every gate input set to ``xi`` (None: gates off)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    rate_sum, dist_sum = 0.0, 0.0
    for start in range(0, len(x), batch):
        xb = x[start : start + batch].to(device)
        xib = None if xi is None else torch.full((len(xb),), float(xi), device=device)
        if isinstance(model, LinearVAE):
            d, r = model.expected(xb, xib)
            dist_sum += float(d.sum())
        else:
            d_acc = torch.zeros(len(xb), device=device)
            for _ in range(samples):
                eps = torch.randn(len(xb), model.latent, generator=gen).to(device)
                d, r = model(xb, xib, eps)
                d_acc += d
            dist_sum += float(d_acc.sum()) / samples
        rate_sum += float(r.sum())
    model.train(was_training)
    return rate_sum / len(x), dist_sum / len(x)


def rd_curve(
    model: nn.Module,
    x: Tensor,
    betas: Sequence[float],
    beta_range: BetaRange | None,
    samples: int = 4,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Rate, distortion and ``D + beta R`` at each beta; an ungated model (``beta_range`` None) is evaluated once."""
    rates, dists = [], []
    fixed = None
    for b in betas:
        if beta_range is None:
            fixed = fixed or rate_distortion(model, x, None, samples, seed)
            r, d = fixed
        else:
            r, d = rate_distortion(model, x, float(beta_range.xi(b)), samples, seed)
        rates.append(r)
        dists.append(d)
    return {
        "beta": [float(b) for b in betas],
        "rate": rates,
        "distortion": dists,
        "loss": [d + b * r for b, r, d in zip(betas, rates, dists)],
    }


def weighted_loss(rate: float, distortion: float, beta: float) -> float:
    """The beta-VAE objective ``D + beta R`` (Eq. 1) of one (R, D) point."""
    return distortion + beta * rate


def monotone_steps(rate: Sequence[float], distortion: Sequence[float]) -> int:
    """How many consecutive beta steps have the rate falling and the distortion rising (a valid R-D trade-off)."""
    return sum(1 for i in range(len(rate) - 1) if rate[i + 1] < rate[i] and distortion[i + 1] > distortion[i])


def write_curve(path: str | os.PathLike, curve: dict[str, Any]) -> Path:
    from orals23_shared.checkpoint import atomic_write_json

    return atomic_write_json(path, curve)


def plot_rd(
    path: str | os.PathLike,
    curves: dict[str, dict[str, list[float]]],
    points: dict[str, tuple[float, float]] | None = None,
    title: str = "rate-distortion",
) -> Path:
    """R-D plot: each curve a line through its betas (annotated at the ends), each point a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for label, c in curves.items():
        ax.plot(c["rate"], c["distortion"], "o-", ms=3, label=label)
        for i in (0, len(c["beta"]) - 1):
            ax.annotate(
                f"β={c['beta'][i]:.3g}",
                (c["rate"][i], c["distortion"][i]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 4),
            )
    for label, (r, d) in (points or {}).items():
        ax.plot([r], [d], "s", ms=7, mfc="none", label=label)
    ax.set_xlabel("rate R (nats)")
    ax.set_ylabel("distortion D (nats)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
