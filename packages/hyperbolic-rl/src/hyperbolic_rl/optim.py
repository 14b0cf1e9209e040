"""Riemannian Adam (Bécigneul & Ganea, ICLR 2019) for parameters on the Poincaré ball.

Cetin et al. (ICLR 2023) train every agent with geoopt's ``RiemannianAdam``; the only manifold
parameters are the hyperbolic MLR offsets ``p_k``. This module implements the update directly
(geoopt is not a dependency). For a parameter tagged ``ball_param`` with curvature ``c``:

    g  = egrad / lambda_x^2                                  (Riemannian gradient)
    m  = b1 m + (1 - b1) g
    v  = b2 v + (1 - b2) lambda_x^2 g * g                    (per-coordinate metric norm)
    x' = exp_x(-lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps))
    m  = P_{x -> x'}(m)                                      (parallel transport of the momentum)

Euclidean parameters get the plain Adam update (identical to ``torch.optim.Adam``). geoopt retracts
with ``x + u`` followed by projection; we use the exact exponential map (Bécigneul & Ganea's
Algorithm 1), which agrees to first order in the step size.
"""

from __future__ import annotations

import torch

from hyperbolic_rl.ball import expmap, lambda_x, project, transport

__all__ = ["RiemannianAdam"]


class RiemannianAdam(torch.optim.Optimizer):
    """Adam for Euclidean parameters, Riemannian Adam for parameters tagged ``ball_param``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr, eps = group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                bc1, bc2 = 1 - b1**t, 1 - b2**t
                if getattr(p, "ball_param", False):
                    c = float(getattr(p, "curvature", 1.0))
                    lam2 = lambda_x(p, c) ** 2
                    g = p.grad / lam2
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).add_(lam2 * g * g, alpha=1 - b2)
                    direction = m / ((v / bc2).sqrt() + eps)
                    new_p = project(expmap(p, -lr / bc1 * direction, c), c)
                    m.copy_(transport(p, new_p, m, c))
                    p.copy_(new_p)
                else:
                    m.mul_(b1).add_(p.grad, alpha=1 - b1)
                    v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    p.addcdiv_(m, (v / bc2).sqrt().add_(eps), value=-lr / bc1)
        return loss
