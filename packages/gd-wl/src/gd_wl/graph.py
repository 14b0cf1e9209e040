"""Simple undirected graphs and the edge-list format every ``gd-wl`` CLI reads.

Edge-list files (the contract other tools rely on): one ``u v`` per line for an undirected edge between
nodes ``u`` and ``v``; node ids are the integers ``0..n-1`` with ``n = 1 + the largest id``; a line with a
single id declares that node (so an isolated node can be given); ``#`` starts a comment, on its own line
or after the ids; blank lines are ignored. ``u v`` and ``v u`` name the same edge (repeats are merged).
Self-loops, negative or non-integer ids, lines with more than two ids and files without any node are
errors that name the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["Graph", "read_edge_list", "parse_edge_list", "write_edge_list"]


@dataclass(frozen=True)
class Graph:
    """An undirected simple graph: ``n`` nodes and unique edges ``(u, v)`` with ``u < v`` (sorted)."""

    n: int
    edges: np.ndarray  # int64 [m, 2]

    @classmethod
    def from_edges(cls, n: int, edges: np.ndarray | list, *, name: str = "graph") -> Graph:
        """Normalise ``edges`` (any orientation, repeats allowed); self-loops and ids outside 0..n-1 are errors."""
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if n < 0:
            raise UsageError(f"{name}: the number of nodes must be >= 0, got {n}")
        if e.size and (e.min() < 0 or e.max() >= n):
            raise UsageError(f"{name}: edge endpoints must lie in 0..{n - 1}")
        if e.size and (e[:, 0] == e[:, 1]).any():
            v = int(e[e[:, 0] == e[:, 1]][0, 0])
            raise UsageError(f"{name}: self-loop at node {v}; the graphs must be simple")
        e = np.sort(e, axis=1)
        e = np.unique(e, axis=0) if len(e) else e.reshape(0, 2)
        return cls(int(n), e)

    @classmethod
    def from_networkx(cls, g) -> Graph:  # noqa: ANN001 - networkx.Graph
        """Nodes are relabelled 0..n-1 in ``g.nodes`` order."""
        index = {v: i for i, v in enumerate(g.nodes)}
        return cls.from_edges(len(index), [(index[u], index[v]) for u, v in g.edges()])

    @classmethod
    def from_pyg(cls, data) -> Graph:  # noqa: ANN001 - torch_geometric.data.Data
        """A PyG graph whose ``edge_index`` must hold both directions of every edge (undirected)."""
        ei = data.edge_index.detach().cpu().numpy().astype(np.int64)
        n = int(data.num_nodes)
        return cls.from_directed_pairs(n, ei.T)

    @classmethod
    def from_directed_pairs(cls, n: int, pairs: np.ndarray) -> Graph:
        """Both directions of every edge required (``(u, v)`` present iff ``(v, u)`` is)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        keep = pairs[:, 0] != pairs[:, 1]
        if not keep.all():
            raise UsageError(f"self-loop at node {int(pairs[~keep][0, 0])}; the graphs must be simple")
        fwd = {(int(u), int(v)) for u, v in pairs}
        missing = next(((u, v) for u, v in fwd if (v, u) not in fwd), None)
        if missing is not None:
            raise UsageError(
                f"directed edge {missing[0]}->{missing[1]} without its reverse: an undirected graph is required "
                "(torch_geometric.transforms.ToUndirected makes one)"
            )
        return cls.from_edges(n, pairs)

    @property
    def m(self) -> int:
        return len(self.edges)

    def edge_index(self) -> np.ndarray:
        """Both directions, int64 [2, 2m] (the PyG layout)."""
        return np.concatenate([self.edges.T, self.edges[:, ::-1].T], axis=1)

    def to_networkx(self):  # noqa: ANN201
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from(self.edges.tolist())
        return g

    def csr(self):  # noqa: ANN201
        """Symmetric adjacency as a scipy CSR matrix (float64 ones)."""
        from scipy.sparse import csr_matrix

        ei = self.edge_index()
        return csr_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(self.n, self.n))

    def relabel(self, perm: np.ndarray) -> Graph:
        """The isomorphic graph with node ``i`` renamed ``perm[i]``."""
        perm = np.asarray(perm, dtype=np.int64)
        return Graph.from_edges(self.n, perm[self.edges])


def parse_edge_list(text: str, name: str = "<edge list>") -> Graph:
    """Parse the edge-list format (see the module docstring); errors name the line."""
    edges: list[tuple[int, int]] = []
    largest = -1
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) > 2:
            raise UsageError(f"{name}:{lineno}: expected 'u v' or a single node id, got {raw.strip()!r}")
        try:
            ids = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"{name}:{lineno}: node ids must be integers, got {raw.strip()!r}") from None
        if min(ids) < 0:
            raise UsageError(f"{name}:{lineno}: node ids must be >= 0, got {raw.strip()!r}")
        if len(ids) == 2:
            if ids[0] == ids[1]:
                raise UsageError(f"{name}:{lineno}: self-loop {ids[0]} {ids[1]}; the graphs must be simple")
            edges.append((ids[0], ids[1]))
        largest = max(largest, *ids)
    if largest < 0:
        raise UsageError(f"{name}: empty graph (no node or edge lines)")
    return Graph.from_edges(largest + 1, np.array(edges, dtype=np.int64).reshape(-1, 2), name=name)


def read_edge_list(path: str | os.PathLike) -> Graph:
    """Read an edge-list file; a missing file, a folder or bad bytes are one-line errors."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"edge-list file not found: {p}")
    if p.is_dir():
        raise UsageError(f"{p} is a folder, not an edge-list file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{p}: not a text edge-list file (undecodable bytes)") from None
    return parse_edge_list(text, name=str(p))


def write_edge_list(graph: Graph, path: str | os.PathLike, comment: str | None = None) -> Path:
    """Write ``graph`` in the edge-list format (isolated nodes as single-id lines)."""
    p = Path(path)
    lines = [f"# {comment}"] if comment else []
    lines += [f"{u} {v}" for u, v in graph.edges.tolist()]
    touched = set(graph.edges.ravel().tolist())
    lines += [str(v) for v in range(graph.n) if v not in touched]
    p.write_text("\n".join(lines) + "\n")
    return p
