"""Finite-width networks in the mean-field (muP) parameterisation of Bordelon & Pehlevan (ICLR 2023), Eq. 1.

    h_1 = W_0 x / sqrt(D),   h_{l+1} = W_l phi(h_l) / sqrt(N),   f = w_L . phi(h_L) / (gamma0 N)

All weights start N(0, 1); training uses learning rate eta * gamma0^2 * N (see ``rules.py``) so that
df/dt = O(1) at every width. gamma0 -> 0 is the lazy regime, gamma0 = O(1) the rich one.
The gated linear network (GLN) replaces phi(h_l) by s_l(x) * h_l with fixed Heaviside gates
s_l(x) = Theta(M_l x) (M_l random and frozen).

The maths is written as pure functions of plain dicts (``forward``) so that it is jitted and
differentiated directly: ``params = {"W": [W_0, ..., W_{L-1}], "w": w_L}`` and ``fixed`` holds the
frozen gates and the learning rule's feedback weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from learning_rules.kernels import activation, activation_derivative
from learning_rules.rule_table import get_rule
from orals23_shared.cli import UsageError

__all__ = ["NetSpec", "Features", "init_network", "forward"]


@dataclass(frozen=True)
class NetSpec:
    """Static description of a network: shapes, activation, richness gamma0, learning rule and FA correlation rho."""

    d_in: int
    width: int
    depth: int
    activation: str = "relu"
    gamma0: float = 1.0
    rule: str = "gd"
    rho: float = 0.0

    def __post_init__(self) -> None:
        if self.width < 1:
            raise UsageError(f"width must be a positive integer, got {self.width}")
        if self.depth < 1:
            raise UsageError(f"depth must be a positive integer, got {self.depth}")
        if self.d_in < 1:
            raise UsageError(f"input dimension must be positive, got {self.d_in}")
        if not self.gamma0 > 0:
            raise UsageError(f"gamma0 must be positive, got {self.gamma0}")
        get_rule(self.rule)  # validates the name
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")
        activation(self.activation)  # validates the name

    @property
    def gated(self) -> bool:
        return get_rule(self.rule).gated


@dataclass
class Features:
    """Forward pass of a batch: preactivations h_l and features phi_l (l = 1..L, lists index l-1), output f."""

    h: list[jnp.ndarray]
    phi: list[jnp.ndarray]
    dphi: list[jnp.ndarray]
    f: jnp.ndarray


def init_network(key: jax.Array, spec: NetSpec, dtype=jnp.float32) -> tuple[dict, dict]:
    """Draw ``params`` (N(0,1) weights) and ``fixed`` (gates for GLN; feedback weights for FA/DFA).

    FA (Eq. of Sec. 3): B_l = rho W_l(0)^T + sqrt(1 - rho^2) B'_l and b = rho w_L(0) + sqrt(1 - rho^2) b'
    (stored transposed, ``Bt_l`` with the shape of W_l). DFA: one fixed random vector per hidden layer.
    """
    N, D, L = spec.width, spec.d_in, spec.depth
    keys = iter(jax.random.split(key, 4 * L + 4))
    W = [jax.random.normal(next(keys), (N, D), dtype)]
    W += [jax.random.normal(next(keys), (N, N), dtype) for _ in range(L - 1)]
    w = jax.random.normal(next(keys), (N,), dtype)
    params = {"W": W, "w": w}
    fixed: dict = {}
    if spec.gated:
        fixed["gates"] = [jax.random.normal(next(keys), (N, D), dtype) for _ in range(L)]
    if get_rule(spec.rule).uses_rho:
        r, s = spec.rho, (1.0 - spec.rho**2) ** 0.5
        fixed["b"] = r * w + s * jax.random.normal(next(keys), (N,), dtype)
        fixed["Bt"] = [r * W[l] + s * jax.random.normal(next(keys), (N, N), dtype) for l in range(1, L)]
    if get_rule(spec.rule).pseudo == "direct":
        fixed["d"] = [jax.random.normal(next(keys), (N,), dtype) for _ in range(L)]
    return params, fixed


def forward(params: dict, fixed: dict, X: jnp.ndarray, spec: NetSpec) -> Features:
    """Forward pass of Eq. 1 for a batch ``X`` of shape (P, D)."""
    phi_fn, dphi_fn = activation(spec.activation), activation_derivative(spec.activation)
    W, w = params["W"], params["w"]
    N = w.shape[0]
    h = X @ W[0].T / jnp.sqrt(X.shape[1])
    hs, phis, dphis = [], [], []
    for l in range(spec.depth):
        if spec.gated:
            s = (X @ fixed["gates"][l].T > 0).astype(h.dtype)
            phi, dphi = s * h, s
        else:
            phi, dphi = phi_fn(h), dphi_fn(h)
        hs.append(h)
        phis.append(phi)
        dphis.append(dphi)
        if l + 1 < spec.depth:
            h = phi @ W[l + 1].T / jnp.sqrt(N)
    f = phis[-1] @ w / (spec.gamma0 * N)
    return Features(h=hs, phi=phis, dphi=dphis, f=f)
