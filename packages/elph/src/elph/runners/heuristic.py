"""Link heuristics of the paper's Table 2: common neighbours, Adamic-Adar and resource allocation, each
computed on the split's message-passing graph (no training)."""

from __future__ import annotations

import torch

from elph.model import heuristic_scores
from elph.runners.base import Runner

__all__ = ["HeuristicRunner"]


class HeuristicRunner(Runner):
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        sp, n, kind = self.splits[split], self.graph.num_nodes, self.cfg.heuristic
        return heuristic_scores(sp.edge_index, n, sp.pos, kind), heuristic_scores(sp.edge_index, n, sp.neg, kind)
