"""The feature-distortion toy: a two-layer linear network (Kumar et al., ICLR 2022; Trivedi et al., ICLR 2023, Sec. 2).

Ground truth ``y = v*^T B* x`` with ``B*`` of shape (k, d). The "pretrained" features are ``B0 = B* + noise``.
In-distribution (ID) inputs lie in a random ``r``-dimensional subspace S of R^d, out-of-distribution (OOD) inputs
are full-rank Gaussians. Three protocols, all by full-batch gradient descent on the squared loss
``L(v, B) = 1/(2n) ||X B^T v - y||^2``:

* LP: ``B = B0`` frozen, head ``v`` trained (its optimum is the least-squares solution, :func:`lp_closed_form`);
* FT: head from a random init, ``v`` and ``B`` trained;
* LP+FT: head from the LP solution, ``v`` and ``B`` trained.

The gradient on ``B`` is ``v r^T X / n`` (r the residuals): its rows lie in the span of the ID inputs, so FT changes
``B`` only inside S and leaves ``B`` on S-perp at ``B0`` exactly. With a head far from ``v*`` (FT's random head) the
features inside S are *distorted* to fit the ID data, while OOD inputs, which have components on S-perp, still see
the old features through a changed head: OOD error grows. LP+FT starts at a near-optimal head, the gradients are
small, and the features barely move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ToyConfig", "ToyProblem", "lp_closed_form", "make_problem", "run_protocol", "run_toy"]


@dataclass
class ToyConfig:
    """The toy of the brief (d = 20 inputs, k = 5 features, ID inputs in a 10-dim subspace)."""

    d: int = 20
    k: int = 5
    id_dim: int = 10
    n_train: int = 200
    n_test: int = 2000
    noise: float = 0.1  # ||B0 - B*|| entries ~ N(0, (noise/sqrt(d))^2): a good but imperfect pretrained B0
    lr: float = 0.05
    steps: int = 2000
    head_init_scale: float = 1.0  # FT's random head ~ N(0, scale^2 / k)
    seed: int = 0
    protocols: tuple[str, ...] = field(default=("lp", "ft", "lp+ft"))


@dataclass
class ToyProblem:
    b_star: np.ndarray  # (k, d)
    v_star: np.ndarray  # (k,)
    b0: np.ndarray  # (k, d)
    basis: np.ndarray  # (d, id_dim), orthonormal columns spanning S
    x_train: np.ndarray  # (n, d), rows in S
    x_id: np.ndarray
    x_ood: np.ndarray  # full-rank Gaussian

    def target(self, x: np.ndarray) -> np.ndarray:
        return x @ self.b_star.T @ self.v_star


def make_problem(cfg: ToyConfig) -> ToyProblem:
    rng = np.random.default_rng(cfg.seed)
    b_star = rng.normal(0.0, 1.0 / np.sqrt(cfg.d), size=(cfg.k, cfg.d))
    v_star = rng.normal(0.0, 1.0, size=cfg.k)
    b0 = b_star + rng.normal(0.0, cfg.noise / np.sqrt(cfg.d), size=b_star.shape)
    basis, _ = np.linalg.qr(rng.normal(size=(cfg.d, cfg.id_dim)))
    x_train = rng.normal(size=(cfg.n_train, cfg.id_dim)) @ basis.T
    x_id = rng.normal(size=(cfg.n_test, cfg.id_dim)) @ basis.T
    x_ood = rng.normal(size=(cfg.n_test, cfg.d))
    return ToyProblem(b_star, v_star, b0, basis, x_train, x_id, x_ood)


def lp_closed_form(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The linear probe's optimum: the (minimum-norm) least-squares head on frozen features."""
    return np.linalg.lstsq(features, y, rcond=None)[0]


def _gd(
    x: np.ndarray, y: np.ndarray, v: np.ndarray, b: np.ndarray, lr: float, steps: int, train_b: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD on 1/(2n)||X B^T v - y||^2; returns (v, B)."""
    v, b = v.copy(), b.copy()
    n = x.shape[0]
    for _ in range(steps):
        feats = x @ b.T  # (n, k)
        r = feats @ v - y  # residuals (n,)
        grad_v = feats.T @ r / n
        if train_b:
            grad_b = np.outer(v, r @ x) / n  # rows in span{x_i}: S
            b -= lr * grad_b
        v -= lr * grad_v
    return v, b


def run_protocol(p: ToyProblem, protocol: str, cfg: ToyConfig) -> dict[str, float]:
    """Train one protocol; ID/OOD mean squared error and the feature change on S and on S-perp."""
    y = p.target(p.x_train)
    if protocol == "lp":
        v, b = _gd(p.x_train, y, np.zeros(cfg.k), p.b0, cfg.lr, cfg.steps, train_b=False)
    elif protocol == "ft":
        rng = np.random.default_rng(cfg.seed + 1)
        v0 = rng.normal(0.0, cfg.head_init_scale / np.sqrt(cfg.k), size=cfg.k)
        v, b = _gd(p.x_train, y, v0, p.b0, cfg.lr, cfg.steps, train_b=True)
    elif protocol == "lp+ft":
        v_lp, _ = _gd(p.x_train, y, np.zeros(cfg.k), p.b0, cfg.lr, cfg.steps, train_b=False)
        v, b = _gd(p.x_train, y, v_lp, p.b0, cfg.lr, cfg.steps, train_b=True)
    else:
        raise ValueError(f"unknown toy protocol {protocol!r} (lp, ft, lp+ft)")
    proj_s = p.basis @ p.basis.T
    delta = b - p.b0
    return {
        "id_mse": float(np.mean((p.x_id @ b.T @ v - p.target(p.x_id)) ** 2)),
        "ood_mse": float(np.mean((p.x_ood @ b.T @ v - p.target(p.x_ood)) ** 2)),
        "feature_change_in_s": float(np.linalg.norm(delta @ proj_s)),
        "feature_change_off_s": float(np.linalg.norm(delta @ (np.eye(cfg.d) - proj_s))),
        # feature distortion as the paper measures it: mean ||f(x) - f0(x)|| on ID vs OOD inputs
        "distortion_id": float(np.mean(np.linalg.norm(p.x_id @ delta.T, axis=1))),
        "distortion_ood": float(np.mean(np.linalg.norm(p.x_ood @ delta.T, axis=1))),
        "head_error": float(np.linalg.norm(v - p.v_star)),
    }


def run_toy(cfg: ToyConfig) -> dict[str, dict[str, float]]:
    p = make_problem(cfg)
    return {name: run_protocol(p, name, cfg) for name in cfg.protocols}
