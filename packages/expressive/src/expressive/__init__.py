"""ExpressivE: a spatio-functional embedding for knowledge graph completion.

Pavlovic, Sallinger, "ExpressivE: A Spatio-Functional Embedding For Knowledge Graph Completion", ICLR 2023,
arXiv:2206.04192. Official code: github.com/AleksVap/ExpressivE (read, not copied).
"""

from expressive.data import KG, SyntheticKG, load_kg, read_triples, synthetic_kg, write_kg
from expressive.evaluate import FilterIndex, evaluate, filtered_ranks, frequency_ranks
from expressive.model import (
    MODELS,
    BoxE,
    DistMult,
    ExpressivE,
    KGEModel,
    RotatE,
    TransE,
    build_model,
    expressive_distance,
    preprocess_relation,
)
from expressive.patterns import Geometry, analyse_patterns, mine_rules
from expressive.train import NegativeSampler, TrainConfig, evaluate_run, load_run, nssa_loss, train, train_model

__all__ = [
    "KG",
    "MODELS",
    "BoxE",
    "DistMult",
    "ExpressivE",
    "FilterIndex",
    "Geometry",
    "KGEModel",
    "NegativeSampler",
    "RotatE",
    "SyntheticKG",
    "TrainConfig",
    "TransE",
    "analyse_patterns",
    "build_model",
    "evaluate",
    "evaluate_run",
    "expressive_distance",
    "filtered_ranks",
    "frequency_ranks",
    "load_kg",
    "load_run",
    "mine_rules",
    "nssa_loss",
    "preprocess_relation",
    "read_triples",
    "synthetic_kg",
    "train",
    "train_model",
    "write_kg",
]
