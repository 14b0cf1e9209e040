"""Exact-reference tests of the CIRCE estimator pieces (brief section (h))."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from circe.kernels import gaussian_kernel, hsic_biased, hsic_unbiased, sq_dists, uncentred_u
from circe.losses import fit_linear, gcm_statistic, hscic_statistic
from circe.regression import (
    LAMBDA_GRID,
    SIGMA2_Y_GRID,
    circe_statistic,
    fit_heldout_regression,
    loo_errors,
    residual_kernel,
    select_loo,
)
from orals23_shared.cli import UsageError


@pytest.fixture(autouse=True)
def _float64():
    """Exact comparisons in float64 (restored afterwards: the default dtype is global state)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _yz(n: int, seed: int, dz: int = 1, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, 1, generator=g)
    z = y.repeat(1, dz) + noise * torch.randn(n, dz, generator=g)
    return y, z


def test_gaussian_kernel_matches_definition():
    a = torch.randn(5, 3)
    b = torch.randn(4, 3)
    k = gaussian_kernel(a, b, sigma2=0.7)
    ref = torch.tensor([[np.exp(-float(((a[i] - b[j]) ** 2).sum()) / 0.7) for j in range(4)] for i in range(5)])
    torch.testing.assert_close(k, ref, rtol=1e-12, atol=1e-12)
    d = sq_dists(a)
    assert torch.all(torch.diagonal(d) == 0)
    # median heuristic: median of off-diagonal squared distances
    off = d[~torch.eye(5, dtype=torch.bool)]
    torch.testing.assert_close(gaussian_kernel(a), torch.exp(-d / off.median()))


def test_residual_kernel_linear_z_equals_independent_ridge_fit():
    """With a linear Z kernel, K_res = K_Y(y_i, y_j) (z_i - z_hat(y_i))'(z_j - z_hat(y_j))."""
    y_h, z_h = _yz(60, 0, dz=2)
    y_b, z_b = _yz(9, 1, dz=2)
    lam, s2 = 0.3, 0.5
    reg = fit_heldout_regression(y_h, z_h, sigma2_y=s2, lam=lam, loo=False, z_kernel="linear")
    k_res = residual_kernel(reg, y_b, z_b)
    # independent kernel ridge fit of z on y in numpy: z_hat(y) = k(y, Y_H) (K + lam I)^-1 Z_H
    yh, zh, yb, zb = (t.numpy() for t in (y_h, z_h, y_b, z_b))
    kyy = np.exp(-((yh - yh.T) ** 2) / s2)
    coef = np.linalg.solve(kyy + lam * np.eye(60), zh)
    z_hat = np.exp(-((yb - yh.T) ** 2) / s2) @ coef
    r = zb - z_hat
    ref = np.exp(-((yb - yb.T) ** 2) / s2) * (r @ r.T)
    np.testing.assert_allclose(k_res.numpy(), ref, atol=1e-8, rtol=0)


def _hsic_u_loops(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012) U-statistic: (n-4)!/n! sum over distinct (i,j,q,r) of h, by loops."""
    n = k.shape[0]
    total = 0.0
    count = 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


def test_unbiased_hsic_equals_loop_u_statistic():
    g = np.random.default_rng(3)
    x = torch.from_numpy(g.normal(size=(8, 2)))
    w = torch.from_numpy(g.normal(size=(8, 1))) + x[:, :1]
    k = gaussian_kernel(x, sigma2=1.0)
    l = gaussian_kernel(w, sigma2=0.5)
    assert float(hsic_unbiased(k, l)) == pytest.approx(_hsic_u_loops(k.numpy(), l.numpy()), abs=1e-12)
    # uncentred U-statistic and biased V-statistic by loops
    kn, ln = k.numpy(), l.numpy()
    pairs = [(i, j) for i in range(8) for j in range(i + 1, 8)]
    assert float(uncentred_u(k, l)) == pytest.approx(np.mean([kn[i, j] * ln[i, j] for i, j in pairs]), abs=1e-12)
    h = np.eye(8) - 1 / 8
    assert float(hsic_biased(k, l)) == pytest.approx(np.trace(kn @ h @ ln @ h) / 64, abs=1e-12)


def test_closed_form_loo_equals_brute_force_refits():
    y, z = _yz(25, 4)
    k_y = gaussian_kernel(y, sigma2=0.3).numpy()
    k_z = gaussian_kernel(z, sigma2=1.0).numpy()
    lams = (1e-2, 0.5, 10.0)
    closed, _ = loo_errors(k_y, k_z, lams)
    n = 25
    for lam, got in zip(lams, closed):
        errs = []
        for i in range(n):
            keep = np.arange(n) != i
            alpha = np.linalg.solve(k_y[np.ix_(keep, keep)] + lam * np.eye(n - 1), k_y[keep, i])
            # || psi(z_i) - sum_j alpha_j psi(z_j) ||^2 in the RKHS of Z
            errs.append(k_z[i, i] - 2 * alpha @ k_z[keep, i] + alpha @ k_z[np.ix_(keep, keep)] @ alpha)
        assert got == pytest.approx(np.mean(errs), rel=1e-9)


def test_loo_selection_is_the_one_used_in_the_solve():
    """A third-party port stored the LOO lambda on an attribute the solve never read: check ours is applied."""
    y, z = _yz(80, 5)
    reg = fit_heldout_regression(y, z, sigma2_y=123.0, lam=456.0, loo=True)
    s2, lam, table = select_loo(y, gaussian_kernel(z, sigma2=reg.sigma2_z).numpy())
    assert (reg.sigma2_y, reg.lam) == (s2, lam)
    assert s2 in SIGMA2_Y_GRID and lam in LAMBDA_GRID
    i, j = np.unravel_index(np.argmin(table), table.shape)
    assert (SIGMA2_Y_GRID[i], LAMBDA_GRID[j]) == (s2, lam)
    k_y = gaussian_kernel(y, sigma2=s2)
    torch.testing.assert_close(reg.w1, torch.linalg.inv(k_y + lam * torch.eye(80)), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(reg.w2, reg.w1 @ gaussian_kernel(z, sigma2=reg.sigma2_z), rtol=1e-7, atol=1e-9)
    # and the loss uses the selected Y bandwidth: K_res from the object equals one built with s2 by hand
    y_b, z_b = _yz(6, 6)
    manual = fit_heldout_regression(y, z, sigma2_y=s2, sigma2_z=reg.sigma2_z, lam=lam, loo=False)
    torch.testing.assert_close(residual_kernel(reg, y_b, z_b), residual_kernel(manual, y_b, z_b))


def test_circe_near_zero_for_function_of_y_and_positive_for_z():
    """CIRCE ~ 0 when phi depends on Y only; clearly > 0 when phi = Z (conditionally dependent on Z given Y)."""
    y_h, z_h = _yz(400, 7)
    reg = fit_heldout_regression(y_h, z_h, loo=True)
    vals_y, vals_z = [], []
    for seed in range(8):
        y, z = _yz(200, 100 + seed)
        vals_y.append(float(circe_statistic(torch.sin(2 * y) + y, y, z, reg)))
        vals_z.append(float(circe_statistic(z, y, z, reg)))
    vy, vz = np.array(vals_y), np.array(vals_z)
    se_y = vy.std(ddof=1) / np.sqrt(len(vy))
    # f(Y): mean within 3 standard errors of zero; phi = Z: every draw far above the f(Y) spread
    assert abs(vy.mean()) < 3 * se_y + 1e-12
    assert vz.min() > 10 * vy.std(ddof=1)
    assert vz.mean() > 10 * abs(vy.mean())


def test_circe_gradient_by_finite_differences():
    y_h, z_h = _yz(40, 8)
    reg = fit_heldout_regression(y_h, z_h, loo=False, sigma2_y=0.5, lam=0.1)
    y, z = _yz(10, 9)
    phi = (0.5 * y + 0.5 * z + 0.1 * torch.randn(10, 1)).requires_grad_(True)
    for centred in (True, False):
        assert torch.autograd.gradcheck(
            lambda p, c=centred: circe_statistic(p, y, z, reg, sigma2_phi=0.8, centred=c), (phi,)
        )
    assert torch.autograd.gradcheck(lambda p: hscic_statistic(p, z, y, 1.0, 0.8, 1.0, 0.5), (phi,))


def test_hscic_equals_definition_by_loops():
    y, z = _yz(7, 10)
    phi = torch.randn(7, 2)
    lam = 0.7
    val = float(hscic_statistic(phi, z, y, lam, 1.0, 1.0, 1.0))
    kx, kz, ky = (gaussian_kernel(t, sigma2=1.0).numpy() for t in (phi, z, y))
    w = np.linalg.solve(ky + lam * np.eye(7), ky)
    total = 0.0
    for i in range(7):
        a = w[:, i]
        joint = a @ (kx * kz) @ a
        cross = sum(a[j] * (kx @ a)[j] * (kz @ a)[j] for j in range(7))
        prod = (a @ kx @ a) * (a @ kz @ a)
        total += joint - 2 * cross + prod
    assert val == pytest.approx(total / 7, rel=1e-10)


def test_gcm_statistic_and_linear_fit():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(50, 2, generator=g)
    t = y @ torch.tensor([[1.0], [-2.0]]) + 0.5
    fit = fit_linear(y, t)
    torch.testing.assert_close(fit(y), t)
    rx = torch.randn(50, 1, generator=g)
    rz = torch.randn(50, 2, generator=g)
    s = float(gcm_statistic(rx, torch.zeros_like(rx), rz, torch.zeros_like(rz)))
    prods = (rx * rz).numpy()
    ref = np.max(np.abs(np.sqrt(50) * prods.mean(0) / prods.std(0)))
    assert s == pytest.approx(ref, rel=1e-8)


def test_bad_input_raises_usage_error():
    y, z = _yz(20, 1)
    with pytest.raises(UsageError, match="NaN"):
        fit_heldout_regression(torch.where(torch.arange(20)[:, None] == 3, torch.nan, y), z)
    with pytest.raises(UsageError, match="rows"):
        fit_heldout_regression(y, z[:10])
    with pytest.raises(UsageError, match="too small"):
        fit_heldout_regression(y[:3], z[:3])
    with pytest.raises(UsageError, match="singular|positive definite"):
        # duplicate rows + a ridge far below the conditioning of K_Y: Cholesky fails; must not be skipped silently
        yy = torch.zeros(20, 1)
        fit_heldout_regression(yy, z, lam=1e-300, loo=False, sigma2_y=1.0)
    with pytest.raises(UsageError, match="at least 4"):
        hsic_unbiased(torch.eye(3), torch.eye(3))
