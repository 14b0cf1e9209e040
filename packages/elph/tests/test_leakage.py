"""Target-edge leakage of the subgraph features (Chamberlain et al. Sec. 4.2, official ``use_zero_one``).

A training positive is a message-passing edge. A column is a leak when it is zero on every training
positive but not on negatives: a model then learns "zero here means positive", which held-out positives
(whose edge is not in the graph) never show. Checked with exact features (BFS counts), for k = 1..4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from elph.config import TrainConfig
from elph.data import Graph, _undirected, ring_lattice_edges, split_links
from elph.runners import make_runner
from elph.sketch import exact_subgraph_features, feature_labels, knock_out_leaking, leaking_labels


def _sparse_graph(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, int]:
    """A ring of 4-neighbourhoods with 5% rewired edges: distances up to 10+, so every count can occur."""
    return _undirected(ring_lattice_edges(n, 4, 0.05, seed=seed), n), n


def _positives_and_negatives(ei: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    edges = ei.t()[ei[0] < ei[1]]
    pos = edges[torch.from_numpy(rng.choice(len(edges), 300, replace=False))]
    present = {tuple(e) for e in ei.t().tolist()}
    cand = rng.integers(0, n, size=(3000, 2))
    neg = [(u, v) for u, v in cand.tolist() if u != v and (u, v) not in present][:600]
    return pos, torch.tensor(neg)


def _leaking_columns(ei: torch.Tensor, n: int, k: int) -> list[tuple[int, int]]:
    """Columns zero on every positive (the edge in the graph) and nonzero on some negative, measured."""
    pos, neg = _positives_and_negatives(ei, n)
    fp = exact_subgraph_features(ei, n, pos, k)
    fn = exact_subgraph_features(ei, n, neg, k)
    labels = feature_labels(k)
    return [lab for c, lab in enumerate(labels) if bool((fp[:, c] == 0).all()) and bool((fn[:, c] != 0).any())]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_derived_leaking_columns_equal_the_measured_ones(k):
    ei, n = _sparse_graph()
    measured = _leaking_columns(ei, n, k)
    assert measured == leaking_labels(k)
    # and every kept column does occur on positives (it is not a leak that merely happens to be nonzero)
    pos, _ = _positives_and_negatives(ei, n)
    fp = exact_subgraph_features(ei, n, pos, k)
    kept = [c for c, lab in enumerate(feature_labels(k)) if lab not in leaking_labels(k)]
    assert bool((fp[:, kept] != 0).any(dim=0).all())


def test_leaking_sets_by_k():
    assert leaking_labels(1) == []  # the official code keeps all three features at k = 1
    assert leaking_labels(2) == [(0, 1), (1, 0)]  # the official knock-out
    assert leaking_labels(3) == [(3, 1), (1, 3), (0, 1), (1, 0), (0, 2), (2, 0)]
    assert len(leaking_labels(4)) == 12


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_no_kept_column_leaks_after_knock_out(k):
    """After the knock-out, no column is zero on all training positives while nonzero on some negatives."""
    ei, n = _sparse_graph(seed=1)
    pos, neg = _positives_and_negatives(ei, n, seed=1)
    fp = knock_out_leaking(exact_subgraph_features(ei, n, pos, k), k)
    fn = knock_out_leaking(exact_subgraph_features(ei, n, neg, k), k)
    leaks = (fp == 0).all(dim=0) & (fn != 0).any(dim=0)
    assert not bool(leaks.any())
    assert bool((fn[:, [feature_labels(k).index(lab) for lab in leaking_labels(k)]] == 0).all())


def test_k2_output_unchanged_and_runner_applies_the_knock_out():
    """k = 2: the official columns 4, 5 ((0,1), (1,0)) and nothing else; the runner's features use it for every k."""
    sf = torch.randn(7, 8)
    want = sf.clone()
    want[:, [4, 5]] = 0.0
    assert torch.equal(knock_out_leaking(sf, 2), want)
    ei, n = _sparse_graph(120, seed=2)
    g = Graph(num_nodes=n, edge_index=ei, x=torch.ones(n, 1), name="ring")
    splits = split_links(g, seed=0)
    for k in (1, 2, 3, 4):
        runner = make_runner(TrainConfig(model="buddy", hidden=4, max_hash_hops=k), g, splits)
        raw = runner.per_graph("sketches", splits["train"].edge_index, lambda: None).subgraph_features(
            runner.data["train"]["links"]
        )
        assert torch.equal(runner.data["train"]["sf"], knock_out_leaking(raw, k))
        keep = make_runner(TrainConfig(model="buddy", hidden=4, max_hash_hops=k, use_zero_one=True), g, splits)
        assert torch.equal(keep.data["train"]["sf"], raw)
