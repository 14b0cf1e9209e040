"""Finite-width networks in the mean-field (muP) parameterisation of Bordelon & Pehlevan (ICLR 2023), Eq. 1.

    h_1 = W_0 x / sqrt(D),   h_{l+1} = W_l phi(h_l) / sqrt(N),   f = w_L . phi(h_L) / (gamma0 N)

All weights start N(0, 1); training uses learning rate eta * gamma0^2 * N (see ``rules.py``) so that
df/dt = O(1) at every width. gamma0 -> 0 is the lazy regime, gamma0 = O(1) the rich one.
The gated linear network (GLN) replaces phi(h_l) by s_l(x) * h_l with fixed Heaviside gates
s_l(x) = Theta(M_l x) (M_l random and frozen).

The parameters live in a ``flax.nnx`` module (``MeanFieldNet``); the maths is written as pure
functions of plain dicts (``forward``) so that it can be jitted and differentiated directly:
``params = {"W": [W_0, ..., W_{L-1}], "w": w_L}`` and ``fixed`` holds the frozen gates and the
learning rule's feedback weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from learning_rules.kernels import RULES, activation, activation_derivative
from orals23_shared.cli import UsageError

__all__ = ["NetSpec", "Features", "init_network", "forward", "MeanFieldNet"]


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
        if self.rule not in RULES:
            raise UsageError(f"unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")
        activation(self.activation)  # validates the name

    @property
    def gated(self) -> bool:
        return self.rule == "gln"


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
    if spec.rule == "fa":
        r, s = spec.rho, (1.0 - spec.rho**2) ** 0.5
        fixed["b"] = r * w + s * jax.random.normal(next(keys), (N,), dtype)
        fixed["Bt"] = [r * W[l] + s * jax.random.normal(next(keys), (N, N), dtype) for l in range(1, L)]
    if spec.rule == "dfa":
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


class MeanFieldNet(nnx.Module):
    """``flax.nnx`` container of one network: trainable ``W``/``w`` (nnx.Param) and frozen gates/feedback (nnx.Variable)."""

    def __init__(self, spec: NetSpec, rngs: nnx.Rngs, dtype=jnp.float32) -> None:
        self.spec = spec
        params, fixed = init_network(rngs.params(), spec, dtype)
        self.W = nnx.List([nnx.Param(a) for a in params["W"]])
        self.w = nnx.Param(params["w"])
        self.fixed = nnx.Dict(
            {
                k: nnx.List([nnx.Variable(a) for a in v]) if isinstance(v, list) else nnx.Variable(v)
                for k, v in fixed.items()
            }
        )

    def arrays(self) -> tuple[dict, dict]:
        """(params, fixed) as plain dicts of arrays for the pure functions."""
        params = {"W": [p[...] for p in self.W], "w": self.w[...]}
        fixed = {k: [a[...] for a in v] if isinstance(v, nnx.List) else v[...] for k, v in self.fixed.items()}
        return params, fixed

    def load(self, params: dict) -> None:
        """Write trained ``params`` back into the module."""
        for p, a in zip(self.W, params["W"]):
            p[...] = a
        self.w[...] = params["w"]

    def __call__(self, X: jnp.ndarray) -> jnp.ndarray:
        params, fixed = self.arrays()
        return forward(params, fixed, X, self.spec).f
