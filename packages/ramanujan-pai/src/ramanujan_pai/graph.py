"""Graph metrics of a pruned layer: spectral gap, Ramanujan bound, IMDB and NaRC.

Hoang, Liu, Marculescu, Wang, "Revisiting Pruning at Initialization through the Lens of Ramanujan
Graph", ICLR 2023 (official code VITA-Group/ramanujan-on-pai, ``lib/graphs/scores.py``).

A layer's mask (``out x in``, or ``out x in x kh x kw`` unrolled to ``out x in*kh*kw``, as the official
code reshapes a conv weight) is a bipartite graph: left = input units, right = output units, an edge
where the mask is nonzero. Zero-degree nodes are removed (``n_L``, ``n_R`` remain), ``|E|`` edges,
average degrees ``d_L = |E| / n_L`` and ``d_R = |E| / n_R``; a layer with ``d_L < 3`` or ``d_R < 3`` is
skipped (all values None), as in the official code.

* The adjacency ``[[0, B], [B^T, 0]]`` has eigenvalues ``±sigma_i(B)``; the official code takes the three
  largest ``|lambda|`` of the ``2n x 2n`` adjacency (ARPACK), so ``lambda_1 = sigma_1`` and
  ``mu_hat = sigma_2(B)``. We compute the top two singular values of the biadjacency directly
  (eigenvalues of its Gram matrix on the smaller side), orders of magnitude faster: the biadjacency is
  a dense float32 0/1 array from edge density 0.05 (BLAS products of 0/1 counts are exact integers) and
  a sparse CSR matrix below; both give the same values bit for bit.
* ``Delta_s = 2 sqrt(lambda_1 - 1) - mu_hat`` (regular bound with ``lambda_1`` as the degree proxy).
* ``Delta_r = sqrt(d_L - 1) + sqrt(d_R - 1) - mu_hat`` (irregular bipartite Ramanujan bound, the paper's
  Eq. for Delta_r); normalised ``Delta_r / ub`` with ``ub = sqrt(d_L - 1) + sqrt(d_R - 1)``.
* IMDB (iterative mean difference of bound): left nodes grouped by degree; each degree ``d > 0`` held by
  ``>= 3`` left nodes gives the ``d``-left-regular subgraph (those left nodes, all right nodes, then
  zero-degree filtered and the same ``d >= 3`` check); IMDB is the mean of ``Delta_r`` over the valid
  groups, IMDB_norm the mean of ``Delta_r / ub``.
* NaRC (normalised random coefficient, official ``random_bound``):
  ``[(mu_hat^2/4 + 1) sqrt(n_L n_R) - |E' - (d_L / dim_out) n_L n_R|] / (dim_in dim_out)``. The official
  code passes ``E' = 2|E|`` (the edge list stores each undirected edge twice): ``narc_official``. The
  corrected coefficient uses ``E' = |E|``: ``narc_corrected``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

__all__ = [
    "METRIC_KEYS",
    "biadjacency",
    "filter_zero_degree",
    "top_singular_values",
    "ramanujan_bound",
    "narc",
    "imdb",
    "layer_metrics",
    "model_metrics",
]

#: The per-layer values of the ``ramanujan-pai-metrics`` JSON contract (None when skipped).
METRIC_KEYS = ("mu_hat", "delta_r", "delta_r_norm", "imdb", "imdb_norm", "narc")
MIN_DEGREE = 3  # official: layers (and IMDB groups) with average degree < 3 are skipped
GRAM_MAX = 8192  # smaller side up to this: eigenvalues of the dense Gram matrix; above: ARPACK svds
DENSE_MAX = 1 << 26  # layers with more weights are always held sparse (a dense float32 copy would be > 256 MB)
DENSE_FROM = 0.05  # edge density from which dense float32 products beat sparse ones (measured on ResNet-34 layers)
EXACT_F32 = 1 << 24  # float32 sums of 0/1 products are exact integers while the inner dimension stays below this

Matrix = np.ndarray | sp.csr_matrix


def biadjacency(mask: Any, sparse: bool | None = None) -> Matrix:
    """The ``n_in x n_out`` 0/1 biadjacency of a layer mask (``out x in [x kh x kw]``; nonzero = edge).

    Dense ``float32`` (C-contiguous) when at least ``DENSE_FROM`` of the entries are edges and the layer
    has at most ``DENSE_MAX`` weights, else a sparse CSR matrix (``sparse`` forces either). Both give
    the same metrics, bit for bit; the dense one avoids sparse indexing and product overheads.
    """
    m = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask)
    if m.ndim not in (2, 4):
        raise ValueError(f"a layer mask must be 2-D (out x in) or 4-D (out x in x kh x kw), got shape {m.shape}")
    m = m.reshape(m.shape[0], -1)  # out x in*kh*kw, the official unrolling
    support = np.ascontiguousarray((m != 0).T)
    if sparse is None:
        sparse = support.size > DENSE_MAX or np.count_nonzero(support) < DENSE_FROM * support.size
    if sparse:
        return sp.csr_matrix(support, dtype=np.float64)
    return support.astype(np.float32)


def degrees(b: Matrix) -> tuple[np.ndarray, np.ndarray]:
    """Left (row) and right (column) degrees of a 0/1 biadjacency."""
    if sp.issparse(b):
        return np.asarray(b.getnnz(axis=1)), np.asarray(b.getnnz(axis=0))
    return np.count_nonzero(b, axis=1), np.count_nonzero(b, axis=0)


def filter_zero_degree(b: Matrix) -> Matrix:
    """Drop left (rows) and right (columns) nodes without edges."""
    if sp.issparse(b):
        b = sp.csr_matrix(b)
    deg_l, deg_r = degrees(b)
    rows, cols = np.flatnonzero(deg_l), np.flatnonzero(deg_r)
    if len(rows) < b.shape[0]:
        b = b[rows]
    if len(cols) < b.shape[1]:
        b = b[:, cols]
    return b


def _gram(b: Matrix) -> np.ndarray:
    """The Gram matrix on the smaller side, as float64 (dense float32 products are exact integer counts)."""
    small_cols = b.shape[1] <= b.shape[0]
    if sp.issparse(b):
        b = sp.csr_matrix(b, dtype=np.float64)
        return (b.T @ b if small_cols else b @ b.T).toarray()
    if max(b.shape) >= EXACT_F32:  # pragma: no cover - a side of 16M nodes
        b = b.astype(np.float64)
    return (b.T @ b if small_cols else b @ b.T).astype(np.float64)


def top_singular_values(b: Matrix, k: int = 2) -> np.ndarray:
    """The ``k`` largest singular values of ``b``, descending (zeros past the rank of a thin matrix)."""
    n_small = min(b.shape)
    if n_small == 0:
        return np.zeros(k)
    if n_small <= GRAM_MAX:
        lo = max(0, n_small - k)
        w = scipy.linalg.eigh(_gram(b), eigvals_only=True, subset_by_index=[lo, n_small - 1])
        s = np.sqrt(np.clip(w[::-1], 0.0, None))
    else:  # pragma: no cover - layers wider than 8192 on both sides
        b = sp.csr_matrix(b, dtype=np.float64)
        s = np.sort(scipy.sparse.linalg.svds(b, k=k, return_singular_vectors=False))[::-1]
    out = np.zeros(k)
    out[: len(s)] = s
    return out


def ramanujan_bound(d_left: float, d_right: float) -> float:
    """``sqrt(d_L - 1) + sqrt(d_R - 1)``: the Ramanujan bound of an irregular bipartite graph."""
    return math.sqrt(d_left - 1.0) + math.sqrt(d_right - 1.0)


def narc(
    mu_hat: float, edges: int, n_left: int, n_right: int, dim_in: int, dim_out: int, convention: str = "official"
) -> float:
    """Normalised random coefficient; ``official`` counts each edge twice (the code's ``2|E|``)."""
    if convention not in ("official", "corrected"):
        raise ValueError(f"convention must be 'official' or 'corrected', got {convention!r}")
    e_term = 2 * edges if convention == "official" else edges
    d_left = edges / n_left
    ls = (mu_hat**2 / 4.0 + 1.0) * math.sqrt(n_left * n_right)
    rs = abs(e_term - (d_left / dim_out) * n_left * n_right)
    return (ls - rs) / (dim_in * dim_out)


def _core(b: Matrix, edges: int | None = None) -> dict[str, Any] | None:
    """Degrees, ``lambda_1``, ``mu_hat`` and ``Delta_r`` of a zero-degree-filtered biadjacency; None if d < 3."""
    n_left, n_right = b.shape
    edges = int(b.nnz if sp.issparse(b) else np.count_nonzero(b)) if edges is None else edges
    if edges == 0:
        return None
    d_left, d_right = edges / n_left, edges / n_right
    if d_left < MIN_DEGREE or d_right < MIN_DEGREE:
        return None
    lam1, mu = (float(v) for v in top_singular_values(b, 2))
    ub = ramanujan_bound(d_left, d_right)
    ub_s = 2.0 * math.sqrt(lam1 - 1.0)
    return {
        "n_left": n_left,
        "n_right": n_right,
        "edges": edges,
        "d_left": d_left,
        "d_right": d_right,
        "lambda_1": lam1,
        "mu_hat": mu,
        "delta_s": ub_s - mu,
        "delta_s_norm": (ub_s - mu) / ub_s,
        "delta_r": ub - mu,
        "delta_r_norm": (ub - mu) / ub,
        "ub": ub,
    }


def imdb(b: Matrix, min_count: int = MIN_DEGREE) -> tuple[float | None, float | None, int]:
    """IMDB and IMDB_norm of a layer (``b`` = unfiltered ``n_in x n_out`` biadjacency) and the group count."""
    b = sp.csr_matrix(b) if sp.issparse(b) else np.asarray(b != 0, dtype=np.float32) if b.dtype != np.float32 else b
    deg = degrees(b)[0]
    values, counts = np.unique(deg, return_counts=True)
    gaps, gaps_norm = [], []
    for d, c in zip(values, counts):
        if d < MIN_DEGREE or c < min_count:  # d_L of the group is d: below 3 it is skipped anyway
            continue
        sub = _core(filter_zero_degree(b[np.flatnonzero(deg == d)]), edges=int(d * c))
        if sub is None:
            continue
        gaps.append(sub["delta_r"])
        gaps_norm.append(sub["delta_r_norm"])
    if not gaps:
        return None, None, 0
    return float(np.mean(gaps)), float(np.mean(gaps_norm)), len(gaps)


def layer_metrics(mask: Any, narc_convention: str = "official") -> dict[str, Any]:
    """Every metric of one layer mask; ``skipped`` layers carry None values (see the module docstring)."""
    full = biadjacency(mask)
    dim_in, dim_out = full.shape
    edges = int(degrees(full)[0].sum())
    b = filter_zero_degree(full)
    core = _core(b, edges)
    base: dict[str, Any] = {"dim_in": dim_in, "dim_out": dim_out, "density": edges / (dim_in * dim_out)}
    if core is None:
        none = dict.fromkeys(
            ("lambda_1", "delta_s", "delta_s_norm", "narc_official", "narc_corrected", "imdb_groups", *METRIC_KEYS)
        )
        return {**base, "skipped": True, "n_left": b.shape[0], "n_right": b.shape[1], "edges": edges, **none}
    args = (core["mu_hat"], core["edges"], core["n_left"], core["n_right"], dim_in, dim_out)
    narc_off, narc_cor = narc(*args, convention="official"), narc(*args, convention="corrected")
    im, im_norm, groups = imdb(full)
    core.pop("ub")
    return {
        **base,
        "skipped": False,
        **core,
        "imdb": im,
        "imdb_norm": im_norm,
        "imdb_groups": groups,
        "narc": narc_off if narc_convention == "official" else narc_cor,
        "narc_official": narc_off,
        "narc_corrected": narc_cor,
    }


def model_metrics(masks: Mapping[str, Any], narc_convention: str = "official") -> dict[str, Any]:
    """Per-layer metrics and their means over the valid (non-skipped, non-None) layers."""
    layers = {name: layer_metrics(m, narc_convention) for name, m in masks.items()}
    model: dict[str, Any] = {}
    for key in (*METRIC_KEYS, "delta_s", "delta_s_norm", "narc_official", "narc_corrected"):
        vals = [v[key] for v in layers.values() if not v["skipped"] and v[key] is not None]
        model[key] = float(np.mean(vals)) if vals else None
        model[f"{key}_count"] = len(vals)
    model["layers"] = len(layers)
    model["skipped"] = sum(v["skipped"] for v in layers.values())
    total = sum(v["dim_in"] * v["dim_out"] for v in layers.values())
    model["density"] = sum(v["density"] * v["dim_in"] * v["dim_out"] for v in layers.values()) / max(total, 1)
    return {"layers": layers, "model": model}
