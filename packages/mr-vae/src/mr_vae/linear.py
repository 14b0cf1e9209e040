"""The exact rate-distortion optimum of a linear Gaussian VAE (paper Section 4; Lucas et al., 2019).

Data ``x`` in ``R^d`` with covariance eigenvalues ``lam_1 >= ... >= lam_d`` (about the mean), a decoder
``p(x|z) = N(W z + b, sigma2 I)`` with ``k`` latents and a linear encoder with diagonal variance. The beta-VAE
objective ``D + beta R`` is the ELBO with observation noise ``beta sigma2``, so its optimum is probabilistic PCA at
that noise: per direction ``i <= k`` with ``lam_i > beta sigma2`` the rate is ``1/2 log(lam_i / (beta sigma2))``, and
the distortion is

    D*(beta) = [sum_{i<=k} min(lam_i, beta sigma2) + sum_{i>k} lam_i] / (2 sigma2) + d/2 log(2 pi sigma2),
    R*(beta) = 1/2 sum_{i<=k, lam_i > beta sigma2} log(lam_i / (beta sigma2)).

``LinearVAE`` (``model.py``) represents the whole response ``beta -> optimum`` with one sqrt gate per latent unit, so a
trained linear MR-VAE should sit on this curve at every beta.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["closed_form", "closed_form_curve", "gaussian_constant", "optimal_parameters", "spectrum"]


def spectrum(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, eigenvalues (descending) and eigenvectors (columns) of the population covariance ``(1/n) X_c^T X_c``."""
    x = x.flatten(1).double()
    mean = x.mean(0)
    xc = x - mean
    lam, vecs = torch.linalg.eigh(xc.T @ xc / len(x))
    return mean, lam.flip(0).clamp_min(0.0), vecs.flip(1)


def gaussian_constant(d: int, sigma2: float) -> float:
    """``d/2 log(2 pi sigma2)``: the part of the Gaussian NLL that no model can change."""
    return 0.5 * d * math.log(2 * math.pi * sigma2)


def closed_form(lam: Tensor, k: int, sigma2: float, beta: float) -> tuple[float, float]:
    """``(R*, D*)`` of the optimal linear beta-VAE with ``k`` latents (the formulas above)."""
    lam = lam.double()
    noise = beta * sigma2
    top = lam[:k]
    rate = 0.5 * torch.log(top[top > noise] / noise).sum()
    dist = (torch.clamp(top, max=noise).sum() + lam[k:].sum()) / (2 * sigma2) + gaussian_constant(len(lam), sigma2)
    return float(rate), float(dist)


def closed_form_curve(lam: Tensor, k: int, sigma2: float, betas: Sequence[float]) -> dict[str, list[float]]:
    rd = [closed_form(lam, k, sigma2, b) for b in betas]
    return {
        "beta": [float(b) for b in betas],
        "rate": [r for r, _ in rd],
        "distortion": [d for _, d in rd],
        "loss": [d + b * r for b, (r, d) in zip(betas, rd)],
    }


def optimal_parameters(
    lam: Tensor,
    vecs: Tensor,
    k: int,
    sigma2: float,
    beta_mid: float,
    half_width: float,
) -> dict[str, Tensor]:
    """Weights of ``LinearVAE`` that represent the optimum at *every* beta: ``W0 = U sqrt(lam)``,
    ``E0 = (U / sqrt(lam))^T`` and gate inputs ``t = log beta + log sigma2 - log lam``, i.e. hyper-slope
    ``h / sqrt3`` and offset ``m + log sigma2 - log lam`` (``m``, ``h``: centre and half-width of log beta)."""
    top, u = lam[:k].double(), vecs[:, :k].double()
    return {
        "dec.weight": u * top.sqrt(),
        "enc.weight": (u / top.sqrt()).T,
        "hyper.weight": torch.full((k, 1), half_width / math.sqrt(3.0), dtype=torch.float64),
        "hyper.bias": beta_mid + math.log(sigma2) - top.log(),
    }
