"""Subgraph sketches: MinHash + HyperLogLog propagated over k hops (Chamberlain et al., ICLR 2023, Sec. 4).

Paper: "Graph Neural Networks for Link Prediction with Subgraph Sketching", arXiv:2209.15486.

* MinHash (Sec. 4.1, "MinHashing"): K hash functions per node; after k rounds of
  ``m_k(u) = min_{w in N(u) u {u}} m_{k-1}(w)`` node u holds the MinHash signature of N<=k(u). The
  Jaccard estimate is ``J(A,B) ~ mean_j [m_A,j == m_B,j]``.
* HyperLogLog (Sec. 4.1, "HyperLogLog"): 2^p registers; the first p bits of a 64-bit hash pick a
  register, the register keeps the max rank (leading zeros + 1) of the remaining 64-p bits; propagation
  is the elementwise max over the closed neighbourhood. Counts use ``alpha_m m^2 / sum_j 2^-M_j`` with
  the HLL++ bias correction (Heule et al. 2013; constants from ``datasketch``) and linear counting.
* Intersections (Eq. 4): ``|N<=i(u) n N<=j(v)| ~ J(m_i(u), m_j(v)) * |HLL(max(h_i(u), h_j(v)))|``.
* Subgraph features (Eqs. 2-3 and 5-6): ``A[du,dv]`` by inclusion-exclusion of the intersections, and the
  one-sided counts ``B`` from the per-node cardinalities, in the official feature order.

Everything is vectorised in torch: propagation is a ``scatter_reduce`` (amin / amax) over the edges,
chunked over edges so memory stays bounded, and link features are computed in batches of links.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from orals23_shared.cli import check

__all__ = [
    "SketchTable",
    "Sketcher",
    "feature_labels",
    "features_from_counts",
    "leaking_labels",
    "knock_out_leaking",
    "hll_count",
    "jaccard",
    "propagate",
    "splitmix64",
    "exact_neighbourhoods",
    "exact_counts",
    "exact_subgraph_features",
]

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijective 64-bit mixing function (uint64 in, uint64 out)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Exact bit length of each uint64 (binary search on shifts; no float rounding)."""
    x = x.astype(np.uint64).copy()
    n = np.zeros(x.shape, dtype=np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        t = x >> np.uint64(s)
        nz = t > 0
        x = np.where(nz, t, x)
        n += nz.astype(np.int64) * s
    return n + (x > 0).astype(np.int64)


def feature_labels(max_hops: int) -> list[tuple[int, int]]:
    """The official feature order: (1,1),(2,1),(1,2),(2,2),(3,1),(1,3),... then (0,1),(1,0),(0,2),(2,0),...

    For k=2: [(1,1),(2,1),(1,2),(2,2),(0,1),(1,0),(0,2),(2,0)] -- ``k(k+2)`` features in all.
    """
    labels: list[tuple[int, int]] = []
    for d in range(1, max_hops + 1):
        for j in range(1, d):
            labels += [(d, j), (j, d)]
        labels.append((d, d))
    for d in range(1, max_hops + 1):
        labels += [(0, d), (d, 0)]
    return labels


def leaking_labels(max_hops: int) -> list[tuple[int, int]]:
    """The subgraph features that reveal the target edge of a training positive, in feature order.

    A training positive (u, v) is also a message-passing edge, so d(u, v) = 1 and, for every node w,
    ``|d(w,u) - d(w,v)| <= 1`` (triangle inequality; u and v themselves sit at (1, 1) under the official
    convention that they count at distance 1). Hence on every training positive

    * ``A[x, y] = 0`` whenever ``|x - y| >= 2``, and
    * ``B[0, d] = B[d, 0] = 0`` for ``d < k``: a node more than k hops from u is at least k hops from v.

    On a link that is not an edge (negatives; validation and test positives, whose edge is held out) these
    counts can be anything, so a model would learn "zero there means a positive". Every other column
    (``|x - y| <= 1``, and ``B`` at ``d = k``) is reachable with the edge present, so it carries no such
    certainty. ``k = 1``: nothing leaks; ``k = 2``: (0,1), (1,0) (the official knock-out); ``k = 3``: also
    (3,1), (1,3), (0,2), (2,0) -- the official code zeroes (3,1), (1,3), (0,2), (2,0) at k = 3 but keeps
    (0,1), (1,0).
    """
    k = max_hops
    return [
        (x, y)
        for x, y in feature_labels(k)
        if (x > 0 and y > 0 and abs(x - y) >= 2) or ((x == 0 or y == 0) and max(x, y) < k)
    ]


def knock_out_leaking(sf: torch.Tensor, max_hops: int) -> torch.Tensor:
    """A copy of ``sf`` ([B, k(k+2)] in :func:`feature_labels` order) with the :func:`leaking_labels` columns
    set to 0 (official ``use_zero_one=0``, generalised to every k)."""
    labels = feature_labels(max_hops)
    check(sf.dim() == 2 and sf.size(1) == len(labels), f"expected [B, {len(labels)}] features, got {tuple(sf.shape)}")
    sf = sf.clone()
    cols = [labels.index(lab) for lab in leaking_labels(max_hops)]
    if cols:
        sf[:, cols] = 0.0
    return sf


def features_from_counts(inter: torch.Tensor, card_u: torch.Tensor, card_v: torch.Tensor) -> torch.Tensor:
    """Subgraph features from intersection and cardinality counts (exact or estimated).

    ``inter[b, i-1, j-1] = |N<=i(u) n N<=j(v)|`` for i, j in 1..k; ``card_u[b, d-1] = |N<=d(u)|``.
    Returns ``[B, k(k+2)]`` in :func:`feature_labels` order, with

    * ``A[x,y] = I[x,y] - I[x-1,y] - I[x,y-1] + I[x-1,y-1]`` (``I[0,.] = I[.,0] = 0``), i.e. the number of
      nodes w with ``max(d(w,u),1) = x`` and ``max(d(w,v),1) = y`` (the paper's A_uv, Eq. 5);
    * ``B[0,d] = (|N<=d(v)| - |N<=d-1(v)|) - (I[k,d] - I[k,d-1])``: nodes at "distance" d from v and more
      than k from u (Eq. 6), and symmetrically ``B[d,0]`` for u.
    """
    b, k, _ = inter.shape
    I = torch.zeros(b, k + 1, k + 1, dtype=inter.dtype, device=inter.device)
    I[:, 1:, 1:] = inter
    A = I[:, 1:, 1:] - I[:, :-1, 1:] - I[:, 1:, :-1] + I[:, :-1, :-1]
    zero = torch.zeros(b, 1, dtype=inter.dtype, device=inter.device)
    cu = torch.cat([zero, card_u.to(inter.dtype)], dim=1)
    cv = torch.cat([zero, card_v.to(inter.dtype)], dim=1)
    row_k = I[:, k, :]  # I[k, y] for y = 0..k : nodes of N<=y(v) within k of u
    col_k = I[:, :, k]  # I[x, k]
    b_v = (cv[:, 1:] - cv[:, :-1]) - (row_k[:, 1:] - row_k[:, :-1])  # B[0, d]
    b_u = (cu[:, 1:] - cu[:, :-1]) - (col_k[:, 1:] - col_k[:, :-1])  # B[d, 0]
    cols = []
    for du, dv in feature_labels(k):
        if du == 0:
            cols.append(b_v[:, dv - 1])
        elif dv == 0:
            cols.append(b_u[:, du - 1])
        else:
            cols.append(A[:, du - 1, dv - 1])
    return torch.stack(cols, dim=1)


def propagate(x: torch.Tensor, edge_index: torch.Tensor, reduce: str, chunk_edges: int = 1 << 17) -> torch.Tensor:
    """One hop: ``out[u] = reduce(x[u], x[w] for w -> u)`` with ``reduce`` in {"amin", "amax"}.

    The node itself is always included (self-loops), so the result summarises the closed neighbourhood.
    Edges are processed in chunks of ``chunk_edges``, so the gathered messages stay bounded in memory
    (``chunk_edges * x.size(1)`` elements) whatever the graph's size.
    """
    import warnings

    out = x.clone()
    src, dst = edge_index[0], edge_index[1]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="index_reduce", category=UserWarning)  # "in beta"
        for start in range(0, src.numel(), chunk_edges):
            s, d = src[start : start + chunk_edges], dst[start : start + chunk_edges]
            out.index_reduce_(0, d, x[s], reduce, include_self=True)
    return out


def jaccard(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MinHash Jaccard estimate: fraction of equal registers (last dimension)."""
    return (a == b).float().mean(dim=-1)


_HLL_CONST: dict[int, tuple[float, torch.Tensor, torch.Tensor]] = {}
_POW2_NEG = torch.pow(2.0, -torch.arange(128, dtype=torch.float64))  # 2^-M for every int8 register value


def _hll_constants(p: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    if p not in _HLL_CONST:
        from datasketch import hyperloglog_const

        check(4 <= p <= 16, f"hll_p must be in 4..16, got {p}")
        threshold = float(hyperloglog_const._thresholds[p - 4])
        raw = torch.tensor(np.asarray(hyperloglog_const._raw_estimate[p - 4], dtype=np.float64))
        bias = torch.tensor(np.asarray(hyperloglog_const._bias[p - 4], dtype=np.float64))
        _HLL_CONST[p] = (threshold, raw, bias)
    return _HLL_CONST[p]


def _mean_bias_of_nearest(e: torch.Tensor, raw_tab: torch.Tensor, bias_tab: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Mean of ``bias_tab`` at the ``k`` entries of ``raw_tab`` nearest to each ``e`` (HLL++ bias correction).

    For a sorted table (p >= 7) the k nearest lie in the window of 2k entries around ``searchsorted(e)``, so
    only that window is compared; otherwise every entry is.
    """
    n = raw_tab.numel()
    if n > 2 * k and bool((raw_tab[1:] > raw_tab[:-1]).all()):
        pos = torch.searchsorted(raw_tab, e.contiguous())
        idx = pos.unsqueeze(-1) + torch.arange(-k, k, device=e.device)
        valid = (idx >= 0) & (idx < n)
        idx = idx.clamp(0, n - 1)
        dist = torch.where(valid, (e.unsqueeze(-1) - raw_tab[idx]) ** 2, torch.inf)
        near = idx.gather(-1, torch.topk(dist, k, dim=-1, largest=False).indices)
    else:
        near = torch.topk((e.unsqueeze(-1) - raw_tab) ** 2, k, dim=-1, largest=False).indices
    return bias_tab[near].mean(dim=-1)


def hll_count(regs: torch.Tensor) -> torch.Tensor:
    """HLL++ cardinality of each row of ``regs`` ([n, m] int8 registers, m = 2^p), as float64.

    Linear counting ``m ln(m/V)`` when V > 0 registers are zero and the result is <= the HLL++
    threshold for p; otherwise the raw estimate ``alpha_m m^2 / sum 2^-M``, minus the empirical bias
    (mean of the 6 nearest tabulated raw estimates) when it is <= 5m.
    """
    m = regs.shape[-1]
    p = int(round(np.log2(m)))
    threshold, raw_tab, bias_tab = _hll_constants(p)
    alpha = 0.7213 / (1.0 + 1.079 / m)
    e = alpha * m * m / _POW2_NEG[regs.to(torch.int64)].sum(dim=-1)
    zeros = (regs == 0).sum(dim=-1).to(torch.float64)
    lc = m * torch.log(m / zeros.clamp(min=1.0))
    use_lc = (zeros > 0) & (lc <= threshold)
    corr = (e <= 5 * m) & ~use_lc  # bias correction only where its result is used
    if bool(corr.any()):
        e = e.clone()
        e[corr] = e[corr] - _mean_bias_of_nearest(e[corr], raw_tab, bias_tab)
    return torch.where(use_lc, lc, e)


@dataclass
class SketchTable:
    """Propagated sketches of one graph: ``minhash[k]`` [n, K] int64 and ``hll[k]`` [n, 2^p] int8 for
    k = 0..max_hops, and the HLL cardinalities ``cards`` [n, max_hops] of N<=1 .. N<=k."""

    minhash: list[torch.Tensor]
    hll: list[torch.Tensor]
    cards: torch.Tensor

    @property
    def max_hops(self) -> int:
        return len(self.hll) - 1

    def intersections(self, links: torch.Tensor) -> torch.Tensor:
        """Estimated ``|N<=i(u) n N<=j(v)|`` for i, j in 1..k: [B, k, k] (Eq. 4)."""
        u, v = links[:, 0], links[:, 1]
        k = self.max_hops
        out = torch.empty(links.size(0), k, k, dtype=torch.float64)
        for i in range(1, k + 1):
            for j in range(1, k + 1):
                jac = jaccard(self.minhash[i][u], self.minhash[j][v]).to(torch.float64)
                union = hll_count(torch.maximum(self.hll[i][u], self.hll[j][v]))
                out[:, i - 1, j - 1] = jac * union
        return out

    def subgraph_features(self, links: torch.Tensor, batch_size: int = 32768) -> torch.Tensor:
        """Estimated subgraph features [B, k(k+2)] (float32), computed in batches of ``batch_size`` links."""
        links = _as_links(links, self.cards.size(0))
        parts = []
        for start in range(0, links.size(0), batch_size):
            lk = links[start : start + batch_size]
            inter = self.intersections(lk)
            parts.append(features_from_counts(inter, self.cards[lk[:, 0]], self.cards[lk[:, 1]]))
        if not parts:
            return torch.zeros(0, self.max_hops * (self.max_hops + 2))
        return torch.cat(parts).float()


def _as_links(links: torch.Tensor, num_nodes: int) -> torch.Tensor:
    links = torch.as_tensor(links, dtype=torch.long)
    if links.dim() == 2 and links.size(0) == 2 and links.size(1) != 2:
        links = links.t()
    check(links.dim() == 2 and links.size(1) == 2, f"links must have shape [B, 2] or [2, B], got {tuple(links.shape)}")
    if links.numel():
        check(int(links.min()) >= 0 and int(links.max()) < num_nodes, f"link node ids must lie in 0..{num_nodes - 1}")
    return links


class Sketcher:
    """Fixed initial hashes for ``num_nodes`` nodes plus k-hop propagation (ELPH/BUDDY sketches).

    The initial MinHash and HLL hashes depend only on (node id, seed) and are drawn once, so a node's
    "self-hash" is the same for every graph it is propagated on (train / val / test message passing;
    official issue #11).
    """

    def __init__(self, num_nodes: int, num_perm: int = 128, hll_p: int = 8, max_hops: int = 2, seed: int = 1) -> None:
        check(num_nodes > 0, "a sketch needs at least one node")
        check(num_perm >= 1, f"num_perm must be >= 1, got {num_perm}")
        check(4 <= hll_p <= 16, f"hll_p must be in 4..16, got {hll_p}")
        check(max_hops >= 1, f"max_hops must be >= 1, got {max_hops}")
        self.num_nodes, self.num_perm, self.hll_p, self.max_hops, self.seed = num_nodes, num_perm, hll_p, max_hops, seed
        ids = np.arange(num_nodes, dtype=np.uint64)
        salt = splitmix64(np.array([seed], dtype=np.uint64))[0]
        node_hash = splitmix64(ids ^ salt)
        # MinHash: K independent 63-bit hash functions h_j(u) = mix(hash(u) ^ mix(seed, j))
        perm_salt = splitmix64(np.arange(num_perm, dtype=np.uint64) + salt)
        mh = splitmix64(node_hash[:, None] ^ perm_salt[None, :]) >> np.uint64(1)
        self.minhash0 = torch.from_numpy(mh.astype(np.int64))
        # HLL: low p bits pick the register; rank = (64 - p) - bitlen(rest) + 1
        m = 1 << hll_p
        h = splitmix64(node_hash ^ np.uint64(0xD1B54A32D192ED03))
        reg = (h & np.uint64(m - 1)).astype(np.int64)
        rank = (64 - hll_p) - _bit_length(h >> np.uint64(hll_p)) + 1
        regs = np.zeros((num_nodes, m), dtype=np.int8)
        regs[np.arange(num_nodes), reg] = rank.astype(np.int8)
        self.hll0 = torch.from_numpy(regs)

    def propagate(self, edge_index: torch.Tensor, chunk_edges: int = 1 << 17) -> SketchTable:
        """Propagate the fixed initial sketches ``max_hops`` times over ``edge_index`` (+ self-loops)."""
        edge_index = torch.as_tensor(edge_index, dtype=torch.long)
        check(
            edge_index.dim() == 2 and edge_index.size(0) == 2,
            f"edge_index must be [2, E], got {tuple(edge_index.shape)}",
        )
        if edge_index.numel():
            check(
                int(edge_index.min()) >= 0 and int(edge_index.max()) < self.num_nodes,
                f"edge_index node ids must lie in 0..{self.num_nodes - 1}",
            )
        mins, hlls = [self.minhash0], [self.hll0]
        for _ in range(self.max_hops):
            mins.append(propagate(mins[-1], edge_index, "amin", chunk_edges))
            hlls.append(propagate(hlls[-1], edge_index, "amax", chunk_edges))
        cards = torch.stack([hll_count(h) for h in hlls[1:]], dim=1)
        return SketchTable(minhash=mins, hll=hlls, cards=cards)


# --- exact references ----------------------------------------------------------------------------


def exact_neighbourhoods(edge_index: torch.Tensor, num_nodes: int, max_hops: int) -> list:
    """Exact closed neighbourhoods as scipy CSR boolean matrices: ``R[k][u, w] = d(u, w) <= k`` (k = 0..max)."""
    import scipy.sparse as sp

    ei = np.asarray(edge_index)
    a = sp.csr_matrix((np.ones(ei.shape[1], dtype=np.int64), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    a = ((a + a.T + sp.identity(num_nodes, dtype=np.int64, format="csr")) > 0).astype(np.int64)
    reach = [sp.identity(num_nodes, dtype=np.int64, format="csr")]
    for _ in range(max_hops):
        reach.append(((reach[-1] @ a) > 0).astype(np.int64).tocsr())
    return reach


def exact_counts(reach: list, links: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact intersections [B,k,k] and cardinalities [B,k] of u and v from :func:`exact_neighbourhoods`."""
    k = len(reach) - 1
    u, v = links[:, 0], links[:, 1]
    inter = torch.zeros(len(links), k, k, dtype=torch.float64)
    for i in range(1, k + 1):
        ru = reach[i][u]
        for j in range(1, k + 1):
            inter[:, i - 1, j - 1] = torch.from_numpy(
                np.asarray(ru.multiply(reach[j][v]).sum(axis=1)).ravel().astype(np.float64)
            )
    cu = torch.stack(
        [torch.from_numpy(np.asarray(reach[i][u].sum(axis=1)).ravel().astype(np.float64)) for i in range(1, k + 1)], 1
    )
    cv = torch.stack(
        [torch.from_numpy(np.asarray(reach[i][v].sum(axis=1)).ravel().astype(np.float64)) for i in range(1, k + 1)], 1
    )
    return inter, cu, cv


def exact_subgraph_features(
    edge_index: torch.Tensor, num_nodes: int, links: torch.Tensor, max_hops: int
) -> torch.Tensor:
    """Subgraph features from exact neighbourhood sets (the sketch-free reference), [B, k(k+2)]."""
    reach = exact_neighbourhoods(edge_index, num_nodes, max_hops)
    inter, cu, cv = exact_counts(reach, np.asarray(links))
    return features_from_counts(inter, cu, cv)
