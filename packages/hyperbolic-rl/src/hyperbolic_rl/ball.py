"""Poincaré-ball operations with curvature ``-c`` (c > 0), written out in plain torch.

Cetin et al., "Hyperbolic Deep Reinforcement Learning" (ICLR 2023), Sec. 2 (background) uses the
Poincaré ball B^d_c = {x : c||x||^2 < 1} with the gyrovector operations of Ganea et al. (2018):

* Möbius addition (their Eq. 1)::

      x (+) y = ((1 + 2c<x,y> + c||y||^2) x + (1 - c||x||^2) y) / (1 + 2c<x,y> + c^2 ||x||^2 ||y||^2)

* conformal factor ``lambda_x = 2 / (1 - c||x||^2)``;
* exponential map at 0 and at x::

      exp_0(v) = tanh(sqrt(c)||v||) v / (sqrt(c)||v||)
      exp_x(v) = x (+) tanh(sqrt(c) lambda_x ||v|| / 2) v / (sqrt(c)||v||)

* distance ``d(x, y) = (2/sqrt(c)) artanh(sqrt(c) ||(-x) (+) y||)``;
* gyration ``gyr[u, v]w = -(u (+) v) (+) (u (+) (v (+) w))`` and parallel transport
  ``P_{x->y}(v) = (lambda_x / lambda_y) gyr[y, -x] v``;
* signed, scaled distance to the hyperplane through ``p`` with normal ``a`` (hyperbolic multiclass
  logistic regression, Ganea et al. Eq. 25; the paper's Eq. 4)::

      f_{p,a}(x) = (||a|| / sqrt(c)) asinh( 2 sqrt(c) <(-p) (+) x, a> / ((1 - c||(-p) (+) x||^2) ||a||) )

Numerics follow the official code's library (geoopt): points are projected to radius
``(1 - eps)/sqrt(c)`` with ``eps = 4e-3`` in float32 and ``1e-5`` in float64, ``tanh`` arguments are
clamped to [-15, 15], ``artanh`` arguments to ``1 - 1e-7`` (float64) / ``1 - 1e-5`` (float32), and
norms are clamped away from 0.
"""

from __future__ import annotations

import torch

__all__ = [
    "ball_eps",
    "project",
    "mobius_add",
    "lambda_x",
    "expmap0",
    "expmap",
    "logmap0",
    "dist",
    "gyration",
    "transport",
    "dist2plane",
    "dist2planes",
    "check_curvature",
]

_MIN_NORM = 1e-15


def check_curvature(c: float) -> float:
    """Return ``c`` as a float, raising ``UsageError`` unless it is a finite positive number."""
    from orals23_shared.cli import UsageError

    try:
        value = float(c)
    except (TypeError, ValueError) as e:
        raise UsageError(f"curvature must be a positive number, got {c!r}") from e
    if not value > 0 or value == float("inf"):
        raise UsageError(f"curvature must be > 0 (the ball has curvature -c), got {c!r}")
    return value


def ball_eps(dtype: torch.dtype) -> float:
    """Boundary margin used by ``project`` (geoopt's BALL_EPS)."""
    return 4e-3 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-5


def _norm(x: torch.Tensor, keepdim: bool = True) -> torch.Tensor:
    return x.norm(dim=-1, keepdim=keepdim).clamp_min(_MIN_NORM)


def _artanh(x: torch.Tensor) -> torch.Tensor:
    bound = 1 - (1e-7 if x.dtype == torch.float64 else 1e-5)
    x = x.clamp(-bound, bound)
    return 0.5 * (torch.log1p(x) - torch.log1p(-x))


def project(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Pull points with ``||x|| > (1 - eps)/sqrt(c)`` back onto that radius."""
    max_norm = (1 - ball_eps(x.dtype)) / c**0.5
    norm = _norm(x)
    return torch.where(norm > max_norm, x / norm * max_norm, x)


def mobius_add(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Möbius addition ``x (+) y`` (Ganea et al. 2018, Eq. 1)."""
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True)
    xy = (x * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c**2 * x2 * y2
    return num / den.clamp_min(_MIN_NORM)


def lambda_x(x: torch.Tensor, c: float = 1.0, keepdim: bool = True) -> torch.Tensor:
    """Conformal factor ``2 / (1 - c||x||^2)``."""
    return 2 / (1 - c * (x * x).sum(-1, keepdim=keepdim)).clamp_min(_MIN_NORM)


def expmap0(v: torch.Tensor, c: float = 1.0, do_project: bool = True) -> torch.Tensor:
    """Exponential map at the origin: tangent vector ``v`` -> point of the ball."""
    sc = c**0.5
    norm = _norm(v)
    out = torch.tanh((sc * norm).clamp(-15, 15)) * v / (sc * norm)
    return project(out, c) if do_project else out


def logmap0(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Inverse of ``expmap0``."""
    sc = c**0.5
    norm = _norm(x)
    return _artanh(sc * norm) * x / (sc * norm)


def expmap(x: torch.Tensor, v: torch.Tensor, c: float = 1.0, do_project: bool = True) -> torch.Tensor:
    """Exponential map at ``x`` (Ganea et al. 2018, Lemma 2)."""
    sc = c**0.5
    norm = _norm(v)
    second = torch.tanh((sc * lambda_x(x, c) * norm / 2).clamp(-15, 15)) * v / (sc * norm)
    out = mobius_add(x, second, c)
    return project(out, c) if do_project else out


def dist(x: torch.Tensor, y: torch.Tensor, c: float = 1.0, keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance ``(2/sqrt(c)) artanh(sqrt(c) ||(-x) (+) y||)``."""
    sc = c**0.5
    return 2 / sc * _artanh(sc * mobius_add(-x, y, c).norm(dim=-1, keepdim=keepdim))


def gyration(u: torch.Tensor, v: torch.Tensor, w: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Gyration ``gyr[u, v]w = -(u (+) v) (+) (u (+) (v (+) w))`` (Ungar's gyrocommutative law)."""
    return mobius_add(-mobius_add(u, v, c), mobius_add(u, mobius_add(v, w, c), c), c)


def transport(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Parallel transport of the tangent vector ``v`` from ``x`` to ``y`` along the geodesic."""
    return gyration(y, -x, v, c) * lambda_x(x, c) / lambda_x(y, c)


def dist2plane(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Signed distance to the hyperplane ``{y : <(-p) (+) y, a> = 0}`` scaled by ``||a||``.

    Ganea et al. (2018) Eq. 25, i.e. the logit of hyperbolic multiclass logistic regression::

        (||a|| / sqrt(c)) asinh(2 sqrt(c) <(-p) (+) x, a> / ((1 - c||(-p) (+) x||^2) ||a||))

    Broadcasts over leading dimensions; the last dimension is the ball dimension.
    """
    sc = c**0.5
    diff = mobius_add(-p, x, c)
    diff2 = (diff * diff).sum(-1).clamp_min(_MIN_NORM)
    a_norm = a.norm(dim=-1).clamp_min(_MIN_NORM)
    inner = (diff * a).sum(-1)
    arg = 2 * sc * inner / ((1 - c * diff2).clamp_min(_MIN_NORM) * a_norm)
    return torch.asinh(arg) * a_norm / sc


def dist2planes(x: torch.Tensor, p: torch.Tensor, a: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """``dist2plane`` of every row of ``x`` (B, d) to every plane ``(p_k, a_k)`` (K, d) -> (B, K).

    Same formula, expanded so that only inner products appear (three matrix products instead of a
    (B, K, d) Möbius addition). With ``u = -p_k`` and ``v = x``, ``(-p_k) (+) x = (A u + B v) / D``
    where ``A = 1 + 2c<u,v> + c||v||^2``, ``B = 1 - c||u||^2``, ``D = 1 + 2c<u,v> + c^2||u||^2||v||^2``.
    """
    sc = c**0.5
    uv = -(x @ p.T)  # (B, K)
    v2 = (x * x).sum(-1, keepdim=True)  # (B, 1)
    u2 = (p * p).sum(-1)  # (K,)
    A = 1 + 2 * c * uv + c * v2
    Bc = 1 - c * u2
    D = (1 + 2 * c * uv + c**2 * u2 * v2).clamp_min(_MIN_NORM)
    ua = -(p * a).sum(-1)  # (K,)
    va = x @ a.T  # (B, K)
    inner = (A * ua + Bc * va) / D
    diff2 = ((A * A * u2 + 2 * A * Bc * uv + Bc * Bc * v2) / (D * D)).clamp_min(_MIN_NORM)
    a_norm = a.norm(dim=-1).clamp_min(_MIN_NORM)
    arg = 2 * sc * inner / ((1 - c * diff2).clamp_min(_MIN_NORM) * a_norm)
    return torch.asinh(arg) * a_norm / sc
