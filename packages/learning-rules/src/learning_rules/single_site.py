"""DMFT of one hidden layer (every rule): the single-site problem needs no response functions.

Bordelon & Pehlevan (ICLR 2023), Sec. 3, Eq. 5 at L = 1 (there is no N x N weight matrix).
In the width -> infinity limit each hidden neuron is an independent draw of the sources

    h(0) ~ N(0, K_x) over the P inputs,  w(0) ~ N(0, 1),  b' ~ N(0, 1) (FA/DFA feedback),
    gates s_mu = Theta(m . x_mu), m ~ N(0, I_D) (GLN),

and, given the error trajectory Delta(t), evolves by the (discrete-time, strictly causal) single-site
equations of the rule's pseudo-gradient gt (``rule_table.pseudo_gradient``):

    h_mu(t+1) = h_mu(t) + (eta gamma0 / P) sum_a K_x(mu, a) Delta_a(t) gt_a(t)
    w(t+1)    = w(t)    + (eta gamma0 / P) sum_a Delta_a(t) phi(h_a(t))
    g = phi'(h) w (true gradient);  GD/GLN gt = g;  FA gt = phi'(h) b, b = rho w(0) + sqrt(1-rho^2) b';
    DFA gt = phi'(h) b';  Hebb gt = Delta(t) phi(h)   (paper Eq. 3 / Table 1)

The kernels are single-site averages, Phi(t) = <phi(h(t)) phi(h(t))^T>, Gt(t) = <g(t) gt(t)^T> and
K_eff(t) = Gt(t) * K_x + Phi(t) (not symmetric), and the function obeys either

    "keff":   Delta(t+1) = Delta(t) - (eta / P) K_eff(t) Delta(t)   (Euler step of df/dt = (eta/P) K_eff Delta)
    "direct": Delta(t) = y - <w(t) phi(h(t)) - w(0) phi(h(0))> / gamma0   (the discrete-time map itself).

"keff" is the default: the "direct" map is an open-loop drive whose fixed-point iteration can blow up
(GD with damping 0.8 diverges on a linear net), while the K_eff Euler iteration converges in ~10 steps.

Solver (the alternating fixed point of the 2022 DMFT paper): start from the lazy Delta(t), then repeat
{solve the single-site equations for S sampled sources, re-estimate the kernels and Delta, damped update
Delta <- beta Delta_new + (1 - beta) Delta} until max |Delta_new - Delta| < tol.

Linear networks (phi(h) = h): every single-site variable is a linear function of the Gaussian sources,
so the averages of products are exact when the "samples" are the columns of a square root of the source
covariance (weights 1). ``mode="exact"`` does that: the closed-form DMFT, no sampling.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from learning_rules.kernels import activation, activation_derivative, lazy_delta, lazy_entk, lazy_kernels, new_delta
from learning_rules.rule_table import get_rule, pseudo_gradient

if TYPE_CHECKING:
    from learning_rules.dmft import DMFTConfig

__all__ = ["sample_sources", "single_site", "dmft_iterate", "solve_shallow"]


def sample_sources(key: jax.Array, X: jnp.ndarray, cfg: DMFTConfig) -> dict:
    """Single-site sources (h0, w0, b', gates) and averaging weights; see the module docstring."""
    P, D = X.shape
    Kx = X @ X.T / D
    lam, V = jnp.linalg.eigh(Kx)
    root = V * jnp.sqrt(jnp.clip(lam, 0.0))  # Kx = root root^T (negative eigenvalues clipped)
    dtype = X.dtype
    if cfg.mode == "exact":
        S = P + 2
        h0 = jnp.concatenate([root.T, jnp.zeros((2, P), dtype)], axis=0)
        w0 = jnp.zeros(S, dtype).at[P].set(1.0)
        bp = jnp.zeros(S, dtype).at[P + 1].set(1.0)
        return {"h0": h0, "w0": w0, "bp": bp, "gates": jnp.ones((S, P), dtype), "weight": jnp.ones(S, dtype)}
    S = cfg.n_samples
    kh, kw, kb, km = jax.random.split(key, 4)
    h0 = jax.random.normal(kh, (S, P), dtype) @ root.T
    m = jax.random.normal(km, (S, D), dtype)
    return {
        "h0": h0,
        "w0": jax.random.normal(kw, (S,), dtype),
        "bp": jax.random.normal(kb, (S,), dtype),
        "gates": (m @ X.T > 0).astype(dtype),
        "weight": jnp.full((S,), 1.0 / S, dtype),
    }


@partial(jax.jit, static_argnames=("rule", "act", "fields"))
def single_site(
    src: dict,
    Kx: jnp.ndarray,
    delta: jnp.ndarray,
    rule: str,
    act: str,
    gamma0: float,
    rho: float,
    eta: float,
    fields: bool = False,
) -> dict:
    """Run the single-site equations driven by ``delta`` (T+1, P); kernels and f - f0 at t = 0..T.

    Compiled once per (rule, activation): gamma0, rho and eta are traced, so one compiled map serves
    every richness, feedback correlation and step size. ``fields=True`` also returns every site's
    trajectory, ``h`` (T+1, S, P) and ``w`` (T+1, S)."""
    entry = get_rule(rule)
    P = Kx.shape[0]
    c = eta * gamma0 / P
    wt = src["weight"]
    b = rho * src["w0"] + jnp.sqrt(1.0 - rho**2) * src["bp"]  # FA: zt = b; DFA: d = b'
    phi_fn, dphi_fn = activation(act), activation_derivative(act)

    def site_fields(h, w, d):
        if entry.gated:
            phi, dphi = src["gates"] * h, src["gates"]
        else:
            phi, dphi = phi_fn(h), dphi_fn(h)
        g = dphi * w[:, None]
        gt = pseudo_gradient(entry, g=g, dphi=dphi, phi=phi, zt=b[:, None], d=src["bp"][:, None], delta=d[None, :])
        return phi, g, gt

    phi0, _, _ = site_fields(src["h0"], src["w0"], delta[0])
    wphi0 = src["w0"][:, None] * phi0

    def measure(h, w, d):
        phi, g, gt = site_fields(h, w, d)
        Phi = (phi * wt[:, None]).T @ phi
        Gt = (g * wt[:, None]).T @ gt
        f = wt @ (w[:, None] * phi - wphi0) / gamma0
        out = {"Phi": Phi, "Gt": Gt, "K": Gt * Kx + Phi, "f": f}
        return phi, gt, out | ({"h": h, "w": w} if fields else {})

    def step(state, d):
        h, w = state
        phi, gt, out = measure(h, w, d)
        h = h + c * (gt * d[None, :]) @ Kx
        w = w + c * phi @ d
        return (h, w), out

    (h, w), outs = jax.lax.scan(step, (src["h0"], src["w0"]), delta[:-1])
    _, _, last = measure(h, w, delta[-1])
    return jax.tree_util.tree_map(lambda a, b_: jnp.concatenate([a, b_[None]], axis=0), outs, last)


def _site(src: dict, X: jnp.ndarray, delta: jnp.ndarray, cfg: DMFTConfig) -> dict:
    Kx = X @ X.T / X.shape[1]
    return single_site(src, Kx, delta, cfg.rule, cfg.activation, cfg.gamma0, cfg.rho, cfg.eta)


def dmft_iterate(
    src: dict, X: jnp.ndarray, y: jnp.ndarray, delta: jnp.ndarray, cfg: DMFTConfig, damping: float | None = None
) -> tuple[jnp.ndarray, dict, float]:
    """One fixed-point iteration: (damped new Delta (T+1, P), kernels, max |Delta_new - Delta|)."""
    out = _site(src, X, delta, cfg)
    new = new_delta(out, y, float(cfg.eta), cfg.function_update)
    beta = cfg.damping if damping is None else damping
    change = float(jnp.max(jnp.abs(new - delta)))
    return beta * new + (1.0 - beta) * delta, out, change


def solve_shallow(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, seed: int = 0, log=None) -> dict:
    """Alternating fixed point of the one-hidden-layer single site, started from the lazy Delta(t).

    Returns the fields of ``dmft.DMFTResult``."""
    kern = lazy_kernels(X, 1, cfg.activation, gated=get_rule(cfg.rule).gated)
    K0, _ = lazy_entk(kern, cfg.rule, cfg.rho)
    delta = lazy_delta(K0, y, cfg.eta, cfg.steps)
    src = sample_sources(jax.random.PRNGKey(seed), X, cfg)
    changes: list[float] = []
    for it in range(cfg.n_iter):
        delta, _, change = dmft_iterate(src, X, y, delta, cfg)
        changes.append(change)
        if log is not None:
            log(it, change)
        if change < cfg.tol:
            break
    out = _site(src, X, delta, cfg)  # kernels consistent with the final Delta
    return {
        "delta": np.asarray(delta),
        "K": np.asarray(out["K"]),
        "Phi": np.asarray(out["Phi"]),
        "Gt": np.asarray(out["Gt"]),
        "changes": changes,
        "converged": bool(changes[-1] < cfg.tol),
    }
