"""Shortest-path and resistance distances, per graph or batched over many graphs, and as PyG transforms.

Resistance distance (Zhang et al., ICLR 2023, Sec. 4.1): ``R(u, v) = (e_u - e_v)^T L^+ (e_u - e_v)`` with
``L = D - A``. Per connected component ``C`` of ``s`` nodes, ``M = (L_C + J/s)^{-1}`` equals ``L_C^+ + J/s``
(``J`` the all-ones matrix), so ``R = diag(M) 1^T + 1 diag(M)^T - 2M`` exactly, and the inverse exists
because ``L_C + J/s`` is positive definite. We compute in float64 (the official float32 pinv rounds a
bridge's R = 1 to 1 +- 1e-6) and batch: every component of every graph of the same size is inverted in one
stacked LAPACK call.

Disconnected graphs: R and SPD are infinite between nodes of different components; the functions here
return ``inf`` there. The transforms store ``inf`` in ``pair_rd`` and ``-1`` in ``pair_spd``; the models
map them to a finite "unreachable" code (RD -> 512, as the official code; SPD -> its own embedding row).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components, shortest_path

from gd_wl.graph import Graph

__all__ = [
    "resistance_distance",
    "resistance_distances",
    "shortest_path_distance",
    "ResistanceDistance",
    "ShortestPathDistance",
    "ShortestPathEdges",
    "precompute",
]


def shortest_path_distance(graph: Graph) -> np.ndarray:
    """All-pairs hop distances (float64 [n, n]; ``inf`` across components), by BFS (scipy)."""
    if graph.n == 0:
        return np.zeros((0, 0))
    return shortest_path(graph.csr(), method="D", unweighted=True, directed=False)


def resistance_distance(graph: Graph) -> np.ndarray:
    """All-pairs resistance distances (float64 [n, n]; ``inf`` across components)."""
    return resistance_distances([graph])[0]


def resistance_distances(graphs: Sequence[Graph]) -> list[np.ndarray]:
    """Resistance distances of many graphs: components grouped by size, each group inverted in one call."""
    out = [np.full((g.n, g.n), np.inf) for g in graphs]
    for o in out:
        np.fill_diagonal(o, 0.0)
    if not graphs:
        return out
    sizes = np.array([g.n for g in graphs], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offset[-1])
    if total == 0:
        return out
    edges = np.concatenate([g.edges + offset[i] for i, g in enumerate(graphs)]).astype(np.int64)
    from scipy.sparse import csr_matrix

    adj = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(total, total))
    _, comp = connected_components(adj, directed=False)
    comp_size = np.bincount(comp)
    # position of each node inside its component (order of appearance, i.e. ascending node id)
    order = np.argsort(comp, kind="stable")
    local = np.empty(total, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(comp_size)[:-1]])
    local[order] = np.arange(total) - np.repeat(starts, comp_size)
    graph_of = np.repeat(np.arange(len(graphs)), sizes)
    for s in np.unique(comp_size):
        if s == 1:
            continue  # R = 0 on the diagonal, already set
        comps = np.flatnonzero(comp_size == s)
        slot = np.full(len(comp_size), -1, dtype=np.int64)
        slot[comps] = np.arange(len(comps))
        lap = np.zeros((len(comps), s, s))
        mask = slot[comp[edges[:, 0]]] >= 0
        e = edges[mask]
        k = slot[comp[e[:, 0]]]
        i, j = local[e[:, 0]], local[e[:, 1]]
        np.add.at(lap, (k, i, j), -1.0)
        np.add.at(lap, (k, j, i), -1.0)
        np.add.at(lap, (k, i, i), 1.0)
        np.add.at(lap, (k, j, j), 1.0)
        m = np.linalg.inv(lap + 1.0 / s)
        d = np.diagonal(m, axis1=1, axis2=2)
        r = d[:, :, None] + d[:, None, :] - 2.0 * m
        r[r < 0] = 0.0  # round-off on the diagonal
        nodes = np.flatnonzero(slot[comp] >= 0)
        node_k, node_l = slot[comp[nodes]], local[nodes]
        # scatter each component's block back to its graph, in original node order
        by_comp = np.argsort(node_k * s + node_l, kind="stable")
        members = nodes[by_comp].reshape(len(comps), s)  # global node ids, local order
        for c in range(len(comps)):
            glob = members[c]
            gi = int(graph_of[glob[0]])
            ids = glob - offset[gi]
            out[gi][np.ix_(ids, ids)] = r[c]
    return out


def _graph_key(data, with_edge_attr: bool = False) -> str:  # noqa: ANN001
    ei = data.edge_index.detach().cpu().numpy().astype(np.int64)
    h = hashlib.blake2b(digest_size=16)
    h.update(np.int64(data.num_nodes).tobytes())
    h.update(np.ascontiguousarray(ei).tobytes())
    if with_edge_attr and getattr(data, "edge_attr", None) is not None:
        h.update(np.ascontiguousarray(data.edge_attr.detach().cpu().numpy().astype(np.int64)).tobytes())
    return h.hexdigest()


class _CachingTransform:
    """A PyG transform that adds a per-pair attribute (``[n*n]``, row-major) and caches it per graph.

    The cache key is the graph's structure (node count and ``edge_index`` bytes), so applying the
    transform on every access of a dataset (``dataset.transform``) computes each graph once.
    """

    attr = ""

    def __init__(self, cache_size: int = 65536) -> None:
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def compute(self, graph: Graph) -> torch.Tensor:
        raise NotImplementedError

    def key(self, data) -> str:  # noqa: ANN001
        return _graph_key(data)

    def compute_data(self, data) -> torch.Tensor:  # noqa: ANN001
        return self.compute(Graph.from_pyg(data))

    def compute_many(self, graphs: Sequence[Graph]) -> list[torch.Tensor]:
        return [self.compute(g) for g in graphs]

    def _remember(self, key: str, value: torch.Tensor) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def __call__(self, data):  # noqa: ANN001, ANN204
        if getattr(data, self.attr, None) is not None:
            return data
        key = self.key(data)
        value = self._cache.get(key)
        if value is None:
            value = self.compute_data(data)
            self._remember(key, value)
        else:
            self._cache.move_to_end(key)
        data = data.clone() if hasattr(data, "clone") else data
        setattr(data, self.attr, value)
        return data

    def fill(self, datas: Sequence) -> None:
        """Compute (batched) and cache the values of many graphs at once."""
        todo = [(k, d) for d in datas if (k := self.key(d)) not in self._cache]
        values = self.compute_many([Graph.from_pyg(d) for _, d in todo])
        for (k, _), v in zip(todo, values):
            self._remember(k, v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cached={len(self._cache)})"


class ShortestPathDistance(_CachingTransform):
    """Adds ``data.pair_spd`` (int64 ``[n*n]``, row-major hop distances; ``-1`` between components)."""

    attr = "pair_spd"

    def compute(self, graph: Graph) -> torch.Tensor:
        d = shortest_path_distance(graph)
        d = np.where(np.isfinite(d), d, -1).astype(np.int64)
        return torch.from_numpy(d.reshape(-1))


class ResistanceDistance(_CachingTransform):
    """Adds ``data.pair_rd`` (float32 ``[n*n]``, row-major, computed in float64; ``inf`` between components)."""

    attr = "pair_rd"

    def compute(self, graph: Graph) -> torch.Tensor:
        return self.compute_many([graph])[0]

    def compute_many(self, graphs: Sequence[Graph]) -> list[torch.Tensor]:
        return [torch.from_numpy(r.astype(np.float32).reshape(-1)) for r in resistance_distances(graphs)]


class ShortestPathEdges(_CachingTransform):
    """Adds ``data.pair_path_edges`` (int64 ``[n*n, max_hops]``): the edge types (``edge_attr`` + 1; 0 = none)
    along one shortest path from row node to column node, in order (Graphormer's multi-hop edge encoding)."""

    attr = "pair_path_edges"

    def __init__(self, max_hops: int = 20, cache_size: int = 65536) -> None:
        super().__init__(cache_size)
        self.max_hops = max_hops

    def key(self, data) -> str:  # noqa: ANN001
        return _graph_key(data, with_edge_attr=True)

    def compute_data(self, data) -> torch.Tensor:  # noqa: ANN001
        graph = Graph.from_pyg(data)
        n = graph.n
        etype = np.zeros((n, n), dtype=np.int64)
        attr = data.edge_attr
        if attr is None:
            raise ValueError("ShortestPathEdges needs data.edge_attr (integer edge types)")
        ei = data.edge_index.cpu().numpy()
        etype[ei[0], ei[1]] = attr.view(attr.shape[0], -1)[:, 0].cpu().numpy().astype(np.int64) + 1
        dist, pred = shortest_path(graph.csr(), method="D", unweighted=True, directed=False, return_predecessors=True)
        hops = np.where(np.isfinite(dist), dist, 0).astype(np.int64)
        out = np.zeros((n, n, self.max_hops), dtype=np.int64)
        rows = np.repeat(np.arange(n), n).reshape(n, n)
        cur = np.tile(np.arange(n), (n, 1))
        for k in range(int(hops.max()) if n else 0):  # walk back from the column node: edge hops-1-k
            live = hops > k
            prev = np.where(live, pred[rows, cur], 0)
            pos = hops - 1 - k
            keep = live & (pos < self.max_hops)
            out[rows[keep], np.nonzero(keep)[1], pos[keep]] = etype[prev[keep], cur[keep]]
            cur = np.where(live, prev, cur)
        return torch.from_numpy(out.reshape(n * n, self.max_hops))


def precompute(datas: Sequence, spd: bool = True, rd: bool = True, path_edges: int = 0) -> list:
    """The graphs with ``pair_spd``/``pair_rd`` (and ``pair_path_edges`` when ``path_edges`` > 0 hops)
    attached; RD batched over all graphs in one pass."""
    out = list(datas)
    if path_edges > 0:
        t = ShortestPathEdges(path_edges, cache_size=1)
        out = [t(d) for d in out]
    if rd:
        t = ResistanceDistance(cache_size=max(1, len(out)))
        t.fill(out)
        out = [t(d) for d in out]
    if spd:
        t = ShortestPathDistance(cache_size=1)
        out = [t(d) for d in out]
    return out
