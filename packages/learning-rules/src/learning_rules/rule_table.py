"""The rule table: the one place that defines the learning rules and their parameters.

Bordelon & Pehlevan (ICLR 2023), Eq. 3 and Table 1. Every rule trains the hidden weights with a
pseudo-gradient gt_l in place of the true backward field g_l = phi'(h_l) z_l, z_l = W_l^T g_{l+1}/sqrt(N):

    backprop  (GD, GLN): gt_l = g_l                         (through the current W_l(t)^T)
    feedback  (FA):      gt_l = phi'(h_l) zt_l, zt_l = B_l gt_{l+1}/sqrt(N), zt_L = b   (frozen B_l, b;
                         B_l = rho W_l(0)^T + sqrt(1 - rho^2) B'_l)
    direct    (DFA):     gt_l = phi'(h_l) d_l               (a frozen random vector d_l per layer)
    activity  (Hebb):    gt_l = Delta phi(h_l)              (error-modulated Hebb: dW ~ Delta^2 phi phi^T)

GLN is GD through phi(h) = s(x) h with frozen Heaviside gates s(x) = Theta(m . x). The finite networks
(``rules.py``), the one-hidden-layer single site (``single_site.py``), the deep single site
(``deep_site.py``), the lazy eNTK (``kernels.py``) and the CLIs' choices all read this table, and compute
gt through ``pseudo_gradient``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orals23_shared.cli import UsageError

__all__ = ["Rule", "RULE_TABLE", "RULES", "get_rule", "pseudo_gradient"]


@dataclass(frozen=True)
class Rule:
    """One learning rule: how its pseudo-gradient is formed and what it implies for the theory."""

    name: str
    pseudo: Literal["backprop", "feedback", "direct", "activity"]
    description: str
    gated: bool = False  # GLN: phi(h) = s(x) h with frozen gates

    @property
    def uses_rho(self) -> bool:
        """FA's feedback correlates with the initial forward weights by rho."""
        return self.pseudo == "feedback"

    @property
    def needs_delta(self) -> bool:
        """The pseudo-gradient contains the current errors (Hebb), so K_eff does too."""
        return self.pseudo == "activity"

    @property
    def backpropagates(self) -> bool:
        """The features respond to the backward source r_l (the deep DMFT's response A_l is non-zero)."""
        return self.pseudo == "backprop"

    def lazy_weight(self, rho: float, depth: int, layer: int) -> float:
        """Weight of the term Gt_{l+1} Phi_l (l = ``layer`` < L) in the lazy eNTK: Gt_{l+1}(0) / G_{l+1}(0).

        GD/GLN 1; FA rho^(L-l) (one rho per frozen feedback matrix between layer l+1 and the output);
        DFA and Hebb 0 (independent feedback / activity carries no gradient information at t = 0)."""
        if self.pseudo == "backprop":
            return 1.0
        if self.pseudo == "feedback":
            return float(rho) ** (depth - layer)
        return 0.0


RULE_TABLE: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("gd", "backprop", "gradient descent (backpropagation through W(t))"),
        Rule("fa", "feedback", "feedback alignment (frozen B = rho W(0)^T + sqrt(1-rho^2) B')"),
        Rule("dfa", "direct", "direct feedback alignment (frozen random vector per layer)"),
        Rule("hebb", "activity", "error-modulated Hebb (gt = Delta phi(h))"),
        Rule("gln", "backprop", "gated linear network trained by gradient descent", gated=True),
    )
}
RULES: tuple[str, ...] = tuple(RULE_TABLE)


def get_rule(name: str) -> Rule:
    """The table entry of ``name``; an unknown name is a one-line usage error."""
    try:
        return RULE_TABLE[name]
    except KeyError:
        raise UsageError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}") from None


def pseudo_gradient(rule: Rule | str, *, g=None, dphi=None, phi=None, zt=None, d=None, delta=None):
    """Table 1: the pseudo-gradient gt_l from the fields every implementation has (arrays broadcast).

    ``g`` true backward field, ``dphi`` = phi'(h_l), ``phi`` = phi(h_l), ``zt`` FA's feedback field,
    ``d`` DFA's frozen vector, ``delta`` the current errors Delta (over the sample axis). Only the
    fields of the rule's kind are used."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    if rule.pseudo == "backprop":
        return g
    if rule.pseudo == "feedback":
        return dphi * zt
    if rule.pseudo == "direct":
        return dphi * d
    return delta * phi
