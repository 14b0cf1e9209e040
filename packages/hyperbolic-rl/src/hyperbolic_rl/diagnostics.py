"""Representation diagnostics of Cetin et al. (ICLR 2023), Sec. 3 and Appendix.

* relative Gromov delta-hyperbolicity ``delta_rel = 2 delta / diam`` of a finite metric space
  (Khrulkov et al. 2020, used by the paper to show that RL representations are tree-like):
  with Gromov products ``(x|y)_w = (d(x,w) + d(y,w) - d(x,y)) / 2`` for a base point ``w``,
  ``delta_w = max_{x,y,z} [ min((x|z)_w, (z|y)_w) - (x|y)_w ]``, computed as the (max, min) matrix
  product of the Gromov-product matrix ``A``: ``delta_w = max(max_k min(A_ik, A_kj) - A_ij)``;
* norms of the final representations and the fraction of ball points near the boundary.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["gromov_products", "delta_hyperbolicity", "delta_hyperbolicity_direct", "relative_delta", "norm_stats"]


def gromov_products(d: np.ndarray, base: int = 0) -> np.ndarray:
    """Matrix ``A_ij = (i|j)_base`` from a distance matrix ``d``."""
    d = np.asarray(d, dtype=np.float64)
    return 0.5 * (d[:, [base]] + d[[base], :] - d)


def delta_hyperbolicity(d: np.ndarray, base: int = 0, block: int = 32) -> float:
    """Gromov ``delta`` w.r.t. ``base`` via the (max, min) product; O(n^3) time, O(block n^2) memory."""
    a = gromov_products(d, base)
    n = a.shape[0]
    best = 0.0
    for start in range(0, n, block):
        rows = a[start : start + block]  # (b, n): A_ik
        maxmin = np.minimum(rows[:, :, None], a[None, :, :]).max(axis=1)  # (b, n): max_k min(A_ik, A_kj)
        best = max(best, float((maxmin - rows).max()))
    return best


def delta_hyperbolicity_direct(d: np.ndarray, base: int = 0) -> float:
    """Reference triple loop over ``x, y, z`` of the same quantity (small inputs only)."""
    a = gromov_products(d, base)
    n = a.shape[0]
    best = 0.0
    for x in range(n):
        for y in range(n):
            for z in range(n):
                best = max(best, min(a[x, z], a[z, y]) - a[x, y])
    return best


def relative_delta(
    points: np.ndarray | torch.Tensor, n: int = 200, seed: int = 0, n_base: int = 4, n_subsamples: int = 5
) -> dict[str, float]:
    """``delta_rel = 2 delta / diam`` of the Euclidean distances between rows of ``points``.

    As Khrulkov et al. (2020): ``n_subsamples`` random subsets of ``n`` rows; in each, ``delta`` is the
    *mean* over ``n_base`` random base points of the 4-point ``delta_w`` and ``diam`` the subset's
    diameter; ``delta_rel`` is the mean over subsets (``delta_rel_std`` its spread).
    """
    x = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    x = x.astype(np.float64).reshape(len(x), -1)
    rng = np.random.default_rng(seed)
    rels, deltas, diams = [], [], []
    for _ in range(max(1, n_subsamples)):
        sub = x[rng.choice(len(x), n, replace=False)] if len(x) > n else x
        d = np.sqrt(np.maximum(((sub[:, None, :] - sub[None, :, :]) ** 2).sum(-1), 0.0))
        diam = float(d.max())
        bases = rng.choice(len(sub), min(n_base, len(sub)), replace=False)
        delta = float(np.mean([delta_hyperbolicity(d, int(b)) for b in bases]))
        deltas.append(delta)
        diams.append(diam)
        rels.append(2 * delta / diam if diam > 0 else 0.0)
    return {
        "delta": float(np.mean(deltas)),
        "diameter": float(np.mean(diams)),
        "delta_rel": float(np.mean(rels)),
        "delta_rel_std": float(np.std(rels)),
    }


def norm_stats(norms: torch.Tensor, edge: float = 0.99) -> dict[str, float]:
    """Mean / max of norms and the fraction above ``edge`` (for relative ball radii)."""
    norms = norms.detach().float()
    return {
        "mean": float(norms.mean()),
        "max": float(norms.max()),
        "frac_edge": float((norms > edge).float().mean()),
    }
