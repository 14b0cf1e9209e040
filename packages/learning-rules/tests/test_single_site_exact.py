"""Exact check of the one-hidden-layer single-site equations (every rule) against a finite network.

Paper Sec. 3 / Eq. 5 at L = 1: given the error trajectory Delta(t), each hidden neuron i of a width-N
network evolves by exactly the single-site map of ``dmft.single_site`` with its own sources
(h_i(0), w_i(0), b'_i, gates_i). Driving the solver with the network's Delta(t) and its N neurons as the
samples (weights 1/N) must therefore reproduce every h_i(t), w_i(t), the function f(t) - f(0) and the
finite-width K_eff(t) to rounding error. Any mistake in a rule's pseudo-gradient, the learning-rate
scaling or the time indexing (strict causality) of either implementation breaks this."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learning_rules.data import make_dataset
from learning_rules.dmft import single_site
from learning_rules.model import NetSpec, forward, init_network
from learning_rules.rules import apply_update, effective_ntk, rule_update

CASES = [("gd", "tanh", 0.0), ("gd", "relu", 0.0), ("fa", "tanh", 0.5), ("dfa", "erf", 0.0), ("hebb", "tanh", 0.0)]
CASES += [("gln", "linear", 0.0)]


@pytest.mark.parametrize("rule,act,rho", CASES)
def test_single_site_reproduces_finite_network_neurons(rule, act, rho):
    P, D, N, T, eta, gamma0 = 5, 7, 40, 8, 0.8, 1.5
    X, y = make_dataset(3, P, D)
    spec = NetSpec(d_in=D, width=N, depth=1, activation=act, gamma0=gamma0, rule=rule, rho=rho)
    params, fixed = init_network(jax.random.PRNGKey(7), spec, X.dtype)
    f0 = forward(params, fixed, X, spec).f
    hs, ws, deltas, Ks = [], [], [], []
    for _ in range(T + 1):
        feats = forward(params, fixed, X, spec)
        delta = y - (feats.f - f0)
        hs.append(feats.h[0].T)  # (N, P): neuron i's preactivations on the P inputs
        ws.append(params["w"])
        deltas.append(delta)
        Ks.append(effective_ntk(params, fixed, X, spec, delta)[0])
        params = apply_update(params, rule_update(params, fixed, X, delta, spec, eta, feats))
    w0 = ws[0]
    src = {"h0": hs[0], "w0": w0, "weight": jnp.full((N,), 1.0 / N, X.dtype)}
    src["bp"] = {  # the site's second feedback source b': FA b = rho w(0) + sqrt(1 - rho^2) b', DFA d = b'
        "fa": (fixed.get("b", w0) - rho * w0) / np.sqrt(1.0 - rho**2),
        "dfa": fixed["d"][0] if rule == "dfa" else w0,
    }.get(rule, jnp.zeros(N, X.dtype))
    src["gates"] = (X @ fixed["gates"][0].T > 0).T.astype(X.dtype) if rule == "gln" else jnp.ones((N, P), X.dtype)
    Kx = X @ X.T / D
    out = single_site(src, Kx, jnp.stack(deltas), rule, act, gamma0, rho, eta, fields=True)
    h_net, w_net = np.stack(hs), np.stack(ws)
    assert np.abs(h_net[-1] - h_net[0]).max() > 1e-2  # the features did move (rich regime)
    np.testing.assert_allclose(out["h"], h_net, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["w"], w_net, rtol=0, atol=1e-10)
    f_net = y[None, :] - np.stack(deltas)
    np.testing.assert_allclose(out["f"], f_net, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["K"], np.stack(Ks), rtol=0, atol=1e-10)
