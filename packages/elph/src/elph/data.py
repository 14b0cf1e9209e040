"""Graphs and link splits for ELPH / BUDDY (Chamberlain et al., ICLR 2023, Sec. 6 "Experimental setup").

* Planetoid raw files (``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``) read from a folder with a
  restricted unpickler (numpy, scipy CSR and ``defaultdict`` only); no download ever.
* Any graph as an edge list (one ``u v`` per line, ``#`` comments).
* OGB link datasets: :mod:`elph.ogb`.
* The largest connected component (the official runner's preprocessing for Planetoid).
* Splits as the official runner: ``RandomLinkSplit(0.1, 0.2, is_undirected=True,
  add_negative_train_samples=True)`` i.e. 70/10/20 with fixed 1:1 negatives for every split. The
  message-passing graph is the train edges for train and val, and train + val edges for test.
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from orals23_shared.cli import UsageError, check

__all__ = [
    "Graph",
    "LinkSplit",
    "load_planetoid",
    "load_edge_list",
    "find_planetoid_dir",
    "largest_connected_component",
    "structural_features",
    "edge_hash",
    "split_links",
    "PLANETOID",
    "two_block_edges",
    "ring_lattice_edges",
    "synthetic_graph",
]

PLANETOID = ("cora", "citeseer", "pubmed")


@dataclass
class Graph:
    """An undirected graph: ``edge_index`` [2, 2E] holds both directions, no self-loops, no duplicates."""

    num_nodes: int
    edge_index: torch.Tensor
    x: torch.Tensor | None = None
    name: str = "graph"

    @property
    def num_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.edge_index.size(1) // 2)


@dataclass
class LinkSplit:
    """Positive/negative links of one split and the graph used for message passing in that split."""

    pos: torch.Tensor  # [P, 2]
    neg: torch.Tensor  # [N, 2]
    edge_index: torch.Tensor  # [2, E'] message-passing edges (both directions)
    neg_per_pos: int = 0  # >0: neg is [P * m, 2], m negatives per positive in order (ogbl-citation2 MRR)

    def links(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All links [P+N, 2] and their labels (1 for positives)."""
        links = torch.cat([self.pos, self.neg])
        labels = torch.cat([torch.ones(len(self.pos)), torch.zeros(len(self.neg))])
        return links, labels


def _undirected(edges: np.ndarray, num_nodes: int) -> torch.Tensor:
    """Both directions, self-loops removed, duplicates removed, sorted."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    key = np.unique(lo * num_nodes + hi)
    lo, hi = key // num_nodes, key % num_nodes
    ei = np.stack([np.concatenate([lo, hi]), np.concatenate([hi, lo])])
    return torch.from_numpy(ei).long()


class _RestrictedUnpickler(pickle.Unpickler):
    """Only what the Planetoid files hold: numpy arrays, scipy CSR matrices and a defaultdict(list)."""

    _ALLOWED = {
        ("collections", "defaultdict"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "int"),
        ("__builtin__", "list"),
        ("__builtin__", "dict"),
        ("__builtin__", "int"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "_reconstructor"),
        ("__builtin__", "object"),
        ("builtins", "object"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("scipy.sparse.csr", "csr_matrix"),
        ("scipy.sparse._csr", "csr_matrix"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module == "scipy.sparse.csr":
            module = "scipy.sparse"
        return super().find_class(module, name)


def _unpickle(path: Path):  # noqa: ANN202
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UsageError(f"{path}: not a readable Planetoid file ({e})") from e


def find_planetoid_dir(root: str | Path, name: str) -> Path:
    """The folder holding ``ind.<name>.graph``: ``root``, ``root/<name>``, or ``root/<Name>/raw``."""
    name = name.lower()
    root = Path(root)
    cands = [root, root / name, root / name.capitalize() / "raw", root / "PubMed" / "raw", root / "CiteSeer" / "raw"]
    for c in cands:
        if (c / f"ind.{name}.graph").is_file():
            return c
    raise UsageError(f"no Planetoid '{name}' files under {root} (looked for ind.{name}.graph in {root}, {root / name})")


def load_planetoid(root: str | Path, name: str, features: bool = True) -> Graph:
    """Load a Planetoid graph (Cora 2708 nodes / 5278 edges, CiteSeer 3327 / 4552, PubMed 19717 / 44324).

    ``features=False`` reads the structure only (needed for the shared PubMed copy, which lacks
    ``ind.pubmed.allx``). A missing file is named in the error.
    """
    name = name.lower()
    check(name in PLANETOID, f"unknown Planetoid dataset {name!r}; expected one of {', '.join(PLANETOID)}")
    folder = find_planetoid_dir(root, name)
    needed = ("graph", "test.index") + (("x", "tx", "allx") if features else ())
    for part in needed:
        path = folder / f"ind.{name}.{part}"
        if not path.is_file():
            raise UsageError(f"Planetoid folder {folder} is missing file {path.name}")
    graph = _unpickle(folder / f"ind.{name}.graph")
    check(isinstance(graph, dict), f"{folder / f'ind.{name}.graph'}: expected an adjacency dict")
    test_index = []
    with open(folder / f"ind.{name}.test.index") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                test_index.append(int(line))
            except ValueError as e:
                raise UsageError(f"{folder / f'ind.{name}.test.index'}: line {lineno}: not a node id: {line!r}") from e
    num_nodes = max(max(graph.keys()) + 1, max(test_index) + 1)
    edges = [(u, w) for u, nbrs in graph.items() for w in nbrs]
    check(len(edges) > 0, f"{folder}: the graph has no edges")
    edges_np = np.array(edges, dtype=np.int64)
    num_nodes = max(num_nodes, int(edges_np.max()) + 1)
    x = None
    if features:
        allx, tx = _unpickle(folder / f"ind.{name}.allx"), _unpickle(folder / f"ind.{name}.tx")
        dense = np.zeros((num_nodes, allx.shape[1]), dtype=np.float32)
        dense[: allx.shape[0]] = np.asarray(allx.todense())
        check(tx.shape[0] == len(test_index), f"{folder}: tx has {tx.shape[0]} rows but test.index {len(test_index)}")
        dense[np.array(test_index)] = np.asarray(tx.todense())
        x = torch.from_numpy(dense)
    return Graph(num_nodes=num_nodes, edge_index=_undirected(edges_np, num_nodes), x=x, name=name)


def load_edge_list(path: str | Path) -> Graph:
    """Read ``u v`` per line (whitespace or comma separated, ``#`` comments, blank lines skipped).

    Node ids are non-negative integers; the graph has ``max id + 1`` nodes. Errors name the line.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"edge list not found: {path}")
    edges = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].replace(",", " ").strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) < 2:
                raise UsageError(f"{path}: line {lineno}: expected 'u v', got {raw.strip()!r}")
            try:
                u, v = int(parts[0]), int(parts[1])
            except ValueError as e:
                raise UsageError(f"{path}: line {lineno}: node ids must be integers, got {raw.strip()!r}") from e
            if u < 0 or v < 0:
                raise UsageError(f"{path}: line {lineno}: node ids must be non-negative, got {raw.strip()!r}")
            edges.append((u, v))
    check(len(edges) > 0, f"{path}: no edges")
    arr = np.array(edges, dtype=np.int64)
    check(bool((arr[:, 0] != arr[:, 1]).any()), f"{path}: the graph has only self-loops")
    n = int(arr.max()) + 1
    return Graph(num_nodes=n, edge_index=_undirected(arr, n), name=path.stem)


def largest_connected_component(g: Graph) -> Graph:
    """Restrict ``g`` to its largest connected component, relabelling nodes 0..n'-1 in order."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    ei = g.edge_index.numpy()
    a = sp.coo_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(g.num_nodes, g.num_nodes))
    _, comp = connected_components(a, directed=False)
    keep = np.flatnonzero(comp == np.bincount(comp).argmax())
    remap = -np.ones(g.num_nodes, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    mask = remap[ei[0]] >= 0
    new_ei = torch.from_numpy(np.stack([remap[ei[0][mask]], remap[ei[1][mask]]])).long()
    x = g.x[torch.from_numpy(keep)] if g.x is not None else None
    return Graph(num_nodes=len(keep), edge_index=new_ei, x=x, name=g.name)


def structural_features(edge_index: torch.Tensor, num_nodes: int, max_degree: int = 63) -> torch.Tensor:
    """Features for graphs without any: one-hot of ``min(degree, max_degree)`` ([n, max_degree + 1]).

    Pass the *training* graph (``splits["train"].edge_index``): degrees counted on the full graph would
    count the held-out validation and test edges, and so leak them into the node features.
    """
    deg = torch.bincount(edge_index[0], minlength=num_nodes).clamp(max=max_degree)
    return torch.nn.functional.one_hot(deg, max_degree + 1).float()


def edge_hash(edge_index: torch.Tensor) -> str:
    """A content hash of an edge tensor (shape and every id): the key of per-graph caches, so two different
    graphs never share a cache entry (an (edge count, id sum) key can collide)."""
    import hashlib

    t = torch.as_tensor(edge_index).to(torch.int64).contiguous()
    h = hashlib.sha256(str(tuple(t.shape)).encode())
    h.update(t.numpy().tobytes())
    return h.hexdigest()


@contextmanager
def _seeded(seed: int):  # noqa: ANN202
    """Seed torch, numpy and random (PyG's negative sampling draws from all three), then restore them."""
    import random

    states = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def split_links(g: Graph, val_pct: float = 0.1, test_pct: float = 0.2, seed: int = 0) -> dict[str, LinkSplit]:
    """70/10/20 split with fixed 1:1 negatives via PyG's ``RandomLinkSplit`` (as the official runner).

    Message passing: train edges for ``train`` and ``val``; train + val edges for ``test``.
    """
    from torch_geometric.data import Data
    from torch_geometric.transforms import RandomLinkSplit

    check(g.num_edges >= 10, f"need at least 10 edges to split, the graph has {g.num_edges}")
    check(
        0 < val_pct < 1 and 0 < test_pct < 1 and val_pct + test_pct < 1,
        "val_pct and test_pct must be in (0, 1) and sum below 1",
    )
    with _seeded(seed):
        tr, va, te = RandomLinkSplit(
            num_val=val_pct, num_test=test_pct, is_undirected=True, add_negative_train_samples=True, split_labels=True
        )(Data(edge_index=g.edge_index, num_nodes=g.num_nodes))

    def mk(d) -> LinkSplit:  # noqa: ANN001
        return LinkSplit(
            pos=d.pos_edge_label_index.t().contiguous(),
            neg=d.neg_edge_label_index.t().contiguous(),
            edge_index=d.edge_index,
        )

    return {"train": mk(tr), "val": mk(va), "test": mk(te)}


def two_block_edges(n: int = 120, p_in: float = 0.08, p_out: float = 0.005, seed: int = 0) -> np.ndarray:
    """A small synthetic graph for tests and demos: two-block SBM edges [E, 2] with u < v."""
    rng = np.random.default_rng(seed)
    block = np.arange(n) % 2
    iu, iv = np.triu_indices(n, 1)
    prob = np.where(block[iu] == block[iv], p_in, p_out)
    keep = rng.random(len(iu)) < prob
    return np.stack([iu[keep], iv[keep]], axis=1)


def ring_lattice_edges(n: int = 200, k: int = 6, rewire: float = 0.1, seed: int = 0) -> np.ndarray:
    """Watts-Strogatz-style graph: a ring where each node links its k nearest neighbours, a fraction
    ``rewire`` of edges moved to random endpoints. Triangle-rich, so common neighbours predict links."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n), k // 2)
    v = (u + np.tile(np.arange(1, k // 2 + 1), n)) % n
    moved = rng.random(len(u)) < rewire
    v = np.where(moved, rng.integers(0, n, len(u)), v)
    keep = u != v
    return np.stack([u[keep], v[keep]], axis=1)


def synthetic_graph(num_nodes: int = 100_000, num_edges: int = 1_000_000, rewire: float = 0.1, seed: int = 0) -> Graph:
    """A featureless Watts-Strogatz-style graph of about ``num_edges`` edges (each node linked to its
    ``2 * num_edges / num_nodes`` nearest ring neighbours, 10% rewired): the scale row of the speed protocol."""
    check(num_nodes >= 10 and num_edges >= num_nodes, "a synthetic graph needs >= 10 nodes and >= as many edges")
    k = max(2, int(round(2 * num_edges / num_nodes)))
    edges = ring_lattice_edges(num_nodes, k, rewire, seed=seed)
    return Graph(num_nodes=num_nodes, edge_index=_undirected(edges, num_nodes), name=f"synthetic-{num_nodes}")
