"""Evaluation metrics of Image2Sphere (Klee et al., ICLR 2023, Sec. 5; IPDF, Murphy et al. 2021, Sec. 4).

* rotation error ``arccos((tr(R_pred R_gt^T) - 1) / 2)`` of the grid mode; for symmetric objects the
  minimum over the symmetry-equivalent ground truths; median (degrees), Acc@15, Acc@30;
* SYMSOL log-likelihood ``log(p_k * N / pi^2)`` of the grid cell k nearest the label (IPDF's
  normalisation: the volume of SO(3) is pi^2, so a uniform prediction scores ``-log(pi^2) = -2.289``);
* probability mass within 15 degrees of any equivalent ground truth;
* number of modes: greedy non-maximum suppression on the grid (radius 20 degrees), counting the peaks
  whose suppressed neighbourhood holds at least ``min_mass`` of the probability.

The eval grid is processed in chunks by ``RotationGrid``; batches bound the rest of the memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from image2sphere.data import PoseData
from image2sphere.model import I2S
from image2sphere.so3 import nearest_rotation, rotation_error

__all__ = ["evaluate", "count_modes", "grid_distances"]


def grid_distances(grid: torch.Tensor, rots: torch.Tensor) -> torch.Tensor:
    """Angles (N, M) between each grid rotation (N, 3, 3) and each rotation (M, 3, 3)."""
    tr = grid.reshape(-1, 9) @ rots.reshape(-1, 9).T.to(grid.dtype)
    return torch.arccos(torch.clamp((tr - 1) / 2, -1, 1))


def count_modes(
    probs: torch.Tensor, grid: torch.Tensor, radius_deg: float = 20.0, min_mass: float = 0.01, max_modes: int = 200
) -> list[tuple[int, float]]:
    """Greedy NMS on one distribution over grid rotations: [(grid index of the peak, mass)], mass >= min_mass."""
    p = probs.clone().double()
    rad = math.radians(radius_deg)
    flat = grid.reshape(-1, 9).double()
    modes = []
    for _ in range(max_modes):
        k = int(p.argmax())
        if p[k] <= 0:
            break
        tr = flat @ flat[k]
        near = torch.arccos(torch.clamp((tr - 1) / 2, -1, 1)) <= rad
        mass = float(p[near].sum())
        p[near] = 0.0
        if mass >= min_mass:
            modes.append((k, mass))
        if float(p.sum()) < min_mass:
            break
    return modes


@torch.no_grad()
def evaluate(
    model: I2S,
    data: PoseData,
    rec_level: int | None = None,
    batch_size: int = 32,
    n_mode_images: int = 8,
    device: str = "cpu",
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` (model put in eval mode: deterministic projection)."""
    model.eval()
    sym = data.symmetries
    errs, logliks, masses, preds = [], [], [], []
    mode_counts, mode_matched, mode_spurious = [], [], []
    grid = None
    for start in range(0, len(data), batch_size):
        img = data.images[start : start + batch_size].to(device)
        gts = data.rotations[start : start + batch_size]  # (B, K, 3, 3)
        probs, grid = model.probabilities(img, rec_level)
        probs = probs.cpu()
        grots = grid.rotations
        pred = grots[probs.argmax(dim=1)]
        preds.append(pred)
        if sym is not None:
            equiv = gts[:, :1] @ sym.unsqueeze(0)  # (B, G, 3, 3)
        else:
            equiv = gts
        errs.append(rotation_error(pred.unsqueeze(1).double(), equiv.double()).amin(dim=1))
        label = gts[:, 0]
        k = nearest_rotation(label, grots)
        logliks.append(torch.log(probs[torch.arange(len(k)), k].double() * grid.n / math.pi**2))
        for b in range(len(img)):
            d = grid_distances(grots, equiv[b]).amin(dim=1)  # (N,)
            masses.append(float(probs[b][d <= math.radians(15)].sum()))
            if len(mode_counts) < n_mode_images:
                modes = count_modes(probs[b], grots)
                mode_counts.append(len(modes))
                if modes:
                    peaks = grots[[m[0] for m in modes]]
                    dist = grid_distances(peaks, equiv[b])  # (n_modes, G)
                    close = dist <= math.radians(20)
                    mode_matched.append(float(close.any(dim=0).float().mean()))
                    mode_spurious.append(int((~close.any(dim=1)).sum()))
                else:
                    mode_matched.append(0.0)
                    mode_spurious.append(0)
    err = torch.cat(errs).numpy() * 180 / math.pi
    ll = torch.cat(logliks).numpy()
    return {
        "median_error_deg": float(np.median(err)),
        "mean_error_deg": float(np.mean(err)),
        "acc15": float(np.mean(err < 15)),
        "acc30": float(np.mean(err < 30)),
        "loglik": float(np.mean(ll)),
        "mass_within_15deg": float(np.mean(masses)),
        "modes_median": float(np.median(mode_counts)) if mode_counts else float("nan"),
        "modes_mean": float(np.mean(mode_counts)) if mode_counts else float("nan"),
        "modes_matched_fraction": float(np.mean(mode_matched)) if mode_matched else float("nan"),
        "modes_spurious_mean": float(np.mean(mode_spurious)) if mode_spurious else float("nan"),
        "grid_size": int(grid.n) if grid is not None else 0,
        "n_images": len(data),
    }
