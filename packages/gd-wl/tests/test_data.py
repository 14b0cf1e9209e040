"""Synthetic families (seeded, the paper's sizes, labels from networkx), ZINC files and PyG lists."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gd_wl.data import (
    counterexample_1,
    counterexample_2,
    load_pyg_list,
    load_zinc,
    synthetic_dataset,
    tree_of_cubic,
)
from gd_wl.graph import Graph
from orals23_shared.cli import UsageError


def test_counterexample_sizes_and_biconnectivity():
    a, b = counterexample_1(1, 3, False), counterexample_1(1, 3, True)
    assert (a.n, a.m, b.n, b.m) == (7, 8, 7, 8)
    assert len(list(nx.articulation_points(a.to_networkx()))) == 0
    assert sorted(nx.articulation_points(b.to_networkx())) == [2, 5, 6]  # the hub and where it meets each triangle
    c, d = counterexample_1(2, 3, False), counterexample_1(2, 3, True)
    assert (c.n, c.m) == (d.n, d.m) == (13, 16)
    e, f = counterexample_2(3, False), counterexample_2(3, True)
    assert (e.n, e.m) == (f.n, f.m) == (6, 7)
    assert list(nx.bridges(e.to_networkx())) == [] and len(list(nx.bridges(f.to_networkx()))) == 1


def test_tree_of_cubic_has_degree_three_and_tree_edges_as_bridges():
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = tree_of_cubic(rng)
        nxg = g.to_networkx()
        assert nx.is_connected(nxg) and 12 <= g.n <= 40
        assert {d for _, d in nxg.degree()} == {3}  # 1-WL sees every node alike
        assert len(list(nx.bridges(nxg))) >= 1


def test_synthetic_dataset_is_a_function_of_the_seed_with_networkx_labels():
    a, b, c = synthetic_dataset(40, 5), synthetic_dataset(40, 5), synthetic_dataset(40, 6)
    same = all(torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, b))
    assert same and not all(
        x.num_nodes == y.num_nodes and torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, c)
    )
    assert {int(d.family) for d in a} == {0, 1, 2, 3, 4}
    for d in a:
        g = Graph.from_pyg(d).to_networkx()
        assert set(torch.nonzero(d.y_cut).view(-1).tolist()) == set(nx.articulation_points(g))
        bridges = {frozenset(e) for e in nx.bridges(g)}
        got = {frozenset((int(u), int(v))) for (u, v), y in zip(d.edge_index.t().tolist(), d.y_bridge) if y}
        assert got == bridges


def test_zinc_standard_format(tmp_path, write_zinc):
    mols = write_zinc(tmp_path)
    sub = load_zinc(tmp_path, "train")
    full = load_zinc(tmp_path, "val", subset=False)
    assert len(sub) == 3 and len(full) == 6
    d = sub[1]
    assert torch.equal(d.x.view(-1), mols[2]["atom_type"]) and d.y.item() == pytest.approx(
        float(mols[2]["logP_SA_cycle_normalized"])
    )
    assert d.edge_attr.shape[0] == d.edge_index.shape[1] and int(d.edge_attr.min()) >= 1
    Graph.from_pyg(d)  # undirected


def test_zinc_errors(tmp_path):
    with pytest.raises(UsageError, match="ZINC file not found"):
        load_zinc(tmp_path, "train")
    (tmp_path / "train.pickle").write_bytes(b"not a pickle")
    with pytest.raises(UsageError, match="not a ZINC molecules pickle"):
        load_zinc(tmp_path, "train", subset=False)


def test_pyg_list_refuses_directed_and_empty_graphs(tmp_path):
    ok = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
    torch.save([ok], tmp_path / "ok.pt")
    assert load_pyg_list(tmp_path / "ok.pt")[0].x.shape == (2, 1)
    torch.save([ok, Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2)], tmp_path / "dir.pt")
    with pytest.raises(UsageError, match="graph 1: directed edge 0->1"):
        load_pyg_list(tmp_path / "dir.pt")
    torch.save([Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=0)], tmp_path / "empty.pt")
    with pytest.raises(UsageError, match="empty graph"):
        load_pyg_list(tmp_path / "empty.pt")
    torch.save({"a": 1}, tmp_path / "bad.pt")
    with pytest.raises(UsageError, match="list of torch_geometric"):
        load_pyg_list(tmp_path / "bad.pt")
