"""GNN node classifiers with an absolute or a relative head (Moschella et al., ICLR 2023, Table 4 / Sec. 5.1).

Official benchmark: ``experiments/tab:abs-rel-performance-comparison/classification/graph_data_benchmark.py``
(PyG Planetoid, ``NormalizeFeatures``, 300 random training nodes as anchors). Its network is
Linear(F, h) -> ReLU -> L x [dropout -> GCN2Conv -> ReLU] -> Linear(h, h) -> (relative projection, cosine) ->
L2 normalisation -> Linear(., C), for both heads. Two encoders here:

* ``gcn``: dropout -> GCNConv(F, h) -> ReLU -> dropout -> GCNConv(h, d) (the brief's 2-layer GCN);
* ``gcn2``: the official deep GCN2Conv stack (alpha 0.1, theta 0.5, shared weights, GCN normalisation
  precomputed without self-loops).

Both heads keep the official L2 normalisation of the absolute latent; the relative head's output normalisation is
a config choice (``layernorm`` by default, see ``relreps.build``).

The anchors are nodes of the same graph: their latents are rows of the same forward pass, detached (the
official graph script lets the gradient flow through them; the paper's other models and the issue embed
anchors without gradient, which is what we do).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCN2Conv, GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from relreps.model import LatentModel
from relreps.projection import RelativeProjection

__all__ = ["GCNEncoder", "GCN2Encoder", "GraphModel", "feature_dropout"]


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout that also takes sparse COO features (Planetoid bag-of-words: about 1% non-zero), whose zeros
    stay zero exactly as with dense dropout."""
    if not training or p == 0:
        return x
    if not x.is_sparse:
        return F.dropout(x, p, training)
    x = x.coalesce()
    keep = (torch.rand(x.values().shape, device=x.device) >= p).to(x.dtype) / (1 - p)
    return torch.sparse_coo_tensor(x.indices(), x.values() * keep, x.shape, is_coalesced=True, check_invariants=False)


class GCNEncoder(nn.Module):
    """Two GCN layers with dropout; the latent (second layer's output) has no activation."""

    def __init__(self, in_dim: int, hidden: int, latent_dim: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(in_dim, hidden), GCNConv(hidden, latent_dim)
        self.dropout, self.latent_dim = dropout, latent_dim

    def forward(self, data: Data) -> Tensor:
        x = feature_dropout(data.x, self.dropout, self.training)
        x = F.relu(self.conv1(x, data.edge_index))
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, data.edge_index)


class GCN2Encoder(nn.Module):
    """The official deep encoder: Linear -> ReLU -> ``layers`` GCN2Conv (+ReLU) -> Linear."""

    def __init__(
        self, in_dim: int, hidden: int, layers: int = 32, dropout: float = 0.5, alpha: float = 0.1, theta: float = 0.5
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(
            GCN2Conv(hidden, alpha=alpha, theta=theta, layer=i + 1, shared_weights=True, normalize=False)
            for i in range(layers)
        )
        self.out = nn.Linear(hidden, hidden)
        self.dropout, self.latent_dim = dropout, hidden

    def forward(self, data: Data) -> Tensor:
        edge_weight = getattr(data, "gcn_weight", None)
        if edge_weight is None:
            _, edge_weight = gcn_norm(data.edge_index, num_nodes=data.num_nodes, add_self_loops=False)
        x = x0 = F.relu(self.inp(feature_dropout(data.x, self.dropout, self.training)))
        for conv in self.convs:
            x = F.relu(conv(F.dropout(x, self.dropout, self.training), x0, data.edge_index, edge_weight))
        return self.out(x)


class GraphModel(LatentModel):
    """GNN encoder + absolute or relative head; ``anchor_nodes`` (a buffer of node ids) makes it relative."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        projection: RelativeProjection | None = None,
        anchor_nodes: Tensor | None = None,
        abs_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if (projection is None) != (anchor_nodes is None):
            raise ValueError("a relative head needs both a projection and anchor nodes")
        self.encoder, self.decoder, self.projection = encoder, decoder, projection
        self.abs_norm = abs_norm if abs_norm is not None else nn.Identity()
        if anchor_nodes is not None:
            self.register_buffer("anchor_nodes", anchor_nodes.long())
        else:
            self.anchor_nodes = None

    def latents(self, data: Data) -> tuple[Tensor, Tensor | None]:
        z = self.encoder(data)
        anchors = None if self.anchor_nodes is None else z.detach()[self.anchor_nodes]
        return z, anchors
