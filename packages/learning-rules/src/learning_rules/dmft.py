"""Dynamical mean field theory (DMFT) of the rich regime: one hidden layer (every rule) and deep networks.

Bordelon & Pehlevan (ICLR 2023), Sec. 3, Eq. 5 (DMFT of learning rules). The deep (L >= 2) solver with
two-time sources and response functions (GD, rho-FA, DFA, Hebb) and the deep-linear closed form are at the end of
this module. First the special case L = 1 hidden layer, where the single-site problem needs no response
functions (there is no N x N weight matrix).
In the width -> infinity limit each hidden neuron is an independent draw of the sources

    h(0) ~ N(0, K_x) over the P inputs,  w(0) ~ N(0, 1),  b' ~ N(0, 1) (FA/DFA feedback),
    gates s_mu = Theta(m . x_mu), m ~ N(0, I_D) (GLN),

and, given the error trajectory Delta(t), evolves by the (discrete-time, strictly causal) single-site
equations of the rule's pseudo-gradient gt (``rules.py``):

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

__all__ = [
    "DMFTConfig",
    "DMFTResult",
    "sample_sources",
    "single_site",
    "dmft_iterate",
    "solve_dmft",
    "deep_layer_site",
    "linear_layer_closed_form",
    "deep_dmft_iterate",
]


@dataclass
class DMFTConfig:
    """Rich-regime DMFT of a network with ``depth`` hidden layers trained with ``rule``."""

    depth: int = field(
        default=1, metadata={"help": "hidden layers L (L >= 2: gd/fa/dfa/hebb with tanh/erf/linear, or gln)"}
    )

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
        default="sample", metadata={"help": "Monte-Carlo sources, or the sampling-free closed form (linear nets only)"}
    )
    n_jac: int = field(default=1000, metadata={"help": "samples averaged for the response functions (L >= 2)"})

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise UsageError(f"unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")
        activation(self.activation)
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")
        for name in ("depth", "steps", "n_samples", "n_iter", "n_jac"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 < self.damping <= 1.0:
            raise UsageError(f"damping must lie in (0, 1], got {self.damping}")
        if not self.gamma0 > 0 or not self.eta > 0:
            raise UsageError("gamma0 and eta must be positive")
        if self.mode == "exact" and (self.activation != "linear" or self.rule == "gln"):
            raise UsageError("mode 'exact' needs a linear network (activation 'linear', rule other than 'gln')")
        if self.depth >= 2:
            # every rule has a deep solver; GLN ignores the activation, the others need a smooth phi (phi'')
            if self.activation not in DEEP_ACTIVATIONS and self.rule != "gln":
                raise UsageError(
                    f"the deep (depth >= 2) DMFT covers activations {', '.join(DEEP_ACTIVATIONS)} "
                    f"(rule {self.rule!r}); got activation {self.activation!r}"
                )
            if self.mode == "exact" and self.rule != "gd":
                raise UsageError("the deep closed-form (mode 'exact') DMFT covers the GD rule only")


@dataclass
class DMFTResult:
    """Solution on t = 0..T: ``delta`` (T+1, P), ``K`` K_eff(t), ``Phi`` feature kernel, ``Gt`` cross gradient kernel."""

    delta: np.ndarray
    K: np.ndarray
    Phi: np.ndarray
    Gt: np.ndarray
    changes: list[float]
    converged: bool
    state: dict | None = None  # deep DMFT: the two-time order parameters (n x n, n = (T+1) P) per layer

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


@partial(jax.jit, static_argnames=("rule", "act", "gamma0", "rho", "eta", "fields"))
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

    ``fields=True`` also returns every site's trajectory, ``h`` (T+1, S, P) and ``w`` (T+1, S)."""
    P = Kx.shape[0]
    c = eta * gamma0 / P
    wt = src["weight"]
    b = rho * src["w0"] + jnp.sqrt(1.0 - rho**2) * src["bp"]
    phi_fn, dphi_fn = activation(act), activation_derivative(act)

    def site_fields(h, w, d):
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
            gt = d[None, :] * phi
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


@partial(jax.jit, static_argnames=("update",))
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
    out = single_site(src, Kx, delta, cfg.rule, cfg.activation, float(cfg.gamma0), float(cfg.rho), float(cfg.eta))
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
    if cfg.depth >= 2:
        return _solve_deep(X, y, cfg, seed, log)
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
    out = single_site(src, Kx, delta, cfg.rule, cfg.activation, float(cfg.gamma0), float(cfg.rho), float(cfg.eta))
    return DMFTResult(
        delta=np.asarray(delta),
        K=np.asarray(out["K"]),
        Phi=np.asarray(out["Phi"]),
        Gt=np.asarray(out["Gt"]),
        changes=changes,
        converged=bool(changes[-1] < cfg.tol),
    )


# ---------------------------------------------------------------------------------------------------------
# Deep networks (L >= 2 hidden layers): two-time Gaussian sources and response functions (paper Eq. 5)
# ---------------------------------------------------------------------------------------------------------
#
# Times t = 0..T and samples mu are flattened t-major into one index of size n = (T+1) P. Per layer l the
# single-site fields obey the discrete-time (Euler-step) form of Eq. 5, with c = eta gamma0 / P:
#
#   h_l(t) = u_l(t) + sum_{s<t} sum_a [gamma0 A_{l-1}(t,s) g_l(s) + c Delta_a(s) Phi_{l-1}(s,t) gt_l(s)]
#   z_l(t) = r_l(t) + sum_{s<=t} gamma0 B_l(t,s) phi(h_l(s)) + sum_{s<t} sum_a c Delta_a(s) Gt_{l+1}(s,t) phi(h_l(s))
#   g_l = phi'(h_l) z_l (true gradient),  gt_l from the rule (GD: g_l; DFA: phi'(h_l) d_l; Hebb: Delta phi(h_l))
#   u_l ~ GP(0, Phi_{l-1}),  r_l ~ GP(0, G_{l+1}),  Phi_0 = K_x,  G_{L+1} = Gt_{L+1} = 1,  A_0 = B_L = 0,
#
# and the order parameters are single-site averages: Phi_l = <phi phi^T>, G_l = <g g^T>,
# Gt_l(t,s) = <g_l(t) gt_l(s)> (true at the row time, pseudo at the column time), and the responses
# gamma0 A_l = <d phi(h_l) / d r_l> and gamma0 B_{l-1} = <d g_l / d u_l> (stored here with the gamma0
# included). The response matrices are the exact derivatives of the discrete single-site map,
# d h = (I - L_h)^{-1} (d u + L_r d r), averaged over (a subset of) the samples. B_l(t,s) includes s = t:
# g_{l+1}(t) responds to u_{l+1}(t) at the same step. For DFA and Hebb phi(h_l) does not depend on r_l, so
# A = 0 (the paper's "C^l vanishes except for rho-FA", and A^l only for rules that backpropagate through W).
#
# rho-FA backpropagates through the fixed B_l = rho W_l(0)^T + sqrt(1-rho^2) B'_l, so W_l(0) enters a third
# field v_l = W_l(0)^T gt_{l+1} / sqrt(N) (besides u_{l+1} and r_l), and B'_l a fourth one, v'_l:
#
#   zt_l(t) = rho v_l + sqrt(1-rho^2) v'_l = rt_l(t) + sum_{s<=t} rho D_l(t,s) phi(h_l(s))   (no learning drive)
#   h_l(t)  = u_l(t) + sum_{s<t} [rho C_{l-1}(t,s) + c Delta_a(s) Phi_{l-1}(s,t)] gt_l(s),   gt_l = phi'(h_l) zt_l
#   (r_l, rt_l) jointly Gaussian: <r r^T> = G_{l+1}, <r rt^T> = rho Gt_{l+1}, <rt rt^T> = Gtt_{l+1} = <gt gt^T>,
#
# with the responses C_l = <d phi(h_l) / d rt_l> (the paper's C^l; rho C = <d phi / d v>) and
# D_l = <d gt_{l+1} / d u_{l+1}> (v's analogue of B). A = 0 for FA: phi(h_l) does not depend on r_l.
# At the last layer zt_L = b = rho w_L(0) + sqrt(1-rho^2) b'. The feedback is frozen, so rho = 1 FA is not
# GD in the rich regime (it backpropagates through W(0), not W(t)); they agree at gamma0 -> 0.
#
# GLN is GD with phi(h) = s h, where each site draws its gates s_mu = Theta(m . x_mu), m ~ N(0, I_D), fixed in
# time and independent across layers (so phi' = s and phi'' = 0; the activation setting is ignored).

DEEP_ACTIVATIONS = ("tanh", "erf", "linear")


def _second_derivative(name: str):
    """phi'' (needed for the response functions; ReLU's is a Dirac delta, so ReLU is not offered)."""
    return {
        "tanh": lambda h: -2.0 * jnp.tanh(h) * (1.0 - jnp.tanh(h) ** 2),
        "erf": lambda h: -4.0 * h / jnp.sqrt(jnp.pi) * jnp.exp(-(h**2)),
        "linear": lambda h: jnp.zeros_like(h),
    }[name]


def _tile(K: jnp.ndarray, T1: int) -> jnp.ndarray:
    """A time-independent (P, P) kernel as a two-time (n, n) kernel."""
    return jnp.kron(jnp.ones((T1, T1), K.dtype), K)


def _equal_time(M: jnp.ndarray, T1: int) -> jnp.ndarray:
    """(n, n) two-time kernel -> (T+1, P, P) equal-time blocks M(t, t)."""
    P = M.shape[0] // T1
    M4 = M.reshape(T1, P, T1, P)
    idx = jnp.arange(T1)
    return M4[idx, :, idx, :]


def _drive(K: jnp.ndarray, delta_flat: jnp.ndarray, c: float, T1: int) -> jnp.ndarray:
    """Weight-update drive c Delta_a(s) K[(t,mu),(s,a)] for s < t (strictly causal), as an (n, n) matrix."""
    tb = jnp.repeat(jnp.arange(T1), K.shape[0] // T1)
    return c * K * delta_flat[None, :] * (tb[:, None] > tb[None, :])


def _sym_sqrt(C: jnp.ndarray) -> jnp.ndarray:
    """Symmetric square root of a PSD matrix (negative eigenvalues clipped); continuous in C."""
    lam, V = jnp.linalg.eigh(0.5 * (C + C.T))
    return (V * jnp.sqrt(jnp.clip(lam, 0.0))) @ V.T


@partial(jax.jit, static_argnames=("rule", "act", "P", "need_A", "need_B", "n_jac", "chunk"))
def deep_layer_site(
    eps_u: jnp.ndarray,
    eps_r: jnp.ndarray,
    fb: jnp.ndarray,
    Phi_prev: jnp.ndarray,
    G_next: jnp.ndarray,
    A_prev: jnp.ndarray,
    Mphi: jnp.ndarray,
    Nz: jnp.ndarray,
    delta_flat: jnp.ndarray,
    rule: str,
    act: str,
    P: int,
    need_A: bool,
    need_B: bool,
    n_jac: int,
    chunk: int = 25,
    fa: dict | None = None,
    gates: jnp.ndarray | None = None,
) -> dict:
    """Monte-Carlo single site of one hidden layer: new Phi, G, Gt, responses A_l, B_{l-1}, and <z phi> (for f).

    ``Mphi`` is the strictly causal Phi-drive of h, ``Nz`` = gamma0 B_l + the Gt-drive of z (causal),
    ``A_prev`` = gamma0 A_{l-1}; the sources are u = eps_u Phi_prev^(1/2), r = eps_r G_next^(1/2), DFA's d = fb.
    rho-FA (``fa``): noise ``eps_t`` of rt, the cross covariance ``Grt`` = rho Gt_{l+1} and ``Gtt`` = Gtt_{l+1}
    of (r, rt), and ``Nt`` = rho D_l (causal); the caller adds rho C_{l-1} to ``Mphi``. Returns Gtt, C, D too.
    GLN: ``gates`` (S, P) per site, phi(h) = s h.
    """
    S, n = eps_u.shape
    T1 = n // P
    if gates is None:
        act_fns = activation(act), activation_derivative(act), _second_derivative(act)
        sgate = jnp.ones((S, n), eps_u.dtype)
    else:  # GLN: the gate enters as a multiplicative factor s; phi = s h, phi' = s, phi'' = 0
        act_fns = (lambda h: h), jnp.ones_like, jnp.zeros_like
        sgate = jnp.tile(gates, (1, T1))

    def phi_fn(h, sg):
        return sg * act_fns[0](h)

    def dphi_fn(h, sg):
        return sg * act_fns[1](h)

    def d2phi_fn(h, sg):
        return sg * act_fns[2](h)

    u = eps_u @ _sym_sqrt(Phi_prev)
    if fa is None:
        r, rt, Nt = eps_r @ _sym_sqrt(G_next), jnp.zeros_like(u), jnp.zeros_like(Nz)
    else:  # (r, rt) jointly Gaussian
        joint = jnp.block([[G_next, fa["Grt"]], [fa["Grt"].T, fa["Gtt"]]])
        rr = jnp.concatenate([eps_r, fa["eps_t"]], axis=1) @ _sym_sqrt(joint)
        r, rt, Nt = rr[:, :n], rr[:, n:], fa["Nt"]

    def pseudo(h, sg, g, zt, t_slice):
        if rule in ("gd", "gln"):
            return g
        if rule == "fa":
            return dphi_fn(h, sg) * zt
        if rule == "dfa":
            return dphi_fn(h, sg) * fb[:, None]
        return t_slice[None, :] * phi_fn(h, sg)  # hebb: Delta(t) phi(h)

    def step(t, carry):
        H, PH, Z, ZT, G, GT = carry
        A_rows = jax.lax.dynamic_slice(A_prev, (t * P, 0), (P, n))
        M_rows = jax.lax.dynamic_slice(Mphi, (t * P, 0), (P, n))
        N_rows = jax.lax.dynamic_slice(Nz, (t * P, 0), (P, n))
        Nt_rows = jax.lax.dynamic_slice(Nt, (t * P, 0), (P, n))
        sg = jax.lax.dynamic_slice(sgate, (0, t * P), (S, P))
        h = jax.lax.dynamic_slice(u, (0, t * P), (S, P)) + G @ A_rows.T + GT @ M_rows.T
        PH = jax.lax.dynamic_update_slice(PH, phi_fn(h, sg), (0, t * P))
        z = jax.lax.dynamic_slice(r, (0, t * P), (S, P)) + PH @ N_rows.T  # includes s = t
        zt = jax.lax.dynamic_slice(rt, (0, t * P), (S, P)) + PH @ Nt_rows.T  # FA's feedback field
        g = dphi_fn(h, sg) * z
        gt = pseudo(h, sg, g, zt, jax.lax.dynamic_slice(delta_flat, (t * P,), (P,)))
        upd = [(H, h), (Z, z), (ZT, zt), (G, g), (GT, gt)]
        H, Z, ZT, G, GT = (jax.lax.dynamic_update_slice(a, b, (0, t * P)) for a, b in upd)
        return H, PH, Z, ZT, G, GT

    zeros = jnp.zeros_like(u)
    H, PH, Z, ZT, G, GT = jax.lax.fori_loop(0, T1, step, (zeros,) * 6)
    out = {
        "Phi": PH.T @ PH / S,
        "G": G.T @ G / S,
        "Gt": G.T @ GT / S,
        "zphi": jnp.mean(Z * PH, axis=0),
    }
    if rule == "fa":
        out["Gtt"] = GT.T @ GT / S
        # Gaussian integration by parts (Stein) checks of the responses: <phi rt^T> = C Gtt, <gt u^T> = D Phi_prev
        out["stein"] = {"phi_rt": PH.T @ rt / S, "gt_u": GT.T @ u / S}
    else:  # the same checks of A and B: <phi r^T> = gamma0 A G_next, <g u^T> = gamma0 B_{l-1} Phi_prev
        out["stein"] = {"phi_r": PH.T @ r / S, "g_u": G.T @ u / S}
    if not (need_A or need_B):
        return out
    eye = jnp.eye(n, dtype=u.dtype)

    def jac(args):
        h, z, zt, sg, d = args
        D1, D2 = dphi_fn(h, sg), d2phi_fn(h, sg)
        E = jnp.diag(D2 * z) + D1[:, None] * Nz * D1[None, :]  # d g / d h (through z as well)
        Et = jnp.diag(D2 * zt) + D1[:, None] * Nt * D1[None, :]  # FA: d gt / d h
        if rule in ("gd", "gln"):  # h is driven by g = gt through A_prev + Mphi
            Mh = A_prev + Mphi
            Lh, Lr = Mh @ E, Mh * D1[None, :]
        elif rule == "fa":  # h is driven by gt through Mphi (incl. rho C_{l-1}); "A" is C = d phi / d rt
            Lh, Lr = Mphi @ Et, Mphi * D1[None, :]
        elif rule == "dfa":
            Lh, Lr = Mphi * (D2 * d)[None, :], jnp.zeros_like(eye)
        else:
            Lh, Lr = Mphi * (delta_flat * D1)[None, :], jnp.zeros_like(eye)
        I_L = eye - Lh  # unit lower triangular: the drive is strictly causal
        res = {}
        if need_A:
            sol = jax.scipy.linalg.solve_triangular(I_L, Lr, lower=True, unit_diagonal=True)
            res["A"] = D1[:, None] * sol
        if need_B:
            res["B"] = jax.scipy.linalg.solve_triangular(I_L.T, E.T, lower=False, unit_diagonal=True).T
            if rule == "fa":
                res["D"] = jax.scipy.linalg.solve_triangular(I_L.T, Et.T, lower=False, unit_diagonal=True).T
        return res

    def chunk_sum(args):
        return jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), jax.vmap(jac)(args))

    # average over the first m = min(n_jac, S) samples: full chunks of k under lax.map, then the remainder
    # (every one of the m samples counts; an n_jac that is not a multiple of the chunk is not truncated)
    m = min(n_jac, S)
    k = min(chunk, m)
    full = (m // k) * k
    mats = (H, Z, ZT, sgate)
    args = tuple(a[:full].reshape(-1, k, n) for a in mats) + (fb[:full].reshape(-1, k),)
    total = jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), jax.lax.map(chunk_sum, args))
    if full < m:
        rest = chunk_sum(tuple(a[full:m] for a in mats) + (fb[full:m],))
        total = jax.tree_util.tree_map(jnp.add, total, rest)
    resp = jax.tree_util.tree_map(lambda a: a / m, total)
    if need_A:
        out["A"] = resp["A"]
    if need_B:
        out["B_prev"] = resp["B"]
        if rule == "fa":
            out["D_prev"] = resp["D"]
    return out


def linear_layer_closed_form(
    Phi_prev: jnp.ndarray, G_next: jnp.ndarray, A_prev: jnp.ndarray, Mphi: jnp.ndarray, Nz: jnp.ndarray
) -> dict:
    """Closed-form single site of a linear GD layer (no sampling; Sec. 3.3 / App. E).

    With C = gamma0 A_{l-1} + Mphi and D = Nz, h = Q (u + C r) and z = r + D h, Q = (I - C D)^{-1}:
        Phi_l = Q Phi_{l-1} Q^T + A_l G_{l+1} A_l^T,   gamma0 A_l = Q C,
        G_l = (I + B_{l-1} C) G_{l+1} (I + B_{l-1} C)^T + B_{l-1} Phi_{l-1} B_{l-1}^T,   gamma0 B_{l-1} = D Q.
    """
    n = Phi_prev.shape[0]
    eye = jnp.eye(n, dtype=Phi_prev.dtype)
    C, D = A_prev + Mphi, Nz
    Q = jax.scipy.linalg.solve_triangular(eye - C @ D, eye, lower=True, unit_diagonal=True)
    A = Q @ C
    B = D @ Q
    Phi = Q @ Phi_prev @ Q.T + A @ G_next @ A.T
    R = eye + B @ C
    G = R @ G_next @ R.T + B @ Phi_prev @ B.T
    zh = G_next @ A.T + D @ Phi  # <z h^T> = <r h^T> + D <h h^T>
    return {"Phi": Phi, "G": G, "Gt": G, "A": A, "B_prev": B, "zphi": jnp.diag(zh)}


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
    )
    return _deep_sweep(state, src, y, Kx, **static)


@partial(jax.jit, static_argnames=("depth", "rule", "act", "exact", "rho", "n_jac", "update"))
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
) -> dict:
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
    is_fa = rule == "fa"
    if is_fa:  # rho-FA: <gt gt^T> and the responses C_1..C_{L-1}, D_1..D_{L-1}
        Gtt_all = list(state["Gtt"]) + [ones]
        C_all = [zeros] + list(state["C"])
        D_all = list(state["D"]) + [zeros]
        new |= {"Gtt": [], "C": [], "D": [None] * (L - 1)}
    zphi = None
    for l in range(1, L + 1):
        Mphi = _drive(Phi_all[l - 1], dflat, c, T1)
        Nz = B_all[l - 1] + _drive(Gt_all[l], dflat, c, T1)
        need_A = l < L and rule in ("gd", "fa", "gln")
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
                l >= 2,
                n_jac,
                fa=fa,
                gates=src["gates"][l - 1] if rule == "gln" else None,
            )
        new["Phi"].append(out["Phi"])
        new["G"].append(out["G"])
        new["Gt"].append(out["Gt"])
        if l < L:
            new["A"].append(out["A"] if need_A and not is_fa else zeros)
        if l >= 2:
            new["B"][l - 2] = out["B_prev"]
        if not exact:
            new["stein"].append(out["stein"])
        if is_fa:
            new["Gtt"].append(out["Gtt"])
            if l < L:
                new["C"].append(out["A"])
            if l >= 2:
                new["D"][l - 2] = out["D_prev"]
        zphi = out["zphi"].reshape(T1, P)
    # K_eff(t) = sum_{l=0..L} Gt_{l+1}(t,t) * Phi_l(t,t)   (Eq. 4)
    Phis = [_equal_time(Phi_all[0], T1)] + [_equal_time(p, T1) for p in new["Phi"]]
    Gts = [_equal_time(g, T1) for g in new["Gt"]] + [jnp.ones((T1, P, P), Kx.dtype)]
    K = sum(g * p for g, p in zip(Gts, Phis))
    f = (zphi - zphi[0]) / gamma0  # f(t) - f(0) = <w(t) phi(h_L(t))> / gamma0, minus its t = 0 value
    new["delta"] = _new_delta({"K": K, "f": f}, y, eta, update)
    new["K"] = K
    return new


def _deep_initial_state(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig) -> dict:
    """Lazy start: kernels frozen at their t = 0 values (tiled over time), zero responses, lazy Delta(t)."""
    L, T1 = cfg.depth, cfg.steps + 1
    kern = lazy_kernels(X, L, cfg.activation, gated=cfg.rule == "gln")
    K0, _ = lazy_entk(kern, cfg.rule, cfg.rho)
    zeros = jnp.zeros((T1 * X.shape[0],) * 2, X.dtype)
    weight = {"gd": 1.0, "gln": 1.0, "fa": None}.get(cfg.rule, 0.0)
    gt = [kern.G[l] * (cfg.rho ** (L + 1 - l) if weight is None else weight) for l in range(1, L + 1)]
    state = {
        "delta": lazy_delta(K0, y, cfg.eta, cfg.steps),
        "Phi": [_tile(kern.Phi[l], T1) for l in range(1, L + 1)],
        "G": [_tile(kern.G[l], T1) for l in range(1, L + 1)],
        "Gt": [_tile(g, T1) for g in gt],
        "A": [zeros] * (L - 1),
        "B": [zeros] * (L - 1),
    }
    if cfg.rule == "fa":  # lazy <gt gt^T> = G (the feedback has the statistics of W(0)^T), no responses yet
        state |= {"Gtt": list(state["G"]), "C": [zeros] * (L - 1), "D": [zeros] * (L - 1)}
    return state


def _deep_sources(key: jax.Array, n: int, cfg: DMFTConfig, dtype, X: jnp.ndarray | None = None) -> dict:
    """Standard-normal noise for every layer's u, r (and FA's rt) sources and DFA feedback, fixed across iterations."""
    S, L = cfg.n_samples, cfg.depth
    ku, kr, kf, kt = jax.random.split(key, 4)
    src = {
        "eps_u": list(jax.random.normal(ku, (L, S, n), dtype)),
        "eps_r": list(jax.random.normal(kr, (L, S, n), dtype)),
        "fb": list(jax.random.normal(kf, (L, S), dtype)),
    }
    if cfg.rule == "fa":  # the feedback source rt, correlated with r
        src["eps_t"] = list(jax.random.normal(kt, (L, S, n), dtype))
    if cfg.rule == "gln":  # per-site, per-layer gates Theta(m . x), m ~ N(0, I_D)
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


def _solve_deep(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, seed: int, log) -> DMFTResult:
    T1, P = cfg.steps + 1, X.shape[0]
    state = _deep_initial_state(X, y, cfg)
    src = None if cfg.mode == "exact" else _deep_sources(jax.random.PRNGKey(seed), T1 * P, cfg, X.dtype, X)
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
    return DMFTResult(
        delta=np.asarray(state["delta"]),
        K=np.asarray(final["K"]),
        Phi=np.asarray(_equal_time(state["Phi"][-1], T1)),
        Gt=np.asarray(_equal_time(state["Gt"][0], T1)),
        changes=changes,
        converged=bool(changes[-1] < cfg.tol),
        state={k: v for k, v in state.items()},
    )
