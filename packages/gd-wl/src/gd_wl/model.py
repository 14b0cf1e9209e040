"""Graphormer-GD (Zhang et al., ICLR 2023, Sec. 4.2, Eq. (3)) and the baselines: plain Graphormer and GIN.

One Graphormer-GD layer, per head h (Eq. (3)):

    Y^h = [ phi_1^h(D) * softmax( X W_Q (X W_K)^T / sqrt(d) + phi_2^h(D) ) ] X W_V

``phi_2`` (additive, inside the softmax) and ``phi_1`` (multiplicative, after it, not renormalised) are
each the sum of an SPD term (Graphormer's learned embedding of the hop distance, plus, with edge
features, the mean edge encoding along a shortest path) and an RD term ``MLP(psi(a * R + b))`` with K
Gaussian kernels ``psi_k(x) = exp(-((x - mu_k) / sigma_k)^2 / 2) / (sqrt(2 pi) sigma_k)`` whose means and
stds are learnable (initialised U(0, 3); sigma used as |sigma| + 0.01) and ``a, b`` per pair of node
types (initialised 1 and 0 per type, summed over the pair). The MLP is Linear(K, K) - GELU -
Linear(K, heads), shared by all layers. A graph token attends with a learned virtual distance; its output
is the graph representation. Post-LayerNorm blocks, a LayerNorm on the embeddings, GELU.

``graphormer`` is the plain Graphormer (additive SPD bias only); ``graphormer-gd-spd`` is the ablation
without RD; ``gin`` is PyG's GIN. All return per-node representations and a graph representation, and the
task heads (node, edge = pair [h_u || h_v], graph) follow the official output head: Linear - GELU -
LayerNorm - Linear (+ a learned scalar bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool
from torch_geometric.nn.models import GIN
from torch_geometric.utils import degree, to_dense_batch

__all__ = [
    "ModelConfig",
    "GraphormerGD",
    "GINEncoder",
    "OutputHead",
    "GraphModel",
    "PairLayout",
    "dense_pairs",
    "RD_UNREACHABLE",
]

ModelKind = Literal["graphormer-gd", "graphormer-gd-spd", "graphormer", "gin"]
RD_UNREACHABLE = 512.0  # the official code's value for R between components


@dataclass
class ModelConfig:
    kind: ModelKind = "graphormer-gd"
    layers: int = 4
    hidden: int = 64
    ffn: int = 64
    heads: int = 4
    kernels: int = 32
    dropout: float = 0.0
    attn_dropout: float = 0.1
    act_dropout: float = 0.1
    num_atom_types: int = 64  # categorical node features: ids 0..num_atom_types-1 per column
    atom_columns: int = 1
    float_features: int = 0  # > 0: x is float [n, float_features] (a Linear embedding instead)
    num_edge_types: int = 0  # > 0: multi-hop edge encoding of the SPD bias (ZINC bond types)
    max_hops: int = 20
    max_degree: int = 64
    max_spd: int = 510


@dataclass
class PairLayout:
    """Where each entry of the concatenated per-graph ``[n_g * n_g]`` pair blocks goes in a dense batch."""

    gid: Tensor  # graph of each pair
    i: Tensor  # local row node
    j: Tensor  # local column node
    src: Tensor  # global (batch) index of the row node
    dst: Tensor  # global index of the column node
    num_graphs: int
    nmax: int

    @classmethod
    def from_ptr(cls, ptr: Tensor, nmax: int | None = None) -> PairLayout:
        sizes = ptr[1:] - ptr[:-1]
        sq = sizes * sizes
        gid = torch.repeat_interleave(torch.arange(len(sizes), device=ptr.device), sq)
        local = torch.arange(int(sq.sum()), device=ptr.device) - torch.repeat_interleave(torch.cumsum(sq, 0) - sq, sq)
        i, j = local // sizes[gid], local % sizes[gid]
        nmax = int(sizes.max()) if nmax is None and len(sizes) else (nmax or 0)
        return cls(gid, i, j, ptr[gid] + i, ptr[gid] + j, len(sizes), nmax)

    def dense(self, flat: Tensor, fill: float = 0.0) -> Tensor:
        """``[P, ...]`` -> ``[B, nmax, nmax, ...]`` (padding = ``fill``)."""
        out = flat.new_full((self.num_graphs, self.nmax, self.nmax, *flat.shape[1:]), fill)
        out[self.gid, self.i, self.j] = flat
        return out


def dense_pairs(flat: Tensor, ptr: Tensor, nmax: int, fill: float = 0.0) -> Tensor:
    """Per-graph row-major ``[n_g * n_g, ...]`` blocks (concatenated by PyG) -> ``[B, nmax, nmax, ...]``."""
    return PairLayout.from_ptr(ptr, nmax).dense(flat, fill)


class GaussianBasis(nn.Module):
    """psi(a * d + b): K Gaussian kernels of a (node-type pair) affine map of the distance."""

    def __init__(self, k: int, num_types: int) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.empty(k).uniform_(0, 3))
        self.stds = nn.Parameter(torch.empty(k).uniform_(0, 3))
        self.mul = nn.Parameter(torch.ones(num_types))  # a per type, summed over the pair (official init 1)
        self.bias = nn.Parameter(torch.zeros(num_types))  # b per type (official init 0)

    def forward(self, d: Tensor, type_i: Tensor, type_j: Tensor) -> Tensor:  # d [P] -> [P, K]
        a = self.mul[type_i] + self.mul[type_j]
        b = self.bias[type_i] + self.bias[type_j]
        x = (a * d + b).unsqueeze(-1)
        std = self.stds.abs() + 1e-2
        return torch.exp(-0.5 * ((x - self.means) / std) ** 2) / (math.sqrt(2 * math.pi) * std)


class RDBias(nn.Module):
    """phi(R) = MLP(psi(a R + b)) -> one value per head, for every (real) pair."""

    def __init__(self, k: int, heads: int, num_types: int) -> None:
        super().__init__()
        self.gbf = GaussianBasis(k, num_types)
        self.mlp = nn.Sequential(nn.Linear(k, k), nn.GELU(), nn.Linear(k, heads))

    def forward(self, rd: Tensor, type_i: Tensor, type_j: Tensor) -> Tensor:  # -> [P, H]
        return self.mlp(self.gbf(rd, type_i, type_j))


class SPDBias(nn.Module):
    """Graphormer's spatial encoding: an embedding of the hop distance (+ edge encoding along a path)."""

    def __init__(self, cfg: ModelConfig, edges: bool) -> None:
        super().__init__()
        h = cfg.heads
        self.max_spd = cfg.max_spd
        self.spatial = nn.Embedding(cfg.max_spd + 2, h)  # 0..max hops, max+1 unreachable
        self.virtual = nn.Embedding(1, h)
        self.edge = nn.Embedding(cfg.num_edge_types + 1, h, padding_idx=0) if edges else None
        self.hop = nn.Parameter(torch.randn(cfg.max_hops, h, h) * 0.02) if edges else None

    def forward(self, spd: Tensor, path_edges: Tensor | None) -> Tensor:  # spd [P] (-1 unreachable) -> [P, H]
        idx = torch.where(spd < 0, self.max_spd + 1, spd.clamp(max=self.max_spd))
        bias = self.spatial(idx)
        if self.edge is not None and path_edges is not None:
            e = self.edge(path_edges)  # [P, hops, H]
            e = torch.einsum("pkh,khg->pg", e, self.hop[: e.shape[1]])
            bias = bias + e / spd.clamp(min=1, max=e.shape[1]).unsqueeze(-1).to(e.dtype)
        return bias

    def with_token(self, bias: Tensor) -> Tensor:
        """[B,N,N,H] -> [B,H,N+1,N+1]: the graph token's row and column get the virtual distance."""
        b, n, _, h = bias.shape
        full = self.virtual.weight.view(1, h, 1, 1).expand(b, h, n + 1, n + 1).clone()
        full[:, :, 1:, 1:] = bias.permute(0, 3, 1, 2)
        return full


class GDAttention(nn.Module):
    """Multi-head self-attention with an additive bias inside and a multiplicative bias after the softmax."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden ({dim}) must be divisible by heads ({heads})")
        self.heads, self.dh = heads, dim // heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, bias_add: Tensor, bias_mul: Tensor | None, key_pad: Tensor) -> Tensor:
        b, t, c = x.shape
        q = self.q(x).view(b, t, self.heads, self.dh).transpose(1, 2) * self.dh**-0.5
        k = self.k(x).view(b, t, self.heads, self.dh).transpose(1, 2)
        v = self.v(x).view(b, t, self.heads, self.dh).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) + bias_add
        scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        if bias_mul is not None:
            attn = attn * bias_mul.masked_fill(key_pad[:, None, None, :], 0.0)
        out = self.drop(attn) @ v
        return self.o(out.transpose(1, 2).reshape(b, t, c))


class GDLayer(nn.Module):
    """Post-LN transformer block (the official default) with GD attention and a GELU FFN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn = GDAttention(cfg.hidden, cfg.heads, cfg.attn_dropout)
        self.ln1, self.ln2 = nn.LayerNorm(cfg.hidden), nn.LayerNorm(cfg.hidden)
        self.fc1, self.fc2 = nn.Linear(cfg.hidden, cfg.ffn), nn.Linear(cfg.ffn, cfg.hidden)
        self.drop, self.act_drop = nn.Dropout(cfg.dropout), nn.Dropout(cfg.act_dropout)

    def forward(self, x: Tensor, bias_add: Tensor, bias_mul: Tensor | None, key_pad: Tensor) -> Tensor:
        x = self.ln1(x + self.drop(self.attn(x, bias_add, bias_mul, key_pad)))
        y = self.fc2(self.act_drop(F.gelu(self.fc1(x))))
        return self.ln2(x + self.drop(y))


class NodeEmbedding(nn.Module):
    """Atom-type embeddings (summed over feature columns) or a Linear of float features."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.float_features > 0:
            self.lin = nn.Linear(cfg.float_features, cfg.hidden)
        else:
            self.emb = nn.Embedding(cfg.num_atom_types * cfg.atom_columns, cfg.hidden)

    def forward(self, x: Tensor) -> Tensor:
        if self.cfg.float_features > 0:
            return self.lin(x.float())
        x = x.view(x.shape[0], -1).long()
        if x.numel() and (x.min() < 0 or x.max() >= self.cfg.num_atom_types):
            raise ValueError(f"node features must be ids in 0..{self.cfg.num_atom_types - 1}")
        offset = torch.arange(x.shape[1], device=x.device) * self.cfg.num_atom_types
        return self.emb(x + offset).sum(1)


def _graphormer_init(module: nn.Module) -> None:
    """The official ``init_graphormer_params``: N(0, 0.02) weights, zero biases (Gaussian kernels excluded)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()


class GraphormerGD(nn.Module):
    """Graphormer-GD encoder (or plain Graphormer / the SPD-only ablation, by ``cfg.kind``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.use_rd = cfg.kind == "graphormer-gd"
        self.multiplicative = cfg.kind in ("graphormer-gd", "graphormer-gd-spd")
        edges = cfg.num_edge_types > 0
        self.node = NodeEmbedding(cfg)
        self.degree = nn.Embedding(cfg.max_degree + 1, cfg.hidden)
        self.token = nn.Embedding(1, cfg.hidden)
        self.emb_ln = nn.LayerNorm(cfg.hidden)
        self.spd_add = SPDBias(cfg, edges)
        self.spd_mul = SPDBias(cfg, False) if self.multiplicative else None  # official: no edge term in the mul bias
        self.layers = nn.ModuleList(GDLayer(cfg) for _ in range(cfg.layers))
        self.apply(_graphormer_init)
        # the Gaussian-kernel modules keep their own init (U(0,3) means/stds, a = 1, b = 0), built after
        types = cfg.num_atom_types if cfg.float_features == 0 else 1
        self.rd_add = RDBias(cfg.kernels, cfg.heads, types) if self.use_rd else None
        self.rd_mul = RDBias(cfg.kernels, cfg.heads, types) if self.use_rd and self.multiplicative else None
        for m in (self.rd_add, self.rd_mul):
            if m is not None:
                m.mlp.apply(_graphormer_init)

    def forward(self, batch) -> tuple[Tensor, Tensor, Tensor]:  # noqa: ANN001
        """-> node reps [total_nodes, C] (PyG order), graph reps [B, C], attention bias [B,H,T,T]."""
        h0 = self.node(batch.x) + self.degree(
            degree(batch.edge_index[0], batch.num_nodes, dtype=torch.long).clamp(max=self.cfg.max_degree)
        )
        x, mask = to_dense_batch(h0, batch.batch)  # [B,N,C]
        b, n, _ = x.shape
        pairs = PairLayout.from_ptr(batch.ptr, n)
        spd = batch.pair_spd
        path = getattr(batch, "pair_path_edges", None) if self.spd_add.edge is not None else None
        bias_add = self.spd_add(spd, path)  # [P, H]
        bias_mul = self.spd_mul(spd, None) if self.spd_mul is not None else None
        if self.use_rd:
            rd = batch.pair_rd
            rd = torch.where(torch.isfinite(rd), rd, torch.full_like(rd, RD_UNREACHABLE))
            types = self._node_types(batch)
            ti, tj = types[pairs.src], types[pairs.dst]
            bias_add = bias_add + self.rd_add(rd, ti, tj)
            if bias_mul is not None:
                bias_mul = bias_mul + self.rd_mul(rd, ti, tj)
        bias_add = self.spd_add.with_token(pairs.dense(bias_add))
        if bias_mul is not None:
            bias_mul = self.spd_mul.with_token(pairs.dense(bias_mul))
        key_pad = torch.cat([mask.new_zeros(b, 1), ~mask], dim=1)
        z = torch.cat([self.token.weight.expand(b, 1, -1), x], dim=1)
        z = self.emb_ln(z)
        for layer in self.layers:
            z = layer(z, bias_add, bias_mul, key_pad)
        return z[:, 1:][mask], z[:, 0], bias_add

    def _node_types(self, batch) -> Tensor:  # noqa: ANN001
        if self.cfg.float_features > 0:
            return torch.zeros(batch.num_nodes, dtype=torch.long, device=batch.edge_index.device)
        return batch.x.view(batch.x.shape[0], -1)[:, 0].long()


class GINEncoder(nn.Module):
    """PyG's GIN on the same node embedding (no degree feature: constant input), sum readout."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.node = NodeEmbedding(cfg)
        self.gin = GIN(cfg.hidden, cfg.hidden, cfg.layers, cfg.hidden, dropout=cfg.dropout, train_eps=True)

    def forward(self, batch) -> tuple[Tensor, Tensor, None]:  # noqa: ANN001
        h = self.gin(self.node(batch.x), batch.edge_index)
        return h, global_add_pool(h, batch.batch), None


class OutputHead(nn.Module):
    """The official output head: Linear - GELU - LayerNorm - Linear (no bias) + a learned scalar bias."""

    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.transform, self.ln = nn.Linear(dim, dim), nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out, bias=False)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.ln(F.gelu(self.transform(x)))) + self.bias


class GraphModel(nn.Module):
    """Encoder + the heads a task needs: ``node`` (per node), ``edge`` (per edge_index column), ``graph``."""

    def __init__(self, cfg: ModelConfig, node_out: int = 0, edge_out: int = 0, graph_out: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = GINEncoder(cfg) if cfg.kind == "gin" else GraphormerGD(cfg)
        self.node_head = OutputHead(cfg.hidden, node_out) if node_out else None
        self.edge_head = OutputHead(2 * cfg.hidden, edge_out) if edge_out else None
        self.graph_head = OutputHead(cfg.hidden, graph_out) if graph_out else None

    def forward(self, batch) -> dict[str, Tensor]:  # noqa: ANN001
        h, g, _ = self.encoder(batch)
        out: dict[str, Tensor] = {}
        if self.node_head is not None:
            out["node"] = self.node_head(h)
        if self.edge_head is not None:
            src, dst = batch.edge_index
            out["edge"] = self.edge_head(torch.cat([h[src], h[dst]], dim=-1))
        if self.graph_head is not None:
            out["graph"] = self.graph_head(g)
        return out
