"""The configuration of one link-prediction run (Chamberlain et al., ICLR 2023, Sec. 6 and the official
``src/runners/run.py`` defaults, with the deviations the README lists) and its model-selection metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from elph.data import PLANETOID
from elph.ogb import OGB, is_ogb
from orals23_shared.cli import check

__all__ = ["ModelName", "TrainConfig", "selection_metric"]

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
    threads: int = field(
        default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS when set, else the usable cores)"}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its latest checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace the run already in --out"})
    lcc: bool = field(
        default=True, metadata={"help": "restrict the graph to its largest connected component (official runner)"}
    )
    structure_only: bool = field(
        default=False,
        metadata={"help": "ignore node features and use one-hot degree features (degrees in the training graph)"},
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
        default=False,
        metadata={
            "help": "keep the subgraph features that leak the target edge of training positives (official name; "
            "default off: (0,1)/(1,0) at k=2, see elph.sketch.leaking_labels for every k)"
        },
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
        check(self.threads >= 0, f"threads must be >= 0, got {self.threads}")
        check(not (self.resume and self.overwrite), "--resume and --overwrite exclude each other")


def selection_metric(cfg: TrainConfig) -> tuple[str, int]:
    """(metric key used for model selection, K): the dataset's official metric unless ``--k`` is given."""
    info = OGB.get(cfg.dataset or "")
    if cfg.k is not None:
        return f"hits@{cfg.k}", cfg.k
    if info is not None and info.metric == "mrr":
        return "mrr", info.k
    k = info.k if info is not None else 100
    return f"hits@{k}", k
