"""What every model family's runner shares (Chamberlain et al., ICLR 2023, Sec. 6 "Experimental setup"):
mini-batches, binary cross-entropy, and the OGB-style evaluation (Hits@K, MRR, AUC) of a split's scores.

A runner owns one model family's preprocessing (``__init__``), one training epoch (``train_epoch``) and
the scores of a split (``score``); the loop in :mod:`elph.train` is the same for every family.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit
from orals23_shared.cli import check
from orals23_shared.metrics import hits_at_k, hits_at_k_ogb, mean_reciprocal_rank, rank_of_positive, roc_auc

__all__ = ["Runner", "batches", "bce", "evaluate_scores"]


def bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy on logits (official ``bce_loss``)."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def batches(n: int, size: int, shuffle: bool, gen: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Index batches of ``size`` over ``n`` items; shuffled batches skip a last batch of one (BatchNorm)."""
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for s in range(0, n, size):
        b = order[s : s + size]
        if shuffle and b.numel() < 2:
            continue
        yield b


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


class Runner:
    """One model family: preprocessing in ``__init__``, ``train_epoch`` and ``score``.

    ``model`` is None for parameter-free models (heuristics), which the loop evaluates without training.
    ``preprocess_seconds`` is the wall time of the preprocessing (logged at step 0).
    """

    model: torch.nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        self.cfg, self.graph, self.splits = cfg, graph, splits
        self.device = torch.device(cfg.device)
        self.preprocess_seconds = 0.0

    def train_epoch(self, gen: torch.Generator) -> float:
        """One pass over the training links in an order drawn from ``gen``; returns the mean loss."""
        raise NotImplementedError(f"{type(self).__name__} has no trainable model")

    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (logits) of the split's positives and negatives."""
        raise NotImplementedError

    def evaluate(self, split: str, ks: tuple[int, ...]) -> dict[str, float]:
        """Hits@K / MRR / AUC of a split (per-positive negatives where the split has them)."""
        return evaluate_scores(*self.score(split), ks, self.splits[split].neg_per_pos)

    def _make_optimizer(self, lr: float | None = None) -> None:
        assert self.model is not None
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.cfg.lr if lr is None else lr, weight_decay=self.cfg.weight_decay
        )
