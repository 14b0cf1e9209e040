"""Held-out kernel ridge regression of Z-features on Y and the CIRCE statistic (Pogodin et al., ICLR 2023).

Sec. 3 of the paper: the conditional mean embedding ``mu_{Z|Y}(y) = E[psi_Z(Z) | Y = y]`` is estimated *once*
by kernel ridge regression on a held-out set ``H = {(y_j, z_j)}_{j=1..M}`` that is removed from training::

    W1 = (K_YY^H + lambda I)^-1,   W2 = W1 K_ZZ^H                         (M x M each)
    mu_hat(y) = sum_j [W1 k_Y(Y_H, y)]_j psi_Z(z_j).

Per minibatch of size B the residual kernel (the Gram matrix of ``psi_Y(y) (x) (psi_Z(z) - mu_hat(y))``) is::

    k_y = K(Y_H, y_b), k_z = K(Z_H, z_b)                                  (M x B)
    A = (1/2 k_y' W2 - k_z') W1 k_y                                       (B x B)
    K_res = (K(z_b, z_b) + A + A') (.) K(y_b, y_b)

and CIRCE = HSIC_u(K_phi, K_res) (paper Eq. (8); ``centred=False`` gives the official uncentred U-statistic).

The ridge lambda and the Y bandwidth are chosen by closed-form leave-one-out (LOO) error of the regression in
the RKHS of Z (official ``utils.leave_one_out_reg_kernels``): with ``H = K_Y (K_Y + lambda I)^-1``::

    LOO(lambda) = mean_i [ (K_Z,ii + (H K_Z H')_ii - 2 (H K_Z)_ii) / (1 - H_ii)^2 ],

over sigma2_Y in {1, 0.1, 0.01, 0.001} x lambda in {1e-2, 1e-1, 1, 10, 100}; lambdas below the SVD tolerance
``sigma_max * M * eps`` are excluded and the chosen lambda is raised to that tolerance if needed. The chosen
sigma2_Y is also the Y kernel of the loss. Unlike the official code, a failed solve raises an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from circe.kernels import gaussian_kernel, hsic_unbiased, linear_kernel, median_sigma2, uncentred_u
from orals23_shared.cli import UsageError

__all__ = [
    "SIGMA2_Y_GRID",
    "LAMBDA_GRID",
    "HeldoutRegression",
    "loo_errors",
    "select_loo",
    "fit_heldout_regression",
    "residual_kernel",
    "circe_statistic",
    "check_yz",
]

SIGMA2_Y_GRID: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)
LAMBDA_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0)


def check_yz(y: Tensor, z: Tensor, what: str = "held-out set") -> None:
    """Shapes ``(n, dy)``/``(n, dz)``, equal lengths and finite values, else ``UsageError``."""
    if y.ndim != 2 or z.ndim != 2:
        raise UsageError(f"{what}: y and z must be 2-D (n, d); got shapes {tuple(y.shape)} and {tuple(z.shape)}")
    if y.shape[0] != z.shape[0]:
        raise UsageError(f"{what}: y has {y.shape[0]} rows but z has {z.shape[0]}")
    for name, a in (("y", y), ("z", z)):
        if not torch.isfinite(a).all():
            bad = int((~torch.isfinite(a)).any(1).nonzero()[0, 0])
            raise UsageError(f"{what}: {name} has NaN or infinite values (first at row {bad})")


def _z_gram(a: Tensor, b: Tensor | None, kind: str, sigma2: float | None) -> Tensor:
    if kind == "linear":
        return linear_kernel(a, b)
    return gaussian_kernel(a, b, sigma2)


@dataclass
class HeldoutRegression:
    """The once-solved regression of ``psi_Z(Z)`` on ``Y`` (``W1``, ``W2``) and the kernels it was solved with."""

    y: Tensor
    z: Tensor
    w1: Tensor
    w2: Tensor
    sigma2_y: float
    sigma2_z: float | None
    lam: float
    z_kernel: str = "gaussian"
    loo_table: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> HeldoutRegression:
        mv = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        return HeldoutRegression(
            mv(self.y),
            mv(self.z),
            mv(self.w1),
            mv(self.w2),
            self.sigma2_y,
            self.sigma2_z,
            self.lam,
            self.z_kernel,
            self.loo_table,
        )

    def k_y(self, a: Tensor, b: Tensor | None = None) -> Tensor:
        return gaussian_kernel(a, b, self.sigma2_y)

    def k_z(self, a: Tensor, b: Tensor | None = None) -> Tensor:
        return _z_gram(a, b, self.z_kernel, self.sigma2_z)

    def predict_weights(self, y: Tensor) -> Tensor:
        """``alpha(y) = W1 k_Y(Y_H, y)`` (M x B): ``mu_hat(y) = sum_j alpha_j(y) psi_Z(z_j)``."""
        return self.w1 @ self.k_y(self.y, y)


def loo_errors(k_y: np.ndarray, k_z: np.ndarray, lambdas: tuple[float, ...] | list[float]) -> tuple[np.ndarray, float]:
    """Closed-form LOO errors of kernel ridge regression of ``psi_Z`` on ``Y`` for each lambda, and the SVD tolerance.

    One eigendecomposition ``K_Y = Q diag(e) Q'`` serves every lambda: ``H = Q diag(e / (e + lambda)) Q'``.
    """
    k_y = np.asarray(k_y, dtype=np.float64)
    k_z = np.asarray(k_z, dtype=np.float64)
    m = k_y.shape[0]
    evals, q = np.linalg.eigh(k_y)
    tol = float(np.abs(evals).max() * m * np.finfo(np.float64).eps)
    evals = np.clip(evals, 0.0, None)
    c = q.T @ k_z  # Q' K_Z
    b = c @ q  # Q' K_Z Q
    kz_diag = np.diag(k_z)
    out = np.empty(len(lambdas))
    for i, lam in enumerate(lambdas):
        d = evals / (evals + lam)
        qd = q * d
        h_diag = np.einsum("ik,ik->i", qd, q)  # H_ii
        hk_diag = np.einsum("ik,ki->i", qd, c)  # (H K_Z)_ii
        quad = np.einsum("ij,ij->i", qd @ b, qd)  # (H K_Z H')_ii
        out[i] = np.mean((kz_diag + quad - 2.0 * hk_diag) / (1.0 - h_diag) ** 2)
    return out, tol


def select_loo(
    y: Tensor,
    k_z: np.ndarray,
    sigma2_grid: tuple[float, ...] = SIGMA2_Y_GRID,
    lambda_grid: tuple[float, ...] = LAMBDA_GRID,
) -> tuple[float, float, np.ndarray]:
    """Grid search of ``(sigma2_Y, lambda)`` minimising the closed-form LOO error; returns them and the table.

    A pure function of its inputs, so results are kept (by a hash of the inputs) for the next call with the same
    data: every arm of a sweep shares one held-out set.
    """
    yd = y.detach().to(torch.float64).cpu()
    key = hashlib.sha1(yd.numpy().tobytes() + np.ascontiguousarray(k_z).tobytes()).hexdigest()
    key += repr((sigma2_grid, lambda_grid))
    if key in _LOO_CACHE:
        s2, lam, table = _LOO_CACHE[key]
        return s2, lam, table.copy()
    out = _select_loo(yd, k_z, sigma2_grid, lambda_grid)
    if len(_LOO_CACHE) > 64:
        _LOO_CACHE.clear()
    _LOO_CACHE[key] = out
    return out[0], out[1], out[2].copy()


_LOO_CACHE: dict[str, tuple[float, float, np.ndarray]] = {}


def _select_loo(
    yd: Tensor, k_z: np.ndarray, sigma2_grid: tuple[float, ...], lambda_grid: tuple[float, ...]
) -> tuple[float, float, np.ndarray]:
    table = np.full((len(sigma2_grid), len(lambda_grid)), np.inf)
    tols = np.zeros(len(sigma2_grid))
    for i, s2 in enumerate(sigma2_grid):
        k_y = gaussian_kernel(yd, sigma2=s2).numpy()
        errs, tols[i] = loo_errors(k_y, k_z, lambda_grid)
        errs = np.where(np.array(lambda_grid) < tols[i], np.inf, errs)  # lambdas under the SVD tolerance are excluded
        table[i] = np.where(np.isfinite(errs), errs, np.inf)
    if not np.isfinite(table).any():
        raise UsageError("leave-one-out selection failed: every (sigma2_Y, lambda) gave a non-finite error")
    i, j = np.unravel_index(np.argmin(table), table.shape)
    lam = max(float(lambda_grid[j]), float(tols[i]))
    return float(sigma2_grid[i]), lam, table


def fit_heldout_regression(
    y: Tensor,
    z: Tensor,
    *,
    sigma2_y: float = 0.01,
    sigma2_z: float | None = None,
    lam: float = 0.1,
    loo: bool = True,
    z_kernel: str = "gaussian",
    sigma2_grid: tuple[float, ...] = SIGMA2_Y_GRID,
    lambda_grid: tuple[float, ...] = LAMBDA_GRID,
) -> HeldoutRegression:
    """Solve ``W1 = (K_Y + lam I)^-1`` and ``W2 = W1 K_Z`` on the held-out set (float64, Cholesky).

    ``sigma2_z=None`` fixes the Z bandwidth once by the median heuristic on the held-out Z (the same kernel is then
    used for the batch, which the K_res formula requires). With ``loo=True`` the pair ``(sigma2_y, lam)`` is replaced
    by the LOO choice and the returned object carries exactly the values used in the solve.
    """
    check_yz(y, z)
    m = y.shape[0]
    if m < 4:
        raise UsageError(f"held-out set too small: {m} rows (need at least 4)")
    if z_kernel not in ("gaussian", "linear"):
        raise UsageError(f"z_kernel must be 'gaussian' or 'linear', got {z_kernel!r}")
    yd = y.detach().to(torch.float64).cpu()
    zd = z.detach().to(torch.float64).cpu()
    if z_kernel == "gaussian" and sigma2_z is None:
        sigma2_z = median_sigma2(zd)
    k_z = _z_gram(zd, None, z_kernel, sigma2_z).numpy()
    table = None
    if loo:
        sigma2_y, lam, table = select_loo(yd, k_z, sigma2_grid, lambda_grid)
    if lam <= 0:
        raise UsageError(f"ridge lambda must be positive, got {lam}")
    k_y = gaussian_kernel(yd, sigma2=sigma2_y).numpy()
    rhs = np.concatenate([np.eye(m), k_z], axis=1)
    try:
        w = scipy.linalg.solve(k_y + lam * np.eye(m), rhs, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError) as e:
        raise UsageError(
            f"held-out regression failed (K_Y + {lam:g} I is singular or not positive definite): {e}"
        ) from e
    if not np.isfinite(w).all():
        raise UsageError(f"held-out regression failed: non-finite solution with lambda={lam:g}; use a larger ridge")
    w1 = torch.from_numpy(w[:, :m].copy())
    w2 = torch.from_numpy(w[:, m:].copy())
    return HeldoutRegression(yd, zd, w1, w2, float(sigma2_y), sigma2_z, float(lam), z_kernel, table)


def residual_kernel(reg: HeldoutRegression, y: Tensor, z: Tensor) -> Tensor:
    """``K_res`` of a batch: Gram matrix of ``psi_Y(y) (x) (psi_Z(z) - mu_hat(y))`` (B x B)."""
    k_y = reg.k_y(reg.y, y)  # M x B
    k_z = reg.k_z(reg.z, z)  # M x B
    a = (0.5 * k_y.T @ reg.w2 - k_z.T) @ reg.w1 @ k_y
    return (reg.k_z(z) + a + a.T) * reg.k_y(y)


def circe_statistic(
    phi: Tensor, y: Tensor, z: Tensor, reg: HeldoutRegression, sigma2_phi: float | None = None, centred: bool = True
) -> Tensor:
    """CIRCE of features ``phi`` on a batch: ``HSIC_u(K_phi, K_res)`` (or the uncentred U-statistic)."""
    if phi.shape[0] != y.shape[0]:
        raise UsageError(f"phi has {phi.shape[0]} rows but y has {y.shape[0]}")
    reg = reg.to(phi.device, phi.dtype)
    k_res = residual_kernel(reg, y.to(phi.dtype), z.to(phi.dtype))
    k_phi = gaussian_kernel(phi, sigma2=sigma2_phi)
    return hsic_unbiased(k_phi, k_res) if centred else uncentred_u(k_phi, k_res)
