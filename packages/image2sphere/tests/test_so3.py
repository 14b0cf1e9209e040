import math

import numpy as np
import pytest
import torch
from e3nn import o3

from image2sphere.so3 import (
    angles_to_matrix,
    check_rotations,
    flat_wigner,
    healpix_pix2ang,
    nearest_rotation,
    random_rotations,
    rotation_error,
    s2_healpix_grid,
    so3_grid_size,
    so3_healpix_grid,
    so3_near_identity_grid,
)
from orals23_shared.cli import UsageError


@pytest.mark.parametrize("nside", [1, 2, 4, 8])
def test_healpix_rings_and_counts(nside):
    theta, phi = healpix_pix2ang(nside)
    assert len(theta) == 12 * nside**2
    z = np.round(np.cos(theta), 9)
    rings, counts = np.unique(z, return_counts=True)
    assert len(rings) == 4 * nside - 1
    # polar rings have 4i pixels, the 2 nside + 1 equatorial rings 4 nside
    expect = sorted([4 * i for i in range(1, nside)] * 2 + [4 * nside] * (2 * nside + 1))
    assert sorted(counts.tolist()) == expect
    xyz = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), z], 1)
    assert len(np.unique(np.round(xyz, 8), axis=0)) == len(theta)
    # equal-area pixels: the centres balance, and each ring's z is the area-weighted ring centre
    assert np.abs(xyz.mean(0)).max() < 1e-12


def test_hemisphere_grid_has_official_size():
    grid = s2_healpix_grid(rec_level=2)
    assert grid.shape == (2, 104)
    assert float(grid[1].max()) <= math.pi / 2 + 1e-9


@pytest.mark.parametrize("rec", [0, 1, 2])
def test_so3_grid_sizes(rec):
    g = so3_healpix_grid(rec)
    assert g.shape == (3, so3_grid_size(rec)) == (3, 72 * 8**rec)
    rots = angles_to_matrix(g)
    assert len(torch.unique(torch.round(rots.reshape(-1, 9), decimals=6), dim=0)) == g.shape[1]


def test_near_identity_kernel_size():
    k = so3_near_identity_grid()
    assert k.shape == (3, 168)
    # rings of the image of the pole (e3nn's +y) within pi/8, any in-plane angle (official max_gamma = 2 pi)
    pole_tilt = torch.arccos(angles_to_matrix(k)[:, 1, 1].clamp(-1, 1))
    assert float(pole_tilt.max()) <= math.pi / 8 + 1e-9
    assert len(torch.unique(torch.round(pole_tilt, decimals=6))) == 3


@pytest.mark.parametrize("rec", [1, 2])
def test_nearest_grid_recovers_random_rotations(rec):
    grid = angles_to_matrix(so3_healpix_grid(rec))
    q = torch.from_numpy(random_rotations(200, np.random.default_rng(rec)))
    idx = nearest_rotation(q, grid)
    err = torch.rad2deg(rotation_error(grid[idx], q))
    spacing = 60.0 / 2**rec
    assert float(err.median()) < spacing / 2
    assert float(err.max()) < spacing
    # chunked lookup == brute force over all grid points
    assert torch.equal(idx, nearest_rotation(q, grid, chunk=97))
    if rec == 1:
        brute = torch.stack([rotation_error(grid, r).argmin() for r in q[:50]])
        assert torch.allclose(rotation_error(grid[brute], q[:50]), rotation_error(grid[idx[:50]], q[:50]), atol=1e-12)


def test_rotation_error_matches_axis_angle():
    rng = np.random.default_rng(0)
    for _ in range(20):
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(0, math.pi)
        r = o3.axis_angle_to_matrix(torch.tensor(axis), torch.tensor(angle, dtype=torch.float64))
        assert abs(float(rotation_error(r, torch.eye(3, dtype=torch.float64))) - angle) < 1e-6


def test_wigner_is_a_representation():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _check_representation()
    finally:
        torch.set_default_dtype(old)


def _check_representation():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(random_rotations(2, rng))
    ang = [o3.matrix_to_angles(r) for r in a]
    prod = o3.matrix_to_angles(a[0] @ a[1])
    for l in range(4):
        d0, d1 = o3.wigner_D(l, *ang[0]), o3.wigner_D(l, *ang[1])
        assert torch.allclose(o3.wigner_D(l, *prod), d0 @ d1, atol=1e-9), (o3.wigner_D(l, *prod) - d0 @ d1).abs().max()
    assert flat_wigner(3, *prod).shape == (sum((2 * l + 1) ** 2 for l in range(4)),)


def test_random_rotations_are_rotations():
    r = random_rotations(100, np.random.default_rng(0))
    check_rotations(r, atol=1e-10)


def test_check_rotations_rejects_bad_input():
    with pytest.raises(UsageError, match="not a rotation"):
        check_rotations(np.diag([1.0, 1.0, -1.0])[None])
    with pytest.raises(UsageError, match="not a rotation"):
        check_rotations(2 * np.eye(3)[None])
    with pytest.raises(UsageError, match="shape"):
        check_rotations(np.eye(4))
    with pytest.raises(UsageError, match="power of two"):
        healpix_pix2ang(3)
