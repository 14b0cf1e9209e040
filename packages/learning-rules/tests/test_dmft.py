"""DMFT solver: fixed point, exact linear theory vs sampling and vs finite-width simulation, lazy limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learning_rules.data import make_dataset
from learning_rules.dmft import (
    DMFTConfig,
    dmft_iterate,
    new_delta,
    sample_sources,
    solve_dmft,
)
from learning_rules.kernels import lazy_delta, lazy_entk, lazy_kernels
from learning_rules.train import TrainConfig, train_run
from orals23_shared.cli import UsageError


@pytest.fixture(scope="module")
def data():
    return make_dataset(0, 6, 8)


def test_fixed_point_is_a_fixed_point(data):
    X, y = data
    cfg = DMFTConfig(rule="fa", rho=0.5, activation="tanh", steps=30, eta=0.2, n_samples=3000, tol=1e-9)
    res = solve_dmft(X, y, cfg, seed=1)
    assert res.converged
    src = sample_sources(jax.random.PRNGKey(1), X, cfg)
    new, out, change = dmft_iterate(src, X, y, jnp.asarray(res.delta), cfg, damping=1.0)
    assert change < 1e-8
    np.testing.assert_allclose(out["K"], res.K, atol=1e-7)


def test_exact_linear_dmft_starts_at_lazy_kernel(data):
    X, y = data
    for rule in ("gd", "fa", "hebb"):
        cfg = DMFTConfig(rule=rule, rho=0.5, activation="linear", mode="exact", steps=10)
        res = solve_dmft(X, y, cfg)
        K0, _ = lazy_entk(lazy_kernels(X, 1, "linear"), rule, 0.5)
        np.testing.assert_allclose(res.K[0], K0, rtol=1e-10, atol=1e-12)


def test_exact_linear_dmft_matches_sampling(data):
    X, y = data
    base = dict(rule="gd", activation="linear", steps=40, eta=0.2)
    exact = solve_dmft(X, y, DMFTConfig(mode="exact", **base))
    sampled = solve_dmft(X, y, DMFTConfig(mode="sample", n_samples=40000, **base), seed=3)
    # Monte-Carlo error ~ 1/sqrt(S) = 0.005 relative
    assert np.abs(exact.loss - sampled.loss).max() < 0.03 * exact.loss[0]


def test_linear_dmft_matches_finite_width_simulation(data):
    """Closed-form DMFT of a one-hidden-layer linear net vs the seed-averaged width-1000 simulation."""
    X, y = data
    T, eta = 40, 0.2
    res = solve_dmft(X, y, DMFTConfig(rule="gd", activation="linear", mode="exact", steps=T, eta=eta))
    cfg = TrainConfig(
        rule="gd", activation="linear", width=1000, depth=1, gamma0=1.0, eta=eta, steps=T, n_points=6, dim=8
    )
    sim = np.mean([train_run(cfg, X, y, seed=s)["loss"] for s in range(4)], axis=0)
    # finite-width fluctuations O(1/sqrt(N * seeds)) = 1.6 %; the Euler K_eff map differs from the discrete
    # weight update at O(eta gamma0) per step only through second-order terms
    assert np.abs(res.loss - sim).max() < 0.05 * sim[0]
    # wrong model through the reproduce's verdict code: the closed form of FA (rho = 0) vs these GD nets
    from learning_rules.reproduce import linear_claim

    wrong = solve_dmft(X, y, DMFTConfig(rule="fa", activation="linear", mode="exact", steps=T, eta=eta))
    assert linear_claim(wrong.loss, sim, wrong.converged, 1000, 4).verdict == "not"


def test_small_gamma0_recovers_lazy_dynamics(data):
    X, y = data
    cfg = DMFTConfig(rule="gd", activation="linear", mode="exact", steps=30, eta=0.2, gamma0=1e-3)
    res = solve_dmft(X, y, cfg)
    K0, _ = lazy_entk(lazy_kernels(X, 1, "linear"), "gd")
    np.testing.assert_allclose(res.delta, lazy_delta(K0, y, 0.2, 30), atol=1e-4)


def test_euler_update_uses_the_non_symmetric_kernel():
    y = jnp.array([1.0, -0.5])
    K = jnp.array([[[1.0, 0.7], [-0.2, 2.0]]] * 3)
    d = new_delta({"K": K, "f": jnp.zeros((3, 2))}, y, 0.5, "keff")
    M = np.eye(2) - 0.25 * np.asarray(K[0])
    np.testing.assert_allclose(d[2], M @ M @ np.asarray(y), rtol=1e-12)


def test_bad_config():
    with pytest.raises(UsageError):
        DMFTConfig(rho=-0.1)
    with pytest.raises(UsageError):
        DMFTConfig(mode="exact", activation="tanh")
    with pytest.raises(UsageError):
        DMFTConfig(steps=0)
