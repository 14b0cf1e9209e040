"""Deep (L >= 2) DMFT: the alternating fixed point over layers with two-time order parameters and responses.

Bordelon & Pehlevan (ICLR 2023), Eq. 4-6. Each sweep solves every layer's single site (``deep_site.py``)
given the others' order parameters (a Jacobi sweep), then updates Delta(t); damping acts on Delta and on
every order parameter. The sources are standard-normal noise fixed across iterations, so the fixed point is
a fixed point of a deterministic map.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from learning_rules.deep_site import _drive, _equal_time, _tile, deep_layer_site, linear_layer_closed_form
from learning_rules.kernels import lazy_delta, lazy_entk, lazy_kernels, new_delta
from learning_rules.rule_table import get_rule

if TYPE_CHECKING:
    from learning_rules.dmft import DMFTConfig

__all__ = ["deep_sources", "deep_initial_state", "deep_dmft_iterate", "solve_deep"]


def _deep_iterate(state: dict, src: dict, y: jnp.ndarray, Kx: jnp.ndarray, cfg: DMFTConfig) -> dict:
    """One Jacobi sweep over the layers: new order parameters and the new Delta (undamped)."""
    static = dict(
        depth=cfg.depth,
        rule=cfg.rule,
        act=cfg.activation,
        exact=cfg.mode == "exact",
        eta=float(cfg.eta),
        gamma0=float(cfg.gamma0),
        rho=float(cfg.rho),
        n_jac=min(cfg.n_jac, cfg.n_samples),
        update=cfg.function_update,
        responses=cfg.responses,
    )
    return _deep_sweep(state, src, y, Kx, **static)


@partial(jax.jit, static_argnames=("depth", "rule", "act", "exact", "n_jac", "update", "responses"))
def _deep_sweep(
    state: dict,
    src: dict | None,
    y: jnp.ndarray,
    Kx: jnp.ndarray,
    depth: int,
    rule: str,
    act: str,
    exact: bool,
    eta: float,
    gamma0: float,
    rho: float,
    n_jac: int,
    update: str,
    responses: bool = True,
) -> dict:
    """The sweep itself (compiled once per rule, activation, depth and shape; eta, gamma0, rho are traced).

    ``responses=False`` is the ablation of the paper's response functions: A, B (FA: C, D) stay zero."""
    L, P = depth, y.shape[0]
    T1 = state["delta"].shape[0]
    n = T1 * P
    c = eta * gamma0 / P
    delta = state["delta"]
    dflat = delta.reshape(-1)
    ones, zeros = jnp.ones((n, n), Kx.dtype), jnp.zeros((n, n), Kx.dtype)
    Phi_all = [_tile(Kx, T1)] + list(state["Phi"])
    G_all = list(state["G"]) + [ones]  # G_1..G_{L+1}
    Gt_all = list(state["Gt"]) + [ones]
    A_all = [zeros] + list(state["A"])  # gamma0 A_0..A_{L-1}
    B_all = list(state["B"]) + [zeros]  # gamma0 B_1..B_L
    new = {"Phi": [], "G": [], "Gt": [], "A": [], "B": [None] * (L - 1), "stein": []}
    entry = get_rule(rule)
    is_fa = entry.uses_rho
    if is_fa:  # rho-FA: <gt gt^T> and the responses C_1..C_{L-1}, D_1..D_{L-1}
        Gtt_all = list(state["Gtt"]) + [ones]
        C_all = [zeros] + list(state["C"])
        D_all = list(state["D"]) + [zeros]
        new |= {"Gtt": [], "C": [], "D": [None] * (L - 1)}
    zphi = None
    for l in range(1, L + 1):
        Mphi = _drive(Phi_all[l - 1], dflat, c, T1)
        Nz = B_all[l - 1] + _drive(Gt_all[l], dflat, c, T1)
        need_A = responses and l < L and entry.pseudo in ("backprop", "feedback")  # A (or FA's C) is non-zero
        need_B = responses and l >= 2
        fa = None
        if is_fa:
            Mphi = Mphi + rho * C_all[l - 1]
            fa = {"eps_t": src["eps_t"][l - 1], "Grt": rho * Gt_all[l], "Gtt": Gtt_all[l], "Nt": rho * D_all[l - 1]}
        if exact:
            out = linear_layer_closed_form(Phi_all[l - 1], G_all[l], A_all[l - 1], Mphi, Nz)
        else:
            args = (src["eps_u"][l - 1], src["eps_r"][l - 1], src["fb"][l - 1])
            out = deep_layer_site(
                *args,
                Phi_all[l - 1],
                G_all[l],
                A_all[l - 1],
                Mphi,
                Nz,
                dflat,
                rule,
                act,
                P,
                need_A,
                need_B,
                n_jac,
                fa=fa,
                gates=src["gates"][l - 1] if entry.gated else None,
            )
        new["Phi"].append(out["Phi"])
        new["G"].append(out["G"])
        new["Gt"].append(out["Gt"])
        if l < L:
            new["A"].append(out["A"] if need_A and not is_fa else zeros)
        if l >= 2:
            new["B"][l - 2] = out["B_prev"] if need_B else zeros
        if not exact:
            new["stein"].append(out["stein"])
        if is_fa:
            new["Gtt"].append(out["Gtt"])
            if l < L:
                new["C"].append(out["A"] if need_A else zeros)
            if l >= 2:
                new["D"][l - 2] = out["D_prev"] if need_B else zeros
        zphi = out["zphi"].reshape(T1, P)
    # K_eff(t) = sum_{l=0..L} Gt_{l+1}(t,t) * Phi_l(t,t)   (Eq. 4)
    Phis = [_equal_time(Phi_all[0], T1)] + [_equal_time(p, T1) for p in new["Phi"]]
    Gts = [_equal_time(g, T1) for g in new["Gt"]] + [jnp.ones((T1, P, P), Kx.dtype)]
    K = sum(g * p for g, p in zip(Gts, Phis))
    f = (zphi - zphi[0]) / gamma0  # f(t) - f(0) = <w(t) phi(h_L(t))> / gamma0, minus its t = 0 value
    new["delta"] = new_delta({"K": K, "f": f}, y, eta, update)
    new["K"] = K
    return new


def deep_initial_state(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig) -> dict:
    """Lazy start: kernels frozen at their t = 0 values (tiled over time), zero responses, lazy Delta(t)."""
    L, T1 = cfg.depth, cfg.steps + 1
    entry = get_rule(cfg.rule)
    kern = lazy_kernels(X, L, cfg.activation, gated=entry.gated)
    K0, _ = lazy_entk(kern, cfg.rule, cfg.rho)
    zeros = jnp.zeros((T1 * X.shape[0],) * 2, X.dtype)
    gt = [kern.G[l] * entry.lazy_weight(cfg.rho, L, l - 1) for l in range(1, L + 1)]  # lazy Gt_l
    state = {
        "delta": lazy_delta(K0, y, cfg.eta, cfg.steps),
        "Phi": [_tile(kern.Phi[l], T1) for l in range(1, L + 1)],
        "G": [_tile(kern.G[l], T1) for l in range(1, L + 1)],
        "Gt": [_tile(g, T1) for g in gt],
        "A": [zeros] * (L - 1),
        "B": [zeros] * (L - 1),
    }
    if entry.uses_rho:  # lazy <gt gt^T> = G (the feedback has the statistics of W(0)^T), no responses yet
        state |= {"Gtt": list(state["G"]), "C": [zeros] * (L - 1), "D": [zeros] * (L - 1)}
    return state


def deep_sources(key: jax.Array, n: int, cfg: DMFTConfig, dtype, X: jnp.ndarray | None = None) -> dict:
    """Standard-normal noise for every layer's u, r (and FA's rt) sources and DFA feedback, fixed across iterations."""
    S, L = cfg.n_samples, cfg.depth
    ku, kr, kf, kt = jax.random.split(key, 4)
    src = {
        "eps_u": list(jax.random.normal(ku, (L, S, n), dtype)),
        "eps_r": list(jax.random.normal(kr, (L, S, n), dtype)),
        "fb": list(jax.random.normal(kf, (L, S), dtype)),
    }
    entry = get_rule(cfg.rule)
    if entry.uses_rho:  # the feedback source rt, correlated with r
        src["eps_t"] = list(jax.random.normal(kt, (L, S, n), dtype))
    if entry.gated:  # per-site, per-layer gates Theta(m . x), m ~ N(0, I_D)
        m = jax.random.normal(kt, (L, S, X.shape[1]), dtype)
        src["gates"] = list((m @ X.T > 0).astype(dtype))
    return src


def deep_dmft_iterate(
    state: dict, src: dict, X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, damping: float | None = None
) -> tuple[dict, float]:
    """One damped fixed-point iteration of the deep DMFT: (new state, max change of Delta and the kernels)."""
    Kx = X @ X.T / X.shape[1]
    new = _deep_iterate(state, src, y, Kx, cfg)
    K, stein = new.pop("K"), new.pop("stein", None)
    beta = cfg.damping if damping is None else damping
    change = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state)))
    damped = jax.tree.map(lambda a, b: beta * a + (1.0 - beta) * b, new, state)
    damped["K"] = K
    if stein is not None:
        damped["stein"] = stein  # per-layer sample moments for the Stein checks of the responses (not state)
    return damped, change


def solve_deep(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, seed: int = 0, log=None) -> dict:
    """Alternating fixed point of the deep DMFT from the lazy start; returns the fields of ``dmft.DMFTResult``."""
    T1, P = cfg.steps + 1, X.shape[0]
    state = deep_initial_state(X, y, cfg)
    src = None if cfg.mode == "exact" else deep_sources(jax.random.PRNGKey(seed), T1 * P, cfg, X.dtype, X)
    changes: list[float] = []
    for it in range(cfg.n_iter):
        state, change = deep_dmft_iterate(state, src, X, y, cfg)
        state.pop("K")
        state.pop("stein", None)
        changes.append(change)
        if log is not None:
            log(it, change)
        if change < cfg.tol:
            break
    final = _deep_iterate(state, src, y, X @ X.T / X.shape[1], cfg)  # kernels consistent with the final state
    return dict(
        delta=np.asarray(state["delta"]),
        K=np.asarray(final["K"]),
        Phi=np.asarray(_equal_time(state["Phi"][-1], T1)),
        Gt=np.asarray(_equal_time(state["Gt"][0], T1)),
        changes=changes,
        converged=bool(changes[-1] < cfg.tol),
        state={k: v for k, v in state.items()},
    )
