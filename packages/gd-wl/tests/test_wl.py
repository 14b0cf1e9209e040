"""GD-WL / 1-WL refinement: the paper's counterexamples, permutation invariance, exact vs hashed."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from gd_wl.data import counterexample_pairs
from gd_wl.graph import Graph
from gd_wl.wl import KINDS, distinguishes, refine, test_isomorphism


@pytest.mark.parametrize("method", ["exact", "hash"])
def test_counterexamples_fool_1wl_but_not_gdwl(method):
    pairs = counterexample_pairs()
    assert len(pairs) == 6
    for name, a, b in pairs:
        assert (a.n, a.m) == (b.n, b.m), name
        assert test_isomorphism(a, b, method) == {"wl": False, "spd": True, "rd": True}, name
        assert distinguishes(a, b, "spd+rd", method)


def test_six_cycle_vs_two_triangles():
    six = Graph.from_networkx(nx.cycle_graph(6))
    two = Graph.from_edges(6, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)])
    assert test_isomorphism(six, two) == {"wl": False, "spd": True, "rd": True}


def test_same_partition_exact_and_hashed_and_invariant_to_relabelling():
    rng = np.random.default_rng(0)
    for t in range(25):
        g = Graph.from_networkx(nx.gnp_random_graph(int(rng.integers(2, 22)), 0.2, seed=t))
        h = g.relabel(rng.permutation(g.n))
        for kind in KINDS:
            e = refine([g], kind, "exact").colours[0]
            x = refine([g], kind, "hash").colours[0]
            assert len(set(zip(e.tolist(), x.tolist()))) == len(set(e.tolist())) == len(set(x.tolist()))
            assert not distinguishes(g, h, kind, "exact") and not distinguishes(g, h, kind, "hash")


def test_colours_are_equivariant_and_shared_across_graphs():
    g = Graph.from_networkx(nx.lollipop_graph(4, 3))
    perm = np.random.default_rng(1).permutation(g.n)
    ref = refine([g, g.relabel(perm)], "rd")
    a, b = ref.colours
    assert (b[perm] == a).all()  # node i of g is node perm[i] of the copy: same colour id


def test_disconnected_graphs_use_infinity_as_a_distance():
    # one triangle + isolated node vs a path on 3 nodes + isolated node: 1-WL already separates; and
    # two disjoint edges vs a path on 4 nodes (different degrees) -- GD-WL sees the infinite pairs too
    a = Graph.from_edges(4, [(0, 1), (2, 3)])
    b = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)])
    assert all(test_isomorphism(a, b).values())
    c = Graph.from_edges(4, [(0, 1), (2, 3)])
    assert not any(test_isomorphism(a, c).values())


def test_refinement_stops_at_the_stable_partition():
    g = Graph.from_networkx(nx.path_graph(7))
    r = refine([g], "wl", "exact")
    assert r.num_colours == 4 and r.iterations <= 5  # orbits {0,6},{1,5},{2,4},{3}
