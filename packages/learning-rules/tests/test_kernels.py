"""Lazy kernel recursions: closed forms vs quadrature vs Monte Carlo from wide random networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learning_rules.data import make_dataset
from learning_rules.kernels import (
    _phi_kernels,
    activation,
    activation_derivative,
    check_psd,
    gate_kernel,
    gaussian_expectation,
    lazy_delta,
    lazy_entk,
    lazy_kernels,
)
from learning_rules.model import NetSpec, forward, init_network
from learning_rules.rules import effective_ntk, true_gradient_fields
from orals23_shared.cli import UsageError


@pytest.fixture(scope="module")
def data():
    return make_dataset(3, 6, 5)


def _random_psd(seed, P=5):
    A = np.random.default_rng(seed).normal(size=(P, P + 2))
    return jnp.asarray(A @ A.T / (P + 2))


def test_erf_closed_form_matches_quadrature():
    """Smooth activation: Gauss-Hermite quadrature is exact to many digits (ReLU's kink is checked by Monte Carlo)."""
    H = _random_psd(0)
    phi, dot = _phi_kernels("erf", H)
    f, df = activation("erf"), activation_derivative("erf")
    np.testing.assert_allclose(phi, gaussian_expectation(f, f, H, 96), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dot, gaussian_expectation(df, df, H, 96), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_kernel_expectations_match_monte_carlo(act):
    H = _random_psd(1)
    z = jax.random.normal(jax.random.PRNGKey(0), (200_000, H.shape[0]))
    u = z @ jnp.linalg.cholesky(H + 1e-12 * jnp.eye(H.shape[0])).T
    f, df = activation(act), activation_derivative(act)
    mc_phi = f(u).T @ f(u) / u.shape[0]
    mc_dot = df(u).T @ df(u) / u.shape[0]
    phi, dot = _phi_kernels(act, H)
    # Monte-Carlo standard error with 2e5 samples is ~2e-3 of the entries' scale
    assert np.abs(mc_phi - phi).max() < 1e-2 * np.abs(phi).max()
    assert np.abs(mc_dot - dot).max() < 1e-2 * np.abs(dot).max()


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_recursions_match_wide_random_network(data, act):
    """Phi_l and G_l of a width-2048 random network vs the infinite-width recursion (error ~ N^-1/2)."""
    X, _ = data
    spec = NetSpec(d_in=X.shape[1], width=2048, depth=2, activation=act)
    theory = lazy_kernels(X, 2, act)
    errs_phi, errs_g = [], []
    for seed in range(1):
        params, fixed = init_network(jax.random.PRNGKey(seed), spec, X.dtype)
        feats = forward(params, fixed, X, spec)
        g = true_gradient_fields(params, feats)
        for l in (1, 2):
            emp_phi = feats.phi[l - 1] @ feats.phi[l - 1].T / spec.width
            emp_g = g[l - 1] @ g[l - 1].T / spec.width
            errs_phi.append(np.linalg.norm(emp_phi - theory.Phi[l]) / np.linalg.norm(theory.Phi[l]))
            errs_g.append(np.linalg.norm(emp_g - theory.G[l]) / np.linalg.norm(theory.G[l]))
    # several standard deviations of the O(1/sqrt(N)) = 0.022 fluctuations
    assert max(errs_phi) < 0.1 and max(errs_g) < 0.1


def _entk_errors(X, y, rule, rho, widths, seeds, wrong=None):
    """Seed-mean relative error of K_eff(0) vs the rule's lazy eNTK per width; with ``wrong`` = (rule, rho)
    also the errors of the same networks vs that rule's kernel, and the hidden-layer shares of K_eff."""
    K, _ = lazy_entk(lazy_kernels(X, 2, "relu", gated=rule == "gln"), rule, rho)
    Kw = lazy_entk(lazy_kernels(X, 2, "relu"), *wrong)[0] if wrong else K
    errs, errs_wrong, shares = {}, {}, {}
    for N in widths:
        spec = NetSpec(d_in=X.shape[1], width=N, depth=2, rule=rule, rho=rho, gamma0=0.01)
        e, ew, sh = [], [], []
        for seed in range(seeds):
            params, fixed = init_network(jax.random.PRNGKey(seed), spec, X.dtype)
            Ke, hidden, _ = effective_ntk(params, fixed, X, spec, y)
            e.append(np.linalg.norm(Ke - K) / np.linalg.norm(K))
            ew.append(np.linalg.norm(Ke - Kw) / np.linalg.norm(Kw))
            sh.append(float(np.linalg.norm(hidden) / np.linalg.norm(Ke)))
        errs[N], errs_wrong[N], shares[N] = np.mean(e), np.mean(ew), np.mean(sh)
    return (errs, errs_wrong, shares) if wrong else errs


RULE_CASES = [("gd", 0.0), ("fa", 0.5), ("dfa", 0.0), ("hebb", 0.0), ("gln", 0.0)]


@pytest.mark.parametrize("rule,rho", RULE_CASES)
def test_empirical_entk_converges_to_lazy_theory(data, rule, rho):
    """K_eff(0) of finite networks approaches the lazy theory; N^-1/2 predicts a factor 4 from N=64 to 1024.

    Wrong model, through the reproduce's verdict code: the same networks scored against another rule's lazy
    eNTK (DFA's for GD, GD's for the others) do not converge, so the '< 0.1' and the N^-1/2-slope claims say
    "not". For GD, a share claim fed GD's hidden-layer share under every rule's name (rules that
    backpropagate anyway) says "not" too."""
    from learning_rules.reproduce import lazy_error_claim, lazy_share_claim, lazy_slope_claim

    X, y = data
    widths = (64, 1024)
    wrong = ("dfa", 0.0) if rule == "gd" else ("gd", 0.0)
    errs, errs_wrong, shares = _entk_errors(X, y, rule, rho, widths, 3, wrong=wrong)
    assert errs[1024] < errs[64] / 2
    bad = {rule: [errs_wrong[N] for N in widths]}
    assert lazy_error_claim(bad, list(widths)).verdict == "not"
    assert lazy_slope_claim(bad, list(widths)).verdict == "not"
    if rule == "gd":
        names = ["gd", "fa(rho=0.0)", "fa(rho=0.5)", "fa(rho=1.0)", "dfa", "hebb"]
        K, hidden = lazy_entk(lazy_kernels(X, 2, "relu"), "gd")
        theory = {"gd": float(np.linalg.norm(hidden) / np.linalg.norm(K))}
        as_gd = {n: [shares[N] for N in widths] for n in names}
        assert lazy_share_claim(as_gd, theory).verdict == "not"


@pytest.mark.slow
@pytest.mark.parametrize("rule,rho", RULE_CASES)
def test_empirical_entk_below_tenth_at_4096(data, rule, rho):
    """The brief's bar: relative Frobenius error below 0.1 at N = 4096."""
    X, y = data
    errs = _entk_errors(X, y, rule, rho, (4096,), 3)
    assert errs[4096] < 0.1


def test_lazy_entk_rules(data):
    X, _ = data
    kern = lazy_kernels(X, 3, "erf")
    gd, gd_hidden = lazy_entk(kern, "gd")
    ntk = sum(kern.G[l + 1] * kern.Phi[l] for l in range(4))
    np.testing.assert_allclose(gd, ntk, rtol=1e-12)
    np.testing.assert_allclose(lazy_entk(kern, "fa", 1.0)[0], gd, rtol=1e-12)
    for rule in ("dfa", "hebb"):
        K, hidden = lazy_entk(kern, rule)
        np.testing.assert_allclose(K, kern.Phi[3], rtol=1e-12)
        assert float(jnp.abs(hidden).max()) == 0.0
    # FA: the term of layer l carries rho^(L-l)
    rho = 0.3
    fa, _ = lazy_entk(kern, "fa", rho)
    expect = kern.Phi[3] + sum(rho ** (3 - l) * kern.G[l + 1] * kern.Phi[l] for l in range(3))
    np.testing.assert_allclose(fa, expect, rtol=1e-12)


def test_gln_product_formula(data):
    X, _ = data
    L = 3
    K, _ = lazy_entk(lazy_kernels(X, L, "relu", gated=True), "gln")
    C = gate_kernel(X @ X.T / X.shape[1])
    np.testing.assert_allclose(K, (L + 1) * C**L * (X @ X.T / X.shape[1]), rtol=1e-12)
    # gate kernel against Monte Carlo of Theta(m.x) Theta(m.x')
    m = jax.random.normal(jax.random.PRNGKey(1), (200_000, X.shape[1]))
    s = (m @ X.T > 0).astype(X.dtype)
    assert np.abs(s.T @ s / m.shape[0] - C).max() < 5e-3


def test_lazy_delta_is_matrix_power(data):
    X, y = data
    K, _ = lazy_entk(lazy_kernels(X, 1, "relu"), "gd")
    d = lazy_delta(K, y, 0.3, 7)
    M = np.eye(len(y)) - 0.3 / len(y) * np.asarray(K)
    np.testing.assert_allclose(d[7], np.linalg.matrix_power(M, 7) @ np.asarray(y), rtol=1e-10)


def test_bad_inputs():
    with pytest.raises(UsageError, match="positive semi-definite"):
        check_psd(jnp.array([[1.0, 2.0], [2.0, 1.0]]), "K")
    check_psd(jnp.array([[1.0, 1.0], [1.0, 1.0]]) - 1e-12 * jnp.eye(2), "K")  # within jitter
    with pytest.raises(UsageError, match="unknown activation"):
        activation("sigmoid")
    with pytest.raises(UsageError, match="rho"):
        lazy_entk(lazy_kernels(jnp.eye(3), 1, "relu"), "fa", 1.5)
    with pytest.raises(UsageError, match="unknown rule"):
        lazy_entk(lazy_kernels(jnp.eye(3), 1, "relu"), "bp")
