"""Dynamical mean field theory (DMFT) of the rich regime for one-hidden-layer networks, every learning rule.

Bordelon & Pehlevan (ICLR 2023), Sec. 4 / App. (DMFT of learning rules), specialised to L = 1 hidden
layer, where the single-site problem needs no response functions (there is no N x N weight matrix).
In the width -> infinity limit each hidden neuron is an independent draw of the sources

    h(0) ~ N(0, K_x) over the P inputs,  w(0) ~ N(0, 1),  b' ~ N(0, 1) (FA/DFA feedback),
    gates s_mu = Theta(m . x_mu), m ~ N(0, I_D) (GLN),

and, given the error trajectory Delta(t), evolves by the (discrete-time, strictly causal) single-site
equations of the rule's pseudo-gradient gt (``rules.py``):

    h_mu(t+1) = h_mu(t) + (eta gamma0 / P) sum_a K_x(mu, a) Delta_a(t) gt_a(t)
    w(t+1)    = w(t)    + (eta gamma0 / P) sum_a Delta_a(t) phi(h_a(t))
    g = phi'(h) w (true gradient);  GD/GLN gt = g;  FA gt = phi'(h) b, b = rho w(0) + sqrt(1-rho^2) b';
    DFA gt = phi'(h) b';  Hebb gt = phi(h)

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

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from learning_rules.kernels import (
    RULES,
    activation,
    activation_derivative,
    check_psd,
    lazy_delta,
    lazy_entk,
    lazy_kernels,
)
from orals23_shared.cli import UsageError

__all__ = ["DMFTConfig", "DMFTResult", "sample_sources", "single_site", "dmft_iterate", "solve_dmft"]


@dataclass
class DMFTConfig:
    """Rich-regime DMFT of a one-hidden-layer network trained with ``rule``."""

    rule: Literal["gd", "fa", "dfa", "hebb", "gln"] = field(default="gd", metadata={"help": "learning rule"})
    activation: Literal["relu", "erf", "tanh", "linear"] = field(default="tanh", metadata={"help": "nonlinearity phi"})
    gamma0: float = field(default=1.0, metadata={"help": "richness gamma0"})
    rho: float = field(default=0.0, metadata={"help": "FA feedback correlation in [0, 1]"})
    eta: float = field(default=0.1, metadata={"help": "learning rate (Euler step)"})
    steps: int = field(default=100, metadata={"help": "time steps T"})
    n_samples: int = field(default=20000, metadata={"help": "Monte-Carlo samples S of the single-site sources"})
    n_iter: int = field(default=200, metadata={"help": "maximum fixed-point iterations"})
    damping: float = field(default=0.8, metadata={"help": "damping beta of the fixed-point update"})
    tol: float = field(default=1e-7, metadata={"help": "stop when max |Delta_new - Delta| < tol"})
    function_update: Literal["keff", "direct"] = field(
        default="keff", metadata={"help": "Delta from the discrete map itself or from Euler steps with K_eff"}
    )
    mode: Literal["sample", "exact"] = field(
        default="sample", metadata={"help": "Monte-Carlo sources, or exact square-root sources (linear nets only)"}
    )

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise UsageError(f"unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")
        activation(self.activation)
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")
        for name in ("steps", "n_samples", "n_iter"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 < self.damping <= 1.0:
            raise UsageError(f"damping must lie in (0, 1], got {self.damping}")
        if not self.gamma0 > 0 or not self.eta > 0:
            raise UsageError("gamma0 and eta must be positive")
        if self.mode == "exact" and (self.activation != "linear" or self.rule == "gln"):
            raise UsageError("mode 'exact' needs a linear network (activation 'linear', rule other than 'gln')")


@dataclass
class DMFTResult:
    """Solution on t = 0..T: ``delta`` (T+1, P), ``K`` K_eff(t), ``Phi`` feature kernel, ``Gt`` cross gradient kernel."""

    delta: np.ndarray
    K: np.ndarray
    Phi: np.ndarray
    Gt: np.ndarray
    changes: list[float]
    converged: bool

    @property
    def loss(self) -> np.ndarray:
        return 0.5 * np.mean(self.delta**2, axis=1)


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


@partial(jax.jit, static_argnames=("rule", "act", "gamma0", "rho", "eta"))
def single_site(
    src: dict, Kx: jnp.ndarray, delta: jnp.ndarray, rule: str, act: str, gamma0: float, rho: float, eta: float
) -> dict:
    """Run the single-site equations driven by ``delta`` (T, P); kernels and f - f0 at t = 0..T."""
    P = Kx.shape[0]
    c = eta * gamma0 / P
    wt = src["weight"]
    b = rho * src["w0"] + jnp.sqrt(1.0 - rho**2) * src["bp"]
    phi_fn, dphi_fn = activation(act), activation_derivative(act)

    def fields(h, w):
        if rule == "gln":
            phi, dphi = src["gates"] * h, src["gates"]
        else:
            phi, dphi = phi_fn(h), dphi_fn(h)
        g = dphi * w[:, None]
        if rule in ("gd", "gln"):
            gt = g
        elif rule == "fa":
            gt = dphi * b[:, None]
        elif rule == "dfa":
            gt = dphi * src["bp"][:, None]
        else:  # hebb
            gt = phi
        return phi, g, gt

    phi0, _, _ = fields(src["h0"], src["w0"])
    wphi0 = src["w0"][:, None] * phi0

    def measure(h, w):
        phi, g, gt = fields(h, w)
        Phi = (phi * wt[:, None]).T @ phi
        Gt = (g * wt[:, None]).T @ gt
        f = wt @ (w[:, None] * phi - wphi0) / gamma0
        return phi, gt, {"Phi": Phi, "Gt": Gt, "K": Gt * Kx + Phi, "f": f}

    def step(state, d):
        h, w = state
        phi, gt, out = measure(h, w)
        h = h + c * (gt * d[None, :]) @ Kx
        w = w + c * phi @ d
        return (h, w), out

    (h, w), outs = jax.lax.scan(step, (src["h0"], src["w0"]), delta)
    _, _, last = measure(h, w)
    return jax.tree_util.tree_map(lambda a, b_: jnp.concatenate([a, b_[None]], axis=0), outs, last)


@partial(jax.jit, static_argnames=("eta", "update"))
def _new_delta(out: dict, y: jnp.ndarray, eta: float, update: str) -> jnp.ndarray:
    if update == "direct":
        return y[None, :] - out["f"]
    P = y.shape[0]

    def step(d, K):
        return d - eta / P * K @ d, d

    last, traj = jax.lax.scan(step, y, out["K"][:-1])
    return jnp.concatenate([traj, last[None]], axis=0)


def dmft_iterate(
    src: dict, X: jnp.ndarray, y: jnp.ndarray, delta: jnp.ndarray, cfg: DMFTConfig, damping: float | None = None
) -> tuple[jnp.ndarray, dict, float]:
    """One fixed-point iteration: (damped new Delta (T+1, P), kernels, max |Delta_new - Delta|)."""
    Kx = X @ X.T / X.shape[1]
    out = single_site(src, Kx, delta[:-1], cfg.rule, cfg.activation, float(cfg.gamma0), float(cfg.rho), float(cfg.eta))
    new = _new_delta(out, y, float(cfg.eta), cfg.function_update)
    beta = cfg.damping if damping is None else damping
    change = float(jnp.max(jnp.abs(new - delta)))
    return beta * new + (1.0 - beta) * delta, out, change


def solve_dmft(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, seed: int = 0, log=None) -> DMFTResult:
    """Alternating fixed point of the single-site equations, started from the lazy (frozen-kernel) Delta(t)."""
    X = jnp.asarray(X)
    y = jnp.asarray(y, X.dtype)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise UsageError(f"expected X of shape (P, D) and y of shape (P,), got {X.shape} and {y.shape}")
    check_psd(X @ X.T / X.shape[1], "input kernel K_x")
    kern = lazy_kernels(X, 1, cfg.activation, gated=cfg.rule == "gln")
    K0, _ = lazy_entk(kern, cfg.rule, cfg.rho)
    delta = lazy_delta(K0, y, cfg.eta, cfg.steps)
    src = sample_sources(jax.random.PRNGKey(seed), X, cfg)
    changes: list[float] = []
    out = None
    for it in range(cfg.n_iter):
        delta, out, change = dmft_iterate(src, X, y, delta, cfg)
        changes.append(change)
        if log is not None:
            log(it, change)
        if change < cfg.tol:
            break
    # kernels consistent with the final Delta
    Kx = X @ X.T / X.shape[1]
    out = single_site(src, Kx, delta[:-1], cfg.rule, cfg.activation, float(cfg.gamma0), float(cfg.rho), float(cfg.eta))
    return DMFTResult(
        delta=np.asarray(delta),
        K=np.asarray(out["K"]),
        Phi=np.asarray(out["Phi"]),
        Gt=np.asarray(out["Gt"]),
        changes=changes,
        converged=bool(changes[-1] < cfg.tol),
    )
