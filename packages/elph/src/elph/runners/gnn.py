"""GCN / SAGE baselines of the paper's Table 2 (Kipf & Welling 2017; Hamilton et al. 2017): a node encoder
over the split's message-passing graph and a decoder on the pair of node embeddings."""

from __future__ import annotations

import torch

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit
from elph.model import GNNLink
from elph.runners.base import Runner, batches, bce

__all__ = ["GNNRunner"]


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
        self.lr = cfg.gnn_lr if cfg.gnn_lr is not None else (1e-4 if self.official else 0.01)
        self._make_optimizer(self.lr)

    def train_epoch(self, gen: torch.Generator) -> float:
        self.model.train()
        sp = self.splits["train"]
        ei = sp.edge_index.to(self.device)
        if self.official:
            links, labels = sp.links()
            total, count = 0.0, 0
            for b in batches(len(labels), 128, True, gen):
                self.optimizer.zero_grad()
                z = self.model.encode(self.x, ei)
                loss = bce(self.model.decode(z, links[b].to(self.device)), labels[b].to(self.device))
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
            loss = bce(self.model.decode(z, links), labels)
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
