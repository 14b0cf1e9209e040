"""Evaluation: prediction loss and conditional dependence measured independently of training (Pogodin et al., Sec. 5).

``conditional_dependence`` standardises phi, Y and Z on the evaluation data, re-estimates the Z|Y regression on one
half of it (closed-form LOO selection, as in training) and computes CIRCE of the predictions on the other half,
with a median-heuristic bandwidth on the predictions: values are comparable between models and do not change
when the data are rescaled. ``partial_correlation`` is the linear check: the correlation of the residuals of phi
and Z after linear regression on Y.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor, nn

from circe.data import Triples
from circe.kernels import median_sigma2
from circe.losses import fit_linear
from circe.regression import HeldoutRegression, circe_statistic, fit_heldout_regression
from orals23_shared.cli import UsageError

__all__ = ["predict", "conditional_dependence", "partial_correlation", "evaluate_model"]


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024, device: str | torch.device = "cpu") -> Tensor:
    """The prediction of ``model`` for every row of ``x`` in the data's units (``model.predict`` when it has one,
    else the last output of ``model``), on the CPU."""
    was_training = model.training
    model.eval()
    fn = model.predict if hasattr(model, "predict") else (lambda b: model(b)[-1])
    out = [fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(out)


def _standardise(a: Tensor) -> Tensor:
    a = a.to(torch.float64).reshape(a.shape[0], -1)
    sd = a.std(0)
    return (a - a.mean(0)) / torch.where(sd > 0, sd, torch.ones_like(sd))


_REG_CACHE: dict[str, HeldoutRegression] = {}


def _eval_regression(y: Tensor, z: Tensor) -> HeldoutRegression:
    """The Z|Y regression of an evaluation set; it depends on the data only, so it is kept for the next model."""
    key = hashlib.sha1(y.numpy().tobytes() + z.numpy().tobytes()).hexdigest()
    if key not in _REG_CACHE:
        if len(_REG_CACHE) > 32:
            _REG_CACHE.clear()
        _REG_CACHE[key] = fit_heldout_regression(y, z, loo=True)
    return _REG_CACHE[key]


def conditional_dependence(
    phi: Tensor, y: Tensor, z: Tensor, seed: int = 0, max_heldout: int = 1000, max_eval: int = 1000
) -> float:
    """CIRCE of standardised ``phi`` with a regression fitted on a disjoint half of the rows (float64)."""
    n = phi.shape[0]
    if n < 16:
        raise UsageError(f"conditional dependence needs at least 16 rows, got {n}")
    phi, y, z = _standardise(phi), _standardise(y), _standardise(z)
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    reg_idx = perm[: min(half, max_heldout)]
    ev_idx = perm[half : half + max_eval]
    reg = _eval_regression(y[reg_idx], z[reg_idx])
    p = phi[ev_idx]
    return float(circe_statistic(p, y[ev_idx], z[ev_idx], reg, sigma2_phi=median_sigma2(p)))


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


def evaluate_model(
    model: nn.Module, data: Triples, seed: int = 0, device: str | torch.device = "cpu", dependence: bool = True
) -> dict:
    """``{"mse", "cond_dep", "partial_corr", "n"}`` of a trained model on ``data`` (MSE in the data's units).

    ``dependence=False`` leaves out ``cond_dep`` (its kernel regression with LOO is most of the cost)."""
    pred = predict(model, data.x, device=device)
    if pred.shape != data.y.shape:
        raise UsageError(f"model predicts shape {tuple(pred.shape[1:])} per row but y has {tuple(data.y.shape[1:])}")
    mse = float(((pred - data.y) ** 2).mean())
    out = {"mse": mse, "partial_corr": partial_correlation(pred, data.y, data.z), "n": len(data)}
    if dependence:
        out["cond_dep"] = conditional_dependence(pred, data.y, data.z, seed=seed)
    return out
