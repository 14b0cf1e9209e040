"""Poincaré-ball operations against their defining identities."""

import math

import pytest
import torch

from hyperbolic_rl import ball
from orals23_shared.cli import UsageError


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def random_points(n: int, d: int, c: float, seed: int, max_r: float = 0.95) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(n, d, generator=g)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    radius = torch.rand(n, 1, generator=g) * max_r / math.sqrt(c)
    return direction * radius


@pytest.mark.parametrize("c", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_expmap0_lands_inside_ball(c, dtype):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(500, 16, generator=g, dtype=dtype) * torch.logspace(-4, 3, 500, dtype=dtype)[:, None]
    x = ball.expmap0(v, c)
    assert torch.isfinite(x).all()
    assert (x.norm(dim=-1) * math.sqrt(c) <= 1 - ball.ball_eps(dtype) + 1e-6).all()
    # direction preserved and norm = tanh(sqrt(c)|v|)/sqrt(c) where no projection happened
    small = v.norm(dim=-1) < 1.0
    expected = torch.tanh(math.sqrt(c) * v.norm(dim=-1)) / math.sqrt(c)
    torch.testing.assert_close(x.norm(dim=-1)[small], expected[small])
    cos = (x * v).sum(-1) / (x.norm(dim=-1) * v.norm(dim=-1))
    torch.testing.assert_close(cos, torch.ones_like(cos))


@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_logmap0_inverts_expmap0(c):
    v = torch.randn(100, 8) * 0.5
    torch.testing.assert_close(ball.logmap0(ball.expmap0(v, c), c), v)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_mobius_identity_and_inverse(c):
    x = random_points(200, 10, c, seed=1)
    zero = torch.zeros_like(x)
    torch.testing.assert_close(ball.mobius_add(x, zero, c), x)
    torch.testing.assert_close(ball.mobius_add(zero, x, c), x)
    torch.testing.assert_close(ball.mobius_add(-x, x, c), zero)
    torch.testing.assert_close(ball.mobius_add(x, -x, c), zero)
    # left cancellation law: (-x) (+) (x (+) y) = y
    y = random_points(200, 10, c, seed=2)
    torch.testing.assert_close(ball.mobius_add(-x, ball.mobius_add(x, y, c), c), y)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_distance_is_a_metric(c):
    x, y, z = (random_points(300, 6, c, seed=s) for s in (3, 4, 5))
    dxy, dyx = ball.dist(x, y, c), ball.dist(y, x, c)
    torch.testing.assert_close(dxy, dyx)
    assert (dxy >= 0).all()
    torch.testing.assert_close(ball.dist(x, x, c), torch.zeros(300), atol=1e-6, rtol=0)
    assert (ball.dist(x, z, c) <= dxy + ball.dist(y, z, c) + 1e-9).all()


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_distance_from_origin_closed_form(c):
    x = random_points(100, 5, c, seed=6)
    expected = 2 / math.sqrt(c) * torch.atanh(math.sqrt(c) * x.norm(dim=-1))
    torch.testing.assert_close(ball.dist(torch.zeros_like(x), x, c), expected)
    # and the exponential map at 0 travels distance 2 |v| (the metric at 0 is lambda_0^2 = 4 times Euclidean)
    v = torch.randn(100, 5) * 0.3
    torch.testing.assert_close(ball.dist(torch.zeros_like(v), ball.expmap0(v, c), c), 2 * v.norm(dim=-1))


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_distance_matches_arcosh_formula(c):
    x, y = random_points(100, 4, c, seed=7), random_points(100, 4, c, seed=8)
    num = 2 * c * ((x - y) ** 2).sum(-1)
    den = (1 - c * (x * x).sum(-1)) * (1 - c * (y * y).sum(-1))
    torch.testing.assert_close(ball.dist(x, y, c), torch.acosh(1 + num / den) / math.sqrt(c))


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_expmap_travels_the_riemannian_length(c):
    x = random_points(100, 5, c, seed=9, max_r=0.8)
    v = torch.randn(100, 5) * 0.05
    y = ball.expmap(x, v, c)
    torch.testing.assert_close(ball.dist(x, y, c), ball.lambda_x(x, c, keepdim=False) * v.norm(dim=-1))


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_parallel_transport_is_an_isometry(c):
    x, y = random_points(100, 5, c, seed=10, max_r=0.9), random_points(100, 5, c, seed=11, max_r=0.9)
    u, w = torch.randn(100, 5), torch.randn(100, 5)
    pu, pw = ball.transport(x, y, u, c), ball.transport(x, y, w, c)
    lx, ly = ball.lambda_x(x, c, keepdim=False), ball.lambda_x(y, c, keepdim=False)
    torch.testing.assert_close(ly**2 * (pu * pw).sum(-1), lx**2 * (u * w).sum(-1))
    torch.testing.assert_close(ball.transport(y, x, pu, c), u)  # transporting back


def test_dist2plane_broadcast_and_matmul_forms_agree():
    c = 0.7
    x = random_points(64, 8, c, seed=12)
    p = random_points(5, 8, c, seed=13, max_r=0.6)
    a = torch.randn(5, 8)
    torch.testing.assert_close(ball.dist2planes(x, p, a, c), ball.dist2plane(x[:, None, :], p, a, c))


def test_dist2plane_at_origin_is_euclidean_in_the_limit():
    # with p = 0 and tiny x, f(x) ~ (|a|/sqrt(c)) * 2 sqrt(c) <x, a> / |a| = 2 <x, a>
    x = torch.randn(10, 4) * 1e-6
    a = torch.randn(3, 4)
    torch.testing.assert_close(ball.dist2planes(x, torch.zeros(3, 4), a), 2 * x @ a.T, rtol=1e-5, atol=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "abc"])
def test_curvature_must_be_positive(bad):
    with pytest.raises(UsageError, match="curvature"):
        ball.check_curvature(bad)
