"""Loaders and splits: Planetoid counts on the shared data, edge lists, bad input."""

from __future__ import annotations

import shutil

import pytest
import torch

from elph.data import (
    Graph,
    largest_connected_component,
    load_edge_list,
    load_planetoid,
    split_links,
    structural_features,
)
from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data


def test_cora_counts():
    g = load_planetoid(require_shared_data("cora"), "cora")
    assert (g.num_nodes, g.num_edges) == (2708, 5278)
    assert g.x.shape == (2708, 1433) and set(torch.unique(g.x).tolist()) == {0.0, 1.0}
    lcc = largest_connected_component(g)
    assert (lcc.num_nodes, lcc.num_edges) == (2485, 5069)
    assert lcc.x.shape == (2485, 1433)


def test_citeseer_and_pubmed_counts():
    c = load_planetoid(require_shared_data("citeseer"), "citeseer")
    assert (c.num_nodes, c.num_edges) == (3327, 4552)
    l = largest_connected_component(c)
    assert (l.num_nodes, l.num_edges) == (2120, 3679)
    p = load_planetoid(require_shared_data("pubmed"), "pubmed", features=False)
    assert (p.num_nodes, p.num_edges) == (19717, 44324)


def test_missing_planetoid_file_is_named(tmp_path):
    src = require_shared_data("cora")
    for f in src.glob("ind.cora.*"):
        if not f.name.endswith(".tx"):
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(UsageError, match=r"missing file ind\.cora\.tx"):
        load_planetoid(tmp_path, "cora")
    with pytest.raises(UsageError, match="no Planetoid"):
        load_planetoid(tmp_path / "nowhere", "cora")


def test_pubmed_without_allx_needs_structure_only():
    with pytest.raises(UsageError, match=r"ind\.pubmed\.allx"):
        load_planetoid(require_shared_data("pubmed"), "pubmed", features=True)


def test_edge_list_parsing(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("# comment\n0 1\n1,2  # trailing\n\n2 0\n2 0\n3 3\n")
    g = load_edge_list(p)
    assert g.num_nodes == 4 and g.num_edges == 3  # duplicate and self-loop dropped
    assert g.edge_index.shape == (2, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 1\n1 x\n", "line 2"),
        ("0 1\n5\n", "line 2: expected 'u v'"),
        ("0 -1\n", "non-negative"),
        ("# nothing\n", "no edges"),
        ("1 1\n2 2\n", "only self-loops"),
    ],
)
def test_edge_list_bad_input(tmp_path, text, message):
    p = tmp_path / "g.txt"
    p.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_edge_list(p)


def test_split_sizes_disjoint_and_deterministic(edge_file):
    g = load_edge_list(edge_file)
    s1, s2 = split_links(g, seed=3), split_links(g, seed=3)
    for k in s1:
        assert torch.equal(s1[k].pos, s2[k].pos) and torch.equal(s1[k].neg, s2[k].neg)
    n_edges = g.num_edges
    n_val, n_test = int(0.1 * n_edges), int(0.2 * n_edges)
    assert len(s1["val"].pos) == n_val and len(s1["test"].pos) == n_test
    assert len(s1["train"].pos) == n_edges - n_val - n_test
    assert all(len(s1[k].neg) == len(s1[k].pos) for k in s1)  # fixed 1:1 negatives
    key = lambda t: {tuple(sorted(e)) for e in t.tolist()}  # noqa: E731
    assert not key(s1["train"].pos) & key(s1["test"].pos) and not key(s1["val"].pos) & key(s1["test"].pos)
    # message passing: train edges for train/val, train+val edges for test
    assert key(s1["train"].edge_index.t()) == key(s1["train"].pos) == key(s1["val"].edge_index.t())
    assert key(s1["test"].edge_index.t()) == key(s1["train"].pos) | key(s1["val"].pos)
    real = key(g.edge_index.t())
    assert not key(s1["test"].neg) & real
    assert not torch.equal(split_links(g, seed=4)["test"].pos, s1["test"].pos)


def test_structural_features():
    g = Graph(num_nodes=3, edge_index=torch.tensor([[0, 1, 0, 2], [1, 0, 2, 0]]))
    x = structural_features(g.edge_index, g.num_nodes, max_degree=1)
    assert x.tolist() == [[0, 1], [0, 1], [0, 1]]
    x = structural_features(g.edge_index, g.num_nodes, max_degree=3)
    assert x.argmax(1).tolist() == [2, 1, 1]


def test_tiny_graph_cannot_be_split():
    g = Graph(num_nodes=3, edge_index=torch.tensor([[0, 1], [1, 0]]))
    with pytest.raises(UsageError, match="at least 10 edges"):
        split_links(g)


def test_degree_features_never_see_held_out_edges(edge_file, tmp_path):
    """Node features of a featureless graph are identical whether or not the val/test edges are in the file."""
    from elph.config import TrainConfig
    from elph.train import load_data, load_graph, with_training_features

    graph, splits = load_data(TrainConfig(edges=edge_file, lcc=False, seed=2))
    train = splits["train"].edge_index
    only_train = tmp_path / "train_only.txt"
    only_train.write_text("".join(f"{u} {v}\n" for u, v in train.t().tolist() if u < v))
    g2 = load_graph(TrainConfig(edges=only_train, lcc=False))
    assert g2.num_nodes == graph.num_nodes and g2.x is None
    assert g2.num_edges == graph.num_edges - len(splits["val"].pos) - len(splits["test"].pos)
    assert torch.equal(with_training_features(g2, splits).x, graph.x)
    # the degrees are the training graph's: the full graph's would differ
    deg = torch.bincount(train[0], minlength=graph.num_nodes).clamp(max=63)
    assert torch.equal(graph.x.argmax(1), deg)
    assert not torch.equal(graph.x, structural_features(load_edge_list(edge_file).edge_index, graph.num_nodes))
    # real node features are kept as they are
    g3 = Graph(num_nodes=graph.num_nodes, edge_index=graph.edge_index, x=torch.ones(graph.num_nodes, 2))
    assert torch.equal(with_training_features(g3, splits).x, g3.x)
