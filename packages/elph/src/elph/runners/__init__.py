"""One runner per model family (preprocessing, a training epoch, scores): sketches (BUDDY, ELPH), node GNNs
(GCN, SAGE), subgraph GNNs (SEAL) and heuristics (CN, AA, RA)."""

from __future__ import annotations

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit
from elph.runners.base import Runner, batches, bce, evaluate_scores
from elph.runners.gnn import GNNRunner
from elph.runners.heuristic import HeuristicRunner
from elph.runners.seal import SealRunner
from elph.runners.sketch import BuddyRunner, ElphRunner, SketchRunner

__all__ = [
    "BuddyRunner",
    "ElphRunner",
    "GNNRunner",
    "HeuristicRunner",
    "Runner",
    "SealRunner",
    "SketchRunner",
    "batches",
    "bce",
    "evaluate_scores",
    "make_runner",
]

RUNNERS: dict[str, type[Runner]] = {
    "buddy": BuddyRunner,
    "elph": ElphRunner,
    "gcn": GNNRunner,
    "sage": GNNRunner,
    "seal": SealRunner,
    "heuristic": HeuristicRunner,
}


def make_runner(cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> Runner:
    """The runner of ``cfg.model`` (its preprocessing runs here)."""
    return RUNNERS[cfg.model](cfg, graph, splits)
