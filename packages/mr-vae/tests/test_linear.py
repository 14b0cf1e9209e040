"""The linear-VAE closed form (paper Section 4): brute force, exact representation by the gates, Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch

from mr_vae.linear import closed_form, gaussian_constant, optimal_parameters, spectrum
from mr_vae.model import SQRT3, BetaRange, LinearVAE


def _data(n=400, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    scales = torch.tensor([3.0, 2.0, 1.0, 0.5])[:d]
    return (torch.randn(n, d, generator=g, dtype=torch.float64) * scales) @ torch.linalg.qr(
        torch.randn(d, d, generator=g, dtype=torch.float64)
    )[0] + 1.5


@pytest.mark.parametrize("beta", [0.3, 3.0])  # two directions active, one active
def test_closed_form_equals_a_brute_force_optimum_on_a_tiny_problem(beta):
    """Minimise the exact expected loss of a free linear beta-VAE (full W, E, variances) from several starts."""
    x = _data()
    mean, lam, _ = spectrum(x)
    sigma2, k = 0.7, 2
    rate, dist = closed_form(lam, k, sigma2, beta)
    best = math.inf
    for start in range(2):
        torch.manual_seed(start)
        model = LinearVAE(4, k, sigma2, mean=mean, gated=False).double()
        opt = torch.optim.LBFGS(
            model.parameters(),
            lr=1,
            max_iter=300,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            line_search_fn="strong_wolfe",
        )

        def closure(opt=opt, model=model):
            opt.zero_grad()
            d, r = model.expected(x, None)
            loss = (d + beta * r).mean()
            loss.backward()
            return loss

        opt.step(closure)
        opt.step(closure)
        with torch.no_grad():
            d, r = model.expected(x, None)
            best = min(best, float((d + beta * r).mean()))
    assert best == pytest.approx(dist + beta * rate, abs=1e-6)


def test_one_gated_model_represents_the_optimum_at_every_beta():
    x = _data(d=4)
    mean, lam, vecs = spectrum(x)
    sigma2, k = 0.7, 3
    rng = BetaRange(0.05, 20.0)
    model = LinearVAE(4, k, sigma2, mean=mean, gated=True, slope=rng.h / SQRT3).double()
    model.load_state_dict(
        {
            **model.state_dict(),
            **{k_: v.double() for k_, v in optimal_parameters(lam, vecs, k, sigma2, rng.m, rng.h).items()},
        }
    )
    for beta in torch.logspace(math.log10(0.05), math.log10(20.0), 15).tolist():
        with torch.no_grad():
            d, r = model.expected(x, rng.xi(beta, torch.float64).expand(len(x)))
        rate, dist = closed_form(lam, k, sigma2, beta)
        assert float(r.mean()) == pytest.approx(rate, abs=1e-8)
        assert float(d.mean()) == pytest.approx(dist, abs=1e-8)


def test_expected_distortion_equals_monte_carlo():
    torch.manual_seed(0)
    x = _data(n=50)
    model = LinearVAE(4, 2, 0.5, mean=x.mean(0), gated=True).double()
    xi = torch.full((50,), 0.3, dtype=torch.float64)
    d_exact, r_exact = model.expected(x, xi)
    s = 4000
    eps = torch.randn(s * 50, 2, dtype=torch.float64)
    with torch.no_grad():
        d_mc, r_mc = model(x.repeat(s, 1), xi.repeat(s), eps)
    torch.testing.assert_close(d_mc.reshape(s, 50).mean(0), d_exact.detach(), rtol=0.02, atol=0.05)
    torch.testing.assert_close(r_mc[:50], r_exact.detach())


def test_closed_form_pieces():
    lam = torch.tensor([5.0, 2.0, 1.0, 0.25], dtype=torch.float64)
    rate, dist = closed_form(lam, 2, 1.0, 1.5)  # lam_1 = 5 and lam_2 = 2 exceed 1.5; lam_3, lam_4 are not modelled
    assert rate == pytest.approx(0.5 * math.log(5 / 1.5) + 0.5 * math.log(2 / 1.5))
    assert dist == pytest.approx((1.5 + 1.5 + 1.0 + 0.25) / 2 + gaussian_constant(4, 1.0))
    rate, dist = closed_form(lam, 2, 1.0, 3.0)  # only lam_1 active
    assert rate == pytest.approx(0.5 * math.log(5 / 3.0))
    assert dist == pytest.approx((3.0 + 2.0 + 1.0 + 0.25) / 2 + gaussian_constant(4, 1.0))
    rate, dist = closed_form(lam, 2, 1.0, 10.0)  # everything off: the rate is 0, the distortion is the variance
    assert rate == 0.0 and dist == pytest.approx(lam.sum() / 2 + gaussian_constant(4, 1.0))
