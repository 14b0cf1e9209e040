"""Models and the weight-norm operations of Omnigrok (Liu, Michaud, Tegmark, ICLR 2023, Sec. 2-3).

The paper's control variable is the weight norm ``w = ||theta||_2`` of *all* parameters (weights,
biases, embeddings) taken as one vector. Two operations act on it:

* ``scale_init(model, alpha)``: multiply every parameter by ``alpha`` right after the default
  initialisation, so ``w = alpha * w0`` (``w0``: the norm at default init). Large ``alpha`` plus weight
  decay gives grokking (Sec. 3).
* ``project_norm(model, w_target)``: rescale every parameter by ``w_target / ||theta||`` after each
  optimizer step, which keeps training on the sphere ``||theta|| = w_target`` (the "reduced landscape"
  of Sec. 2 and the constrained runs of Sec. 5 / Fig. 6).

Models: an MLP (images: MNIST 784-200-200-10, digits 64-200-200-10; teacher-student 5-100-100-5 tanh)
and the 1-layer, LayerNorm-free transformer of Nanda & Lieberum that the official modular-addition
notebook uses (its own ``randn / sqrt(d)`` init, answer read at the last position).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "Transformer", "weight_norm", "scale_init", "project_norm"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": lambda: nn.LeakyReLU(0.2)}


def weight_norm(model: nn.Module) -> float:
    """``||theta||_2`` over every parameter of ``model`` as one vector (float, no autograd)."""
    with torch.no_grad():
        params = [p.detach() for p in model.parameters()]
        if not params:
            return 0.0
        norms = torch._foreach_norm(params)
        return float(torch.linalg.vector_norm(torch.stack([n.to(torch.float64) for n in norms])))


def scale_init(model: nn.Module, alpha: float) -> float:
    """Multiply every parameter by ``alpha`` (the whole init, biases and embeddings included).

    Returns ``w0``, the norm *before* scaling, so the caller knows the target ``alpha * w0``.
    """
    if not alpha > 0 or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    w0 = weight_norm(model)
    with torch.no_grad():
        torch._foreach_mul_([p for p in model.parameters()], float(alpha))
    return w0


def project_norm(model: nn.Module, w_target: float) -> float:
    """Rescale all parameters in place so that ``||theta|| = w_target``; returns the norm before."""
    w = weight_norm(model)
    if w == 0.0:
        raise ValueError("cannot rescale a model whose weights are all zero")
    with torch.no_grad():
        torch._foreach_mul_([p for p in model.parameters()], w_target / w)
    return w


class MLP(nn.Module):
    """Fully connected network ``in -> widths... -> out`` with PyTorch's default ``nn.Linear`` init.

    The output layer is linear (no activation after it: the official MNIST notebook's choice; a ReLU
    there is the bug of grokking-squared#5's snippet).
    """

    def __init__(self, in_dim: int, widths: Sequence[int], out_dim: int, activation: str = "relu") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        dims = [in_dim, *widths, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(_ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    """One attention + MLP block, no LayerNorm, causal attention over ``(a, b, '=')`` tokens.

    Parameters and init follow the official notebook (Nanda's transformer): ``W_E, W_pos, W_Q, W_K,
    W_V, W_O, W_in, W_out ~ N(0, 1/d_model)``, ``W_U ~ N(0, 1/d_vocab)``, zero MLP biases; the
    vocabulary is ``p + 1`` tokens (``p`` is '=') for input and output. Only the last position's
    logits are computed: with one causal layer they do not depend on the other positions' outputs,
    so this equals ``model(x)[:, -1]`` of the full model at a third of the cost.
    """

    def __init__(self, d_vocab: int, d_model: int = 128, n_heads: int = 4, d_head: int = 32, d_mlp: int = 512,
                 n_ctx: int = 3) -> None:  # fmt: skip
        super().__init__()
        s = 1.0 / math.sqrt(d_model)
        self.n_heads, self.d_head = n_heads, d_head
        self.W_E = nn.Parameter(torch.randn(d_vocab, d_model) * s)
        self.W_pos = nn.Parameter(torch.randn(n_ctx, d_model) * s)
        self.W_Q = nn.Parameter(torch.randn(n_heads, d_head, d_model) * s)
        self.W_K = nn.Parameter(torch.randn(n_heads, d_head, d_model) * s)
        self.W_V = nn.Parameter(torch.randn(n_heads, d_head, d_model) * s)
        self.W_O = nn.Parameter(torch.randn(d_model, n_heads * d_head) * s)
        self.W_in = nn.Parameter(torch.randn(d_mlp, d_model) * s)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_model, d_mlp) * s)
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.W_U = nn.Parameter(torch.randn(d_model, d_vocab) / math.sqrt(d_vocab))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` (batch, n_ctx) int64 -> logits of the last position (batch, d_vocab)."""
        b, n = tokens.shape
        hd = self.n_heads * self.d_head
        x = self.W_E[tokens] + self.W_pos[:n]  # (b, n, d)
        last = x[:, -1]  # (b, d): the query position; the causal mask lets it see every position
        q = (last @ self.W_Q.reshape(hd, -1).T).view(b, 1, self.n_heads, self.d_head)
        k = (x @ self.W_K.reshape(hd, -1).T).view(b, n, self.n_heads, self.d_head)
        v = (x @ self.W_V.reshape(hd, -1).T).view(b, n, self.n_heads, self.d_head)
        attn = torch.softmax((k * q).sum(-1) / math.sqrt(self.d_head), dim=1)  # (b, n, heads) over keys
        z = (attn.unsqueeze(-1) * v).sum(1).reshape(b, hd)  # heads concatenated head-major, as W_O expects
        resid = last + z @ self.W_O.T
        resid = resid + torch.relu(resid @ self.W_in.T + self.b_in) @ self.W_out.T + self.b_out
        return resid @ self.W_U
