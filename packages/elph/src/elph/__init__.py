"""ELPH and BUDDY: link prediction with subgraph sketches.

Chamberlain, Shirobokov, Rossi, Frasca, Markovich, Hammerla, Bronstein, Hansmire, "Graph Neural Networks
for Link Prediction with Subgraph Sketching", ICLR 2023, arXiv:2209.15486.
"""

from elph.config import TrainConfig
from elph.data import (
    Graph,
    LinkSplit,
    edge_hash,
    largest_connected_component,
    load_edge_list,
    load_planetoid,
    split_links,
    structural_features,
)
from elph.model import BUDDY, DGCNN, ELPH, GNNLink, LinkHead, degree_normalised, gcn_propagate, heuristic_scores
from elph.ogb import load_ogb
from elph.runners import evaluate_scores, make_runner
from elph.sketch import (
    Sketcher,
    SketchTable,
    exact_subgraph_features,
    feature_labels,
    features_from_counts,
    hll_count,
    jaccard,
    knock_out_leaking,
    leaking_labels,
)
from elph.train import load_data, load_run, train

__all__ = [
    "BUDDY",
    "DGCNN",
    "ELPH",
    "GNNLink",
    "Graph",
    "LinkHead",
    "LinkSplit",
    "SketchTable",
    "Sketcher",
    "TrainConfig",
    "degree_normalised",
    "edge_hash",
    "evaluate_scores",
    "exact_subgraph_features",
    "feature_labels",
    "features_from_counts",
    "gcn_propagate",
    "heuristic_scores",
    "hll_count",
    "jaccard",
    "knock_out_leaking",
    "largest_connected_component",
    "leaking_labels",
    "load_data",
    "load_edge_list",
    "load_ogb",
    "load_planetoid",
    "load_run",
    "make_runner",
    "split_links",
    "structural_features",
    "train",
]
