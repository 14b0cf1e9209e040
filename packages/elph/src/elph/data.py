"""Graphs and link splits for ELPH / BUDDY (Chamberlain et al., ICLR 2023, Sec. 6 "Experimental setup").

* Planetoid raw files (``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``) read from a folder with a
  restricted unpickler (numpy, scipy CSR and ``defaultdict`` only); no download ever.
* Any graph as an edge list (one ``u v`` per line, ``#`` comments).
* OGB link datasets (``ogbl-collab``, ``ogbl-ppa``, ``ogbl-ddi``, ``ogbl-citation2``) read from a user's local
  copy in the layout of ``ogb.linkproppred.LinkPropPredDataset`` (``<root>/<name with _>/raw/*.csv.gz`` and
  ``split/<split type>/{train,valid,test}.pt``) with plain numpy/torch: the ``ogb`` package is not needed and
  nothing is ever downloaded. The official splits and negatives are used as given (official ``get_ogb_data``).
* The largest connected component (the official runner's preprocessing for Planetoid).
* Splits as the official runner: ``RandomLinkSplit(0.1, 0.2, is_undirected=True,
  add_negative_train_samples=True)`` i.e. 70/10/20 with fixed 1:1 negatives for every split. The
  message-passing graph is the train edges for train and val, and train + val edges for test.
"""

from __future__ import annotations

import gzip
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
    "find_ogb_dir",
    "largest_connected_component",
    "structural_features",
    "edge_hash",
    "split_links",
    "PLANETOID",
    "OGB",
    "OgbInfo",
    "load_ogb",
    "is_ogb",
    "two_block_edges",
    "ring_lattice_edges",
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


@dataclass(frozen=True)
class OgbInfo:
    """The parts of OGB's ``master.csv`` a link dataset needs here: split folder and official metric."""

    split: str
    metric: str  # "hits" (Hits@k) or "mrr"
    k: int
    val_edges_at_test: bool = False  # collab only: validation edges join the graph at test time (OGB rules)


OGB = {
    "ogbl-collab": OgbInfo("time", "hits", 50, val_edges_at_test=True),
    "ogbl-ppa": OgbInfo("throughput", "hits", 100),
    "ogbl-ddi": OgbInfo("target", "hits", 20),
    "ogbl-citation2": OgbInfo("time", "mrr", 100),
}


def is_ogb(name: str | None) -> bool:
    """True for OGB link dataset names (``ogbl-*``)."""
    return name is not None and name.lower().startswith("ogbl-")


def _read_csv_gz(path: Path, dtype: type) -> np.ndarray:
    """A headerless OGB ``*.csv.gz`` as a 2-D array; a missing or malformed file is named."""
    if not path.is_file():
        raise UsageError(f"OGB file missing: {path}")
    try:
        with gzip.open(path, "rt") as f:
            return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"{path}: not a readable OGB csv.gz file ({e})") from e


def _numpy_safe_globals() -> list:
    """What a pickled numpy array needs, under both module names numpy has used (``numpy.core`` before 2.0,
    ``numpy._core`` since): OGB's split files hold numpy arrays for some datasets (``ogb`` converts them with
    ``replace_numpy_with_torchtensor``), and ``weights_only=True`` refuses them unless they are allowed."""
    core = getattr(np, "_core", None) or np.core
    rec = core.multiarray._reconstruct
    return [
        np.ndarray,
        np.dtype,
        rec,
        (rec, "numpy.core.multiarray._reconstruct"),
        (rec, "numpy._core.multiarray._reconstruct"),
        *{type(np.dtype(t)) for t in "?bhilqBHILQefdgFD"},
    ]


def _read_split(path: Path) -> dict[str, torch.Tensor]:
    """One ``split/<type>/<part>.pt`` file: a dict of tensors or numpy arrays (``weights_only=True``, numpy
    arrays allowed, nothing else)."""
    if not path.is_file():
        raise UsageError(f"OGB file missing: {path}")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            d = torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable OGB split file ({e})") from e
    check(isinstance(d, dict), f"{path}: expected a dict of tensors, got {type(d).__name__}")
    return {k: torch.as_tensor(v) for k, v in d.items()}


def _split_links(d: dict[str, torch.Tensor], path: Path) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(positives [P, 2], negatives [N, 2] or None, negatives per positive) of an OGB split dict.

    ``edge`` / ``edge_neg`` (collab, ppa, ddi: one shared negative set) or ``source_node`` / ``target_node`` /
    ``target_node_neg`` [P, m] (citation2: m negatives per positive, flattened source-major).
    """
    if "edge" in d:
        pos = d["edge"].long().reshape(-1, 2)
        neg = d["edge_neg"].long().reshape(-1, 2) if "edge_neg" in d else None
        return pos, neg, 0
    if "source_node" in d and "target_node" in d:
        src, dst = d["source_node"].long().reshape(-1), d["target_node"].long().reshape(-1)
        check(len(src) == len(dst), f"{path}: source_node and target_node differ in length")
        pos = torch.stack([src, dst], dim=1)
        if "target_node_neg" not in d:
            return pos, None, 0
        tn = d["target_node_neg"].long()
        check(tn.dim() == 2 and tn.size(0) == len(src), f"{path}: target_node_neg must be [P, m] with P = {len(src)}")
        neg = torch.stack([src.repeat_interleave(tn.size(1)), tn.reshape(-1)], dim=1)
        return pos, neg, int(tn.size(1))
    raise UsageError(f"{path}: expected keys 'edge' or 'source_node'/'target_node', found {sorted(d)}")


def find_ogb_dir(root: str | Path, name: str) -> Path:
    """The dataset folder: ``root/<name with _ for ->`` (OGB's layout) or ``root`` itself."""
    root = Path(root)
    for cand in (root / name.replace("-", "_"), root):
        if (cand / "raw").is_dir() or (cand / "split").is_dir():
            return cand
    raise UsageError(
        f"no OGB dataset '{name}' under {root} (expected {root / name.replace('-', '_') / 'raw' / 'edge.csv.gz'}; "
        "files are never downloaded)"
    )


def load_ogb(
    root: str | Path, name: str, seed: int = 0, year: int = 0, features: bool = True
) -> tuple[Graph, dict[str, LinkSplit], OgbInfo]:
    """An OGB link dataset from local files, with its official splits and negatives (official ``get_ogb_data``).

    The graph is the training edges (``raw/edge.csv.gz``; made undirected, as the official code does for
    sketches and features, also for the directed citation2); ``raw/node-feat.csv.gz`` gives features when
    present. Validation/test positives and negatives are those of the split files; training negatives are
    sampled once, 1:1 (uniform pairs; same-source pairs for citation2-style splits). Message passing uses the
    training graph for every split, plus the validation edges at test time for ogbl-collab. ``year > 0`` keeps
    only training edges from that year on (official ``--year``, collab). Names other than the four known ones
    are read with the split folder found on disk and Hits@100 (MRR for source/target-style splits).
    """
    from torch_geometric.utils import add_self_loops, negative_sampling

    name = name.lower()
    folder = find_ogb_dir(root, name)
    info = OGB.get(name)
    if info is None:
        types = sorted(p.name for p in (folder / "split").glob("*") if p.is_dir())
        check(
            len(types) == 1, f"{folder / 'split'}: expected one split folder for unknown dataset {name}, found {types}"
        )
        info = OgbInfo(types[0], "hits", 100)
    raw = folder / "raw"
    num_nodes = int(_read_csv_gz(raw / "num-node-list.csv.gz", np.int64).sum())
    edges = _read_csv_gz(raw / "edge.csv.gz", np.int64)
    check(edges.shape[1] == 2, f"{raw / 'edge.csv.gz'}: expected 2 columns, got {edges.shape[1]}")
    parts = {k: _read_split(folder / "split" / info.split / f"{k}.pt") for k in ("train", "valid", "test")}
    links = {k: _split_links(d, folder / "split" / info.split / f"{k}.pt") for k, d in parts.items()}
    if links["test"][2] > 0 and name not in OGB:
        info = OgbInfo(info.split, "mrr", info.k)
    train_pos = links["train"][0]
    if year > 0:
        check("year" in parts["train"], f"--year needs a 'year' entry in {folder / 'split' / info.split / 'train.pt'}")
        train_pos = train_pos[parts["train"]["year"].reshape(-1) >= year]
        check(len(train_pos) > 0, f"no training edges from year {year} on")
        edges = train_pos.numpy()
    for key, (pos, neg, _) in links.items():
        for what, t in (("positive", pos), ("negative", neg)):
            if t is not None and len(t) and (int(t.min()) < 0 or int(t.max()) >= num_nodes):
                raise UsageError(f"{name} {key} {what} links: node ids outside 0..{num_nodes - 1}")
    check(len(edges) > 0, f"{raw / 'edge.csv.gz'}: no edges")
    if int(edges.min()) < 0 or int(edges.max()) >= num_nodes:
        raise UsageError(f"{raw / 'edge.csv.gz'}: node ids outside 0..{num_nodes - 1} (num-node-list.csv.gz)")
    x = None
    if features and (raw / "node-feat.csv.gz").is_file():
        x = torch.from_numpy(_read_csv_gz(raw / "node-feat.csv.gz", np.float32))
        check(len(x) == num_nodes, f"{raw / 'node-feat.csv.gz'}: {len(x)} rows but {num_nodes} nodes")
    graph = Graph(num_nodes=num_nodes, edge_index=_undirected(edges, num_nodes), x=x, name=name)
    if links["train"][1] is not None:
        train_neg = links["train"][1]
    else:
        with _seeded(seed):
            if "source_node" in parts["train"]:  # citation2-style: random targets for each source
                train_neg = torch.stack([train_pos[:, 0], torch.randint(0, num_nodes, (len(train_pos),))], dim=1)
            else:
                ei, _ = add_self_loops(graph.edge_index, num_nodes=num_nodes)
                train_neg = negative_sampling(ei, num_nodes=num_nodes, num_neg_samples=len(train_pos)).t()
    splits = {"train": LinkSplit(train_pos, train_neg, graph.edge_index)}
    for key, ours in (("valid", "val"), ("test", "test")):
        pos, neg, m = links[key]
        check(neg is not None and len(neg) > 0, f"{folder / 'split' / info.split / key}.pt has no negatives")
        ei = graph.edge_index
        if key == "test" and info.val_edges_at_test:
            ei = _undirected(torch.cat([ei.t(), links["valid"][0]]).numpy(), num_nodes)
        splits[ours] = LinkSplit(pos, neg, ei, neg_per_pos=m)
    return graph, splits, info


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
