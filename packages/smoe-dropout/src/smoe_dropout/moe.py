"""The mixture-of-experts feed-forward layer of SMoE-Dropout (Chen et al., ICLR 2023, Sec. 3, Fig. 2).

A dense FFN ``d -> D -> d`` is modularised into N experts ``d -> D/N -> d`` (ReLU, dropout on the hidden
units, a bias on both linears), so the layer holds the parameters of the dense FFN plus an ``N x (d+1)``
router. Per token (official ``CustomNaiveGate`` + ``FMoE``)::

    g = R(x)                                  # router logits, one per expert
    idx = topk(g, k);  w = softmax(g[idx])    # softmax over the k selected logits only (also at k = N)
    y = sum_j w_j * Expert_idx[j](x)          # a convex combination: the output scale does not depend on k

Routers: ``random`` (SMoE-Dropout: the linear router is initialised and frozen, never trained), ``learned``
(the baseline: the same router trained, plus the official load-balancing loss). The dense FFN of equal
parameters is ``DenseFFN``.

Dispatch is batched, never a Python loop over tokens: the (token, slot) pairs are sorted by expert, each
expert gathers its segment of tokens, runs once on it (a loop over the N experts, as fastmoe's CPU path)
with the routing weights applied to its hidden units, and its output is added back with ``index_add_``.
At k = N every expert sees every token and the layer is one dense matmul pair on hidden units weighted per
expert (``_all_experts``), which gives the same numbers without the gather/scatter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from orals23_shared.cli import UsageError

__all__ = [
    "DenseFFN",
    "MoEFFN",
    "ROUTERS",
    "balance_loss",
    "dense_ffn_flops",
    "moe_ffn_flops",
    "route",
]

ROUTERS = ("random", "learned", "dense")


def route(logits: Tensor, k: int, uniform: bool = False) -> tuple[Tensor, Tensor]:
    """Top-k experts per token and their weights: softmax over the k selected logits (official gate).

    ``uniform``: every expert with weight 1/N (the official ``dense_moe_flag`` path, unused by the paper's
    scripts; here it makes a k = N layer split from a dense FFN equal that FFN).
    """
    n = logits.shape[-1]
    if not 1 <= k <= n:
        raise UsageError(f"k must be between 1 and the number of experts {n}, got {k}")
    if uniform:
        idx = torch.arange(n, device=logits.device).expand(*logits.shape[:-1], n)
        return idx, torch.full(logits.shape, 1.0 / n, dtype=logits.dtype, device=logits.device)
    vals, idx = torch.topk(logits, k, dim=-1)
    return idx, torch.softmax(vals, dim=-1)


def balance_loss(logits: Tensor, idx: Tensor, n_experts: int) -> Tensor:
    """The official load-balancing loss (``CustomNaiveGate_Balance.set_load_balance``).

    ``N * sum_e f_e * P_e`` with ``f_e`` the fraction of the T*k (token, slot) pairs sent to expert e and
    ``P_e`` the summed softmax probability of e over tokens divided by T*k (the official normaliser; the Switch
    Transformer's ``P_e`` divides by T, so this is Switch's loss divided by k). Minimum 1/k at a uniform load.
    """
    slots = idx.numel()
    frac = torch.bincount(idx.reshape(-1), minlength=n_experts).to(logits.dtype) / slots
    prob = torch.softmax(logits, dim=-1).sum(0) / slots
    return n_experts * (frac * prob).sum()


class DenseFFN(nn.Module):
    """The position-wise FFN ``W2 relu(W1 x + b1) + b2`` with dropout on the hidden units (dense baseline)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class MoEFFN(nn.Module):
    """N experts ``d -> h -> d`` stored as batched tensors, a router, and the current k.

    ``k`` is set from outside (the training schedule, or any k at evaluation: self-slimming).
    ``aux_loss`` holds the balance loss of the last training forward for a learned router (else None).
    """

    def __init__(
        self,
        d_model: int,
        d_expert: int,
        n_experts: int,
        router: str = "random",
        dropout: float = 0.0,
        k: int | None = None,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if router not in ("random", "learned"):
            raise UsageError(f"an MoE layer needs router 'random' or 'learned', got {router!r}")
        if n_experts < 1 or d_expert < 1:
            raise UsageError(f"need n_experts >= 1 and expert width >= 1, got {n_experts} and {d_expert}")
        self.d_model, self.d_expert, self.n_experts, self.router_kind = d_model, d_expert, n_experts, router
        self.w1 = nn.Parameter(torch.randn(n_experts, d_model, d_expert) * init_std)
        self.b1 = nn.Parameter(torch.zeros(n_experts, d_expert))
        self.w2 = nn.Parameter(torch.randn(n_experts, d_expert, d_model) * init_std)
        self.b2 = nn.Parameter(torch.zeros(n_experts, d_model))
        self.router = nn.Linear(d_model, n_experts)
        nn.init.normal_(self.router.weight, 0.0, init_std)  # the official weights_init also hits the gate
        nn.init.zeros_(self.router.bias)
        if router == "random":
            self.router.requires_grad_(False)  # frozen from step 0, before any optimiser is built
        self.dropout = nn.Dropout(dropout)
        self.k = n_experts if k is None else k
        self.uniform = False
        self.fast_full = True  # k = N through ``_all_experts``; False sends it through the dispatch (bench, tests)
        self.aux_loss: Tensor | None = None
        self.set_k(self.k)

    def set_k(self, k: int) -> None:
        if not 1 <= int(k) <= self.n_experts:
            raise UsageError(f"k must be between 1 and the number of experts {self.n_experts}, got {k}")
        self.k = int(k)

    @classmethod
    def from_dense(cls, ffn: DenseFFN, n_experts: int, router: str = "random", init_std: float = 0.02) -> MoEFFN:
        """Split a dense FFN into N experts of D/N hidden units (dense-to-SMoE conversion).

        Expert j takes hidden units ``[j D/N, (j+1) D/N)``: its first layer is those rows of W1, b1; its second
        layer is those columns of W2 times N, with the whole b2. Averaging the N experts uniformly (k = N,
        ``uniform``) then gives back exactly ``W2 relu(W1 x + b1) + b2``; averaging k random experts is an
        unbiased estimate of it, like dropout of hidden-unit groups with the 1/(1-p) rescale.
        """
        d_ff, d_model = ffn.fc1.out_features, ffn.fc1.in_features
        if n_experts < 1 or d_ff % n_experts:
            raise UsageError(f"the FFN width {d_ff} is not divisible by the number of experts {n_experts}")
        h = d_ff // n_experts
        moe = cls(d_model, h, n_experts, router=router, dropout=ffn.dropout.p, init_std=init_std)
        with torch.no_grad():
            moe.w1.copy_(ffn.fc1.weight.T.reshape(d_model, n_experts, h).permute(1, 0, 2))
            moe.b1.copy_(ffn.fc1.bias.reshape(n_experts, h))
            moe.w2.copy_(ffn.fc2.weight.T.reshape(n_experts, h, d_model) * n_experts)
            moe.b2.copy_(ffn.fc2.bias.expand(n_experts, d_model))
        return moe.to(ffn.fc1.weight.device)

    def expert(self, e: int, x: Tensor) -> Tensor:
        """Expert ``e`` on the rows of ``x`` (used by the dispatch and by reference tests)."""
        return torch.addmm(self.b2[e], self.dropout(F.relu(torch.addmm(self.b1[e], x, self.w1[e]))), self.w2[e])

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        if shape[-1] != self.d_model:
            raise UsageError(f"MoE layer expects features of size {self.d_model}, got {shape[-1]}")
        flat = x.reshape(-1, self.d_model)
        logits = self.router(flat)
        idx, w = route(logits, self.k, self.uniform)
        self.aux_loss = (
            balance_loss(logits, idx, self.n_experts) if self.router_kind == "learned" and self.training else None
        )
        full = idx.shape[-1] == self.n_experts and self.fast_full
        out = self._all_experts(flat, idx, w) if full else self._dispatch(flat, idx, w)
        return out.reshape(shape)

    def _dispatch(self, x: Tensor, idx: Tensor, w: Tensor) -> Tensor:
        """Sort (token, slot) pairs by expert; each expert gathers its tokens, runs once and adds back weighted.

        The routing weight multiplies the expert's hidden units (``w (W2 h + b2) = W2 (w h) + w b2``) and the
        biases come in as one ``(T, N) @ (N, d)`` product, so no ``(T k, d)`` tensor of gathered inputs or of
        expert outputs is ever built: the gather/scatter traffic is the segments themselves.
        """
        t, k = idx.shape
        flat_e = idx.reshape(-1)
        order = torch.argsort(flat_e, stable=True)
        token = order // k
        counts = torch.bincount(flat_e, minlength=self.n_experts).tolist()
        tokens = torch.split(token, counts)
        weights = torch.split(w.reshape(-1)[order].unsqueeze(1), counts)
        dense_w = torch.zeros(t, self.n_experts, dtype=w.dtype, device=w.device).scatter(1, idx, w)
        out = dense_w @ self.b2
        # every expert runs, even on an empty segment, so each parameter is in the graph (DDP needs that)
        for e in range(self.n_experts):
            hidden = F.relu(torch.addmm(self.b1[e], x.index_select(0, tokens[e]), self.w1[e]))
            out.index_add_(0, tokens[e], (self.dropout(hidden) * weights[e]) @ self.w2[e])
        return out

    def _all_experts(self, x: Tensor, idx: Tensor, w: Tensor) -> Tensor:
        """k = N: ``sum_e w_e (W2_e relu(W1_e x + b1_e) + b2_e)`` as one dense FFN with per-expert weighted hidden units."""
        n, h = self.n_experts, self.d_expert
        weights = torch.zeros(x.shape[0], n, dtype=w.dtype, device=w.device).scatter(1, idx, w)
        hidden = F.relu(torch.addmm(self.b1.reshape(-1), x, self.w1.permute(1, 0, 2).reshape(self.d_model, n * h)))
        hidden = self.dropout(hidden).reshape(-1, n, h) * weights.unsqueeze(-1)
        return hidden.reshape(-1, n * h) @ self.w2.reshape(n * h, self.d_model) + weights @ self.b2

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_experts={self.n_experts}, d_expert={self.d_expert}, k={self.k}, router={self.router_kind}"


def dense_ffn_flops(d_model: int, d_ff: int) -> int:
    """Forward FLOPs per token of the dense FFN: two matmuls, 2 FLOPs per multiply-add (biases ignored)."""
    return 4 * d_model * d_ff


def moe_ffn_flops(d_model: int, d_ff: int, n_experts: int, k: int) -> int:
    """Forward FLOPs per token of the MoE FFN at k: ``4 d (D/N) k`` for the experts + ``2 d N`` for the router."""
    return 4 * d_model * (d_ff // n_experts) * k + 2 * d_model * n_experts
