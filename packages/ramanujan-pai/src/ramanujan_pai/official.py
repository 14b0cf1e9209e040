"""The official code's metric path, re-written for comparison: networkx graph + ARPACK on the adjacency.

Hoang et al., ICLR 2023; official ``lib/graphs/generate_unstructured_bipartie_graphs.py`` (a networkx
graph built by a Python loop over every ``(input unit, output unit)`` pair, edge where the weight is
nonzero) and ``lib/graphs/scores.py`` (zero-degree nodes removed, ``eigsh(A, k=3, which="LM")`` on the
``2n x 2n`` adjacency, ``mu_hat`` = third-largest ``|lambda|``, IMDB over equal-degree subgraphs).
Used by ``ramanujan-pai-bench`` (the speed reference) and the tests (an independent implementation
of the same numbers). Our own code never builds this graph.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse.linalg

__all__ = ["official_graph", "official_layer_metrics"]


def official_graph(mask: Any) -> tuple[nx.Graph, int, int]:
    """The official loop: node ``i`` per input unit, ``dim_in + j`` per output unit, edges where nonzero."""
    w = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask)
    w = w.reshape(w.shape[0], -1).T  # dim_in x dim_out
    dim_in, dim_out = w.shape
    g = nx.Graph()
    for i in range(dim_in):
        g.add_node(i)
        for j in range(dim_out):
            g.add_node(dim_in + j)
            if w[i, j] != 0:
                g.add_edge(i, dim_in + j)
    return g, dim_in, dim_out


def _score(g: nx.Graph, left: set[int]) -> dict[str, float] | None:
    """Official ``ramanujan_score`` on a graph whose left nodes are ``left`` (zero degree removed)."""
    g = g.subgraph([n for n, d in g.degree() if d > 0])
    lefts = [n for n in g.nodes if n in left]
    rights = [n for n in g.nodes if n not in left]
    if not lefts or not rights:
        return None
    edges = g.number_of_edges()
    d_l, d_r = edges / len(lefts), edges / len(rights)
    if d_l < 3 or d_r < 3:
        return None
    adj = nx.to_scipy_sparse_array(g, nodelist=lefts + rights, dtype=np.float32, format="csr")
    vals = scipy.sparse.linalg.eigsh(adj, k=3, which="LM", return_eigenvectors=False)
    abs_sorted = sorted((abs(float(v)) for v in vals), reverse=True)
    lam1, mu = abs_sorted[0], abs_sorted[-1]
    ub = math.sqrt(d_l - 1) + math.sqrt(d_r - 1)
    return {"n_left": len(lefts), "n_right": len(rights), "edges": edges, "d_left": d_l, "d_right": d_r,
            "lambda_1": lam1, "mu_hat": mu, "delta_r": ub - mu, "delta_r_norm": (ub - mu) / ub}  # fmt: skip


def official_layer_metrics(mask: Any) -> dict[str, Any]:
    """``mu_hat``, ``Delta_r`` (norm), IMDB (norm) and NaRC (the code's ``2|E|``) the official way."""
    g, dim_in, dim_out = official_graph(mask)
    left = set(range(dim_in))
    core = _score(g, left)
    if core is None:
        return {"skipped": True}
    ls = (core["mu_hat"] ** 2 / 4 + 1) * math.sqrt(core["n_left"] * core["n_right"])
    rs = abs(2 * core["edges"] - (core["d_left"] / dim_out) * core["n_left"] * core["n_right"])
    gaps, gaps_norm = [], []
    degrees: dict[int, list[int]] = {}
    for i in range(dim_in):
        degrees.setdefault(g.degree(i), []).append(i)
    for d, nodes in degrees.items():
        if d == 0 or len(nodes) < 3:
            continue
        sub = _score(g.subgraph(nodes + list(range(dim_in, dim_in + dim_out))), left)
        if sub is not None:
            gaps.append(sub["delta_r"])
            gaps_norm.append(sub["delta_r_norm"])
    return {
        "skipped": False,
        **core,
        "narc_official": (ls - rs) / (dim_in * dim_out),
        "imdb": float(np.mean(gaps)) if gaps else None,
        "imdb_norm": float(np.mean(gaps_norm)) if gaps_norm else None,
    }
