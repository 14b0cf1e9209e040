"""Learning-rule updates: GD equals jax.grad, hand-computed 2-layer updates, df/dt = K_eff Delta."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learning_rules.data import make_dataset
from learning_rules.model import NetSpec, forward, init_network
from learning_rules.rules import apply_update, effective_ntk, rule_update
from learning_rules.train import TrainConfig, train_run


@pytest.fixture(scope="module")
def data():
    return make_dataset(1, 5, 4)


def test_gd_update_equals_scaled_jax_grad(data):
    X, y = data
    spec = NetSpec(d_in=4, width=7, depth=3, activation="tanh", gamma0=0.7, rule="gd")
    params, fixed = init_network(jax.random.PRNGKey(0), spec, X.dtype)
    eta = 0.3

    def loss(p):
        return 0.5 * jnp.mean((y - forward(p, fixed, X, spec).f) ** 2)

    grad = jax.grad(loss)(params)
    delta = y - forward(params, fixed, X, spec).f
    upd = rule_update(params, fixed, X, delta, spec, eta)
    scale = -eta * spec.gamma0**2 * spec.width
    for a, b in zip(jax.tree_util.tree_leaves(upd), jax.tree_util.tree_leaves(grad)):
        np.testing.assert_allclose(a, scale * b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("rule", ["gd", "fa", "dfa", "hebb", "gln"])
def test_two_layer_update_by_hand(data, rule):
    """One hidden layer: explicit per-sample loops in numpy of the update formulas of Sec. 3."""
    X, y = data
    spec = NetSpec(d_in=4, width=6, depth=1, activation="relu", gamma0=0.5, rule=rule, rho=0.4)
    params, fixed = init_network(jax.random.PRNGKey(2), spec, X.dtype)
    eta = 0.2
    W0, w = np.asarray(params["W"][0]), np.asarray(params["w"])
    Xn, yn = np.asarray(X), np.asarray(y)
    P, D = Xn.shape
    N = w.shape[0]
    dW, dw = np.zeros_like(W0), np.zeros_like(w)
    for mu in range(P):
        h = W0 @ Xn[mu] / np.sqrt(D)
        if rule == "gln":
            s = (np.asarray(fixed["gates"][0]) @ Xn[mu] > 0).astype(float)
            phi, dphi = s * h, s
        else:
            phi, dphi = np.maximum(h, 0), (h > 0).astype(float)
        f = w @ phi / (spec.gamma0 * N)
        delta = yn[mu] - f
        if rule in ("gd", "gln"):
            gt = dphi * w
        elif rule == "fa":
            gt = dphi * np.asarray(fixed["b"])
        elif rule == "dfa":
            gt = dphi * np.asarray(fixed["d"][0])
        else:  # Hebb, Eq. 3: gt = Delta phi(h), so dW ~ Delta^2 phi(h) x^T
            gt = delta * phi
        dW += eta * spec.gamma0 / P * delta * np.outer(gt, Xn[mu]) / np.sqrt(D)
        dw += eta * spec.gamma0 / P * delta * phi
    delta = y - forward(params, fixed, X, spec).f
    upd = rule_update(params, fixed, X, delta, spec, eta)
    np.testing.assert_allclose(upd["W"][0], dW, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(upd["w"], dw, rtol=1e-10, atol=1e-14)


def test_fa_feedback_correlation():
    spec = NetSpec(d_in=3, width=300, depth=2, rule="fa", rho=0.6)
    params, fixed = init_network(jax.random.PRNGKey(0), spec, jnp.float64)
    # b = rho w + sqrt(1-rho^2) b', B_l^T = rho W_l + sqrt(1-rho^2) B'_l: correlation rho, unit variance (SE ~ 0.06, 0.004)
    assert abs(float(jnp.mean(fixed["b"] * params["w"])) - 0.6) < 0.25
    Bt, W = fixed["Bt"][0], params["W"][1]
    assert abs(float(jnp.mean(Bt * W)) - 0.6) < 0.02
    assert abs(float(jnp.mean(Bt**2)) - 1.0) < 0.02


@pytest.mark.parametrize("rule,rho", [("gd", 0.0), ("fa", 0.3), ("dfa", 0.0), ("hebb", 0.0), ("gln", 0.0)])
def test_function_moves_by_effective_ntk(data, rule, rho):
    """Finite difference: f(theta + update(eps)) - f(theta) = (eps / P) K_eff Delta + O(eps^2)."""
    X, y = data
    spec = NetSpec(d_in=4, width=32, depth=3, activation="tanh", gamma0=1.0, rule=rule, rho=rho)
    params, fixed = init_network(jax.random.PRNGKey(3), spec, X.dtype)
    f = forward(params, fixed, X, spec).f
    delta = y - f
    K, _, _ = effective_ntk(params, fixed, X, spec, delta)
    predicted = K @ delta / X.shape[0]
    for eps in (1e-4, 1e-5):
        moved = forward(apply_update(params, rule_update(params, fixed, X, delta, spec, eps)), fixed, X, spec).f
        err = np.abs((moved - f) / eps - predicted).max() / np.abs(predicted).max()
        assert err < 50 * eps  # first-order agreement, error shrinking with eps


@pytest.mark.parametrize("rule", ["fa", "dfa", "hebb"])
def test_effective_ntk_is_not_symmetric(data, rule):
    X, y = data
    # eta 0.1: the Hebb rule (Delta^2-weighted, always Hebbian) diverges with ReLU at eta 0.5
    cfg = TrainConfig(rule=rule, rho=0.5, width=64, depth=2, gamma0=1.0, steps=20, eta=0.1, n_points=5, dim=4)
    r = train_run(cfg, X, y, seed=0)
    for K in (r["K0"], r["KT"]):
        assert np.linalg.norm(K - K.T) > 1e-3 * np.linalg.norm(K)
    gd = train_run(TrainConfig(rule="gd", width=64, depth=2, steps=20, n_points=5, dim=4), X, y, seed=0)
    np.testing.assert_allclose(gd["KT"], gd["KT"].T, rtol=1e-10, atol=1e-12)


def test_fa_with_rho_one_is_gd_at_t0(data):
    """rho = 1: the feedback is the initial forward weights (B_l = W_l(0)^T, b = w(0)), so the FA update
    of a depth-3 network equals the GD update (= scaled jax.grad, above) at t = 0, and differs after one step
    (W has moved, B has not)."""
    X, y = data
    eta = 0.3
    specs = {r: NetSpec(d_in=4, width=9, depth=3, activation="tanh", gamma0=1.3, rule=r, rho=1.0) for r in ("gd", "fa")}
    params, fixed = {}, {}
    for r, spec in specs.items():
        params[r], fixed[r] = init_network(jax.random.PRNGKey(4), spec, X.dtype)
    for a, b in zip(jax.tree_util.tree_leaves(params["gd"]), jax.tree_util.tree_leaves(params["fa"])):
        np.testing.assert_array_equal(a, b)
    upd = {}
    for r, spec in specs.items():
        delta = y - forward(params[r], fixed[r], X, spec).f
        upd[r] = rule_update(params[r], fixed[r], X, delta, spec, eta)
    for a, b in zip(jax.tree_util.tree_leaves(upd["gd"]), jax.tree_util.tree_leaves(upd["fa"])):
        assert np.abs(a).max() > 1e-3
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    # one step later the rules part: B stays at W(0)^T
    nxt = {}
    for r, spec in specs.items():
        p1 = apply_update(params[r], upd[r])
        nxt[r] = rule_update(p1, fixed[r], X, y - forward(p1, fixed[r], X, spec).f, spec, eta)
    assert np.abs(nxt["gd"]["W"][0] - nxt["fa"]["W"][0]).max() > 1e-6


def test_fa_rho_one_lazy_entk_is_gd_at_depth_3(data):
    """The infinite-width side of the same statement: K_eff(t = 0) of rho = 1 FA equals GD's (eNTK weights rho^(L-l))."""
    from learning_rules.kernels import lazy_entk, lazy_kernels

    X, _ = data
    kern = lazy_kernels(X, 3, "tanh")
    K_gd, H_gd = lazy_entk(kern, "gd")
    K_fa, H_fa = lazy_entk(kern, "fa", 1.0)
    np.testing.assert_allclose(K_fa, K_gd, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H_fa, H_gd, rtol=0, atol=1e-12)
    assert np.abs(np.asarray(lazy_entk(kern, "fa", 0.5)[0]) - np.asarray(K_gd)).max() > 1e-3
