"""Sketches against exact set computations (Chamberlain et al. Sec. 4; bounds follow from p and K)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch

from elph.data import _undirected, largest_connected_component, load_planetoid, two_block_edges
from elph.sketch import (
    Sketcher,
    exact_counts,
    exact_neighbourhoods,
    exact_subgraph_features,
    feature_labels,
    hll_count,
    jaccard,
)
from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data


def bfs_dist(adj: list[list[int]], s: int) -> dict[int, int]:
    dist = {s: 0}
    q = deque([s])
    while q:
        u = q.popleft()
        for w in adj[u]:
            if w not in dist:
                dist[w] = dist[u] + 1
                q.append(w)
    return dist


def adj_list(edge_index: torch.Tensor, n: int) -> list[list[int]]:
    adj: list[list[int]] = [[] for _ in range(n)]
    for u, v in edge_index.t().tolist():
        adj[u].append(v)
    return adj


def small_graph(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, int]:
    return _undirected(two_block_edges(n, 0.12, 0.02, seed=seed), n), n


def test_feature_order_matches_official():
    assert feature_labels(1) == [(1, 1), (0, 1), (1, 0)]
    assert feature_labels(2) == [(1, 1), (2, 1), (1, 2), (2, 2), (0, 1), (1, 0), (0, 2), (2, 0)]
    assert feature_labels(3) == [
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
        (3, 1),
        (1, 3),
        (3, 2),
        (2, 3),
        (3, 3),
        (0, 1),
        (1, 0),
        (0, 2),
        (2, 0),
        (0, 3),
        (3, 0),
    ]
    assert all(len(feature_labels(k)) == k * (k + 2) for k in range(1, 5))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_propagation_equals_bfs_min_max(k):
    """m_k(u) = min of initial MinHash over N<=k(u) and h_k(u) = max of initial HLL registers, from BFS."""
    ei, n = small_graph(40, seed=k)
    sk = Sketcher(n, num_perm=16, hll_p=6, max_hops=k, seed=3)
    table = sk.propagate(ei)
    adj = adj_list(ei, n)
    for u in range(n):
        ball = [w for w, d in bfs_dist(adj, u).items() if d <= k]
        assert torch.equal(table.minhash[k][u], sk.minhash0[ball].min(dim=0).values)
        assert torch.equal(table.hll[k][u], sk.hll0[ball].max(dim=0).values)


def test_hll_count_equals_datasketch():
    """Our vectorised HLL++ count equals datasketch's HyperLogLogPlusPlus.count on the same registers."""
    from datasketch import HyperLogLogPlusPlus

    sk = Sketcher(5000, num_perm=1, hll_p=8, max_hops=1, seed=5)
    rng = np.random.default_rng(0)
    regs = []
    for size in [1, 3, 10, 50, 150, 300, 600, 1000, 1300, 2000, 4000, 5000]:
        idx = torch.from_numpy(rng.choice(5000, size, replace=False))
        regs.append(sk.hll0[idx].max(dim=0).values)
    regs = torch.stack(regs)
    ours = hll_count(regs)
    for r, o in zip(regs, ours):
        h = HyperLogLogPlusPlus(p=8)
        h.reg = r.numpy().astype(h.reg.dtype)
        assert o.item() == pytest.approx(h.count(), rel=1e-9, abs=1e-9)


def test_hll_error_within_standard_error_bound():
    """Relative error of HLL: each set within 4 standard errors 1.04/sqrt(m); mean within one."""
    p = 8
    se = 1.04 / math.sqrt(2**p)
    rng = np.random.default_rng(1)
    errs = []
    for seed in range(6):
        sk = Sketcher(20000, num_perm=1, hll_p=p, max_hops=1, seed=seed)
        for size in [500, 1500, 3000, 8000, 20000]:
            idx = torch.from_numpy(rng.choice(20000, size, replace=False))
            est = hll_count(sk.hll0[idx].max(dim=0).values[None])[0].item()
            errs.append(abs(est - size) / size)
    errs = np.array(errs)
    assert errs.max() < 4 * se
    assert errs.mean() < se


def test_jaccard_within_hoeffding_bound():
    """|J_est - J| <= sqrt(ln(2/delta) / 2K) with delta = 1e-6 for every pair (Hoeffding on K registers)."""
    K, n, pairs = 128, 1000, 120
    sk = Sketcher(n, num_perm=K, hll_p=8, max_hops=1, seed=7)
    gen = torch.Generator().manual_seed(2)
    frac_a = torch.rand(pairs, 1, generator=gen) * 0.3 + 0.01
    a = torch.rand(pairs, n, generator=gen) < frac_a
    keep = torch.rand(pairs, 1, generator=gen)
    b = (a & (torch.rand(pairs, n, generator=gen) < keep)) | (torch.rand(pairs, n, generator=gen) < frac_a * (1 - keep))
    true = (a & b).sum(1).double() / (a | b).sum(1).double()
    big = torch.iinfo(torch.int64).max
    ma = torch.where(a[:, :, None], sk.minhash0[None], big).amin(dim=1)
    mb = torch.where(b[:, :, None], sk.minhash0[None], big).amin(dim=1)
    bound = math.sqrt(math.log(2 / 1e-6) / (2 * K))
    err = (jaccard(ma, mb).double() - true).abs()
    assert (true > 0.2).sum() > 20  # a spread of overlaps, not only near-disjoint sets
    assert err.max().item() <= bound


@pytest.mark.parametrize("k", [1, 2, 3])
def test_exact_features_equal_bfs_distance_counts(k):
    """With exact sets, A[x,y] = #{w: max(d(w,u),1)=x, max(d(w,v),1)=y}, B[0,d] = #{w: max(d(w,v),1)=d, d(w,u)>k}."""
    ei, n = small_graph(50, seed=10 + k)
    adj = adj_list(ei, n)
    rng = np.random.default_rng(k)
    links = np.concatenate([ei.t().numpy()[:20], rng.integers(0, n, size=(20, 2))])
    feats = exact_subgraph_features(ei, n, torch.from_numpy(links), k)
    labels = feature_labels(k)
    for row, (u, v) in zip(feats, links.tolist()):
        du, dv = bfs_dist(adj, u), bfs_dist(adj, v)
        expect = []
        for a, b in labels:
            cnt = 0
            for w in range(n):
                xu = max(du.get(w, 10**9), 1)
                xv = max(dv.get(w, 10**9), 1)
                if a == 0:
                    cnt += xv == b and du.get(w, 10**9) > k
                elif b == 0:
                    cnt += xu == a and dv.get(w, 10**9) > k
                else:
                    cnt += xu == a and xv == b
            expect.append(cnt)
        assert row.tolist() == expect


def test_sketch_features_close_to_exact_on_small_graph():
    """Official test tolerance: estimated features within +-2 of the exact counts on a small graph."""
    ei, n = small_graph(30, seed=4)
    links = ei.t()[::3]
    est = Sketcher(n, seed=1).propagate(ei).subgraph_features(links)
    exact = exact_subgraph_features(ei, n, links, 2).float()
    assert (est - exact).abs().max().item() <= 2.0


def test_cora_sketch_accuracy():
    """Cora LCC, 2-hop sketches (p=8, K=128): per-node |N<=d| and union error below the HLL standard error."""
    g = largest_connected_component(load_planetoid(require_shared_data("cora"), "cora", features=False))
    table = Sketcher(g.num_nodes, seed=1).propagate(g.edge_index)
    rng = np.random.default_rng(0)
    ei = g.edge_index.t().numpy()
    links = ei[rng.choice(len(ei), 1000, replace=False)]
    reach = exact_neighbourhoods(g.edge_index, g.num_nodes, 2)
    inter, cu, cv = exact_counts(reach, links)
    se = 1.04 / 16
    u, v = torch.from_numpy(links[:, 0]), torch.from_numpy(links[:, 1])
    for d in (0, 1):
        assert ((table.cards[u, d] - cu[:, d]).abs() / cu[:, d]).mean().item() < se
    union_exact = cu[:, 1] + cv[:, 1] - inter[:, 1, 1]
    union_est = hll_count(torch.maximum(table.hll[2][u], table.hll[2][v]))
    assert ((union_est - union_exact).abs() / union_exact).mean().item() < se


def test_fixed_initial_hashes_and_bad_edges():
    a, b = Sketcher(20, seed=3), Sketcher(20, seed=3)
    assert torch.equal(a.minhash0, b.minhash0) and torch.equal(a.hll0, b.hll0)
    assert not torch.equal(a.minhash0, Sketcher(20, seed=4).minhash0)
    with pytest.raises(UsageError, match="node ids"):
        a.propagate(torch.tensor([[0, 25], [25, 0]]))
    with pytest.raises(UsageError, match=r"\[2, E\]"):
        a.propagate(torch.tensor([0, 1, 2]))
    with pytest.raises(UsageError):
        a.propagate(torch.tensor([[0, 1], [1, 0]])).subgraph_features(torch.tensor([[0, 99]]))
