"""Learning rules as pseudo-gradients and the effective NTK (Bordelon & Pehlevan, ICLR 2023, Sec. 3).

Every rule updates the hidden weights with the rule's pseudo-gradient gt_{l+1} in place of the true
backward field g_{l+1} = gamma0 N df/dh_{l+1} (the readout is always trained by its gradient):

    dW_0 = (eta gamma0 / (P sqrt(D))) sum_mu Delta_mu gt_1(mu) x_mu^T
    dW_l = (eta gamma0 / (P sqrt(N))) sum_mu Delta_mu gt_{l+1}(mu) phi(h_l(mu))^T
    dw_L = (eta gamma0 / P)           sum_mu Delta_mu phi(h_L(mu))

which for GD is exactly -eta gamma0^2 N dL/dtheta with L = (1/2P) sum_mu Delta_mu^2. The function then
moves by df/dt = (eta/P) K_eff Delta with the (non-symmetric) effective NTK

    K_eff(mu, a) = sum_{l=0..L} Gt_{l+1}(mu, a) Phi_l(mu, a),
    Phi_l = phi_l phi_l^T / N (Phi_0 = X X^T / D),  Gt_l = g_l gt_l^T / N,  Gt_{L+1} = 1.

Pseudo-gradients: the rule table (``rule_table.py``, Table 1) defines them for every implementation;
here they are formed from a finite network's fields (true z_L = w_L, z_l = W_l^T g_{l+1}/sqrt(N),
g_l = phi'(h_l) z_l; FA's zt through the frozen B_l, b; DFA's d_l; Hebb's Delta phi(h_l)).
"""

from __future__ import annotations

import jax.numpy as jnp

from learning_rules.model import Features, NetSpec, forward
from learning_rules.rule_table import get_rule, pseudo_gradient
from orals23_shared.cli import UsageError

__all__ = [
    "true_gradient_fields",
    "pseudo_gradient_fields",
    "rule_update",
    "apply_update",
    "effective_ntk",
]


def true_gradient_fields(params: dict, feats: Features) -> list[jnp.ndarray]:
    """g_l = gamma0 N df/dh_l for l = 1..L (list index l-1), each (P, N)."""
    W, w = params["W"], params["w"]
    N = w.shape[0]
    L = len(feats.h)
    g = [None] * L
    z = jnp.broadcast_to(w, feats.h[-1].shape)
    for l in range(L - 1, -1, -1):
        g[l] = feats.dphi[l] * z
        if l > 0:
            z = g[l] @ W[l] / jnp.sqrt(N)
    return g


def pseudo_gradient_fields(
    params: dict, fixed: dict, feats: Features, spec: NetSpec, delta: jnp.ndarray
) -> list[jnp.ndarray]:
    """The rule's gt_l (l = 1..L, list index l-1) for the current errors ``delta`` (only Hebb uses them).

    One loop over the layers for every rule; the formula of each rule is ``rule_table.pseudo_gradient``.
    FA's feedback field runs backwards through the frozen B_l: zt_L = b, zt_l = B_l gt_{l+1} / sqrt(N)."""
    rule = get_rule(spec.rule)
    N = params["w"].shape[0]
    L = len(feats.h)
    g = true_gradient_fields(params, feats) if rule.backpropagates else [None] * L
    zt = jnp.broadcast_to(fixed["b"], feats.h[-1].shape) if rule.uses_rho else None
    gt = [None] * L
    for l in range(L - 1, -1, -1):
        d = fixed["d"][l] if rule.pseudo == "direct" else None
        gt[l] = pseudo_gradient(rule, g=g[l], dphi=feats.dphi[l], phi=feats.phi[l], zt=zt, d=d, delta=delta[:, None])
        if zt is not None and l > 0:
            zt = gt[l] @ fixed["Bt"][l - 1] / jnp.sqrt(N)
    return gt


def rule_update(
    params: dict,
    fixed: dict,
    X: jnp.ndarray,
    delta: jnp.ndarray,
    spec: NetSpec,
    eta: float,
    feats: Features | None = None,
) -> dict:
    """The parameter increment of one full-batch step of the rule (the formulas in the module docstring)."""
    if feats is None:
        feats = forward(params, fixed, X, spec)
    gt = pseudo_gradient_fields(params, fixed, feats, spec, delta)
    P, D = X.shape
    N = params["w"].shape[0]
    c = eta * spec.gamma0 / P
    dW = [c / jnp.sqrt(D) * (gt[0] * delta[:, None]).T @ X]
    for l in range(1, spec.depth):
        dW.append(c / jnp.sqrt(N) * (gt[l] * delta[:, None]).T @ feats.phi[l - 1])
    dw = c * feats.phi[-1].T @ delta
    return {"W": dW, "w": dw}


def apply_update(params: dict, update: dict) -> dict:
    return {"W": [a + b for a, b in zip(params["W"], update["W"])], "w": params["w"] + update["w"]}


def effective_ntk(
    params: dict, fixed: dict, X: jnp.ndarray, spec: NetSpec, delta: jnp.ndarray | None = None
) -> tuple[jnp.ndarray, jnp.ndarray, list]:
    """(K_eff, hidden part sum_{l<L} Gt_{l+1} Phi_l, feature kernels Phi_1..Phi_L) of a finite network.

    The Hebb pseudo-gradient contains the current errors, so its K_eff needs ``delta``."""
    feats = forward(params, fixed, X, spec)
    if delta is None:
        if get_rule(spec.rule).needs_delta:
            raise UsageError("the Hebb rule's effective NTK depends on the current errors: pass delta")
        delta = jnp.zeros_like(feats.f)
    g = true_gradient_fields(params, feats)
    gt = pseudo_gradient_fields(params, fixed, feats, spec, delta)
    N = params["w"].shape[0]
    Phi = [X @ X.T / X.shape[1]] + [p @ p.T / N for p in feats.phi]
    hidden = sum(g[l] @ gt[l].T / N * Phi[l] for l in range(spec.depth))
    return hidden + Phi[-1], hidden, Phi[1:]
