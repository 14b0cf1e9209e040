"""Link predictors: BUDDY and ELPH (Chamberlain et al., ICLR 2023, Sec. 4-5) and the paper's baselines.

* :class:`LinkHead` is the shared predictor of ELPH and BUDDY (official ``LinkPredictor``/``BUDDY.forward``):
  subgraph features ``sf`` -> Linear -> BN -> ReLU -> Dropout(label_dropout), concatenated with the
  Hadamard product of the two node representations -> Linear -> BN -> ReLU -> Dropout(feature_dropout),
  then Linear(., 1): a logit (Eq. 7 of the paper: ``p(u,v) = psi(z_u * z_v, {B_uv[d]}, {A_uv[du,dv]})``).
* :class:`BUDDY` (Sec. 5, "Scaling ELPH"): node features are precomputed ``Â^h X`` and sketches/subgraph
  features are precomputed per split; the model is an MLP over links.
* :class:`ELPH` (Sec. 4.3): node features pass through GCN layers inside the forward pass (full-graph
  message passing); sketches are propagated on the split's message-passing graph from fixed initial hashes.
* Baselines: :class:`GNNLink` (GCN/SAGE encoder + dot-product decoder, PyG style), :class:`DGCNN` (SEAL's
  subgraph GNN with SortPooling) and :func:`heuristic_scores` (CN, AA, RA).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from orals23_shared.cli import check

__all__ = [
    "LinkHead",
    "BUDDY",
    "ELPH",
    "GNNLink",
    "DGCNN",
    "heuristic_scores",
    "gcn_propagate",
    "degree_normalised",
]


def gcn_propagate(x: torch.Tensor, edge_index: torch.Tensor, num_nodes: int, hops: int = 1) -> torch.Tensor:
    """``Â^hops X`` with ``Â = D^-1/2 (A + I) D^-1/2`` (each hop multiplies the previous result)."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    ei, w = gcn_norm(edge_index, None, num_nodes, add_self_loops=True)
    adj = torch.sparse_coo_tensor(
        torch.stack([ei[1], ei[0]]), w, (num_nodes, num_nodes), check_invariants=False
    ).coalesce()
    out = x
    for _ in range(hops):
        out = torch.sparse.mm(adj, out)
    return out


def degree_normalised(sf: torch.Tensor, deg_u: torch.Tensor, deg_v: torch.Tensor) -> torch.Tensor:
    """``[sf, sf / sqrt(deg(u) deg(v))]`` (official ``add_normed_features``): counts rescaled in the spirit of a
    cosine similarity; links with a zero-degree end (held-out edges leave some nodes isolated) get 0."""
    norm = torch.sqrt(deg_u.double() * deg_v.double())
    normed = torch.where(norm[:, None] > 0, sf.double() / norm.clamp(min=1e-300)[:, None], 0.0)
    return torch.cat([sf, normed.to(sf.dtype)], dim=1)


class LinkHead(nn.Module):
    """The ELPH/BUDDY link predictor over subgraph features and a pair of node vectors.

    ``use_ra``: the resource-allocation score of the link goes through BatchNorm1d(1) and joins the last
    Linear layer's input (official ``BUDDY(use_RA=True)``).
    """

    def __init__(
        self,
        sf_dim: int,
        node_dim: int,
        hidden: int,
        label_dropout: float = 0.5,
        feature_dropout: float = 0.5,
        encode_nodes: bool = True,
        use_feature: bool = True,
        use_ra: bool = False,
    ) -> None:
        super().__init__()
        self.use_feature, self.use_ra = use_feature, use_ra
        self.label_lin = nn.Linear(sf_dim, sf_dim)
        self.label_bn = nn.BatchNorm1d(sf_dim)
        self.label_dropout = nn.Dropout(label_dropout)
        out_dim = sf_dim
        if use_feature:
            self.lin_feat = nn.Linear(node_dim, hidden) if encode_nodes else nn.Identity()
            self.lin_out = nn.Linear(hidden if encode_nodes else node_dim, hidden)
            self.feat_bn = nn.BatchNorm1d(hidden)
            self.feature_dropout = nn.Dropout(feature_dropout)
            out_dim += hidden
        if use_ra:
            self.ra_bn = nn.BatchNorm1d(1)
            out_dim += 1
        self.lin = nn.Linear(out_dim, 1)

    def forward(
        self,
        sf: torch.Tensor,
        x_u: torch.Tensor | None = None,
        x_v: torch.Tensor | None = None,
        ra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.label_dropout(F.relu(self.label_bn(self.label_lin(sf))))
        if self.use_feature:
            z = self.lin_feat(x_u) * self.lin_feat(x_v)
            z = self.feature_dropout(F.relu(self.feat_bn(self.lin_out(z))))
            h = torch.cat([h, z], dim=1)
        if self.use_ra:
            check(ra is not None, "this link head was built with use_ra=True: pass the RA scores")
            h = torch.cat([h, self.ra_bn(ra.reshape(-1, 1).to(h.dtype))], dim=1)
        return self.lin(h).squeeze(-1)


class BUDDY(nn.Module):
    """BUDDY: an MLP over precomputed subgraph features and precomputed ``Â^h X`` node features."""

    def __init__(
        self,
        num_features: int,
        sf_dim: int,
        hidden: int = 1024,
        label_dropout: float = 0.5,
        feature_dropout: float = 0.5,
        use_feature: bool = True,
        use_ra: bool = False,
    ) -> None:
        super().__init__()
        self.head = LinkHead(sf_dim, num_features, hidden, label_dropout, feature_dropout, True, use_feature, use_ra)

    def forward(
        self, sf: torch.Tensor, x_u: torch.Tensor, x_v: torch.Tensor, ra: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(sf, x_u, x_v, ra)


class ELPH(nn.Module):
    """ELPH: GCN message passing of node features inside the forward pass + the shared link head.

    ``feature_prop`` (official ``--feature_prop``): ``"gcn"`` stacks GCNConv layers on the raw features
    (official default); ``"residual"`` encodes the features with a Linear layer, then ``h <- h + GCNConv(h)``;
    ``"cat"`` encodes them the same way and concatenates the encoding and every layer's output (jumping
    knowledge), so the link head sees ``hidden * (num_layers + 1)`` channels per node.
    """

    def __init__(
        self,
        num_features: int,
        sf_dim: int,
        hidden: int = 1024,
        num_layers: int = 2,
        label_dropout: float = 0.5,
        feature_dropout: float = 0.5,
        feature_prop: str = "gcn",
        use_feature: bool = True,
        use_ra: bool = False,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        check(
            feature_prop in ("gcn", "residual", "cat"),
            f"feature_prop must be gcn, residual or cat, got {feature_prop!r}",
        )
        self.feature_prop = feature_prop
        self.lin_in = nn.Linear(num_features, hidden) if feature_prop != "gcn" else None
        first = num_features if feature_prop == "gcn" else hidden
        self.convs = nn.ModuleList([GCNConv(first if i == 0 else hidden, hidden) for i in range(num_layers)])
        self.dropout = feature_dropout
        node_dim = hidden * (num_layers + 1) if feature_prop == "cat" else hidden
        self.head = LinkHead(sf_dim, node_dim, hidden, label_dropout, feature_dropout, False, use_feature, use_ra)

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = x if self.lin_in is None else F.dropout(self.lin_in(x), self.dropout, self.training)
        hs = [h]
        for conv in self.convs:  # official feature_conv: GCNConv, dropout, residual add; no nonlinearity
            out = F.dropout(conv(h, edge_index), self.dropout, self.training)
            h = h + out if self.feature_prop == "residual" else out
            hs.append(h)
        return torch.cat(hs, dim=-1) if self.feature_prop == "cat" else h

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        links: torch.Tensor,
        sf: torch.Tensor,
        ra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        z = self.encode(x, edge_index)
        return self.head(sf, z[links[:, 0]], z[links[:, 1]], ra)


class GNNLink(nn.Module):
    """GNN link predictor: a GCN (or SAGE) encoder and a decoder on the pair of node embeddings.

    ``decoder="dot"``: ``z_u . z_v`` (PyG ``link_pred.py``); ``decoder="mlp"``: an MLP on ``z_u * z_v``
    (``Linear(out, hidden) -> ReLU -> Dropout -> Linear(hidden, 1)``, the official ``LinkPredictor`` with 2 layers).
    """

    def __init__(
        self,
        num_features: int,
        hidden: int = 128,
        out: int = 64,
        conv: str = "gcn",
        dropout: float = 0.0,
        decoder: str = "dot",
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv, SAGEConv

        check(conv in ("gcn", "sage"), f"conv must be gcn or sage, got {conv!r}")
        check(decoder in ("dot", "mlp"), f"decoder must be dot or mlp, got {decoder!r}")
        layer = GCNConv if conv == "gcn" else SAGEConv
        self.conv1, self.conv2 = layer(num_features, hidden), layer(hidden, out)
        self.dropout = dropout
        self.mlp = (
            nn.Sequential(nn.Linear(out, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
            if decoder == "mlp"
            else None
        )

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x, edge_index))
        h = F.dropout(h, self.dropout, self.training)
        return self.conv2(h, edge_index)

    def decode(self, z: torch.Tensor, links: torch.Tensor) -> torch.Tensor:
        h = z[links[:, 0]] * z[links[:, 1]]
        return h.sum(dim=-1) if self.mlp is None else self.mlp(h).squeeze(-1)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, links: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x, edge_index), links)


class DGCNN(nn.Module):
    """SEAL's DGCNN (Zhang & Chen 2018; PyG ``examples/seal_link_pred.py`` layout): GCN layers of
    ``hidden`` channels + a 1-channel layer, SortAggregation(k), Conv1d, MaxPool, Conv1d, MLP -> logit.

    ``readout="sort"`` is the DGCNN readout; ``readout="mean"`` a plain GCN with mean pooling of the
    two target nodes' and all nodes' embeddings (SEAL's GCN variant, simplified).
    """

    def __init__(self, in_dim: int, hidden: int = 32, num_layers: int = 3, k: int = 30, readout: str = "sort") -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv
        from torch_geometric.nn.aggr import SortAggregation

        check(readout in ("sort", "mean"), f"readout must be sort or mean, got {readout!r}")
        self.readout, self.k = readout, max(int(k), 10)
        self.convs = nn.ModuleList([GCNConv(in_dim, hidden)] + [GCNConv(hidden, hidden) for _ in range(num_layers - 1)])
        self.convs.append(GCNConv(hidden, 1))
        total = hidden * num_layers + 1
        if readout == "sort":
            self.pool = SortAggregation(self.k)
            self.conv1 = nn.Conv1d(1, 16, total, total)
            self.conv2 = nn.Conv1d(16, 32, 5, 1)
            dense = (((self.k - 2) // 2 + 1) - 5 + 1) * 32
            self.mlp = nn.Sequential(nn.Linear(dense, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 1))
        else:
            self.mlp = nn.Sequential(nn.Linear(3 * total, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 1))

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, center: torch.Tensor
    ) -> torch.Tensor:
        """``center`` [B, 2]: the indices (into x) of each subgraph's two target nodes."""
        hs = []
        h = x
        for conv in self.convs:
            h = torch.tanh(conv(h, edge_index))
            hs.append(h)
        h = torch.cat(hs, dim=-1)
        if self.readout == "sort":
            g = self.pool(h, batch)  # [B, k * total]
            g = F.relu(self.conv1(g.unsqueeze(1)))
            g = F.max_pool1d(g, 2, 2)
            g = F.relu(self.conv2(g)).flatten(1)
        else:
            from torch_geometric.utils import scatter

            g = torch.cat([h[center[:, 0]], h[center[:, 1]], scatter(h, batch, 0, reduce="mean")], dim=-1)
        return self.mlp(g).squeeze(-1)


def heuristic_scores(edge_index: torch.Tensor, num_nodes: int, links: torch.Tensor, kind: str = "ra") -> torch.Tensor:
    """Common neighbours (``cn``), Adamic-Adar (``aa``: sum 1/log deg) or resource allocation (``ra``: sum 1/deg)."""
    import scipy.sparse as sp

    check(kind in ("cn", "aa", "ra"), f"heuristic must be cn, aa or ra, got {kind!r}")
    ei = edge_index.numpy()
    a = sp.csr_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    a.data[:] = 1.0
    a.sum_duplicates()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(axis=1)).ravel()
    if kind == "cn":
        w = np.ones(num_nodes)
    elif kind == "aa":
        w = np.where(deg > 1, 1.0 / np.log(np.maximum(deg, 2)), 0.0)
    else:
        w = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
    lk = links.numpy()
    scores = np.asarray(a[lk[:, 0]].multiply(a[lk[:, 1]]) @ w).ravel()
    return torch.from_numpy(scores).float()
