"""Lazy-limit (gamma0 -> 0) kernels of wide networks for every learning rule.

Bordelon & Pehlevan, "The Influence of Learning Rule on Representation Dynamics in Wide Neural
Networks" (ICLR 2023, arXiv:2210.02157), Sec. 3-4: in the lazy limit the effective NTK of every rule
is frozen at its t=0 value,

    K_eff = sum_{l=0..L} Gt_{l+1} * Phi_l          (elementwise product of P x P kernels)

with Phi_l the feature kernels, G_l the gradient kernels and Gt_l the cross kernel between the
true gradient and the rule's pseudo-gradient:

- GD:   Gt_l = G_l                       -> the NTK
- FA:   Gt_l = rho^(L+1-l) G_l           -> Phi_L + sum_{l<L} rho^(L-l) G_{l+1} Phi_l
- DFA, Hebb: Gt_l = 0 for hidden layers  -> Phi_L (the last-layer NNGP kernel)
- GLN:  Phi_l = C^l K_x, G_l = C^(L+1-l) -> (L+1) C^L K_x with the gate kernel C = (pi - theta) / (2 pi)

Recursions (preactivation kernel H_1 = K_x = X X^T / D):
    Phi_l = E[phi(u) phi(v)],  Hdot_l = E[phi'(u) phi'(v)],  (u, v) ~ N(0, H_l),  H_{l+1} = Phi_l
    G_{L+1} = 1,  G_l = Hdot_l * G_{l+1}
Closed forms: arc-cosine kernels (ReLU, Cho & Saul 2009) and Williams' erf kernel; any other
activation uses 2-D Gauss-Hermite quadrature. The predicted lazy training dynamics are
Delta(t) = (I - eta K_eff / P)^t y (Euler steps of d Delta/dt = -(eta/P) K_eff Delta).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf

from learning_rules.rule_table import RULES, get_rule
from orals23_shared.cli import UsageError

__all__ = [
    "ACTIVATIONS",
    "RULES",
    "activation",
    "activation_derivative",
    "LazyKernels",
    "lazy_kernels",
    "lazy_kernels_from_gram",
    "lazy_entk",
    "gate_kernel",
    "gaussian_expectation",
    "lazy_delta",
    "new_delta",
    "check_psd",
]

ACTIVATIONS = ("relu", "erf", "tanh", "linear")


def _check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise UsageError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def activation(name: str):
    """phi for the named activation (a jax function)."""
    _check_activation(name)
    return {
        "relu": jax.nn.relu,
        "erf": erf,
        "tanh": jnp.tanh,
        "linear": lambda h: h,
    }[name]


def activation_derivative(name: str):
    """phi' for the named activation (the ReLU derivative is the Heaviside step, 0 at 0)."""
    _check_activation(name)
    return {
        "relu": lambda h: (h > 0).astype(h.dtype),
        "erf": lambda h: 2.0 / jnp.sqrt(jnp.pi) * jnp.exp(-(h**2)),
        "tanh": lambda h: 1.0 - jnp.tanh(h) ** 2,
        "linear": lambda h: jnp.ones_like(h),
    }[name]


def check_psd(K: jnp.ndarray, name: str, jitter: float = 1e-8) -> None:
    """Raise ``UsageError`` when the symmetric kernel ``K`` has an eigenvalue below -jitter * scale."""
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise UsageError(f"{name}: expected a square kernel matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise UsageError(f"{name}: kernel has non-finite entries")
    if not np.allclose(K, K.T, atol=1e-10 * max(1.0, np.abs(K).max())):
        raise UsageError(f"{name}: kernel is not symmetric")
    lo = float(np.linalg.eigvalsh(K).min())
    scale = max(1.0, float(np.abs(np.diag(K)).max()))
    if lo < -jitter * scale:
        raise UsageError(f"{name}: kernel is not positive semi-definite (smallest eigenvalue {lo:.3g})")


def _cos_angle(H: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    d = jnp.sqrt(jnp.clip(jnp.diag(H), 1e-300))
    norm = d[:, None] * d[None, :]
    return jnp.clip(H / norm, -1.0, 1.0), norm


def gaussian_expectation(f, g, H: jnp.ndarray, n_points: int = 64) -> jnp.ndarray:
    """E[f(u) g(v)] for every pair (u, v) ~ N(0, [[H_aa, H_ab], [H_ab, H_bb]]) by Gauss-Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(n_points)  # weight exp(-z^2/2)
    z = jnp.asarray(z)
    w = jnp.asarray(w / np.sqrt(2 * np.pi))
    q = jnp.clip(jnp.diag(H), 0.0)
    sq = jnp.sqrt(q)
    cos, _ = _cos_angle(H)
    sin = jnp.sqrt(jnp.clip(1.0 - cos**2, 0.0))
    # u = sqrt(q_a) z1 ; v = sqrt(q_b) (cos z1 + sin z2)
    u = sq[:, None, None, None] * z[None, None, :, None]  # (P,1,n,1)
    v = sq[None, :, None, None] * (
        cos[:, :, None, None] * z[None, None, :, None] + sin[:, :, None, None] * z[None, None, None, :]
    )
    vals = f(u) * g(v)
    return jnp.einsum("abij,i,j->ab", vals, w, w)


def _phi_kernels(name: str, H: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(Phi, Hdot) = (E[phi(u)phi(v)], E[phi'(u)phi'(v)]) for (u, v) ~ N(0, H)."""
    if name == "linear":
        return H, jnp.ones_like(H)
    if name == "relu":
        cos, norm = _cos_angle(H)
        theta = jnp.arccos(cos)
        phi = norm / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * cos)
        dot = (jnp.pi - theta) / (2 * jnp.pi)
        return phi, dot
    if name == "erf":
        q = jnp.diag(H)
        a = 1.0 + 2.0 * q
        prod = a[:, None] * a[None, :]
        phi = 2.0 / jnp.pi * jnp.arcsin(jnp.clip(2.0 * H / jnp.sqrt(prod), -1.0, 1.0))
        dot = 4.0 / jnp.pi / jnp.sqrt(jnp.clip(prod - 4.0 * H**2, 1e-300))
        return phi, dot
    f, df = activation(name), activation_derivative(name)
    return gaussian_expectation(f, f, H), gaussian_expectation(df, df, H)


def gate_kernel(Kx: jnp.ndarray) -> jnp.ndarray:
    """C(mu, a) = P(m.x_mu > 0, m.x_a > 0) = (pi - angle(x_mu, x_a)) / (2 pi) for m ~ N(0, I) (GLN gates).

    Takes the input Gram matrix K_x (only the angles matter)."""
    cos, _ = _cos_angle(Kx)
    return (jnp.pi - jnp.arccos(cos)) / (2 * jnp.pi)


@dataclass
class LazyKernels:
    """Infinite-width kernels at initialisation: ``Phi[l]`` for l = 0..L, ``G[l]`` for l = 1..L+1 (``G[0]`` unused)."""

    Phi: list[jnp.ndarray]
    G: list[jnp.ndarray]

    @property
    def depth(self) -> int:
        return len(self.Phi) - 1


def lazy_kernels(X: jnp.ndarray, depth: int, act: str, gated: bool = False) -> LazyKernels:
    """``lazy_kernels_from_gram`` of K_x = X X^T / D for inputs ``X`` of shape (P, D)."""
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise UsageError(f"inputs must be a (P, D) matrix, got shape {X.shape}")
    return lazy_kernels_from_gram(X @ X.T / X.shape[1], depth, act, gated)


def lazy_kernels_from_gram(Kx: jnp.ndarray, depth: int, act: str, gated: bool = False) -> LazyKernels:
    """Feature kernels Phi_0..Phi_L and gradient kernels G_1..G_{L+1} of a width -> infinity network.

    ``gated=True`` gives the gated linear network: phi(h) = s(x) h with Heaviside gates s = Theta(m.x),
    so Phi_l = C^l K_x and G_l = C^(L+1-l) (elementwise powers).
    """
    Kx = jnp.asarray(Kx)
    if Kx.ndim != 2 or Kx.shape[0] != Kx.shape[1]:
        raise UsageError(f"input kernel must be a square (P, P) matrix, got shape {Kx.shape}")
    if depth < 1:
        raise UsageError(f"depth must be >= 1, got {depth}")
    Phi = [Kx]
    dots = []
    H = Kx
    C = gate_kernel(Kx) if gated else None
    for _ in range(depth):
        if gated:
            phi, dot = C * H, C
        else:
            _check_activation(act)
            phi, dot = _phi_kernels(act, H)
        Phi.append(phi)
        dots.append(dot)
        H = phi
    G = [None] * (depth + 2)
    G[depth + 1] = jnp.ones_like(Kx)
    for l in range(depth, 0, -1):
        G[l] = dots[l - 1] * G[l + 1]
    return LazyKernels(Phi=Phi, G=G)


def lazy_entk(kernels: LazyKernels, rule: str, rho: float = 0.0) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Lazy effective NTK of ``rule`` and its hidden-layer part sum_{l<L} Gt_{l+1} Phi_l.

    The weight of each hidden term comes from the rule table (``Rule.lazy_weight``): GD/GLN 1 per
    layer; FA rho^(L-l) for the term of W_l; DFA/Hebb 0.
    """
    entry = get_rule(rule)
    if not 0.0 <= rho <= 1.0:
        raise UsageError(f"rho must lie in [0, 1], got {rho}")
    L = kernels.depth
    hidden = jnp.zeros_like(kernels.Phi[0])
    for l in range(L):
        hidden = hidden + entry.lazy_weight(rho, L, l) * kernels.G[l + 1] * kernels.Phi[l]
    return hidden + kernels.Phi[L], hidden


@partial(jax.jit, static_argnames=("eta", "steps"))
def lazy_delta(K: jnp.ndarray, y: jnp.ndarray, eta: float, steps: int) -> jnp.ndarray:
    """Errors Delta(t), t = 0..steps, of full-batch training with a frozen kernel: Delta(t+1) = (I - eta K/P) Delta(t)."""
    P = y.shape[0]
    M = jnp.eye(P, dtype=K.dtype) - eta / P * K

    def step(d, _):
        return M @ d, d

    last, traj = jax.lax.scan(step, y, None, length=steps)
    return jnp.concatenate([traj, last[None]], axis=0)


@partial(jax.jit, static_argnames=("update",))
def new_delta(out: dict, y: jnp.ndarray, eta: float, update: str) -> jnp.ndarray:
    """Delta(t), t = 0..T, from a solver's kernels: ``"keff"`` Euler steps of dDelta/dt = -(eta/P) K_eff(t) Delta
    with the non-symmetric K_eff(t) (``out["K"]``), or ``"direct"`` y - (f(t) - f(0)) (``out["f"]``)."""
    if update == "direct":
        return y[None, :] - out["f"]
    P = y.shape[0]

    def step(d, K):
        return d - eta / P * K @ d, d

    last, traj = jax.lax.scan(step, y, out["K"][:-1])
    return jnp.concatenate([traj, last[None]], axis=0)
