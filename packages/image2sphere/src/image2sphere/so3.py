"""Grids, Wigner matrices and rotation metrics on S2 and SO(3) (Klee et al., ICLR 2023, Sec. 4 and App. A).

* HEALPix sphere grids (Gorski et al. 2005, RING scheme) implemented here, so ``healpy`` is not needed.
  Angles follow the official code: HEALPix colatitude ``theta`` is used as e3nn's ``beta`` and the
  longitude ``phi`` as e3nn's ``alpha`` (e3nn's polar axis is +y).
* The SO(3) HEALPix grid of Implicit-PDF (Murphy et al. 2021): S2 HEALPix pixels x ``6 * nside`` equally
  spaced in-plane angles, ``72 * 8**rec_level`` rotations (bin width ``60 / 2**rec_level`` degrees).
* ``flat_wigner``: the vector ``vec_l(sqrt(2l+1) D^l(R))`` whose dot product with the SO(3) Fourier
  coefficients gives the signal value at ``R`` (the paper's inverse SO(3) Fourier transform, Eq. 5).
* Rotation error ``arccos((tr(R1 R2^T) - 1) / 2)``, nearest-grid lookup (chunked, bounded memory),
  and the symmetry-aware error (minimum over the equivalent rotations of a symmetric object).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from e3nn import o3

from orals23_shared.cli import UsageError

__all__ = [
    "healpix_pix2ang",
    "s2_healpix_grid",
    "so3_healpix_grid",
    "so3_grid_size",
    "so3_near_identity_grid",
    "s2_irreps",
    "so3_irreps",
    "flat_wigner",
    "angles_to_matrix",
    "rotation_error",
    "nearest_rotation",
    "symmetric_rotation_error",
    "check_rotations",
    "random_rotations",
]


def _isqrt(n: np.ndarray) -> np.ndarray:
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    r -= (r * r > n).astype(np.int64)
    r += ((r + 1) * (r + 1) <= n).astype(np.int64)
    return r


def healpix_pix2ang(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of all ``12 * nside**2`` HEALPix pixels in RING order: (theta, phi) in radians.

    Gorski et al. (2005), Eqs. (4)-(9): north polar cap rings ``i = 1..nside-1`` with ``4i`` pixels,
    ``2 nside + 1`` equatorial rings with ``4 nside`` pixels, and the mirrored south cap.
    """
    if nside < 1 or nside & (nside - 1):
        raise UsageError(f"HEALPix nside must be a power of two >= 1, got {nside}")
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    p = np.arange(npix, dtype=np.int64)
    z = np.empty(npix)
    phi = np.empty(npix)

    north = p < ncap
    pn = p[north]
    i = (1 + _isqrt(1 + 2 * pn)) // 2  # ring index, 1-based
    j = pn + 1 - 2 * i * (i - 1)  # pixel in ring, 1-based
    z[north] = 1.0 - i**2 / (3.0 * nside**2)
    phi[north] = np.pi / (2.0 * i) * (j - 0.5)

    eq = (p >= ncap) & (p < npix - ncap)
    pe = p[eq] - ncap
    i = pe // (4 * nside) + nside
    j = pe % (4 * nside) + 1
    s = (i - nside + 1) % 2
    z[eq] = 4.0 / 3.0 - 2.0 * i / (3.0 * nside)
    phi[eq] = np.pi / (2.0 * nside) * (j - s / 2.0)

    south = p >= npix - ncap
    ps = npix - p[south]  # 1-based from the south pole
    i = (1 + _isqrt(2 * ps - 1)) // 2
    j = 4 * i + 1 - (ps - 2 * i * (i - 1))
    z[south] = -1.0 + i**2 / (3.0 * nside**2)
    phi[south] = np.pi / (2.0 * i) * (j - 0.5)
    return np.arccos(np.clip(z, -1.0, 1.0)), phi


def s2_healpix_grid(rec_level: int = 2, max_beta: float = math.pi / 2) -> torch.Tensor:
    """(alpha, beta) of the HEALPix pixels with ``beta <= max_beta``: shape (2, n), float64.

    ``rec_level`` 2 (nside 4) restricted to the hemisphere gives the official 104 sphere points of the
    image projection (the ring on the equator included, as healpy's ``query_disc`` does).
    """
    theta, phi = healpix_pix2ang(2**rec_level)
    keep = theta <= max_beta + 1e-9
    return torch.from_numpy(np.stack([phi[keep], theta[keep]]))


def so3_grid_size(rec_level: int) -> int:
    return 72 * 8**rec_level


def so3_healpix_grid(rec_level: int = 3) -> torch.Tensor:
    """Euler angles (alpha, beta, gamma) of the IPDF SO(3) HEALPix grid: shape (3, 72 * 8**rec_level).

    Layout as in the official code: gamma is the slow index, the S2 pixel the fast one.
    """
    if rec_level < 0:
        raise UsageError(f"grid rec_level must be >= 0, got {rec_level}")
    nside = 2**rec_level
    beta, alpha = healpix_pix2ang(nside)
    gamma = np.linspace(0.0, 2 * np.pi, 6 * nside + 1)[:-1]
    a = np.tile(alpha, len(gamma))
    b = np.tile(beta, len(gamma))
    c = np.repeat(gamma, len(alpha))
    return torch.from_numpy(np.stack([a, b, c]))


def so3_near_identity_grid(
    max_beta: float = math.pi / 8, n_alpha: int = 8, n_beta: int = 3, n_gamma: int | None = None
) -> torch.Tensor:
    """Support of the local SO(3) filter: rings of rotations around the identity, shape (3, n).

    Official defaults: beta in 3 rings up to pi/8, alpha = linspace(0, 2pi, 8)[:-1] (7 values), gamma
    8 values in [-2pi, 2pi] shifted by -alpha, i.e. 168 rotations.
    """
    n_gamma = n_alpha if n_gamma is None else n_gamma
    beta = torch.arange(1, n_beta + 1, dtype=torch.float64) * max_beta / n_beta
    alpha = torch.linspace(0, 2 * math.pi, n_alpha, dtype=torch.float64)[:-1]
    pre_gamma = torch.linspace(-2 * math.pi, 2 * math.pi, n_gamma, dtype=torch.float64)
    a, b, pc = torch.meshgrid(alpha, beta, pre_gamma, indexing="ij")
    return torch.stack([a.flatten(), b.flatten(), (pc - a).flatten()])


def s2_irreps(lmax: int) -> o3.Irreps:
    """One copy of each degree l <= lmax: the S2 Fourier coefficients, dim (lmax+1)^2."""
    return o3.Irreps([(1, (l, 1)) for l in range(lmax + 1)])


def so3_irreps(lmax: int) -> o3.Irreps:
    """(2l+1) copies of each degree l: the SO(3) Fourier coefficients, dim sum (2l+1)^2."""
    return o3.Irreps([(2 * l + 1, (l, 1)) for l in range(lmax + 1)])


def flat_wigner(lmax: int, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``concat_l sqrt(2l+1) vec(D^l(alpha, beta, gamma))``: shape (..., sum_l (2l+1)^2).

    The signal at rotation R of SO(3) coefficients ``x`` is ``x . flat_wigner(R)`` (paper Eq. 5).
    """
    return torch.cat(
        [(2 * l + 1) ** 0.5 * o3.wigner_D(l, alpha, beta, gamma).flatten(-2) for l in range(lmax + 1)], dim=-1
    )


def angles_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(3, n) Euler angles (e3nn YXY convention) -> (n, 3, 3) rotation matrices."""
    return o3.angles_to_matrix(angles[0], angles[1], angles[2])


def random_rotations(n: int, generator: np.random.Generator) -> np.ndarray:
    """``n`` Haar-uniform rotation matrices (unit quaternions from a 4-D Gaussian), float64."""
    q = generator.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def check_rotations(rot: np.ndarray | torch.Tensor, name: str = "rotations", atol: float = 1e-3) -> None:
    """Raise ``UsageError`` unless ``rot`` is (..., 3, 3) with ``R R^T = I`` and ``det R = +1``."""
    r = torch.as_tensor(rot, dtype=torch.float64)
    if r.ndim < 2 or tuple(r.shape[-2:]) != (3, 3):
        raise UsageError(f"{name} must have shape (..., 3, 3), got {tuple(r.shape)}")
    if not torch.isfinite(r).all():
        raise UsageError(f"{name} contain NaN or inf")
    eye = torch.eye(3, dtype=torch.float64)
    dev = (r @ r.transpose(-1, -2) - eye).abs().amax(dim=(-1, -2))
    det = torch.linalg.det(r)
    bad = (dev > atol) | ((det - 1).abs() > atol)
    if bad.any():
        idx = int(torch.nonzero(bad.flatten())[0])
        raise UsageError(
            f"{name}: matrix {idx} is not a rotation (|R R^T - I| = {float(dev.flatten()[idx]):.3g}, "
            f"det = {float(det.flatten()[idx]):.4g}); expected orthonormal with det +1"
        )


def rotation_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle ``arccos(clip((tr(A B^T) - 1) / 2, -1, 1))`` in radians, broadcast over leading dims."""
    tr = (a * b).sum(dim=(-1, -2))
    return torch.arccos(torch.clamp((tr - 1) / 2, -1.0, 1.0))


def nearest_rotation(query: torch.Tensor, grid: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the grid rotation nearest to each query rotation (max ``tr(Q G^T)``), chunked over the grid.

    ``query``: (B, 3, 3); ``grid``: (N, 3, 3). Memory is O(B * chunk) whatever N is.
    """
    q = query.reshape(-1, 9).to(grid.dtype)
    g = grid.reshape(-1, 9)
    best_val = torch.full((q.shape[0],), -math.inf, dtype=grid.dtype, device=grid.device)
    best_idx = torch.zeros(q.shape[0], dtype=torch.long, device=grid.device)
    for start in range(0, g.shape[0], chunk):
        tr = q @ g[start : start + chunk].T
        val, idx = tr.max(dim=1)
        better = val > best_val
        best_val = torch.where(better, val, best_val)
        best_idx = torch.where(better, idx + start, best_idx)
    return best_idx


def symmetric_rotation_error(pred: torch.Tensor, gt: torch.Tensor, symmetries: torch.Tensor) -> torch.Tensor:
    """min over symmetries S of the error between ``pred`` and ``gt @ S`` (radians).

    ``symmetries``: (G, 3, 3) proper rotations of the object frame; the object looks identical at
    ``R`` and ``R S`` for every S in the group.
    """
    equiv = gt.unsqueeze(-3) @ symmetries.to(gt.dtype)  # (..., G, 3, 3)
    return rotation_error(pred.unsqueeze(-3).to(gt.dtype), equiv).amin(dim=-1)
