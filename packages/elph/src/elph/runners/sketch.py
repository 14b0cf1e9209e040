"""BUDDY and ELPH runners (Chamberlain et al., ICLR 2023, Sec. 4-5): subgraph features from sketches of each
split's message-passing graph, with the columns that leak the target edge knocked out (Sec. 4.2,
:func:`elph.sketch.leaking_labels`).

Everything that depends only on a graph (the propagated sketches, BUDDY's ``Â^h X``) is computed once per
distinct message-passing graph: :meth:`SketchRunner.per_graph` keys it on the content hash of the edge
tensor (:func:`elph.data.edge_hash`), the only cache in the package. Train and validation share the
training graph, so they share its sketches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit, edge_hash
from elph.model import BUDDY, ELPH, degree_normalised, gcn_propagate, heuristic_scores
from elph.runners.base import Runner, batches, bce
from elph.sketch import Sketcher, feature_labels, knock_out_leaking

__all__ = ["SketchRunner", "BuddyRunner", "ElphRunner"]


class SketchRunner(Runner):
    """Links, labels and (post-processed) subgraph features of every split; the BCE epoch of BUDDY and ELPH."""

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        self._cache: dict[tuple[str, str], Any] = {}
        self.sketcher = Sketcher(graph.num_nodes, cfg.minhash_num_perm, cfg.hll_p, cfg.max_hash_hops, cfg.hash_seed)
        self.labels = feature_labels(cfg.max_hash_hops)
        self.sf_dim = len(self.labels) * (2 if cfg.add_normed_features else 1)
        self.data: dict[str, dict[str, torch.Tensor]] = {}
        t0 = time.perf_counter()
        for name, sp in splits.items():
            links, labels = sp.links()
            table = self.per_graph("sketches", sp.edge_index, lambda ei=sp.edge_index: self.sketcher.propagate(ei))
            sf = self.postprocess(table.subgraph_features(links))
            if cfg.add_normed_features:  # degrees in this split's message-passing graph (official HashDataset)
                deg = torch.bincount(sp.edge_index[0], minlength=graph.num_nodes)
                sf = degree_normalised(sf, deg[links[:, 0]], deg[links[:, 1]])
            self.data[name] = {"links": links, "labels": labels, "sf": sf}
            if cfg.use_ra:  # resource allocation on this split's message-passing graph (official use_RA)
                self.data[name]["ra"] = heuristic_scores(sp.edge_index, graph.num_nodes, links, "ra")
        self.preprocess_seconds = time.perf_counter() - t0

    def per_graph(self, what: str, edge_index: torch.Tensor, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per (``what``, content of ``edge_index``)."""
        key = (what, edge_hash(edge_index))
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def postprocess(self, sf: torch.Tensor) -> torch.Tensor:
        """Knock out the leaking columns (unless ``use_zero_one``) and optionally floor negative estimates."""
        if not self.cfg.use_zero_one:
            sf = knock_out_leaking(sf, self.cfg.max_hash_hops)
        if self.cfg.floor_sf:
            sf = sf.clamp(min=0.0)
        return sf

    def _ra(self, d: dict[str, torch.Tensor], b: torch.Tensor | None = None) -> torch.Tensor | None:
        if "ra" not in d:
            return None
        return (d["ra"] if b is None else d["ra"][b]).to(self.device)

    def _train_logits(self, d: dict[str, torch.Tensor], b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train_epoch(self, gen: torch.Generator) -> float:
        """One epoch of BCE over the fixed training links and negatives, in shuffled batches."""
        self.model.train()
        d = self.data["train"]
        total, count = 0.0, 0
        for b in batches(len(d["labels"]), self.cfg.batch_size, True, gen):
            self.optimizer.zero_grad()
            loss = bce(self._train_logits(d, b), d["labels"][b].to(self.device))
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(b)
            count += len(b)
        return total / max(count, 1)

    def _split_scores(self, split: str, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n_pos = int(self.data[split]["labels"].sum())
        return out[:n_pos], out[n_pos:]


class BuddyRunner(SketchRunner):
    """BUDDY: precomputed subgraph features and ``Â^h X`` of each split's graph; an MLP over links."""

    def __init__(self, cfg: TrainConfig, graph: Graph, splits: dict[str, LinkSplit]) -> None:
        super().__init__(cfg, graph, splits)
        t0 = time.perf_counter()
        for name, sp in splits.items():
            self.data[name]["x"] = self.per_graph(
                "features",
                sp.edge_index,
                lambda ei=sp.edge_index: gcn_propagate(graph.x, ei, graph.num_nodes, cfg.feature_hops),
            )
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
        lk, x = d["links"][b], d["x"]
        return self.model(
            d["sf"][b].to(self.device), x[lk[:, 0]].to(self.device), x[lk[:, 1]].to(self.device), self._ra(d, b)
        )

    _train_logits = _logits

    @torch.no_grad()
    def score(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        d = self.data[split]
        out = torch.cat([self._logits(d, b).cpu() for b in batches(len(d["labels"]), 8192, False)])
        return self._split_scores(split, out)


class ElphRunner(SketchRunner):
    """ELPH: GCN layers over the node features inside the forward pass (full-graph message passing).

    The sketches carry no parameters and depend only on the fixed initial hashes and the graph, so
    computing them once per split's graph equals propagating them in every forward pass.
    """

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
        return self._split_scores(split, out)
