"""Evaluation metrics of Image2Sphere (Klee et al., ICLR 2023, Sec. 5; IPDF, Murphy et al. 2021, Sec. 4).

* rotation error ``arccos((tr(R_pred R_gt^T) - 1) / 2)`` of the grid mode; for symmetric objects the
  minimum over the symmetry-equivalent ground truths; median (degrees), Acc@15, Acc@30;
* SYMSOL log-likelihood ``log(p_k * N / pi^2)`` of the grid cell k nearest the label (IPDF's
  normalisation: the volume of SO(3) is pi^2, so a uniform prediction scores ``-log(pi^2) = -2.289``);
* probability mass within 15 degrees of any equivalent ground truth;
* number of modes: greedy non-maximum suppression on the grid (radius 20 degrees), counting the peaks
  whose suppressed neighbourhood holds at least ``min_mass`` of the probability; whether the heaviest
  mode lies within 20 degrees of an equivalent ground truth (a single *dominant* correct mode);
* for a shape that breaks a look-alike's symmetry (marked cube vs cube): the log-likelihood gain over
  the prediction symmetrised under the look-alike's group (0 for a prediction that ignores the mark).

The eval grid is processed in chunks by ``RotationGrid``; batches bound the rest of the memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from image2sphere.data import PoseData
from image2sphere.model import I2S
from image2sphere.so3 import nearest_rotation, rotation_error

__all__ = ["evaluate", "count_modes", "grid_distances", "DistributionScorer", "per_class_metrics"]


def grid_distances(grid: torch.Tensor, rots: torch.Tensor) -> torch.Tensor:
    """Angles (N, M) between each grid rotation (N, 3, 3) and each rotation (M, 3, 3)."""
    tr = grid.reshape(-1, 9) @ rots.reshape(-1, 9).T.to(grid.dtype)
    return torch.arccos(torch.clamp((tr - 1) / 2, -1, 1))


def count_modes(
    probs: torch.Tensor, grid: torch.Tensor, radius_deg: float = 20.0, min_mass: float = 0.01, max_modes: int = 200
) -> list[tuple[int, float]]:
    """Greedy NMS on one distribution over grid rotations: [(grid index of the peak, mass)], mass >= min_mass."""
    p = probs.clone().double()
    min_trace = 1 + 2 * math.cos(math.radians(radius_deg))  # angle <= radius  <=>  tr(R1 R2^T) >= this
    flat = grid.reshape(-1, 9).double()
    modes = []
    for _ in range(max_modes):
        k = int(p.argmax())
        if p[k] <= 0:
            break
        near = flat @ flat[k] >= min_trace
        mass = float(p[near].sum())
        p[near] = 0.0
        if mass >= min_mass:
            modes.append((k, mass))
        if float(p.sum()) < min_mass:
            break
    return modes


class DistributionScorer:
    """Metrics of predicted distributions over a rotation grid, accumulated batch by batch.

    ``symmetries`` (G, 3, 3) is the object's symmetry group (None: the K labels per image are its
    equivalents). ``compare_symmetries`` is the group of a *more symmetric* look-alike (the plain cube
    for the marked cube): then ``loglik_gain_vs_symmetrised`` measures log p(gt) - log mean_S p(gt S),
    which is 0 for any prediction invariant under that group (e.g. all 24 cube modes) and log |G'| for a
    prediction that puts all its mass on the one true pose.
    """

    def __init__(
        self,
        symmetries: torch.Tensor | None = None,
        compare_symmetries: torch.Tensor | None = None,
        n_mode_images: int = 8,
    ) -> None:
        self.sym = symmetries
        self.cmp = compare_symmetries
        self.n_mode_images = n_mode_images
        self.errs: list[torch.Tensor] = []
        self.logliks: list[torch.Tensor] = []
        self.gains: list[torch.Tensor] = []
        self.masses: list[float] = []
        self.mode_counts: list[int] = []
        self.matched: list[float] = []
        self.spurious: list[int] = []
        self.top_matched: list[float] = []
        self.top_mass: list[float] = []
        self.grid_size = 0

    def add(self, probs: torch.Tensor, grots: torch.Tensor, gts: torch.Tensor) -> None:
        """probs (B, N) over grid rotations grots (N, 3, 3); gts (B, K, 3, 3) labels."""
        probs = probs.double().cpu()
        grots = grots.cpu()
        n = grots.shape[0]
        self.grid_size = n
        equiv = gts[:, :1] @ self.sym.unsqueeze(0) if self.sym is not None else gts  # (B, G, 3, 3)
        pred = grots[probs.argmax(dim=1)]
        self.errs.append(rotation_error(pred.unsqueeze(1).double(), equiv.double()).amin(dim=1))
        label = gts[:, 0]
        rows = torch.arange(len(label))
        k = nearest_rotation(label, grots)
        p_gt = probs[rows, k].clamp_min(1e-300)
        self.logliks.append(torch.log(p_gt * n / math.pi**2))
        if self.cmp is not None:
            alts = (label.unsqueeze(1) @ self.cmp.unsqueeze(0)).reshape(-1, 3, 3)
            ka = nearest_rotation(alts, grots).reshape(len(label), -1)
            p_sym = probs[rows.unsqueeze(1), ka].mean(dim=1).clamp_min(1e-300)
            self.gains.append(torch.log(p_gt) - torch.log(p_sym))
        for b in range(len(label)):
            tr = (grots.reshape(-1, 9).double() @ equiv[b].reshape(-1, 9).double().T).amax(dim=1)
            self.masses.append(float(probs[b][tr >= 1 + 2 * math.cos(math.radians(15))].sum()))
            if len(self.mode_counts) >= self.n_mode_images:
                continue
            modes = count_modes(probs[b], grots)
            self.mode_counts.append(len(modes))
            if not modes:
                self.matched.append(0.0)
                self.spurious.append(0)
                self.top_matched.append(0.0)
                self.top_mass.append(0.0)
                continue
            peaks = grots[[m[0] for m in modes]]
            close = grid_distances(peaks, equiv[b]) <= math.radians(20)  # (n_modes, G)
            self.matched.append(float(close.any(dim=0).float().mean()))
            self.spurious.append(int((~close.any(dim=1)).sum()))
            top = max(range(len(modes)), key=lambda i: modes[i][1])
            self.top_matched.append(float(close[top].any()))
            self.top_mass.append(modes[top][1])

    def result(self) -> dict[str, float]:
        err = torch.cat(self.errs).numpy() * 180 / math.pi
        ll = torch.cat(self.logliks).numpy()

        def mean(x: list) -> float:
            return float(np.mean(x)) if x else float("nan")

        out = {
            "median_error_deg": float(np.median(err)),
            "mean_error_deg": float(np.mean(err)),
            "acc15": float(np.mean(err < 15)),
            "acc30": float(np.mean(err < 30)),
            "loglik": float(np.mean(ll)),
            "mass_within_15deg": mean(self.masses),
            "modes_median": float(np.median(self.mode_counts)) if self.mode_counts else float("nan"),
            "modes_mean": mean(self.mode_counts),
            "modes_matched_fraction": mean(self.matched),
            "modes_spurious_mean": mean(self.spurious),
            "top_mode_matched_fraction": mean(self.top_matched),
            "top_mode_mass_mean": mean(self.top_mass),
            "grid_size": int(self.grid_size),
            "n_images": len(err),
        }
        if self.gains:
            out["loglik_gain_vs_symmetrised"] = float(torch.cat(self.gains).mean())
        return out


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
    scorer = DistributionScorer(data.symmetries, data.compare_symmetries, n_mode_images)
    for start in range(0, len(data), batch_size):
        img = data.images[start : start + batch_size].to(device)
        probs, grid = model.probabilities(img, rec_level)
        scorer.add(probs, grid.rotations, data.rotations[start : start + batch_size])
    out = scorer.result()
    if data.labels is not None:
        out.update(per_class_metrics(torch.cat(scorer.errs), data.labels))
    return out


def per_class_metrics(err_rad: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """ModelNet10-SO(3) as the paper reports it: median error, Acc@15 and Acc@30 per class, then the
    mean over classes (not over images, which would weight classes by their number of test views)."""
    deg = err_rad.double().cpu().numpy() * 180 / math.pi
    lab = labels.cpu().numpy()
    classes = np.unique(lab)
    per = [deg[lab == c] for c in classes]
    return {
        "class_mean_median_error_deg": float(np.mean([np.median(e) for e in per])),
        "class_mean_acc15": float(np.mean([np.mean(e < 15) for e in per])),
        "class_mean_acc30": float(np.mean([np.mean(e < 30) for e in per])),
        "n_classes": len(classes),
    }
