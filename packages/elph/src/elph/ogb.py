"""OGB link datasets (``ogbl-collab``, ``ogbl-ppa``, ``ogbl-ddi``, ``ogbl-citation2``) read from a user's local
copy in the layout of ``ogb.linkproppred.LinkPropPredDataset`` (``<root>/<name with _>/raw/*.csv.gz`` and
``split/<split type>/{train,valid,test}.pt``) with plain numpy/torch: the ``ogb`` package is not needed and
nothing is ever downloaded. The official splits and negatives are used as given (official ``get_ogb_data``
in ``src/data.py`` of the official code, Chamberlain et al., ICLR 2023).
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elph.data import Graph, LinkSplit, _seeded, _undirected
from orals23_shared.cli import UsageError, check

__all__ = ["OGB", "OgbInfo", "find_ogb_dir", "is_ogb", "load_ogb"]


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
