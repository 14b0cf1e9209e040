"""Deep (L >= 2) DMFT with response functions: fixed point, Stein checks of the responses, lazy limit,
the deep-linear closed form, and (``slow``) agreement with finite-width simulation plus the A = B = 0 ablation.

Cost: every deep solve of one rule here has the same shapes (P = 4, T = 8, S = 20000 sites, 1000 Jacobians),
so the compiled sweep is shared (eta, gamma0 and rho are traced), and each rule's fixed point is solved once
per module (fixtures) and checked several ways."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learning_rules.data import make_dataset
from learning_rules.dmft import DMFTConfig, deep_dmft_iterate, deep_sources, solve_dmft
from learning_rules.kernels import lazy_delta, lazy_entk, lazy_kernels
from learning_rules.train import TrainConfig, train_run
from orals23_shared.cli import UsageError

S_SITES = 20000  # relative Monte-Carlo error of a kernel entry ~ 1/sqrt(S) = 0.7 %


@pytest.fixture(scope="module")
def small():
    return make_dataset(2, 4, 6)


def _deep_cfg(**kw):
    base = dict(depth=2, rule="gd", activation="tanh", steps=8, eta=0.25, n_samples=S_SITES, n_jac=1000, tol=1e-9)
    base.update(kw)
    return DMFTConfig(**base)


def _solve_at_fixed_point(X, y, cfg):
    """Solve the deep DMFT and take one more undamped iteration on the same sources: it must change nothing
    (the fixed point is a fixed point). Returns the solution and that iteration's output (with the Stein
    sample moments of its fields)."""
    res = solve_dmft(X, y, cfg, seed=1)
    assert res.converged
    src = deep_sources(jax.random.PRNGKey(1), (cfg.steps + 1) * X.shape[0], cfg, X.dtype, X)  # X: GLN's gates
    new, change = deep_dmft_iterate(res.state, src, X, y, cfg, damping=1.0)
    assert change < 1e-8
    np.testing.assert_allclose(new["K"], res.K, atol=1e-8)
    return res, new


@pytest.fixture(scope="module")
def gd_fixed_point(small):
    X, y = small
    return _solve_at_fixed_point(X, y, _deep_cfg())


@pytest.fixture(scope="module")
def fa_fixed_point(small):
    X, y = small
    return _solve_at_fixed_point(X, y, _deep_cfg(rule="fa", rho=0.5))


def _assert_stein(checks, n_samples):
    """Each check is (sample moment, Stein form, second moments of the two factors): they agree within 5
    Monte-Carlo standard errors of a sample mean of X Y over S samples (Var(XY) <= 2 <X^2> <Y^2>, Gaussian
    bound), and the Stein form is far above that noise (the responses are switched on)."""
    for lhs, rhs, m1, m2 in checks:
        se = np.sqrt(2.0 * np.outer(m1, m2) / n_samples)
        assert np.abs(rhs).max() > 10 * se.max()
        assert np.all(np.abs(np.asarray(lhs) - rhs) < 5 * se)


def test_deep_gd_fixed_point_and_stein_responses(gd_fixed_point):
    """GD at depth 2: the responses A_1, B_1 at the fixed point obey Gaussian integration by parts.

    phi_1 depends on r_1 ~ GP(0, G_2) only through A, and g_2 on u_2 ~ GP(0, Phi_1) only through B, so
    <phi_1 r_1^T> = A_1 G_2 and <g_2 u_2^T> = B_1 Phi_1 (A, B stored with gamma0 included). Left: sample
    moments of the fields; right: averaged exact Jacobians."""
    res, new = gd_fixed_point
    st = {k: [np.asarray(a) for a in v] for k, v in res.state.items() if k != "delta"}
    A, B, Phi1, G2 = st["A"][0], st["B"][0], st["Phi"][0], st["G"][1]
    _assert_stein(
        [
            (new["stein"][0]["phi_r"], A @ G2, np.diag(Phi1), np.diag(G2)),
            (new["stein"][1]["g_u"], B @ Phi1, np.diag(G2), np.diag(Phi1)),
        ],
        S_SITES,
    )


def test_deep_fa_fixed_point_and_stein_responses(fa_fixed_point):
    """rho-FA (rho = 0.5): Stein's lemma on the jointly Gaussian sources, <phi_1 rt_1^T> = C_1 Gtt_2 (phi_1
    depends on rt_1, not on r_1) and <gt_2 u_2^T> = D_1 Phi_1 (u_2 is independent of r_2, rt_2)."""
    res, new = fa_fixed_point
    st = {k: [np.asarray(a) for a in v] for k, v in res.state.items() if k != "delta"}
    C, D, Phi1, Gtt2 = st["C"][0], st["D"][0], st["Phi"][0], st["Gtt"][1]
    _assert_stein(
        [
            (new["stein"][0]["phi_rt"], C @ Gtt2, np.diag(Phi1), np.diag(Gtt2)),
            (new["stein"][1]["gt_u"], D @ Phi1, np.diag(np.asarray(new["Gtt"][1])), np.diag(Phi1)),
        ],
        S_SITES,
    )


@pytest.mark.parametrize("rule,rho,gated", [("gd", 0.0, False), ("fa", 0.5, False), ("gln", 0.0, True)])
def test_deep_lazy_limit_equals_closed_form_entk(small, rule, rho, gated):
    """gamma0 -> 0: K_eff(t) is frozen at the closed-form lazy eNTK of depth 2 (FA: rho^(L-l) weights; GLN:
    the gated kernel (L+1) C^L K_x), to Monte-Carlo accuracy (0.7 % per entry at S = 20000)."""
    X, y = small
    res = solve_dmft(X, y, _deep_cfg(rule=rule, rho=rho, gamma0=1e-6, tol=1e-7), seed=0)
    K0, _ = lazy_entk(lazy_kernels(X, 2, "linear" if gated else "tanh", gated=gated), rule, rho)
    np.testing.assert_allclose(res.K, np.broadcast_to(res.K[0], res.K.shape), rtol=1e-5)
    assert np.abs(res.K[0] - K0).max() < 0.03 * np.abs(K0).max()


def test_deep_gln_fixed_point_has_responses(small):
    """Deep GLN (GD through phi(h) = s h with per-site gates): the fixed point is a fixed point with non-zero
    responses A, B."""
    X, y = small
    res, _ = _solve_at_fixed_point(X, y, _deep_cfg(rule="gln"))
    assert float(jnp.abs(res.state["A"][0]).max()) > 1e-3 and float(jnp.abs(res.state["B"][0]).max()) > 1e-3


def test_deep_linear_closed_form_is_exact_lazy_limit(small):
    """Sampling-free deep linear DMFT: K_eff(0) equals the lazy NTK exactly; at gamma0 -> 0 all of Delta(t) does."""
    X, y = small
    K0, _ = lazy_entk(lazy_kernels(X, 3, "linear"), "gd")
    rich = solve_dmft(X, y, _deep_cfg(depth=3, activation="linear", mode="exact", tol=1e-12))
    np.testing.assert_allclose(rich.K[0], K0, rtol=1e-10)
    lazy = solve_dmft(X, y, _deep_cfg(depth=3, activation="linear", mode="exact", gamma0=1e-6, tol=1e-12))
    np.testing.assert_allclose(lazy.delta, lazy_delta(K0, y, 0.25, 8), atol=1e-9)
    assert np.abs(rich.delta - lazy.delta).max() > 1e-3  # rich dynamics differ


def test_deep_linear_closed_form_matches_sampling(small):
    """The closed form and the Monte-Carlo deep solver run with phi(h) = h: same equations, two codes."""
    X, y = small
    exact = solve_dmft(X, y, _deep_cfg(activation="linear", mode="exact"))
    sampled = solve_dmft(X, y, _deep_cfg(activation="linear", n_jac=100, tol=1e-7), seed=3)
    assert np.abs(exact.loss - sampled.loss).max() < 0.02 * exact.loss[0]
    assert np.abs(exact.K - sampled.K).max() < 0.03 * np.abs(exact.K).max()


def test_response_ablation_changes_the_solution(small):
    """``responses=False`` (A = B = 0) is a different model: its fixed point leaves A, B at zero and its loss
    curve departs from the full DMFT's (the slow test below shows it misses the simulations)."""
    X, y = small
    full = solve_dmft(X, y, _deep_cfg(activation="linear", mode="exact"))
    ablated = solve_dmft(X, y, _deep_cfg(activation="linear", mode="exact", responses=False))
    assert all(float(jnp.abs(a).max()) == 0.0 for a in ablated.state["A"] + ablated.state["B"])
    assert np.abs(full.loss - ablated.loss).max() > 0.01 * full.loss[0]


def test_deep_linear_closed_form_matches_simulation():
    """Depth-2 linear network: closed form (exact discrete map) vs seed-averaged width-1000 simulation."""
    X, y = make_dataset(0, 6, 8)
    T, eta = 30, 0.2
    res = solve_dmft(
        X,
        y,
        DMFTConfig(depth=2, activation="linear", mode="exact", steps=T, eta=eta, function_update="direct", damping=0.5),
    )
    assert res.converged
    cfg = TrainConfig(
        rule="gd", activation="linear", width=1000, depth=2, gamma0=1.0, eta=eta, steps=T, n_points=6, dim=8
    )
    sims = np.array([train_run(cfg, X, y, seed=s)["loss"] for s in range(4)])
    sim = sims.mean(axis=0)
    # finite-width fluctuations of the seed mean: ~5 % of the loss at the end of training (measured spread)
    assert np.abs(res.loss - sim).max() < 0.03 * sim[0]
    # wrong model through the reproduce's verdict code: the lazy Delta(t) (no feature learning, the closed
    # form at gamma0 -> 0) is "not" even with the 4-seed standard-error allowance; the right one is not "not"
    from learning_rules.reproduce import deep_linear_claim

    K, _ = lazy_entk(lazy_kernels(X, 2, "linear"), "gd")
    lazy = 0.5 * np.mean(np.asarray(lazy_delta(K, y, eta, T)) ** 2, axis=1)
    assert deep_linear_claim(lazy, sims, True, 1000).verdict == "not"
    assert deep_linear_claim(res.loss, sims, res.converged, 1000).verdict != "not"


def _deep_sim_gap(rule, rho=0.0, **dmft):
    """Depth 2, tanh, gamma0 = 1: max relative loss gap of the DMFT vs 6 seeds of width 2000."""
    X, y = make_dataset(0, 6, 8)
    T, eta = 30, 0.2
    cfg = _deep_cfg(rule=rule, rho=rho, steps=T, eta=eta, n_samples=10000, n_jac=400, tol=1e-4, n_iter=40, **dmft)
    res = solve_dmft(X, y, cfg, seed=0)
    sim_cfg = TrainConfig(
        rule=rule, rho=rho, width=2000, depth=2, activation="tanh", eta=eta, steps=T, n_points=6, dim=8
    )
    sim = np.mean([train_run(sim_cfg, X, y, seed=s)["loss"] for s in range(6)], axis=0)
    return float(np.max(np.abs(res.loss - sim) / sim))


@pytest.mark.slow
@pytest.mark.parametrize("rule,rho", [("gd", 0.0), ("dfa", 0.0), ("hebb", 0.0), ("fa", 0.0), ("fa", 1.0)])
def test_deep_dmft_matches_simulation(rule, rho):
    """The issue's ~5 % bar for every deep rule."""
    assert _deep_sim_gap(rule, rho) < 0.05


@pytest.mark.slow
def test_deep_dmft_without_responses_fails_the_bar():
    """Ablation: GD with A = B = 0 (bar fixed before measuring: the same 5 %) misses the simulations, so the
    5 % bar can catch missing responses (through the reproduce's own verdict code)."""
    from learning_rules.reproduce import _rich_gap_claim

    gap = _deep_sim_gap("gd", responses=False)
    print(f"A = B = 0 ablation: max relative loss gap {gap:.4f}")
    assert gap > 0.05
    assert _rich_gap_claim("depth 2, A = B = 0", {"gd": gap}).verdict != "reproduced"


def test_deep_bad_config():
    with pytest.raises(UsageError):
        DMFTConfig(depth=2, rule="gln", mode="exact", activation="linear")
    with pytest.raises(UsageError):
        DMFTConfig(depth=2, activation="relu")
    with pytest.raises(UsageError):
        DMFTConfig(depth=2, rule="dfa", activation="linear", mode="exact")
    with pytest.raises(UsageError):
        DMFTConfig(depth=0)


@pytest.mark.parametrize("rule", ["gd", "dfa"])
def test_response_average_uses_every_jacobian_sample(rule):
    """n_jac below the chunk size (7 < 25) or not a multiple of it (30) averages exactly n_jac samples:
    no zero-sample NaN, no silent truncation to a multiple of 25 (chunking is only a memory layout)."""
    from learning_rules.deep_site import _drive, _tile, deep_layer_site

    P, T1, S = 3, 3, 40
    n = P * T1
    X, _ = make_dataset(1, P, 5)
    Kx = X @ X.T / X.shape[1]
    ku, kr, kf, kd = jax.random.split(jax.random.PRNGKey(0), 4)
    eps_u, eps_r = jax.random.normal(ku, (S, n)), jax.random.normal(kr, (S, n))
    fb = jax.random.normal(kf, (S,))
    dflat = jax.random.normal(kd, (n,))
    Phi, ones = _tile(Kx, T1), jnp.ones((n, n))
    Mphi, Nz = _drive(Phi, dflat, 0.3, T1), _drive(ones, dflat, 0.3, T1)
    args = (eps_u, eps_r, fb, Phi, ones, 0.5 * Mphi, Mphi, Nz, dflat, rule, "tanh", P, rule == "gd", True)

    def resp(n_jac, chunk):
        out = deep_layer_site(*args, n_jac, chunk=chunk)
        return {k: np.asarray(out[k]) for k in ("A", "B_prev") if k in out}

    for n_jac in (7, 30):
        got, ref = resp(n_jac, 25), resp(n_jac, 1)  # chunk 1: a plain per-sample average
        for k in ref:
            assert np.all(np.isfinite(got[k])) and np.abs(ref[k]).max() > 1e-3
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-12)
    # the 5 samples past the first 25 do count
    assert np.abs(resp(30, 25)["B_prev"] - resp(25, 25)["B_prev"]).max() > 1e-6
