"""Data: the paper's synthetic biconnectivity families (seeded), ZINC from its standard files, any PyG list.

Synthetic families (Zhang et al., ICLR 2023, App. E / Fig. 2; official ``synthetic_wrapper.py``), each
drawn with probability 1/5:

* ``ce1-cycle`` / ``ce1-split`` (counterexample 1): a 2km-cycle plus a hub joined to every m-th cycle
  node, vs two km-cycles plus the same hub (the hub is then a cut vertex); k in {1, 2}, m in {3, 4}.
* ``ce2-cycle`` / ``ce2-split`` (counterexample 2): a 2m-cycle plus the chord (m-1, 2m-1), vs two
  m-cycles joined by the bridge (m-1, 2m-1); m in {3, 4}.
* ``tree-of-cubic``: 2-4 random components in which every node has degree 3 (counting the joining
  edges), about 40 nodes in total, joined along a random tree: the tree edges are bridges.

Every pair in a counterexample family is 1-WL-equivalent (all are regular up to the hub/chord), so a
message-passing network cannot separate them. The official generator is unseeded (its validation and
test sets change at every access) and downloads PCQM4Mv2 only to borrow split indices; ours draws every
graph from ``numpy.random.default_rng(seed)``, so a split is a pure function of its seed.

Labels come from ``gd_wl.biconnectivity`` (Tarjan): ``y_cut`` per node (cut vertex = 1) and ``y_bridge``
per ``edge_index`` column (both directions of a bridge = 1).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from gd_wl.biconnectivity import biconnectivity
from gd_wl.graph import Graph
from orals23_shared.cli import UsageError

__all__ = [
    "FAMILIES",
    "counterexample_1",
    "counterexample_2",
    "tree_of_cubic",
    "sample_family",
    "counterexample_pairs",
    "biconnectivity_labels",
    "to_data",
    "synthetic_dataset",
    "load_zinc",
    "load_pyg_list",
]

FAMILIES = ("ce1-cycle", "ce1-split", "ce2-cycle", "ce2-split", "tree-of-cubic")


def _cycle(nodes: Sequence[int]) -> list[tuple[int, int]]:
    return [(nodes[i], nodes[(i + 1) % len(nodes)]) for i in range(len(nodes))]


def counterexample_1(k: int, m: int, split: bool) -> Graph:
    """A 2km-cycle (or two km-cycles when ``split``) plus a hub joined to every m-th cycle node."""
    n = 2 * k * m
    edges = _cycle(range(n)) if not split else _cycle(range(k * m)) + _cycle(range(k * m, n))
    edges += [(n, i) for i in range(n) if (i + 1) % m == 0]
    return Graph.from_edges(n + 1, edges)


def counterexample_2(m: int, split: bool) -> Graph:
    """A 2m-cycle plus a chord (or two m-cycles joined by a bridge when ``split``)."""
    edges = _cycle(range(2 * m)) if not split else _cycle(range(m)) + _cycle(range(m, 2 * m))
    edges.append((m - 1, 2 * m - 1))
    return Graph.from_edges(2 * m, edges)


def counterexample_pairs() -> list[tuple[str, Graph, Graph]]:
    """Every 1-WL-equivalent pair of the two counterexample families (the paper's Fig. 2 graphs)."""
    pairs = [
        (f"ce1 k={k} m={m}", counterexample_1(k, m, False), counterexample_1(k, m, True))
        for k in (1, 2)
        for m in (3, 4)
    ]
    pairs += [(f"ce2 m={m}", counterexample_2(m, False), counterexample_2(m, True)) for m in (3, 4)]
    return pairs


def _cubic_component(size: int, ports: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A connected simple graph on ``size`` nodes: nodes 0..ports-1 have degree 2, the rest degree 3."""
    degrees = [2] * ports + [3] * (size - ports)
    for _ in range(1000):
        g = nx.random_degree_sequence_graph(degrees, seed=int(rng.integers(2**31)), tries=50)
        if nx.is_connected(g):
            return list(g.edges())
    raise RuntimeError(f"no connected graph with degrees {degrees}")  # pragma: no cover


def tree_of_cubic(rng: np.random.Generator, total: int = 40) -> Graph:
    """2-4 components of degree-3 nodes (about ``total`` nodes) joined along a random tree (official family 3)."""
    c = int(rng.choice([2, 3, 4]))
    tree = nx.random_labeled_tree(c, seed=int(rng.integers(2**31))) if c > 1 else nx.empty_graph(1)
    tree_deg = [tree.degree(i) for i in range(c)]
    per = total // c
    sizes = []
    for d in tree_deg:
        lo = max(6, d + 4)  # room for a connected graph with d degree-2 ports
        choices = [s for s in range(lo, per + 1) if (3 * s - d) % 2 == 0]
        sizes.append(int(rng.choice(choices)))
    offset = np.concatenate([[0], np.cumsum(sizes)])
    edges: list[tuple[int, int]] = []
    next_port = list(offset[:-1])
    for i, (s, d) in enumerate(zip(sizes, tree_deg)):
        edges += [(u + offset[i], v + offset[i]) for u, v in _cubic_component(s, d, rng)]
    for a, b in tree.edges():
        edges.append((next_port[a], next_port[b]))
        next_port[a] += 1
        next_port[b] += 1
    return Graph.from_edges(int(offset[-1]), edges)


def sample_family(rng: np.random.Generator) -> tuple[str, Graph]:
    """One graph: a family drawn uniformly, then its parameters (k, m uniform as in the official code)."""
    fam = FAMILIES[int(rng.integers(len(FAMILIES)))]
    if fam.startswith("ce1"):
        k, m = int(rng.integers(1, 3)), int(rng.integers(3, 5))
        return fam, counterexample_1(k, m, fam.endswith("split"))
    if fam.startswith("ce2"):
        return fam, counterexample_2(int(rng.integers(3, 5)), fam.endswith("split"))
    return fam, tree_of_cubic(rng)


def biconnectivity_labels(graph: Graph, edge_index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``y_cut`` (per node) and ``y_bridge`` (per ``edge_index`` column), 0/1 int64, from Tarjan."""
    b = biconnectivity(graph)
    y_cut = torch.zeros(graph.n, dtype=torch.long)
    y_cut[b.cut_vertices] = 1
    bridges = {(u, v) for u, v in b.bridges} | {(v, u) for u, v in b.bridges}
    y_bridge = torch.tensor([int((int(u), int(v)) in bridges) for u, v in edge_index.T], dtype=torch.long)
    return y_cut, y_bridge


def to_data(graph: Graph, family: str | None = None, labels: bool = True) -> Data:
    """A PyG ``Data`` with constant node features (``x`` all zeros = one atom type) and biconnectivity labels."""
    ei = graph.edge_index()
    data = Data(edge_index=torch.from_numpy(ei).long(), num_nodes=graph.n)
    data.x = torch.zeros(graph.n, 1, dtype=torch.long)
    if labels:
        data.y_cut, data.y_bridge = biconnectivity_labels(graph, ei)
    if family is not None:
        data.family = FAMILIES.index(family)
    return data


def synthetic_dataset(n: int, seed: int) -> list[Data]:
    """``n`` graphs from the five families, a pure function of ``seed``."""
    rng = np.random.default_rng(seed)
    return [to_data(g, fam) for fam, g in (sample_family(rng) for _ in range(n))]


# ---- ZINC (benchmarking-gnns "molecules" files) ---------------------------------------------------------


def load_zinc(root: str | os.PathLike, split: str, subset: bool = True) -> list[Data]:
    """ZINC in its standard format: ``root/{split}.pickle`` (benchmarking-gnns ``molecules.zip``: a list of
    dicts with ``atom_type`` [n], ``bond_type`` [n, n] and ``logP_SA_cycle_normalized``) and, for the 12k
    subset, ``root/{split}.index`` (comma-separated indices). Not shipped: download it yourself."""
    root = Path(root)
    path = root / f"{split}.pickle"
    if not path.is_file():
        raise UsageError(f"ZINC file not found: {path} (expected benchmarking-gnns molecules/{split}.pickle)")
    try:
        with open(path, "rb") as f:
            mols = pickle.load(f)
    except Exception as e:  # a truncated or foreign pickle
        raise UsageError(f"{path}: not a ZINC molecules pickle ({type(e).__name__}: {e})") from None
    indices: Sequence[int] = range(len(mols))
    if subset:
        ipath = root / f"{split}.index"
        if not ipath.is_file():
            raise UsageError(f"ZINC subset index not found: {ipath} (pass --no-zinc-subset for the full set)")
        text = ipath.read_text().strip()
        try:
            indices = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise UsageError(f"{ipath}: expected comma-separated integers") from None
    out = []
    for i in indices:
        if not 0 <= i < len(mols):
            raise UsageError(f"{path}: index {i} out of range (the file has {len(mols)} molecules)")
        mol = mols[i]
        try:
            atoms = torch.as_tensor(mol["atom_type"]).long().view(-1)
            bonds = torch.as_tensor(mol["bond_type"]).long()
            y = float(torch.as_tensor(mol["logP_SA_cycle_normalized"]).reshape(-1)[0])
        except (KeyError, TypeError) as e:
            raise UsageError(f"{path}: molecule {i} lacks atom_type/bond_type/logP_SA_cycle_normalized") from e
        if bonds.shape != (len(atoms), len(atoms)) or not torch.equal(bonds, bonds.T):
            raise UsageError(
                f"{path}: molecule {i} has a bond matrix of shape {tuple(bonds.shape)}, not symmetric n x n"
            )
        ei = bonds.nonzero().t().contiguous()
        out.append(
            Data(
                x=atoms.view(-1, 1),
                edge_index=ei,
                edge_attr=bonds[ei[0], ei[1]],
                y=torch.tensor([y]),
                num_nodes=len(atoms),
            )
        )
    return out


# ---- any list of PyG graphs ----------------------------------------------------------------------------


def load_pyg_list(path: str | os.PathLike) -> list[Data]:
    """A ``torch.save``-d list of ``torch_geometric.data.Data`` (each with ``edge_index``; ``x`` optional)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"data file not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UsageError(f"{p}: not a torch.save file ({type(e).__name__})") from None
    if isinstance(obj, Data):
        obj = [obj]
    if not isinstance(obj, (list, tuple)) or not obj or not all(isinstance(d, Data) for d in obj):
        raise UsageError(f"{p}: expected a non-empty list of torch_geometric.data.Data")
    out = []
    for i, d in enumerate(obj):
        if d.edge_index is None or d.num_nodes is None or d.num_nodes == 0:
            raise UsageError(f"{p}: graph {i} has no nodes or no edge_index (empty graph)")
        try:
            Graph.from_pyg(d)  # refuses directed edges and self-loops
        except UsageError as e:
            raise UsageError(f"{p}: graph {i}: {e}") from None
        if d.x is None:
            d = d.clone()
            d.x = torch.zeros(d.num_nodes, 1, dtype=torch.long)
        out.append(d)
    return out
