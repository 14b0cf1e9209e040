"""Training and evaluation of ELPH, BUDDY and the baselines (Chamberlain et al., ICLR 2023, Sec. 6).

One plain PyTorch loop for every model (not Lightning): BUDDY and the heuristics fit in memory on one
CPU, ELPH and the GCN do full-graph passes, and the official code uses a plain loop too. Binary
cross-entropy on fixed 1:1 negatives (official ``train_buddy``/``train_elph``); the GCN/SAGE baselines
resample negatives every epoch as PyG's ``link_pred.py``. Model selection: test numbers at the epoch
with the best validation Hits@K. Checkpoints are atomic and ``resume=True`` continues a killed run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from elph.data import (
    OGB,
    PLANETOID,
    Graph,
    LinkSplit,
    is_ogb,
    largest_connected_component,
    load_edge_list,
    load_ogb,
    load_planetoid,
    split_links,
    structural_features,
)
from elph.model import BUDDY, DGCNN, ELPH, GNNLink, degree_normalised, gcn_propagate, heuristic_scores
from elph.sketch import Sketcher, feature_labels
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError, check
from orals23_shared.metrics import hits_at_k, hits_at_k_ogb, mean_reciprocal_rank, rank_of_positive, roc_auc
from orals23_shared.paths import shared_data_dir
from orals23_shared.runs import RunLogger, make_run_dir
from orals23_shared.seed import seed_everything

__all__ = [
    "TrainConfig",
    "load_graph",
    "load_data",
    "selection_metric",
    "make_runner",
    "evaluate_scores",
    "train",
    "load_run",
]

ModelName = Literal["buddy", "elph", "gcn", "sage", "seal", "heuristic"]


@dataclass
class TrainConfig:
    """One link-prediction run (defaults: a sensible BUDDY on Cora in about a minute on 2 CPU cores)."""

    model: ModelName = field(default="buddy", metadata={"help": "buddy | elph | gcn | sage | seal | heuristic"})
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "cora | citeseer | pubmed (Planetoid raw files) or an OGB link dataset ogbl-collab | ogbl-ppa | "
            "ogbl-ddi | ogbl-citation2 (local files in OGB's layout, never downloaded); files read from --root"
        },
    )
    root: Path | None = field(
        default=None,
        metadata={
            "help": "Planetoid: folder with ind.<name>.* (default: the team's shared/data/<name>); OGB: the folder "
            "holding <name with _>/raw/edge.csv.gz and <name with _>/split/ (ogb's LinkPropPredDataset root)"
        },
    )
    edges: Path | None = field(
        default=None,
        metadata={
            "help": "any graph as an edge list, one 'u v' per line, '#' comments; nodes get one-hot degree features"
        },
    )
    out: Path | None = field(
        default=None, metadata={"help": "run directory (default: runs/<dataset>-<model>/<timestamp>)"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the split and of the model"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in --out"})
    lcc: bool = field(
        default=True, metadata={"help": "restrict the graph to its largest connected component (official runner)"}
    )
    structure_only: bool = field(
        default=False, metadata={"help": "ignore node features and use one-hot degree features"}
    )
    val_pct: float = field(default=0.1, metadata={"help": "fraction of edges for validation"})
    test_pct: float = field(default=0.2, metadata={"help": "fraction of edges for test"})
    epochs: int = field(
        default=30,
        metadata={"help": "training epochs (official: 100; gcn/sage with gnn_setup=pyg take 5 full-batch steps each)"},
    )
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (official BUDDY: 1e-4 with 100 epochs)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    batch_size: int = field(default=1024, metadata={"help": "links per batch"})
    hidden: int = field(default=256, metadata={"help": "hidden channels (official: 1024)"})
    label_dropout: float = field(default=0.5, metadata={"help": "dropout on the subgraph-feature branch"})
    feature_dropout: float = field(default=0.5, metadata={"help": "dropout on the node-feature branch"})
    max_hash_hops: int = field(default=2, metadata={"help": "k: hops of the sketches (features k(k+2))"})
    minhash_num_perm: int = field(default=128, metadata={"help": "MinHash permutations K"})
    hll_p: int = field(default=8, metadata={"help": "HyperLogLog precision p (2^p registers)"})
    hash_seed: int = field(default=1, metadata={"help": "seed of the fixed initial hashes"})
    feature_hops: int = field(default=1, metadata={"help": "BUDDY: node features are Â^h X"})
    feature_prop: Literal["gcn", "residual", "cat"] = field(
        default="gcn",
        metadata={
            "help": "ELPH feature propagation: gcn (stacked GCNConv, official default), residual (h + GCNConv(h)) or "
            "cat (concatenate the encoded features and every hop's output, jumping knowledge)"
        },
    )
    add_normed_features: bool = field(
        default=False,
        metadata={"help": "also feed the subgraph features divided by sqrt(deg(u) deg(v)) (official, default off)"},
    )
    use_ra: bool = field(
        default=False,
        metadata={"help": "BUDDY/ELPH: add the resource-allocation score of each link as an input (official use_RA)"},
    )
    year: int = field(
        default=0, metadata={"help": "OGB: keep only training edges from this year on (official --year; collab 2007)"}
    )
    use_feature: bool = field(
        default=True,
        metadata={
            "help": "use node features (BUDDY/ELPH: else subgraph features only; SEAL: concatenate X with the DRNL "
            "one-hot; GCN/SAGE always use them)"
        },
    )
    use_zero_one: bool = field(
        default=False, metadata={"help": "keep the (0,1)/(1,0) features (they leak the target edge on train positives)"}
    )
    floor_sf: bool = field(default=False, metadata={"help": "clamp negative subgraph-feature estimates to 0"})
    heuristic: Literal["cn", "aa", "ra"] = field(
        default="ra", metadata={"help": "heuristic model: common neighbours, Adamic-Adar, resource allocation"}
    )
    seal_hops: int = field(default=2, metadata={"help": "SEAL: hops of the enclosing subgraphs"})
    gnn_setup: Literal["pyg", "official"] = field(
        default="pyg",
        metadata={
            "help": "GCN/SAGE baseline: pyg (PyG link_pred.py: 128->64, dot product, fresh negatives, full batch) or "
            "official (official run_gnn.py: 256->256, MLP decoder, fixed negatives, batches of 128)"
        },
    )
    gnn_lr: float | None = field(
        default=None, metadata={"help": "GCN/SAGE learning rate (default: 0.01 for pyg, 1e-4 for official)"}
    )
    k: int | None = field(
        default=None,
        metadata={
            "help": "Hits@K used for model selection (default: the dataset's official K: 100 Planetoid/ppa/edge "
            "lists, 50 collab, 20 ddi; ogbl-citation2 selects on MRR)"
        },
    )
    checkpoint_every: int = field(default=1, metadata={"help": "epochs between checkpoints"})

    def __post_init__(self) -> None:
        check(self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}")
        check(self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}")
        check(self.hidden >= 1, f"hidden must be >= 1, got {self.hidden}")
        check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        check(self.k is None or self.k >= 1, f"k must be >= 1, got {self.k}")
        if self.dataset is not None:
            self.dataset = self.dataset.lower()
            check(
                self.dataset in PLANETOID or is_ogb(self.dataset),
                f"unknown dataset {self.dataset!r}; expected one of {', '.join(PLANETOID + tuple(OGB))}",
            )
        check(self.year >= 0, f"year must be >= 0, got {self.year}")
        check(1 <= self.max_hash_hops <= 4, f"max_hash_hops must be in 1..4, got {self.max_hash_hops}")
        check(self.feature_hops >= 1, f"feature_hops must be >= 1, got {self.feature_hops}")
        check(self.minhash_num_perm >= 1, "minhash_num_perm must be >= 1")
        check(4 <= self.hll_p <= 16, f"hll_p must be in 4..16, got {self.hll_p}")
        check(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")
        check(self.gnn_lr is None or self.gnn_lr > 0, f"gnn_lr must be > 0, got {self.gnn_lr}")


def selection_metric(cfg: TrainConfig) -> tuple[str, int]:
    """(metric key used for model selection, K): the dataset's official metric unless ``--k`` is given."""
    info = OGB.get(cfg.dataset or "")
    if cfg.k is not None:
        return f"hits@{cfg.k}", cfg.k
    if info is not None and info.metric == "mrr":
        return "mrr", info.k
    k = info.k if info is not None else 100
    return f"hits@{k}", k


def load_data(cfg: TrainConfig) -> tuple[Graph, dict[str, LinkSplit]]:
    """Graph and splits: OGB's own splits and negatives for ``ogbl-*``, else the 70/10/20 random split."""
    if is_ogb(cfg.dataset):
        check(cfg.edges is None, "give exactly one of --dataset or --edges")
        root = cfg.root if cfg.root is not None else shared_data_dir(cfg.dataset)
        if root is None:
            raise UsageError(f"--dataset {cfg.dataset} needs --root DIR (a local copy in OGB's layout)")
        graph, splits, _ = load_ogb(root, cfg.dataset, seed=cfg.seed, year=cfg.year, features=not cfg.structure_only)
        if graph.x is None:
            graph.x = structural_features(graph)
        return graph, splits
    graph = load_graph(cfg)
    return graph, split_links(graph, cfg.val_pct, cfg.test_pct, seed=cfg.seed)


def load_graph(cfg: TrainConfig) -> Graph:
    """The graph named by ``cfg`` (Planetoid or edge list), LCC-reduced when ``cfg.lcc``, with features."""
    check((cfg.dataset is None) != (cfg.edges is None), "give exactly one of --dataset or --edges")
    check(not is_ogb(cfg.dataset), "OGB datasets come with their own splits: use load_data")
    if cfg.edges is not None:
        g = load_edge_list(cfg.edges)
    else:
        root = cfg.root if cfg.root is not None else shared_data_dir(cfg.dataset)
        if root is None:
            raise UsageError(f"no --root given and no shared data folder for {cfg.dataset}")
        want_x = not cfg.structure_only
        if want_x and cfg.dataset == "pubmed" and not any(Path(root).glob("**/ind.pubmed.allx")):
            want_x = False  # the shared PubMed copy lacks allx: structure only (README)
        g = load_planetoid(root, cfg.dataset, features=want_x)
    if cfg.lcc:
        g = largest_connected_component(g)
    if g.x is None or cfg.structure_only:
        g.x = structural_features(g)
    return g


def _bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels)


def _batches(n: int, size: int, shuffle: bool, gen: torch.Generator | None = None):  # noqa: ANN202
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for s in range(0, n, size):
        b = order[s : s + size]
        if shuffle and b.numel() < 2:  # BatchNorm needs two rows in training
            continue
        yield b


class Runner:
    """Model-specific preprocessing, one training epoch and scoring of a split."""

    model: torch.nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        self.cfg, self.graph, self.splits = cfg, graph, splits
        self.device = torch.device(cfg.device)

    def train_epoch(self, gen: torch.Generator) -> float:  # pragma: no cover - overridden
        return float("nan")

    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - overridden
        raise NotImplementedError

    def evaluate(self, split: str, ks: tuple[int, ...]) -> dict[str, float]:
        """Hits@K / MRR / AUC of a split (per-positive negatives where the split has them)."""
        return evaluate_scores(*self.score(split), ks, self.splits[split].neg_per_pos)

    def _make_optimizer(self) -> None:
        assert self.model is not None
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)


class SketchRunner(Runner):
    """BUDDY / ELPH: subgraph features from sketches of each split's message-passing graph."""

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        self.sketcher = Sketcher(graph.num_nodes, cfg.minhash_num_perm, cfg.hll_p, cfg.max_hash_hops, cfg.hash_seed)
        self.labels = feature_labels(cfg.max_hash_hops)
        self.data: dict[str, dict[str, torch.Tensor]] = {}
        t0 = time.perf_counter()
        tables = {}
        for name, sp in splits.items():
            key = (sp.edge_index.size(1), int(sp.edge_index.sum()))
            if key not in tables:
                tables[key] = self.sketcher.propagate(sp.edge_index)
            links, labels = sp.links()
            sf = self.postprocess(tables[key].subgraph_features(links))
            self.data[name] = {"links": links, "labels": labels}
            if cfg.add_normed_features:  # degrees in this split's message-passing graph (official HashDataset)
                deg = torch.bincount(sp.edge_index[0], minlength=graph.num_nodes)
                sf = degree_normalised(sf, deg[links[:, 0]], deg[links[:, 1]])
            self.data[name]["sf"] = sf
            if cfg.use_ra:  # resource allocation on this split's message-passing graph (official use_RA)
                self.data[name]["ra"] = heuristic_scores(sp.edge_index, graph.num_nodes, links, "ra")
        self.sf_dim = len(self.labels) * (2 if cfg.add_normed_features else 1)
        self.preprocess_seconds = time.perf_counter() - t0

    def postprocess(self, sf: torch.Tensor) -> torch.Tensor:
        """Official knock-out of the leaking (0,1)/(1,0) features, located by label (fixes issue #13 for k=3)."""
        sf = sf.clone()
        if not self.cfg.use_zero_one:
            for lab in ((0, 1), (1, 0)):
                sf[:, self.labels.index(lab)] = 0.0
        if self.cfg.floor_sf:
            sf.clamp_(min=0.0)
        return sf

    def _ra(self, d: dict[str, torch.Tensor], b: torch.Tensor | None = None) -> torch.Tensor | None:
        if "ra" not in d:
            return None
        return (d["ra"] if b is None else d["ra"][b]).to(self.device)

    def _train_logits(self, d: dict[str, torch.Tensor], b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train_epoch(self, gen: torch.Generator) -> float:
        """One epoch of BCE over the training links, in shuffled batches (shared by BUDDY and ELPH)."""
        self.model.train()
        d = self.data["train"]
        total, count = 0.0, 0
        for b in _batches(len(d["labels"]), self.cfg.batch_size, True, gen):
            self.optimizer.zero_grad()
            loss = _bce(self._train_logits(d, b), d["labels"][b].to(self.device))
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(b)
            count += len(b)
        return total / max(count, 1)


class BuddyRunner(SketchRunner):
    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        t0 = time.perf_counter()
        cache: dict[tuple, torch.Tensor] = {}
        for name, sp in splits.items():
            key = (sp.edge_index.size(1), int(sp.edge_index.sum()))
            if key not in cache:
                cache[key] = gcn_propagate(graph.x, sp.edge_index, graph.num_nodes, cfg.feature_hops)
            self.data[name]["x"] = cache[key]
        self.preprocess_seconds += time.perf_counter() - t0
        self.model = BUDDY(
            graph.x.size(1),
            self.sf_dim,
            cfg.hidden,
            cfg.label_dropout,
            cfg.feature_dropout,
            cfg.use_feature,
            cfg.use_ra,
        )
        self._make_optimizer()

    def _logits(self, d: dict[str, torch.Tensor], b: torch.Tensor) -> torch.Tensor:
        lk = d["links"][b]
        x = d["x"]
        return self.model(
            d["sf"][b].to(self.device), x[lk[:, 0]].to(self.device), x[lk[:, 1]].to(self.device), self._ra(d, b)
        )

    _train_logits = _logits

    @torch.no_grad()
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        d = self.data[split]
        out = torch.cat([self._logits(d, b).cpu() for b in _batches(len(d["labels"]), 8192, False)])
        n_pos = int(d["labels"].sum())
        return out[:n_pos], out[n_pos:]


class ElphRunner(SketchRunner):
    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        self.model = ELPH(
            graph.x.size(1),
            self.sf_dim,
            cfg.hidden,
            cfg.max_hash_hops,
            cfg.label_dropout,
            cfg.feature_dropout,
            cfg.feature_prop,
            cfg.use_feature,
            cfg.use_ra,
        )
        self.x = graph.x.to(self.device)
        self.train_edge_index = splits["train"].edge_index.to(self.device)
        self._make_optimizer()

    def _train_logits(self, d: dict[str, torch.Tensor], b: torch.Tensor) -> torch.Tensor:
        return self.model(
            self.x, self.train_edge_index, d["links"][b].to(self.device), d["sf"][b].to(self.device), self._ra(d, b)
        )

    @torch.no_grad()
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        d = self.data[split]
        z = self.model.encode(self.x, self.splits[split].edge_index.to(self.device))
        lk = d["links"].to(self.device)
        out = self.model.head(d["sf"].to(self.device), z[lk[:, 0]], z[lk[:, 1]], self._ra(d)).cpu()
        n_pos = int(d["labels"].sum())
        return out[:n_pos], out[n_pos:]


class GNNRunner(Runner):
    """GCN/SAGE baselines in one of two setups (``gnn_setup``).

    ``pyg`` (default; PyG ``link_pred.py``): 2 layers 128 -> 64, dot-product decoder, full-batch steps with
    fresh uniform negatives every step, 5 steps per "epoch", lr ``gnn_lr`` (default 0.01).
    ``official`` (the official ``run_gnn.py`` defaults): 2 layers 256 -> 256, an MLP on ``z_u * z_v``, the
    split's fixed 1:1 training negatives, shuffled mini-batches of 128 links (one full-graph pass each),
    dropout 0, lr ``gnn_lr`` (default 1e-4), 50 epochs in the official runner (``--epochs``).
    """

    steps_per_epoch = 5

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        conv = "gcn" if cfg.model == "gcn" else "sage"
        self.official = cfg.gnn_setup == "official"
        if self.official:
            self.model = GNNLink(graph.x.size(1), 256, 256, conv, 0.0, decoder="mlp")
        else:
            self.model = GNNLink(graph.x.size(1), 128, 64, conv)
        self.x = graph.x.to(self.device)
        self.preprocess_seconds = 0.0
        lr = cfg.gnn_lr if cfg.gnn_lr is not None else (1e-4 if self.official else 0.01)
        self.cfg = dataclasses.replace(cfg, lr=lr)
        self._make_optimizer()

    def train_epoch(self, gen: torch.Generator) -> float:
        self.model.train()
        sp = self.splits["train"]
        ei = sp.edge_index.to(self.device)
        if self.official:
            links, labels = sp.links()
            total, count = 0.0, 0
            for b in _batches(len(labels), 128, True, gen):
                self.optimizer.zero_grad()
                z = self.model.encode(self.x, ei)
                loss = _bce(self.model.decode(z, links[b].to(self.device)), labels[b].to(self.device))
                loss.backward()
                self.optimizer.step()
                total += float(loss.detach()) * len(b)
                count += len(b)
            return total / max(count, 1)
        from torch_geometric.utils import negative_sampling

        loss_sum = 0.0
        for _ in range(self.steps_per_epoch):
            self.optimizer.zero_grad()
            z = self.model.encode(self.x, ei)
            neg = negative_sampling(sp.edge_index, self.graph.num_nodes, num_neg_samples=len(sp.pos)).t()
            links = torch.cat([sp.pos, neg]).to(self.device)
            labels = torch.cat([torch.ones(len(sp.pos)), torch.zeros(len(neg))]).to(self.device)
            loss = _bce(self.model.decode(z, links), labels)
            loss.backward()
            self.optimizer.step()
            loss_sum += float(loss.detach())
        return loss_sum / self.steps_per_epoch

    @torch.no_grad()
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        sp = self.splits[split]
        z = self.model.encode(self.x, sp.edge_index.to(self.device))
        return self.model.decode(z, sp.pos.to(self.device)).cpu(), self.model.decode(z, sp.neg.to(self.device)).cpu()


class SealRunner(Runner):
    """SEAL: DGCNN on k-hop enclosing subgraphs with DRNL labels (target edge removed), plus the nodes'
    own features when ``use_feature`` (official SEAL default)."""

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        from elph.seal import build_seal_data

        super().__init__(cfg, graph, splits)
        t0 = time.perf_counter()
        self.data = {}
        for name, sp in splits.items():
            links, labels = sp.links()
            self.data[name] = build_seal_data(sp.edge_index, graph.num_nodes, links, labels, cfg.seal_hops)
        self.preprocess_seconds = time.perf_counter() - t0
        sizes = sorted(len(s[2]) for s in self.data["train"].subgraphs)
        k = sizes[min(int(math.ceil(0.6 * len(sizes))), len(sizes) - 1)]
        self.node_x = graph.x if cfg.use_feature else None  # SEAL's use_feature: x = [DRNL one-hot, X]
        in_dim = self.data["train"].max_z + 1 + (graph.x.size(1) if self.node_x is not None else 0)
        self.model = DGCNN(in_dim, 32, 3, k)
        self._make_optimizer()

    def train_epoch(self, gen: torch.Generator) -> float:
        self.model.train()
        d = self.data["train"]
        total, count = 0.0, 0
        for b in _batches(len(d), 32, True, gen):
            x, ei, batch, center, y = d.batch(b.numpy(), self.node_x)
            self.optimizer.zero_grad()
            loss = _bce(
                self.model(x.to(self.device), ei.to(self.device), batch.to(self.device), center.to(self.device)),
                y.to(self.device),
            )
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(b)
            count += len(b)
        return total / max(count, 1)

    @torch.no_grad()
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        d = self.data[split]
        outs = []
        for b in _batches(len(d), 256, False):
            x, ei, batch, center, _ = d.batch(b.numpy(), self.node_x)
            outs.append(
                self.model(x.to(self.device), ei.to(self.device), batch.to(self.device), center.to(self.device)).cpu()
            )
        out = torch.cat(outs)
        n_pos = int(d.labels.sum())
        return out[:n_pos], out[n_pos:]


class HeuristicRunner(Runner):
    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        self.preprocess_seconds = 0.0

    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        sp = self.splits[split]
        f = heuristic_scores
        return (
            f(sp.edge_index, self.graph.num_nodes, sp.pos, self.cfg.heuristic),
            f(sp.edge_index, self.graph.num_nodes, sp.neg, self.cfg.heuristic),
        )


def make_runner(cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> Runner:
    cls = {
        "buddy": BuddyRunner,
        "elph": ElphRunner,
        "gcn": GNNRunner,
        "sage": GNNRunner,
        "seal": SealRunner,
        "heuristic": HeuristicRunner,
    }[cfg.model]
    return cls(cfg, graph, splits)


def evaluate_scores(
    pos: torch.Tensor, neg: torch.Tensor, ks: tuple[int, ...] = (100,), neg_per_pos: int = 0
) -> dict[str, float]:
    """Hits@K (OGB: a positive is a hit when it scores strictly above the K-th best negative; 1.0 when
    there are fewer than K negatives), MRR (each positive ranked against all negatives of the split,
    ties at the mean rank) and ROC-AUC.

    ``neg_per_pos = m > 0`` (ogbl-citation2): ``neg`` holds m negatives per positive, in order, and each
    positive is ranked against its own m only (OGB's MRR evaluator); Hits@K is then the share of ranks <= K.
    """
    p, n = pos.double().numpy(), neg.double().numpy()
    if neg_per_pos:
        check(len(n) == len(p) * neg_per_pos, f"expected {len(p)} x {neg_per_pos} negatives, got {len(n)}")
        ranks = rank_of_positive(p, n.reshape(len(p), neg_per_pos))
        out = {f"hits@{k}": hits_at_k(ranks, k) for k in ks}
    else:
        out = {f"hits@{k}": hits_at_k_ogb(p, n, k) for k in ks}
        ranks = rank_of_positive(p, np.broadcast_to(n, (len(p), len(n))))
    out["mrr"] = mean_reciprocal_rank(ranks)
    out["auc"] = roc_auc(np.concatenate([p, n]), np.concatenate([np.ones(len(p)), np.zeros(len(n))]))
    return out


def _save_ckpt(run: Path, epoch: int, runner: Runner, state: dict) -> None:
    folder = run / "checkpoints"
    payload = {
        "epoch": epoch,
        "model": runner.model.state_dict() if runner.model is not None else None,
        "optimizer": runner.optimizer.state_dict() if runner.optimizer is not None else None,
        "torch_rng": torch.random.get_rng_state(),
        **state,
    }
    path = checkpoint_path(folder, epoch)
    atomic_save(path, lambda f: torch.save(payload, f))
    for old in folder.glob("ckpt-*.pt"):
        if old != path:
            old.unlink(missing_ok=True)


def train(cfg: TrainConfig) -> dict:
    """Train ``cfg.model``, select the best-validation epoch, write the run folder; returns the summary."""
    seed_everything(cfg.seed)
    graph, splits = load_data(cfg)
    sel, sel_k = selection_metric(cfg)
    name = f"{cfg.dataset or graph.name}-{cfg.model}"
    if cfg.resume:
        check(cfg.out is not None, "--resume needs --out RUN (the run folder to continue)")
    cfg_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
    run = make_run_dir(
        cfg.out if cfg.out is not None else "runs", name, config=cfg_dict, seed=cfg.seed, exact=cfg.out is not None
    )
    torch.manual_seed(cfg.seed)
    runner = make_runner(cfg, graph, splits)
    gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, best = 1, {"best_val": -1.0, "best_epoch": 0, "best_state": None}
    if cfg.resume and (ck := latest(run / "checkpoints")) is not None:
        payload = torch.load(ck, weights_only=False)
        if runner.model is not None:
            runner.model.load_state_dict(payload["model"])
            runner.optimizer.load_state_dict(payload["optimizer"])
        torch.random.set_rng_state(payload["torch_rng"])
        gen.manual_seed(cfg.seed + payload["epoch"])
        best = {k: payload[k] for k in best}
        start_epoch = payload["epoch"] + 1
    epochs = cfg.epochs if runner.model is not None else 0
    t0 = time.perf_counter()
    with RunLogger(run, quiet=cfg.quiet) as log:
        log.log(0, preprocess_seconds=runner.preprocess_seconds)
        for epoch in log.progress(range(start_epoch, epochs + 1), total=max(epochs - start_epoch + 1, 0), desc=name):
            gen.manual_seed(cfg.seed + epoch)
            loss = runner.train_epoch(gen)
            val = runner.evaluate("val", (sel_k,))
            log.log(epoch, loss=loss, **{f"val_{k}": v for k, v in val.items()})
            if val[sel] > best["best_val"]:
                best = {
                    "best_val": val[sel],
                    "best_epoch": epoch,
                    "best_state": {k: v.detach().clone() for k, v in runner.model.state_dict().items()},
                }
            if epoch % cfg.checkpoint_every == 0 or epoch == epochs:
                _save_ckpt(run, epoch, runner, best)
        if runner.model is not None and best["best_state"] is not None:
            runner.model.load_state_dict(best["best_state"])
        ks = tuple(sorted({sel_k, 100}))
        test = runner.evaluate("test", ks)
        val = runner.evaluate("val", ks)
        summary = {f"test_{k}": v for k, v in test.items()} | {f"val_{k}": v for k, v in val.items()}
        summary |= {
            "best_epoch": best["best_epoch"],
            "train_seconds": round(time.perf_counter() - t0, 3),
            "preprocess_seconds": round(runner.preprocess_seconds, 3),
            "num_nodes": graph.num_nodes,
            "num_edges": graph.num_edges,
            "selection_metric": sel,
        }
        payload = {
            "config": cfg_dict,
            "model_state": runner.model.state_dict() if runner.model is not None else None,
            "x": graph.x.to_sparse(),
            "num_nodes": graph.num_nodes,
            "name": graph.name,
            "edge_index": graph.edge_index,
            "splits": {k: dataclasses.asdict(v) for k, v in splits.items()},
        }
        atomic_save(run / "model.pt", lambda f: torch.save(payload, f))
        log.summary(**summary)
    summary["run"] = str(run)
    return summary


def load_run(run: str | Path) -> tuple[TrainConfig, Runner]:
    """Rebuild the runner of a finished run (its best model, its graph and split) from ``RUN/model.pt``."""
    run = Path(run)
    path = run / "model.pt"
    if not path.is_file():
        raise UsageError(f"{run} is not a finished elph-train run (no model.pt)")
    payload = torch.load(path, weights_only=False)
    cfg_d = payload["config"]
    for key in ("root", "edges", "out"):
        if cfg_d.get(key) is not None:
            cfg_d[key] = Path(cfg_d[key])
    cfg = TrainConfig(**cfg_d)
    graph = Graph(
        num_nodes=payload["num_nodes"],
        edge_index=payload["edge_index"],
        x=payload["x"].to_dense(),
        name=payload["name"],
    )
    splits = {k: LinkSplit(**v) for k, v in payload["splits"].items()}
    torch.manual_seed(cfg.seed)
    runner = make_runner(cfg, graph, splits)
    if runner.model is not None:
        runner.model.load_state_dict(payload["model_state"])
    return cfg, runner
