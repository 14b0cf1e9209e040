"""SEAL (Zhang & Chen 2018), the subgraph-GNN baseline of the paper's Table 2: DGCNN on each link's k-hop
enclosing subgraph with DRNL labels and the target edge removed (:mod:`elph.seal`)."""

from __future__ import annotations

import math
import time

import torch

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit
from elph.model import DGCNN
from elph.runners.base import Runner, batches, bce
from elph.seal import SealData, build_seal_data

__all__ = ["SealRunner", "make_dgcnn", "seal_scores", "sortpool_k"]


def sortpool_k(data: SealData, quantile: float = 0.6) -> int:
    """SortPooling's k: the ``quantile`` of the training subgraphs' node counts (SEAL's default 0.6)."""
    sizes = sorted(len(s[2]) for s in data.subgraphs)
    return sizes[min(int(math.ceil(quantile * len(sizes))), len(sizes) - 1)]


def make_dgcnn(train_data: SealData, node_dim: int = 0) -> DGCNN:
    """SEAL's DGCNN (3 GCN layers of 32 + 1, SortPooling at the 0.6 quantile of the training subgraph sizes)
    for inputs ``[DRNL one-hot, node features of width node_dim]``."""
    return DGCNN(train_data.max_z + 1 + node_dim, 32, 3, sortpool_k(train_data))


@torch.no_grad()
def seal_scores(
    model: DGCNN, data: SealData, node_x: torch.Tensor | None, device: torch.device, batch_size: int = 256
) -> torch.Tensor:
    """Logits of every link of ``data`` (inference over the enclosing subgraphs, batches of 256)."""
    model.eval()
    outs = []
    for b in batches(len(data), batch_size, False):
        x, ei, batch, center, _ = data.batch(b.numpy(), node_x)
        outs.append(model(x.to(device), ei.to(device), batch.to(device), center.to(device)).cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


class SealRunner(Runner):
    """DGCNN over enclosing subgraphs, with the nodes' own features appended when ``use_feature``
    (official SEAL default: ``x = [DRNL one-hot, X]``)."""

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        t0 = time.perf_counter()
        self.data: dict[str, SealData] = {}
        for name, sp in splits.items():
            links, labels = sp.links()
            self.data[name] = build_seal_data(sp.edge_index, graph.num_nodes, links, labels, cfg.seal_hops)
        self.preprocess_seconds = time.perf_counter() - t0
        self.node_x = graph.x if cfg.use_feature else None
        self.model = make_dgcnn(self.data["train"], graph.x.size(1) if self.node_x is not None else 0)
        self._make_optimizer()

    def _forward(self, d: SealData, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, ei, batch, center, y = d.batch(b.numpy(), self.node_x)
        dev = self.device
        return self.model(x.to(dev), ei.to(dev), batch.to(dev), center.to(dev)), y

    def train_epoch(self, gen: torch.Generator) -> float:
        self.model.train()
        d = self.data["train"]
        total, count = 0.0, 0
        for b in batches(len(d), 32, True, gen):
            self.optimizer.zero_grad()
            logits, y = self._forward(d, b)
            loss = bce(logits, y.to(self.device))
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(b)
            count += len(b)
        return total / max(count, 1)

    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.data[split]
        out = seal_scores(self.model, d, self.node_x, self.device)
        n_pos = int(d.labels.sum())
        return out[:n_pos], out[n_pos:]
