"""Tarjan's cut vertices, bridges, blocks and block-cut tree against networkx on random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gd_wl.biconnectivity import biconnectivity, edge_biconnected_components
from gd_wl.graph import Graph


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 25))
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=2 * n, unique=True)) if pairs else []
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(chosen)
    return g


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_matches_networkx(g):
    b = biconnectivity(Graph.from_networkx(g))
    assert b.cut_vertices == sorted(nx.articulation_points(g))
    assert b.bridges == sorted(tuple(sorted(e)) for e in nx.bridges(g))
    assert b.blocks == sorted(sorted(c) for c in nx.biconnected_components(g))


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_block_cut_tree_is_a_forest_with_one_tree_per_component(g):
    b = biconnectivity(Graph.from_networkx(g))
    t = nx.Graph()
    t.add_nodes_from(("B", i) for i in range(len(b.blocks)))
    t.add_edges_from((("B", i), ("C", v)) for i, v in b.block_cut_tree)
    assert t.number_of_nodes() == 0 or nx.is_forest(t)
    with_edges = sum(1 for c in nx.connected_components(g) if len(c) > 1)
    assert nx.number_connected_components(t) == with_edges


def test_edge_biconnected_components_drop_the_bridges():
    g = nx.barbell_graph(4, 2)  # two K4 joined by a path of 2 nodes: 3 bridges
    comps = edge_biconnected_components(Graph.from_networkx(g))
    assert sorted(map(len, comps)) == [1, 1, 4, 4]


def test_large_graph_is_linear_time_and_recursion_free():
    g = nx.path_graph(20_000)  # a recursive DFS would overflow Python's stack here
    b = biconnectivity(Graph.from_networkx(g))
    assert len(b.bridges) == 19_999 and len(b.cut_vertices) == 19_998
    rng = np.random.default_rng(0)
    big = nx.gnm_random_graph(5000, 6000, seed=int(rng.integers(1000)))
    bb = biconnectivity(Graph.from_networkx(big))
    assert bb.cut_vertices == sorted(nx.articulation_points(big))
