"""Transformer blocks whose FFN is dense or an SMoE layer, the task models built from them, and the helpers
that set k in every MoE layer (training schedule, self-slimming evaluation) and convert dense FFNs to experts.

A block is pre-LN: ``x + Attn(LN(x))`` then ``x + Dropout(FFN(LN(x)))`` (the official Transformer-XL code is
post-LN with relative positions and memory; at our scale a pre-LN block with learned absolute positions is
the stable choice, see the README). ``causal=True`` gives the decoder block (char-level LM), ``False`` the
encoder block (sequence classification). Inputs are token ids (an embedding) or feature vectors per position
(a linear embedding, e.g. the 8 rows of an 8x8 digit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from orals23_shared.cli import UsageError
from smoe_dropout.moe import ROUTERS, DenseFFN, MoEFFN, dense_ffn_flops, moe_ffn_flops

__all__ = [
    "Block",
    "ModelConfig",
    "Transformer",
    "aux_loss",
    "convert_dense_to_moe",
    "flops_per_token",
    "moe_layers",
    "n_params",
    "set_top_k",
    "use_top_k",
]


@dataclass
class ModelConfig:
    """Architecture of one model. ``vocab_size`` (token ids, id 0 = padding/unknown) or ``in_features``."""

    vocab_size: int = 0
    in_features: int = 0
    n_classes: int = 0  # 0: a language model (a next-token head over the vocabulary)
    context: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    n_experts: int = 16
    router: str = "random"
    dropout: float = 0.1
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.router not in ROUTERS:
            raise UsageError(f"unknown router {self.router!r} (choose {', '.join(ROUTERS)})")
        if (self.vocab_size > 0) == (self.in_features > 0):
            raise UsageError("a model takes either token ids (vocab_size) or feature vectors (in_features)")
        if self.n_classes == 0 and self.vocab_size == 0:
            raise UsageError("a language model needs a vocabulary")
        if self.d_model % self.n_heads:
            raise UsageError(f"--d-model {self.d_model} is not divisible by --n-heads {self.n_heads}")
        if min(self.context, self.d_model, self.n_heads, self.n_layers, self.d_ff) < 1:
            raise UsageError("context, d_model, n_heads, n_layers and d_ff must be >= 1")
        if self.router != "dense" and (self.n_experts < 1 or self.d_ff % self.n_experts):
            raise UsageError(
                f"--d-ff {self.d_ff} is not divisible by --n-experts {self.n_experts} (each expert gets D/N units)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")

    @property
    def is_lm(self) -> bool:
        return self.n_classes == 0


class Block(nn.Module):
    """Pre-LN transformer block with a dense or MoE FFN; causal (decoder) or bidirectional (encoder)."""

    def __init__(self, cfg: ModelConfig, causal: bool) -> None:
        super().__init__()
        self.causal, self.n_heads = causal, cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        if cfg.router == "dense":
            self.ffn: nn.Module = DenseFFN(cfg.d_model, cfg.d_ff, cfg.dropout)
        else:
            self.ffn = MoEFFN(
                cfg.d_model, cfg.d_ff // cfg.n_experts, cfg.n_experts, cfg.router, cfg.dropout, init_std=cfg.init_std
            )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, pad: Tensor | None = None) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        mask = None if pad is None else (~pad)[:, None, None, :]  # keys that are not padding
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal and mask is None)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ffn(self.ln2(x)))


class Transformer(nn.Module):
    """Embedding, learned positions, ``n_layers`` blocks, final LN and a head.

    LM (``n_classes == 0``): causal blocks, next-token logits ``(B, T, V)``. Classifier: encoder blocks,
    mean over the non-padding positions, class logits ``(B, C)``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.embed: nn.Module = nn.Embedding(cfg.vocab_size, d) if cfg.vocab_size else nn.Linear(cfg.in_features, d)
        self.pos = nn.Embedding(cfg.context, d)
        self.blocks = nn.ModuleList([Block(cfg, causal=cfg.is_lm) for _ in range(cfg.n_layers)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size if cfg.is_lm else cfg.n_classes)
        self.apply(self._init)

    def _init(self, m: nn.Module) -> None:
        """Official ``weights_init``: N(0, 0.02) weights, zero biases (the MoE layer initialises itself alike)."""
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, self.cfg.init_std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[1]
        if t > self.cfg.context:
            raise UsageError(f"sequence of {t} positions is longer than the model's context {self.cfg.context}")
        pad = (x == 0) if (self.cfg.vocab_size and not self.cfg.is_lm) else None
        if pad is not None and not bool(pad.any()):
            pad = None
        h = self.embed(x) + self.pos.weight[:t]
        for block in self.blocks:
            h = block(h, pad)
        h = self.norm(h)
        if self.cfg.is_lm:
            return self.head(h)
        if pad is None:
            return self.head(h.mean(1))
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.head((h * keep).sum(1) / keep.sum(1).clamp_min(1.0))


def moe_layers(model: nn.Module) -> list[MoEFFN]:
    return [m for m in model.modules() if isinstance(m, MoEFFN)]


def n_experts_of(model: nn.Module) -> int:
    """N of the model's MoE layers (0 for a dense model)."""
    layers = moe_layers(model)
    return layers[0].n_experts if layers else 0


def set_top_k(model: nn.Module, k: int) -> None:
    """Activate k experts in every MoE layer (official ``set_top_k``); a dense model ignores it."""
    for m in moe_layers(model):
        m.set_k(k)


@contextlib.contextmanager
def use_top_k(model: nn.Module, k: int | None, uniform: bool = False) -> Iterator[None]:
    """Evaluate at k (self-slimming) and restore the previous k afterwards (the official code does not)."""
    layers = moe_layers(model)
    saved = [(m.k, m.uniform) for m in layers]
    try:
        for m in layers:
            if k is not None:
                m.set_k(k)
            m.uniform = uniform
        yield
    finally:
        for m, (k0, u0) in zip(layers, saved):
            m.k, m.uniform = k0, u0


def aux_loss(model: nn.Module) -> Tensor | None:
    """Sum of the balance losses of the last forward (learned routers in training mode), or None."""
    losses = [m.aux_loss for m in moe_layers(model) if m.aux_loss is not None]
    return torch.stack(losses).sum() if losses else None


def convert_dense_to_moe(model: nn.Module, n_experts: int, router: str = "random") -> nn.Module:
    """Replace every ``DenseFFN`` inside ``model`` by ``MoEFFN.from_dense`` (in place; returns the model).

    Works on any module built from our blocks (a ``Transformer``, a stack of ``Block``s, a bare ``DenseFFN``
    inside a container): each dense FFN is split into ``n_experts`` experts. A ``Transformer``'s config is
    updated to the new router. The converted model equals the dense one at k = N with uniform expert weights
    (``use_top_k(m, N, True)``).
    """
    if router not in ("random", "learned"):
        raise UsageError(f"convert to router 'random' or 'learned', got {router!r}")
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, DenseFFN)
    ]
    if not targets:
        raise UsageError("the model has no dense FFN to convert (is it already a mixture of experts?)")
    init_std = model.cfg.init_std if isinstance(model, Transformer) else 0.02
    for parent, name, child in targets:
        setattr(parent, name, MoEFFN.from_dense(child, n_experts, router=router, init_std=init_std))
    if isinstance(model, Transformer):
        model.cfg = ModelConfig(**{**asdict(model.cfg), "router": router, "n_experts": n_experts})
    return model


def n_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def flops_per_token(cfg: ModelConfig, k: int | None = None, seq_len: int | None = None) -> int:
    """Analytic forward FLOPs per token (2 per multiply-add) at k experts; k = None means all (or dense).

    Per block: QKV and output projections ``8 d^2``, attention scores and weighted values ``4 T d`` (all T
    positions counted, also under the causal mask), and the FFN (``dense_ffn_flops`` / ``moe_ffn_flops``);
    plus the input embedding for feature inputs and the head. Norms, softmax and biases are left out.
    """
    d, t = cfg.d_model, seq_len or cfg.context
    if cfg.router == "dense":
        ffn = dense_ffn_flops(d, cfg.d_ff)
    else:
        ffn = moe_ffn_flops(d, cfg.d_ff, cfg.n_experts, cfg.n_experts if k is None else k)
    block = 8 * d * d + 4 * t * d + ffn
    head = 2 * d * (cfg.vocab_size if cfg.is_lm else cfg.n_classes)
    if not cfg.is_lm:
        head = head // t  # one classification per sequence
    embed = 2 * cfg.in_features * d
    return cfg.n_layers * block + head + embed
