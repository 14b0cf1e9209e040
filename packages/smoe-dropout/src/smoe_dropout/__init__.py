"""SMoE-Dropout (Chen, Zhang, Jaiswal, Liu, Wang; ICLR 2023): sparse MoE FFNs with a frozen random router and a
growing number of activated experts, giving transformers that can be evaluated at any k (self-slimming)."""

from smoe_dropout.model import (
    Block,
    ModelConfig,
    Transformer,
    convert_dense_to_moe,
    flops_per_token,
    moe_layers,
    set_top_k,
    use_top_k,
)
from smoe_dropout.moe import DenseFFN, MoEFFN, balance_loss, dense_ffn_flops, moe_ffn_flops, route
from smoe_dropout.schedule import KSchedule

__all__ = [
    "Block",
    "DenseFFN",
    "KSchedule",
    "MoEFFN",
    "ModelConfig",
    "Transformer",
    "balance_loss",
    "convert_dense_to_moe",
    "dense_ffn_flops",
    "flops_per_token",
    "moe_ffn_flops",
    "moe_layers",
    "route",
    "set_top_k",
    "use_top_k",
]
