"""SEAL-style preprocessing (Zhang & Chen 2018), the subgraph-GNN baseline of the paper's Table 2 and of
its speed claim (Sec. 6, "Runtime"): for every link, the k-hop enclosing subgraph of (u, v) with the target
edge removed and Double-Radius Node Labels (DRNL) ``1 + min(du, dv) + (d/2)[(d/2) + d%2 - 1]``,
``d = du + dv``, where du is computed with v removed and dv with u removed (SEAL_OGB ``drnl_node_labeling``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import shortest_path

__all__ = ["drnl", "extract_subgraph", "SealData", "build_seal_data", "seal_data_from_adjacency", "adjacency"]


def adjacency(edge_index: torch.Tensor, num_nodes: int) -> sp.csr_matrix:
    """The 0/1 CSR adjacency of a message-passing graph (SEAL's one-off preprocessing per graph)."""
    ei = edge_index.numpy()
    a = sp.csr_matrix((np.ones(ei.shape[1], dtype=np.float32), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def drnl(sub: sp.csr_matrix, src: int = 0, dst: int = 1) -> np.ndarray:
    """DRNL labels of a subgraph whose target nodes are ``src`` and ``dst`` (0 = unreachable)."""
    n = sub.shape[0]
    keep_u = np.r_[0:dst, dst + 1 : n]
    keep_v = np.r_[0:src, src + 1 : n]
    du = shortest_path(sub[keep_u][:, keep_u], directed=False, unweighted=True, indices=src)
    du = np.insert(du, dst, 0.0)
    dv = shortest_path(sub[keep_v][:, keep_v], directed=False, unweighted=True, indices=dst - 1 if dst > src else dst)
    dv = np.insert(dv, src, 0.0)
    finite = np.isfinite(du) & np.isfinite(dv)
    du, dv = np.where(finite, du, 0.0), np.where(finite, dv, 0.0)
    d = du + dv
    half, odd = d // 2, d % 2
    z = 1 + np.minimum(du, dv) + half * (half + odd - 1)
    z[~finite] = 0
    z[src] = z[dst] = 1
    return z.astype(np.int64)


def extract_subgraph(a: sp.csr_matrix, u: int, v: int, hops: int = 2) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Nodes within ``hops`` of u or v (u, v first), the subgraph without edge (u, v), and its DRNL labels."""
    nodes = [u, v]
    seen = {u, v}
    frontier = np.array([u, v])
    for _ in range(hops):
        nbrs = np.unique(a[frontier].indices)
        new = [w for w in nbrs.tolist() if w not in seen]
        seen.update(new)
        nodes += new
        frontier = np.array(new, dtype=np.int64)
        if frontier.size == 0:
            break
    nodes_arr = np.array(nodes, dtype=np.int64)
    sub = a[nodes_arr][:, nodes_arr].tolil()
    sub[0, 1] = 0
    sub[1, 0] = 0
    sub = sub.tocsr()
    sub.eliminate_zeros()
    return nodes_arr, sub, drnl(sub)


class SealData:
    """Enclosing subgraphs of a list of links, stored flat (PyG batch-style) for fast mini-batching."""

    def __init__(
        self, subgraphs: list[tuple[np.ndarray, sp.csr_matrix, np.ndarray]], labels: torch.Tensor, max_z: int
    ) -> None:
        self.subgraphs = subgraphs
        self.labels = labels
        self.max_z = max_z

    def __len__(self) -> int:
        return len(self.subgraphs)

    def batch(
        self, idx: np.ndarray, node_x: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, edge_index, batch vector, center [B, 2], labels) for the links ``idx``.

        ``x`` is the one-hot DRNL label, followed by the node's own features ``node_x[node]`` when given
        (SEAL's ``use_feature``: ``x = [z, X]``; a one-hot label into the first GCN layer equals SEAL's label
        embedding table).
        """
        xs, eis, bs, centers, nodes = [], [], [], [], []
        offset = 0
        for b, i in enumerate(idx):
            sub_nodes, sub, z = self.subgraphs[i]
            nodes.append(sub_nodes)
            coo = sub.tocoo()
            eis.append(np.stack([coo.row, coo.col]) + offset)
            xs.append(np.minimum(z, self.max_z))
            bs.append(np.full(len(z), b))
            centers.append((offset, offset + 1))
            offset += len(z)
        z = torch.from_numpy(np.concatenate(xs))
        x = torch.nn.functional.one_hot(z, self.max_z + 1).float()
        if node_x is not None:
            x = torch.cat([x, node_x[torch.from_numpy(np.concatenate(nodes))].float()], dim=1)
        ei = torch.from_numpy(np.concatenate(eis, axis=1)).long()
        return x, ei, torch.from_numpy(np.concatenate(bs)).long(), torch.tensor(centers), self.labels[idx]


def build_seal_data(
    edge_index: torch.Tensor, num_nodes: int, links: torch.Tensor, labels: torch.Tensor, hops: int = 2, max_z: int = 50
) -> SealData:
    """Extract the enclosing subgraph and DRNL labels of every link (a Python loop: SEAL's cost)."""
    return seal_data_from_adjacency(adjacency(edge_index, num_nodes), links, labels, hops, max_z)


def seal_data_from_adjacency(
    a: sp.csr_matrix, links: torch.Tensor, labels: torch.Tensor, hops: int = 2, max_z: int = 50
) -> SealData:
    """:func:`build_seal_data` on a prebuilt adjacency (the per-link part of SEAL's preprocessing)."""
    subs = [extract_subgraph(a, int(u), int(v), hops) for u, v in torch.as_tensor(links).tolist()]
    return SealData(subs, labels, max_z)
