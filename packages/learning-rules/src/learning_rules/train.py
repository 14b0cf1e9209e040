"""Full-batch training of finite-width mean-field networks with a learning rule, plus the paper's measurements.

Bordelon & Pehlevan (ICLR 2023): the simulations that the lazy eNTK theory (``kernels.py``) and the
DMFT (``dmft.py``) are compared against. Each step applies ``rules.rule_update`` (Sec. 3 pseudo-gradients,
learning rate eta * gamma0^2 * N). With ``center=True`` the network output is f(x) - f_0(x) (the function
at initialisation subtracted), so that the finite-width run starts from f = 0 like the theory.

Measurements (Sec. 4-5 figures): train loss (1/2P) sum Delta^2, K_eff at the start and end, the share of
the hidden layers in K_eff, kernel alignment A(K) = y^T K y / (||K||_F ||y||^2), kernel movement
||Phi_L(T) - Phi_L(0)||_F / ||Phi_L(0)||_F and relative weight movement per layer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from learning_rules.model import NetSpec, forward, init_network
from learning_rules.rule_table import RULES, get_rule
from learning_rules.rules import apply_update, effective_ntk, rule_update
from orals23_shared.cli import UsageError

__all__ = ["TrainConfig", "train_steps", "train_run", "alignment", "rel_fro", "save_state", "load_state"]


@dataclass
class TrainConfig:
    """One finite-width experiment: a rule, a network and a data set, trained for ``steps`` full-batch steps."""

    rule: Literal[RULES] = field(default="gd", metadata={"help": "learning rule (the rule table)"})
    width: int = field(default=1024, metadata={"help": "hidden width N"})
    depth: int = field(default=2, metadata={"help": "number of hidden layers L"})
    gamma0: float = field(default=1.0, metadata={"help": "richness gamma0 (small: lazy, O(1): rich)"})
    rho: float = field(default=0.0, metadata={"help": "FA feedback / forward weight correlation in [0, 1]"})
    activation: Literal["relu", "erf", "tanh", "linear"] = field(default="relu", metadata={"help": "nonlinearity phi"})
    eta: float = field(default=0.5, metadata={"help": "learning rate (multiplied by gamma0^2 N internally)"})
    steps: int = field(default=200, metadata={"help": "full-batch training steps"})
    n_points: int = field(default=16, metadata={"help": "number of training points P"})
    dim: int = field(default=20, metadata={"help": "input dimension D"})
    data_seed: int = field(default=0, metadata={"help": "seed of the synthetic data set"})
    seeds: int = field(default=1, metadata={"help": "number of network seeds (seed, seed+1, ...)"})
    seed: int = field(default=0, metadata={"help": "first network seed"})
    center: bool = field(default=True, metadata={"help": "subtract the initial function f_0 from the output"})
    float64: bool = field(default=True, metadata={"help": "compute in float64"})
    checkpoint_every: int = field(default=100, metadata={"help": "steps between checkpoints"})

    def __post_init__(self) -> None:
        for name in ("width", "depth", "steps", "n_points", "dim", "seeds", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")
        if not self.gamma0 > 0 or not self.eta > 0:
            raise UsageError(f"gamma0 and eta must be positive, got {self.gamma0}, {self.eta}")
        get_rule(self.rule)  # an unknown rule from --config is one line too
        if self.seed < 0 or self.data_seed < 0:
            raise UsageError("seeds must be non-negative")

    def spec(self) -> NetSpec:
        return NetSpec(
            d_in=self.dim,
            width=self.width,
            depth=self.depth,
            activation=self.activation,
            gamma0=self.gamma0,
            rule=self.rule,
            rho=self.rho,
        )


def alignment(K: jnp.ndarray, y: jnp.ndarray) -> float:
    """Kernel-target alignment A(K) = y^T K y / (||K||_F ||y||^2)."""
    return float(y @ K @ y / (jnp.linalg.norm(K) * (y @ y)))


def rel_fro(A: jnp.ndarray, B: jnp.ndarray) -> float:
    """||A - B||_F / ||B||_F."""
    return float(jnp.linalg.norm(A - B) / jnp.linalg.norm(B))


@partial(jax.jit, static_argnames=("spec", "eta", "n"))
def train_steps(
    params: dict, fixed: dict, X: jnp.ndarray, y: jnp.ndarray, f0: jnp.ndarray, spec: NetSpec, eta: float, n: int
) -> tuple[dict, jnp.ndarray]:
    """``n`` full-batch steps of the rule; returns the new params and Delta(t) before each step, shape (n, P)."""

    def step(p, _):
        feats = forward(p, fixed, X, spec)
        delta = y - (feats.f - f0)
        return apply_update(p, rule_update(p, fixed, X, delta, spec, eta, feats)), delta

    return jax.lax.scan(step, params, None, length=n)


def save_state(f, step: int, params: dict, fixed: dict, f0: jnp.ndarray, params0: dict, deltas: np.ndarray) -> None:
    """Write a checkpoint (npz) to the binary file object ``f``."""
    arrays = {"step": np.array(step), "f0": np.asarray(f0), "deltas": np.asarray(deltas)}
    for name, tree in (("p", params), ("p0", params0), ("x", fixed)):
        leaves, _ = jax.tree_util.tree_flatten(tree)
        for i, a in enumerate(leaves):
            arrays[f"{name}{i}"] = np.asarray(a)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    f.write(buf.getvalue())


def load_state(path, params: dict, fixed: dict) -> tuple[int, dict, dict, jnp.ndarray, dict, np.ndarray]:
    """Read a checkpoint written by ``save_state``; ``params``/``fixed`` give the tree structure."""
    try:
        data = np.load(path)
    except Exception as e:  # a corrupt or foreign file
        raise UsageError(f"{path}: not a readable checkpoint ({e})") from e
    out = []
    for name, tree in (("p", params), ("p0", params), ("x", fixed)):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        try:
            new = [jnp.asarray(data[f"{name}{i}"]) for i in range(len(leaves))]
        except KeyError as e:
            raise UsageError(f"{path}: checkpoint does not match this configuration (missing {e})") from e
        if any(a.shape != b.shape for a, b in zip(new, leaves)):
            raise UsageError(f"{path}: checkpoint shapes do not match this configuration")
        out.append(jax.tree_util.tree_unflatten(treedef, new))
    return int(data["step"]), out[0], out[2], jnp.asarray(data["f0"]), out[1], np.asarray(data["deltas"])


def _measure(params: dict, fixed: dict, X: jnp.ndarray, spec: NetSpec, delta: jnp.ndarray) -> dict:
    K, hidden, Phi = effective_ntk(params, fixed, X, spec, delta)
    return {"K": K, "hidden": hidden, "Phi": Phi}


def train_run(cfg: TrainConfig, X: jnp.ndarray, y: jnp.ndarray, seed: int, on_chunk=None, resume_state=None) -> dict:
    """Train one network (seed ``seed``) and return its loss curve and kernel measurements.

    ``on_chunk(step, params, fixed, f0, params0, deltas)`` is called after every ``checkpoint_every`` steps
    (the CLI writes checkpoints there); ``resume_state`` is what ``load_state`` returned.
    """
    spec = cfg.spec()
    if X.ndim != 2 or X.shape[1] != spec.d_in or y.shape != (X.shape[0],):
        raise UsageError(f"data shapes do not match: X {X.shape}, y {y.shape}, D = {spec.d_in}")
    dtype = X.dtype
    params, fixed = init_network(jax.random.PRNGKey(seed), spec, dtype)
    params0 = params
    f0 = forward(params, fixed, X, spec).f if cfg.center else jnp.zeros_like(y)
    deltas = np.zeros((0, y.shape[0]))
    start = 0
    if resume_state is not None:
        start, params, fixed, f0, params0, deltas = resume_state
    start_meas = _measure(params0, fixed, X, spec, y - (forward(params0, fixed, X, spec).f - f0))
    step = start
    while step < cfg.steps:
        n = min(cfg.checkpoint_every, cfg.steps - step)
        params, d = train_steps(params, fixed, X, y, f0, spec, float(cfg.eta), n)
        deltas = np.concatenate([deltas, np.asarray(d)], axis=0)
        step += n
        if on_chunk is not None:
            on_chunk(step, params, fixed, f0, params0, deltas)
    final_delta = np.asarray(y - (forward(params, fixed, X, spec).f - f0))
    deltas = np.concatenate([deltas, final_delta[None]], axis=0)
    end_meas = _measure(params, fixed, X, spec, jnp.asarray(final_delta))
    K0, KT = start_meas["K"], end_meas["K"]
    return {
        "delta": deltas,
        "loss": 0.5 * np.mean(deltas**2, axis=1),
        "K0": np.asarray(K0),
        "KT": np.asarray(KT),
        "hidden_share0": float(jnp.linalg.norm(start_meas["hidden"]) / jnp.linalg.norm(K0)),
        "hidden_shareT": float(jnp.linalg.norm(end_meas["hidden"]) / jnp.linalg.norm(KT)),
        "phi_movement": [rel_fro(a, b) for a, b in zip(end_meas["Phi"], start_meas["Phi"])],
        "keff_movement": rel_fro(KT, K0),
        "alignment0": alignment(start_meas["Phi"][-1], y),
        "alignmentT": alignment(end_meas["Phi"][-1], y),
        "weight_movement": [rel_fro(a, b) for a, b in zip(params["W"] + [params["w"]], params0["W"] + [params0["w"]])],
        "PhiL0": np.asarray(start_meas["Phi"][-1]),
        "PhiLT": np.asarray(end_meas["Phi"][-1]),
    }
