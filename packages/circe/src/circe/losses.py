"""Baseline dependence penalties trained with the same loop as CIRCE (Pogodin et al., ICLR 2023, Sec. 5).

* ``hsic_penalty`` - unconditional HSIC_u(phi, Z): forces phi independent of Z (removes Y information when Z
  depends on Y; the paper's motivating failure).
* ``hscic_statistic`` - HSCIC of Park & Muandet / Quinzan et al. (2022): conditional mean embeddings regressed on
  the *batch* every step, ``W = (K_Y + lambda I)^-1 K_Y`` (B x B), and::

      HSCIC = 1/B sum_i || mu_{phi Z|Y}(y_i) - mu_{phi|Y}(y_i) (x) mu_{Z|Y}(y_i) ||^2
            = 1/B [ sum W (.) ((K_phi (.) K_Z) W) - 2 sum W (.) (K_phi W) (.) (K_Z W)
                    + sum_j colsum_j(W (.) K_phi W) colsum_j(W (.) K_Z W) ].

* ``gcm_statistic`` - the generalised covariance measure of Shah & Peters (2020, Eq. (3)), the max over output
  pairs of the absolute normalised mean of residual products ``R_i = (phi_i - phi_hat(y_i)) (z_i - z_hat(y_i))'``.
  As in the official trainer, ``z_hat`` is a linear regression fitted on the held-out set and ``phi_hat`` a linear
  regression fitted on the previous batch (detached).
"""

from __future__ import annotations

import torch
from torch import Tensor

from circe.kernels import gaussian_kernel, hsic_unbiased
from orals23_shared.cli import UsageError

__all__ = ["hsic_penalty", "hscic_statistic", "gcm_statistic", "LinearFit", "fit_linear"]


def hsic_penalty(phi: Tensor, z: Tensor, sigma2_phi: float | None = None, sigma2_z: float | None = None) -> Tensor:
    """Unconditional ``HSIC_u(K_phi, K_Z)`` on a batch."""
    return hsic_unbiased(gaussian_kernel(phi, sigma2=sigma2_phi), gaussian_kernel(z.to(phi.dtype), sigma2=sigma2_z))


def hscic_statistic(
    phi: Tensor,
    z: Tensor,
    y: Tensor,
    ridge: float,
    sigma2_phi: float | None = None,
    sigma2_z: float | None = None,
    sigma2_y: float | None = None,
) -> Tensor:
    """Biased per-batch HSCIC (official ``losses.hscic``), differentiable in ``phi``."""
    z = z.to(phi.dtype)
    y = y.to(phi.dtype)
    k_x = gaussian_kernel(phi, sigma2=sigma2_phi)
    k_z = gaussian_kernel(z, sigma2=sigma2_z)
    k_y = gaussian_kernel(y, sigma2=sigma2_y)
    n = k_y.shape[0]
    try:
        w = torch.linalg.solve(k_y + ridge * torch.eye(n, dtype=k_y.dtype, device=k_y.device), k_y)
    except RuntimeError as e:  # torch raises LinAlgError (a RuntimeError) on singular systems
        raise UsageError(f"HSCIC batch regression failed (ridge {ridge:g}): {e}") from e
    term1 = (w * ((k_x * k_z) @ w)).sum()
    wkw = w * (k_x @ w)
    kzw = k_z @ w
    term2 = (wkw * kzw).sum()
    term3 = (wkw.sum(0) * (w * kzw).sum(0)).sum()
    return (term1 - 2.0 * term2 + term3) / n


class LinearFit:
    """Least-squares affine map ``target ~ y @ coef + intercept`` (fitted in float64)."""

    def __init__(self, coef: Tensor, intercept: Tensor) -> None:
        self.coef = coef
        self.intercept = intercept

    def __call__(self, y: Tensor) -> Tensor:
        return y @ self.coef.to(y.dtype) + self.intercept.to(y.dtype)


def fit_linear(y: Tensor, target: Tensor) -> LinearFit:
    """Ordinary least squares with an intercept (what ``sklearn.linear_model.LinearRegression`` computes)."""
    yd = y.detach().to(torch.float64)
    td = target.detach().to(torch.float64).reshape(target.shape[0], -1)
    design = torch.cat([yd, torch.ones(yd.shape[0], 1, dtype=yd.dtype, device=yd.device)], 1)
    sol = torch.linalg.lstsq(design.cpu(), td.cpu(), driver="gelsd").solution.to(yd.device)
    return LinearFit(sol[:-1], sol[-1])


def gcm_statistic(phi: Tensor, phi_hat: Tensor, z: Tensor, z_hat: Tensor) -> Tensor:
    """``max_{a,b} |sqrt(n) mean_i R_iab| / (std_i R_iab + 1e-10)`` with ``R_i = r_phi,i r_z,i'``."""
    n = phi.shape[0]
    r_x = (phi - phi_hat).reshape(n, -1)
    r_z = (z - z_hat).to(phi.dtype).reshape(n, -1)
    r = r_x[:, :, None] * r_z[:, None, :]
    mean = r.mean(0)
    var = torch.clamp((r * r).mean(0) - mean * mean, min=0.0)
    t = n**0.5 * mean / (torch.sqrt(var + 1e-20) + 1e-10)
    return t.abs().max()
