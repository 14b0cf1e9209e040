"""Resistance and shortest-path distances: exact references, the paper's RD facts, disconnected graphs, transforms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gd_wl.biconnectivity import biconnectivity
from gd_wl.distances import (
    ResistanceDistance,
    ShortestPathDistance,
    precompute,
    resistance_distance,
    resistance_distances,
    shortest_path_distance,
)
from gd_wl.graph import Graph
from orals23_shared.cli import UsageError


def connected_graphs(count, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n = int(rng.integers(5, 25))
        g = nx.gnp_random_graph(n, float(rng.uniform(1.2, 3.0)) / n, seed=int(rng.integers(2**31)))
        if nx.is_connected(g):
            out.append(Graph.from_networkx(g))
    return out


def grounded_solve(graph, u, v):
    """Effective resistance by a direct linear solve: ground v, inject a unit current at u."""
    lap = nx.laplacian_matrix(graph.to_networkx(), nodelist=range(graph.n)).toarray().astype(float)
    keep = [i for i in range(graph.n) if i != v]
    x = np.linalg.solve(lap[np.ix_(keep, keep)], np.eye(graph.n)[keep, u])
    return x[keep.index(u)]


def test_rd_equals_a_direct_linear_solve():
    for g in connected_graphs(20, seed=1):
        r = resistance_distance(g)
        for u, v in [(0, g.n - 1), (1, 2), (g.n // 2, 0)]:
            if u != v:
                assert r[u, v] == pytest.approx(grounded_solve(g, u, v), abs=1e-10)


def test_bridge_iff_rd_is_exactly_one_and_cut_vertex_iff_tight_triangle():
    for g in connected_graphs(200, seed=2):
        r = resistance_distance(g)
        b = biconnectivity(g)
        assert {(u, v) for u, v in g.edges.tolist() if abs(r[u, v] - 1) < 1e-9} == set(b.bridges)
        cut = []
        for v in range(g.n):
            o = np.delete(np.arange(g.n), v)
            gap = r[o][:, [v]] + r[[v]][:, o] - r[np.ix_(o, o)]
            np.fill_diagonal(gap, 1.0)
            if (np.abs(gap) < 1e-9).any():
                cut.append(v)
        assert cut == b.cut_vertices


def test_rd_is_bounded_by_n_minus_one_and_reached_on_a_path():
    r = resistance_distance(Graph.from_networkx(nx.path_graph(9)))
    assert r.max() == pytest.approx(8.0) and (r <= 8 + 1e-12).all()


def test_disconnected_graph_is_infinite_across_components_in_original_order():
    # components {0, 2, 4} (a path 0-2-4) and {1, 3} interleaved: the official code's permutation bug shows here
    g = Graph.from_edges(6, [(0, 2), (2, 4), (1, 3)])
    r = resistance_distance(g)
    assert r[0, 4] == pytest.approx(2.0) and r[0, 2] == pytest.approx(1.0) and r[1, 3] == pytest.approx(1.0)
    assert np.isinf(r[0, 1]) and np.isinf(r[4, 3]) and np.isinf(r[5, 0]) and r[5, 5] == 0
    s = shortest_path_distance(g)
    assert s[0, 4] == 2 and np.isinf(s[0, 1])


def test_batched_equals_one_by_one():
    gs = connected_graphs(30, seed=3) + [Graph.from_edges(4, [(0, 1), (2, 3)]), Graph.from_edges(1, [])]
    for got, g in zip(resistance_distances(gs), gs):
        np.testing.assert_allclose(got, resistance_distance(g), atol=1e-12)
        ref = np.full((g.n, g.n), np.inf)
        for comp in nx.connected_components(g.to_networkx()):
            c = sorted(comp)
            if len(c) == 1:
                ref[c[0], c[0]] = 0
                continue
            lp = np.linalg.pinv(nx.laplacian_matrix(g.to_networkx().subgraph(c), nodelist=c).toarray())
            d = np.diag(lp)
            ref[np.ix_(c, c)] = d[:, None] + d[None, :] - 2 * lp
        np.testing.assert_allclose(got, ref, atol=1e-9)


def test_transforms_cache_per_graph_and_refuse_directed_edges(monkeypatch):
    d = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    t = ResistanceDistance()
    calls = []
    original = t.compute_many
    monkeypatch.setattr(t, "compute_many", lambda gs: calls.append(len(gs)) or original(gs))
    a = t(d)
    b = t(d.clone())
    assert len(calls) == 1 and torch.equal(a.pair_rd, b.pair_rd)
    assert a.pair_rd.view(3, 3)[0, 2].item() == pytest.approx(2.0)
    s = ShortestPathDistance()(d)
    assert s.pair_spd.view(3, 3).tolist() == [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
    directed = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    with pytest.raises(UsageError, match="directed edge"):
        t(directed)


def test_precompute_marks_unreachable_pairs():
    d = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3)
    (out,) = precompute([d])
    assert out.pair_spd.view(3, 3)[0, 2] == -1 and torch.isinf(out.pair_rd.view(3, 3)[0, 2])
