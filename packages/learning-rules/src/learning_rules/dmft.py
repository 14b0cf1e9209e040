"""Dynamical mean field theory (DMFT) of the rich regime: the solver's configuration, result and entry point.

Bordelon & Pehlevan (ICLR 2023), Sec. 3, Eq. 4-6. ``solve_dmft`` dispatches on the depth:

- one hidden layer (``single_site.py``, every rule and activation): no response functions are needed;
- L >= 2 hidden layers (``deep_dmft.py`` with the single site of ``deep_site.py``): two-time Gaussian
  sources and response functions (GD, rho-FA, DFA, Hebb with tanh/erf/linear; GLN), and the deep-linear
  closed form (GD, ``mode="exact"``).

Both are the alternating fixed point of the 2022 DMFT paper: start from the lazy Delta(t), then repeat
{solve the single-site equations for S sampled sources, re-estimate the kernels and Delta, damped update}
until the change is below ``tol``. The function obeys either

    "keff":   Delta(t+1) = Delta(t) - (eta / P) K_eff(t) Delta(t)   (Euler step of df/dt = (eta/P) K_eff Delta)
    "direct": Delta(t) = y - (f(t) - f(0))                            (the discrete-time map itself).

"keff" is the default: the "direct" map is an open-loop drive whose fixed-point iteration can blow up
(GD with damping 0.8 diverges on a linear net), while the K_eff Euler iteration converges in ~10 steps.
The learning rules (their pseudo-gradients and parameters) come from ``rule_table.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import jax.numpy as jnp
import numpy as np

from learning_rules.deep_dmft import deep_dmft_iterate, deep_sources, solve_deep
from learning_rules.deep_site import DEEP_ACTIVATIONS, deep_layer_site, linear_layer_closed_form
from learning_rules.kernels import activation, check_psd, new_delta
from learning_rules.rule_table import RULES, get_rule
from learning_rules.single_site import dmft_iterate, sample_sources, single_site, solve_shallow
from orals23_shared.cli import UsageError

__all__ = [
    "DMFTConfig",
    "DMFTResult",
    "solve_dmft",
    "sample_sources",
    "single_site",
    "dmft_iterate",
    "new_delta",
    "deep_sources",
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

    rule: Literal[RULES] = field(default="gd", metadata={"help": "learning rule (rule_table.RULES)"})
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
    responses: bool = field(
        default=True, metadata={"help": "L >= 2: False is the ablation with the responses A, B (FA: C, D) set to zero"}
    )

    def __post_init__(self) -> None:
        entry = get_rule(self.rule)
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
        if self.mode == "exact" and (self.activation != "linear" or entry.gated):
            raise UsageError("mode 'exact' needs a linear network (activation 'linear', rule other than 'gln')")
        if self.depth >= 2:
            # every rule has a deep solver; GLN ignores the activation, the others need a smooth phi (phi'')
            if self.activation not in DEEP_ACTIVATIONS and not entry.gated:
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


def solve_dmft(X: jnp.ndarray, y: jnp.ndarray, cfg: DMFTConfig, seed: int = 0, log=None) -> DMFTResult:
    """Solve the DMFT of ``cfg`` on inputs ``X`` (P, D) and targets ``y`` (P,); ``log(it, change)`` per iteration."""
    X = jnp.asarray(X)
    y = jnp.asarray(y, X.dtype)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise UsageError(f"expected X of shape (P, D) and y of shape (P,), got {X.shape} and {y.shape}")
    check_psd(X @ X.T / X.shape[1], "input kernel K_x")
    solver = solve_deep if cfg.depth >= 2 else solve_shallow
    return DMFTResult(**solver(X, y, cfg, seed, log))
