"""learning-rules: Bordelon & Pehlevan, "The Influence of Learning Rule on Representation Dynamics in Wide
Neural Networks" (ICLR 2023, arXiv:2210.02157) in JAX.

Finite-width mean-field networks trained with GD, FA, DFA, error-modulated Hebb and GLN (``model``,
``rules``, ``train``), the lazy effective NTK of each rule (``kernels``) and the rich-regime DMFT (``dmft``).
"""

from learning_rules.dmft import DMFTConfig, DMFTResult, solve_dmft
from learning_rules.kernels import ACTIVATIONS, LazyKernels, lazy_delta, lazy_entk, lazy_kernels
from learning_rules.model import NetSpec, forward, init_network
from learning_rules.rule_table import RULE_TABLE, RULES, get_rule
from learning_rules.rules import effective_ntk, rule_update
from learning_rules.train import TrainConfig, train_run

__all__ = [
    "ACTIVATIONS",
    "RULES",
    "RULE_TABLE",
    "get_rule",
    "DMFTConfig",
    "DMFTResult",
    "LazyKernels",
    "NetSpec",
    "TrainConfig",
    "effective_ntk",
    "forward",
    "init_network",
    "lazy_delta",
    "lazy_entk",
    "lazy_kernels",
    "rule_update",
    "solve_dmft",
    "train_run",
]
