"""H3 layer, S4D layer, causal attention and the GPT-style language models (H3 paper, Sections 3 and 5).

H3 layer (paper Algorithm 1, eq. in Section 3.2)::

    Q, K, V = W_q u, W_k u, W_v u
    K~  = ShiftSSM(K) + D_k (.) K                         # shift SSM, first skip
    KV  = K~ (outer) V per head (d_h x d_h per position)  # d_h = head_dim, H = d_model / d_h heads
    S   = DiagSSM(KV) + D (.) KV                          # one diagonal SSM per head, shared by its d_h^2 entries
    O_t = sum_i Q_{t,i} S_{t,i,:};   y = W_o O            # no nonlinearity inside the mixer

Each SSM runs in convolution mode (FFT conv, ``fftconv.py``, optionally the fused CUDA kernel), in state-passing
mode for sequences longer than ``chunk_size`` (Algorithm 2), or in recurrent mode for generation (``step``,
O(1) state per token per layer). The LMs share one pre-norm block (LN -> mixer -> residual, LN -> MLP 4d with
GELU-tanh -> residual), GPT-2 initialisation (N(0, 0.02), ``out_proj``/``fc2`` scaled by 1/sqrt(2 n_layer)), tied
head and a vocabulary padded to a multiple of 8. H3/hybrid/S4D models have no positional embeddings (as in the
official code); the Transformer baseline has learned absolute ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from h3_flashconv.fftconv import block_fft_conv, fftconv_ref
from h3_flashconv.ssm import DiagSSM, ShiftSSM
from orals23_shared.cli import UsageError

__all__ = ["ModelConfig", "H3", "S4DLayer", "CausalSelfAttention", "LanguageModel", "conv_function", "generate"]

ConvImpl = Literal["torch", "block", "cuda"]
ModelKind = Literal["h3", "hybrid", "transformer", "s4d"]


def conv_function(impl: ConvImpl):
    """The causal conv ``(u, K) -> K * u`` used in convolution mode."""
    if impl == "torch":
        return lambda u, k: fftconv_ref(u, k)
    if impl == "block":
        return lambda u, k: block_fft_conv(u, k)
    if impl == "cuda":
        from h3_flashconv.cuda_ext import fftconv_cuda

        return lambda u, k: fftconv_cuda(u, k)
    raise UsageError(f"unknown conv implementation {impl!r} (choose torch, block or cuda)")


def resolve_impl(impl: ConvImpl, x: torch.Tensor) -> ConvImpl:
    """``conv_impl`` after the opt-in switch: ``H3_FLASHCONV_CUDA=1`` turns the default "torch" path into the fused
    kernel for CUDA tensors; asking for it (switch or ``conv_impl="cuda"``) without CUDA is a clear error."""
    from h3_flashconv.cuda_ext import SWITCH, cuda_enabled

    if impl == "torch" and cuda_enabled():
        if not torch.cuda.is_available():
            raise UsageError(
                f"{SWITCH}=1 asks for the fused CUDA FFT conv but no CUDA device is available; "
                f"unset {SWITCH} to use the PyTorch reference path"
            )
        return "cuda" if x.is_cuda else impl
    if impl == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"conv_impl='cuda' asks for the fused CUDA FFT conv (switch {SWITCH}) but no CUDA device is "
            "available; use conv_impl='torch'"
        )
    return impl


def _check_len(L: int, max_len: int | None, chunk_size: int | None) -> None:
    if max_len is not None and max_len < L and chunk_size is None:
        raise UsageError(
            f"sequence length {L} exceeds the configured max_len {max_len}; enable state passing "
            f"with chunk_size <= {max_len} (--chunk-size) to process it chunk by chunk"
        )


class H3(nn.Module):
    """The H3 mixer. Input/output (B, L, d_model)."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        head_dim: int = 1,
        use_shift: bool = True,
        ssm_lr: float | None = 1e-3,
        max_len: int | None = None,
        chunk_size: int | None = None,
        conv_impl: ConvImpl = "torch",
    ) -> None:
        super().__init__()
        if head_dim < 1 or d_model % head_dim:
            raise UsageError(f"head_dim {head_dim} must divide d_model {d_model}")
        self.d_model, self.head_dim, self.H = d_model, head_dim, d_model // head_dim
        self.use_shift, self.max_len, self.chunk_size, self.conv_impl = use_shift, max_len, chunk_size, conv_impl
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        if use_shift:
            self.shift_ssm = ShiftSSM(d_model, d_state, lr=ssm_lr)
            self.shift_D = nn.Parameter(torch.randn(d_model))
        self.diag_ssm = DiagSSM(self.H, d_state, lr=ssm_lr)
        self.D = nn.Parameter(torch.randn(self.H))
        self.output_linear = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d, ...) channel c = h * d_h + i  ->  (B, H, d_h, ...)."""
        return x.reshape(x.shape[0], self.H, self.head_dim, *x.shape[2:])

    def _kv(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, d, L) x2 -> KV (B, d_h, d_h, H, L): KV[b, i, j, h] = k[b, h, i] v[b, h, j]."""
        k, v = self._split(k), self._split(v)
        kv = k.unsqueeze(3) * v.unsqueeze(2)  # (B, H, i, j, ...)
        return kv.movedim(1, 3)

    def _contract(self, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """O[b, h, j] = sum_i q[b, h, i] S[b, i, j, h]; returns (B, d, ...)."""
        s = s.movedim(3, 1)  # (B, H, i, j, ...)
        o = (self._split(q).unsqueeze(3) * s).sum(2)  # (B, H, j, ...)
        return o.reshape(o.shape[0], self.d_model, *o.shape[3:])

    def forward(self, u: torch.Tensor, return_state: bool = False) -> Any:
        """Convolution mode (state passing over chunks when ``L > chunk_size``); optionally the final state."""
        L = u.shape[1]
        _check_len(L, self.max_len, self.chunk_size)
        q, k, v = (p(u).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, d, L)
        impl = resolve_impl(self.conv_impl, u)
        fused = (
            impl == "cuda"
            and self.head_dim == 1
            and not return_state
            and (self.chunk_size is None or self.chunk_size >= L)
        )
        conv = conv_function(impl)
        chunked = self.chunk_size is not None and self.chunk_size < L
        state_k = None
        if self.use_shift:
            k_in = k
            if chunked:
                k_sh, state_k = self.shift_ssm.forward_chunked(k, self.chunk_size, conv=conv)
            else:
                k_sh = self.shift_ssm(k, conv=conv)
                if return_state:
                    state_k = self.shift_ssm.forward_state(k)
            k = k_sh + self.shift_D.unsqueeze(-1) * k_in
        if fused:
            from h3_flashconv.cuda_ext import fftconv_cuda

            o = fftconv_cuda(k, self.diag_ssm.kernel(L), self.D, v=v, q=q)
            y, state = o, None
        else:
            kv = self._kv(k, v)
            if chunked:
                s, state = self.diag_ssm.forward_chunked(kv, self.chunk_size, conv=conv)
            else:
                s = self.diag_ssm(kv, conv=conv)
                state = self.diag_ssm.forward_state(kv) if return_state else None
            s = s + self.D.unsqueeze(-1) * kv
            y = self._contract(q, s)
        y = self.output_linear(y.transpose(1, 2).to(u.dtype))
        if return_state:
            return y, (state_k, state)
        return y

    def default_state(self, batch: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        sk = self.shift_ssm.default_state(batch) if self.use_shift else None
        return sk, self.diag_ssm.default_state(batch, self.head_dim, self.head_dim)

    def step(self, u_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """Recurrent mode, one token: u_t (B, d) -> (B, d), with state (shift (B, d, N), diag (B, d_h, d_h, H, N/2))."""
        state_k, state_s = state
        q, k, v = self.q_proj(u_t), self.k_proj(u_t), self.v_proj(u_t)
        if self.use_shift:
            k_sh, state_k = self.shift_ssm.step(k, state_k)
            k = k_sh + self.shift_D * k
        kv = self._kv(k, v)  # (B, i, j, H)
        s, state_s = self.diag_ssm.step(kv, state_s)
        s = s + self.D * kv
        y = self._contract(q, s)
        return self.output_linear(y.to(u_t.dtype)), (state_k, state_s)


class S4DLayer(nn.Module):
    """The "S4D alone" baseline mixer (state-spaces/s4 ``S4D``): ``GLU(W (GELU(K * u + D u)))``."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        ssm_lr: float | None = 1e-3,
        max_len: int | None = None,
        chunk_size: int | None = None,
        conv_impl: ConvImpl = "torch",
    ) -> None:
        super().__init__()
        self.ssm = DiagSSM(d_model, d_state, lr=ssm_lr)
        self.D = nn.Parameter(torch.randn(d_model))
        self.output_linear = nn.Linear(d_model, 2 * d_model)
        self.max_len, self.chunk_size, self.conv_impl = max_len, chunk_size, conv_impl

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return F.glu(self.output_linear(F.gelu(y)), dim=-1)

    def forward(self, u: torch.Tensor, return_state: bool = False) -> Any:
        L = u.shape[1]
        _check_len(L, self.max_len, self.chunk_size)
        x = u.transpose(1, 2)
        conv = conv_function(resolve_impl(self.conv_impl, u))
        if self.chunk_size is not None and self.chunk_size < L:
            y, state = self.ssm.forward_chunked(x, self.chunk_size, conv=conv)
        else:
            y = self.ssm(x, conv=conv)
            state = self.ssm.forward_state(x) if return_state else None
        y = self._out((y + self.D.unsqueeze(-1) * x).transpose(1, 2).to(u.dtype))
        return (y, state) if return_state else y

    def default_state(self, batch: int) -> torch.Tensor:
        return self.ssm.default_state(batch)

    def step(self, u_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.ssm.step(u_t, state)
        return self._out((y + self.D * u_t).to(u_t.dtype)), state


class CausalSelfAttention(nn.Module):
    """Multi-head causal softmax attention (``scaled_dot_product_attention``) with a KV cache for generation."""

    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        if d_model % n_head:
            raise UsageError(f"n_head {n_head} must divide d_model {d_model}")
        self.n_head = n_head
        self.Wqkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        return x.view(B, L, self.n_head, -1).transpose(1, 2)

    def forward(self, u: torch.Tensor, return_state: bool = False) -> Any:
        B, L, d = u.shape
        q, k, v = (self._heads(t) for t in self.Wqkv(u).split(d, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = self.out_proj(y.transpose(1, 2).reshape(B, L, d))
        return (y, (k, v)) if return_state else y

    def default_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.out_proj.in_features
        w = self.Wqkv.weight
        empty = torch.zeros(batch, self.n_head, 0, d // self.n_head, dtype=w.dtype, device=w.device)
        return empty, empty.clone()

    def step(self, u_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One token against the KV cache: O(t d) per token (the cache grows)."""
        B, d = u_t.shape
        q, k, v = (self._heads(t.unsqueeze(1)) for t in self.Wqkv(u_t).split(d, dim=-1))
        k_cache, v_cache = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k_cache, v_cache)  # the new token sees every cached one
        return self.out_proj(y.reshape(B, d)), (k_cache, v_cache)


@dataclass
class ModelConfig:
    """Architecture of one language model (all four kinds share the block structure)."""

    model: ModelKind = "h3"
    vocab_size: int = 65
    d_model: int = 64
    n_layer: int = 2
    d_state: int = 64
    head_dim: int = 1
    n_head: int = 4
    attn_layer_idx: tuple[int, ...] = (1,)
    use_shift: bool = True
    max_len: int = 8192
    chunk_size: int | None = None
    conv_impl: ConvImpl = "torch"
    embed_dropout: float = 0.1
    resid_dropout: float = 0.0
    ssm_lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.model not in ("h3", "hybrid", "transformer", "s4d"):
            raise UsageError(f"unknown model {self.model!r}")
        for name in ("vocab_size", "d_model", "n_layer", "d_state", "max_len"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.attn_layer_idx = tuple(int(i) for i in self.attn_layer_idx)
        if self.model == "hybrid":
            bad = [i for i in self.attn_layer_idx if not 0 <= i < self.n_layer]
            if bad or not self.attn_layer_idx:
                raise UsageError(f"attn_layer_idx {self.attn_layer_idx} must name layers in [0, {self.n_layer})")
        if self.chunk_size is not None and not self.chunk_size >= 1:
            raise UsageError(f"chunk_size must be >= 1, got {self.chunk_size}")

    def mixer_kind(self, layer: int) -> str:
        if self.model == "transformer" or (self.model == "hybrid" and layer in self.attn_layer_idx):
            return "attn"
        return "s4d" if self.model == "s4d" else "h3"


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        d = cfg.d_model
        kind = cfg.mixer_kind(layer)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        if kind == "attn":
            self.mixer: nn.Module = CausalSelfAttention(d, cfg.n_head)
        elif kind == "s4d":
            self.mixer = S4DLayer(d, cfg.d_state, cfg.ssm_lr, cfg.max_len, cfg.chunk_size, cfg.conv_impl)
        else:
            self.mixer = H3(
                d, cfg.d_state, cfg.head_dim, cfg.use_shift, cfg.ssm_lr, cfg.max_len, cfg.chunk_size, cfg.conv_impl
            )
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(cfg.resid_dropout)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh")))

    def forward(self, x: torch.Tensor, return_state: bool = False) -> Any:
        if return_state:
            m, state = self.mixer(self.ln1(x), return_state=True)
            x = x + self.drop(m)
            return x + self._mlp(x), state
        x = x + self.drop(self.mixer(self.ln1(x)))
        return x + self._mlp(x)

    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        m, state = self.mixer.step(self.ln1(x_t), state)
        x_t = x_t + m
        return x_t + self._mlp(x_t), state


class LanguageModel(nn.Module):
    """GPT-style LM: embedding -> blocks -> LN -> tied head. ``model`` picks h3 / hybrid / transformer / s4d."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.padded_vocab = 8 * math.ceil(cfg.vocab_size / 8)
        self.embed = nn.Embedding(self.padded_vocab, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.model == "transformer" else None
        self.drop = nn.Dropout(cfg.embed_dropout)
        self.blocks = nn.ModuleList([Block(cfg, i) for i in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=1e-5)
        self._init_weights()

    def _init_weights(self) -> None:
        scale = 1.0 / math.sqrt(2 * self.cfg.n_layer)
        for name, mod in self.named_modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)
                if getattr(mod, "bias", None) is not None:
                    nn.init.zeros_(mod.bias)
                if name.endswith(("out_proj", "fc2")):
                    mod.weight.data.mul_(scale)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if idx.dim() != 2:
            raise UsageError(f"token ids must have shape (batch, length), got {tuple(idx.shape)}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.vocab_size):
            raise UsageError(
                f"token ids must lie in [0, {self.cfg.vocab_size}), got [{int(idx.min())}, {int(idx.max())}]"
            )
        x = self.embed(idx)
        if self.pos_embed is not None:
            L = idx.shape[1]
            if offset + L > self.cfg.max_len:
                raise UsageError(
                    f"the Transformer's learned positions stop at max_len {self.cfg.max_len}; "
                    f"got position {offset + L - 1}"
                )
            x = x + self.pos_embed(torch.arange(offset, offset + L, device=idx.device))
        return self.drop(x)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.ln_f(x), self.embed.weight)[..., : self.cfg.vocab_size]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, vocab) for token ids (B, L)."""
        x = self._embed(idx)
        for blk in self.blocks:
            x = blk(x)
        return self._head(x)

    def prefill(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Read a prompt in convolution mode; returns its logits and the per-layer recurrent state / KV cache."""
        x = self._embed(idx)
        states = []
        for blk in self.blocks:
            x, st = blk(x, return_state=True)
            states.append(st)
        return self._head(x), {"states": states, "offset": idx.shape[1]}

    def init_cache(self, batch: int) -> dict:
        return {"states": [blk.mixer.default_state(batch) for blk in self.blocks], "offset": 0}

    def step(self, token: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """One token (B,) -> logits (B, vocab): recurrent for H3/S4D layers, KV cache for attention layers."""
        x = self._embed(token.unsqueeze(1), offset=cache["offset"])[:, 0]
        new_states = []
        for blk, st in zip(self.blocks, cache["states"]):
            x, st = blk.step(x, st)
            new_states.append(st)
        return self._head(x), {"states": new_states, "offset": cache["offset"] + 1}


def sample_next(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sample from ``softmax(logits / temperature)`` restricted to the ``top_k`` largest; temperature 0 = greedy."""
    if temperature < 0:
        raise UsageError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: LanguageModel,
    prompt: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Prompt (B, L0) -> (B, L0 + max_new_tokens): prompt in conv mode, then one ``step`` per new token."""
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise UsageError(f"prompt must have shape (batch, length >= 1), got {tuple(prompt.shape)}")
    logits, cache = model.prefill(prompt)
    out = [prompt]
    nxt = sample_next(logits[:, -1], temperature, top_k, generator)
    for i in range(max_new_tokens):
        out.append(nxt.unsqueeze(1))
        if i == max_new_tokens - 1:
            break
        logits_t, cache = model.step(nxt, cache)
        nxt = sample_next(logits_t, temperature, top_k, generator)
    return torch.cat(out, dim=1)
