"""Evaluation: prediction loss and conditional dependence measured independently of training (Pogodin et al., Sec. 5).

``conditional_dependence`` re-estimates the Z|Y regression on one half of the evaluation data (closed-form LOO
selection, as in training) and computes CIRCE of the predictions on the other half, with a median-heuristic
bandwidth on the predictions so that values are comparable between models. ``partial_correlation`` is the
linear check: the correlation of the residuals of phi and Z after linear regression on Y.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from circe.data import Triples
from circe.kernels import median_sigma2
from circe.losses import fit_linear
from circe.regression import circe_statistic, fit_heldout_regression
from orals23_shared.cli import UsageError

__all__ = ["predict", "conditional_dependence", "partial_correlation", "evaluate_model"]


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024, device: str | torch.device = "cpu") -> Tensor:
    """The last output of ``model`` (the prediction) for every row of ``x``, on the CPU."""
    was_training = model.training
    model.eval()
    out = [model(x[i : i + batch_size].to(device))[-1].cpu() for i in range(0, x.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(out)


def conditional_dependence(
    phi: Tensor, y: Tensor, z: Tensor, seed: int = 0, max_heldout: int = 1000, max_eval: int = 1000
) -> float:
    """CIRCE of ``phi`` with a regression fitted on a disjoint half of the rows (float64)."""
    n = phi.shape[0]
    if n < 16:
        raise UsageError(f"conditional dependence needs at least 16 rows, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    reg_idx = perm[: min(half, max_heldout)]
    ev_idx = perm[half : half + max_eval]
    d = torch.float64
    reg = fit_heldout_regression(y[reg_idx].to(d), z[reg_idx].to(d), loo=True)
    p = phi[ev_idx].to(d).reshape(len(ev_idx), -1)
    return float(circe_statistic(p, y[ev_idx].to(d), z[ev_idx].to(d), reg, sigma2_phi=median_sigma2(p)))


def partial_correlation(phi: Tensor, y: Tensor, z: Tensor) -> float:
    """Largest absolute correlation between residuals of ``phi`` and of ``z`` after linear regression on ``y``."""
    d = torch.float64
    phi, y, z = phi.to(d).reshape(phi.shape[0], -1), y.to(d), z.to(d)
    r_p = phi - fit_linear(y, phi)(y)
    r_z = z - fit_linear(y, z)(y)
    r_p = (r_p - r_p.mean(0)) / (r_p.std(0) + 1e-12)
    r_z = (r_z - r_z.mean(0)) / (r_z.std(0) + 1e-12)
    corr = (r_p.T @ r_z) / (phi.shape[0] - 1)
    return float(corr.abs().max())


def evaluate_model(model: nn.Module, data: Triples, seed: int = 0, device: str | torch.device = "cpu") -> dict:
    """``{"mse", "cond_dep", "partial_corr", "n"}`` of a trained model on ``data``."""
    pred = predict(model, data.x, device=device)
    if pred.shape != data.y.shape:
        raise UsageError(f"model predicts shape {tuple(pred.shape[1:])} per row but y has {tuple(data.y.shape[1:])}")
    mse = float(((pred - data.y) ** 2).mean())
    return {
        "mse": mse,
        "cond_dep": conditional_dependence(pred, data.y, data.z, seed=seed),
        "partial_corr": partial_correlation(pred, data.y, data.z),
        "n": len(data),
    }
