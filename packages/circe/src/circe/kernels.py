"""Kernels and HSIC estimators used by CIRCE (Pogodin et al., ICLR 2023, Sec. 2-3).

Kernel convention of the official code: ``k(a, b) = exp(-||a - b||^2 / sigma2)`` (no factor 2);
``sigma2=None`` means the median heuristic (median of the squared pairwise distances).

HSIC estimators (Gretton et al. 2005; Song et al. 2012):

* ``hsic_unbiased`` - the unbiased estimator of Song et al. (2012, Thm. 2), paper Eq. (6)/(8)::

      1/(n(n-3)) [ tr(K~ L~) - 2/(n-2) 1' K~ L~ 1 + (1' K~ 1)(1' L~ 1) / ((n-1)(n-2)) ],

  with ``K~`` the Gram matrix with its diagonal set to zero.
* ``hsic_biased`` - the V-statistic ``tr(K H L H) / n^2``.
* ``uncentred_u`` - the U-statistic ``mean_{i<j} K_ij L_ij`` (the official ``centered_circe: False``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from orals23_shared.cli import UsageError

__all__ = [
    "sq_dists",
    "median_sigma2",
    "gaussian_kernel",
    "linear_kernel",
    "hsic_unbiased",
    "hsic_biased",
    "uncentred_u",
]


def _as_2d(a: Tensor) -> Tensor:
    return a.reshape(a.shape[0], -1)


def sq_dists(a: Tensor, b: Tensor | None = None) -> Tensor:
    """Squared Euclidean distances ``||a_i - b_j||^2`` (clamped at 0; exact zeros on the diagonal when ``b`` is None)."""
    a = _as_2d(a)
    same = b is None
    b = a if same else _as_2d(b)
    an = (a * a).sum(1, keepdim=True)
    bn = (b * b).sum(1, keepdim=True).T
    d = torch.clamp(an + bn - 2.0 * a @ b.T, min=0.0)
    if same:  # exact zeros on the diagonal (rounding would otherwise leave tiny positive values)
        d = d * (1.0 - torch.eye(d.shape[0], dtype=d.dtype, device=d.device))
    return d


def _median_of(d: Tensor) -> float:
    """Median of the off-diagonal entries of a symmetric squared-distance matrix (from its upper triangle, which
    has the same lower median as both triangles together)."""
    n = d.shape[0]
    if n < 2:
        return 1.0
    iu = torch.triu_indices(n, n, 1, device=d.device)
    med = float(d.detach()[iu[0], iu[1]].median())
    return med if med > 0 else 1.0


def median_sigma2(a: Tensor) -> float:
    """Median heuristic: the median of the off-diagonal squared distances of ``a`` (a float; never differentiated)."""
    with torch.no_grad():
        return _median_of(sq_dists(a.detach()))


def gaussian_kernel(a: Tensor, b: Tensor | None = None, sigma2: float | None = None) -> Tensor:
    """``exp(-||a_i - b_j||^2 / sigma2)``; ``sigma2=None`` uses the median heuristic on ``a``."""
    d = sq_dists(a, b)
    if sigma2 is None:
        sigma2 = _median_of(d) if b is None else median_sigma2(a)
    if sigma2 <= 0:
        raise UsageError(f"kernel bandwidth sigma2 must be positive, got {sigma2}")
    return torch.exp(-d / sigma2)


def linear_kernel(a: Tensor, b: Tensor | None = None, sigma2: float | None = None) -> Tensor:
    """``<a_i, b_j>`` (explicit features; ``sigma2`` is ignored)."""
    a = _as_2d(a)
    b = a if b is None else _as_2d(b)
    return a @ b.T


def _zero_diag(k: Tensor) -> Tensor:
    return k - torch.diag_embed(torch.diagonal(k))


def hsic_unbiased(k: Tensor, l: Tensor) -> Tensor:
    """Unbiased HSIC of Song et al. (2012) from two ``n x n`` Gram matrices (needs ``n >= 4``)."""
    n = k.shape[0]
    if n < 4:
        raise UsageError(f"the unbiased HSIC estimator needs at least 4 points, got {n}")
    kt, lt = _zero_diag(k), _zero_diag(l)
    trace = (kt * lt).sum()
    middle = kt.sum(1).dot(lt.sum(1))
    outer = kt.sum() * lt.sum()
    return (trace - 2.0 / (n - 2) * middle + outer / ((n - 1) * (n - 2))) / (n * (n - 3))


def hsic_biased(k: Tensor, l: Tensor) -> Tensor:
    """Biased (V-statistic) HSIC ``tr(K H L H) / n^2``."""
    a = k.mean(0)
    b = l.mean(0)
    return (k * l).mean() - 2.0 * (a * b).mean() + a.mean() * b.mean()


def uncentred_u(k: Tensor, l: Tensor) -> Tensor:
    """Uncentred U-statistic ``mean_{i<j} K_ij L_ij`` (the official ``centered_circe: False`` variant)."""
    n = k.shape[0]
    if n < 2:
        raise UsageError(f"the U-statistic needs at least 2 points, got {n}")
    iu = torch.triu_indices(n, n, 1, device=k.device)
    return (k * l)[iu[0], iu[1]].mean()
