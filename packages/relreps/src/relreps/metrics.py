"""Latent-space similarity between two models (Moschella et al., ICLR 2023, Sec. 4.1 and Table 1).

Row i of ``a`` and row i of ``b`` embed the same sample. As in the official word-embedding notebook
(``experiments/fig:latent-rotation-comparison/quantitative_analysis.ipynb``), neighbourhoods are cosine
top-k searches *in space B*:

* target neighbours of i: the k rows of ``b`` closest to ``b_i`` (``b_i`` itself included);
* retrieved neighbours of i: the k rows of ``b`` closest to ``a_i`` (a cross-space query, so both spaces must
  have the same dimension: relative spaces over the same anchors always do);
* ``jaccard_at_k``: mean over i of |target ∩ retrieved| / |target ∪ retrieved|;
* ``mrr_at_k``: mean over i of 1 / (rank of ``b_i`` among the retrieved neighbours of ``a_i``), 0 when absent;
* ``mean_cosine``: mean over i of cos(a_i, b_i);
* ``linear_cka`` / ``rbf_cka``: centred kernel alignment (Kornblith et al., 2019); the RBF bandwidth is the
  median squared distance times ``threshold**2`` (their ``gram_rbf``). CKA compares spaces of any dimensions.

``compare_spaces`` computes the relative representations of both spaces over the same (or parallel) anchors
and returns the ``relreps-compare`` record.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from relreps.anchors import ParallelAnchors
from relreps.projection import Normalization, Similarity, relative_projection

__all__ = [
    "cosine_topk",
    "neighbourhood_metrics",
    "jaccard_at_k",
    "mrr_at_k",
    "mean_cosine",
    "linear_cka",
    "rbf_cka",
    "gram_linear",
    "gram_rbf",
    "cka_from_grams",
    "compare_spaces",
]

_CHUNK_ELEMENTS = 1 << 24  # similarities held at once during a top-k search (64 MiB in float32)


def _t(x: np.ndarray | Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(dtype)


def cosine_topk(queries: np.ndarray | Tensor, database: np.ndarray | Tensor, k: int) -> Tensor:
    """Indices [m, k] of the k database rows most cosine-similar to each query, best first (chunked)."""
    q = F.normalize(_t(queries), dim=-1)
    db = F.normalize(_t(database), dim=-1)
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions, the database {db.shape[1]}")
    k = min(k, db.shape[0])
    step = max(1, _CHUNK_ELEMENTS // max(1, db.shape[0]))
    out = [torch.topk(q[s : s + step] @ db.T, k, dim=1).indices for s in range(0, q.shape[0], step)]
    return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long)


def _queries(n: int, queries: np.ndarray | None) -> np.ndarray:
    return np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)


def neighbourhood_metrics(
    a: np.ndarray | Tensor, b: np.ndarray | Tensor, k: int = 10, queries: np.ndarray | None = None
) -> tuple[float, float]:
    """``(jaccard_at_k, mrr_at_k)`` from one cross-space search (what ``compare_spaces`` uses)."""
    q = torch.as_tensor(_queries(len(b), queries))
    if len(q) == 0:
        return float("nan"), float("nan")
    tb = _t(b)
    both = cosine_topk(torch.cat([tb[q], _t(a)[q]]), tb, k)  # one pass over B for both query sets
    target, retrieved = both[: len(q)], both[len(q) :]
    inter = (target[:, :, None] == retrieved[:, None, :]).any(-1).sum(1).double()  # top-k rows hold distinct ids
    jaccard = inter / (2 * target.shape[1] - inter)
    match = retrieved == q.to(retrieved.device)[:, None]
    rank = torch.argmax(match.int(), dim=1) + 1
    rr = torch.where(match.any(1), 1.0 / rank.double(), torch.zeros((), dtype=torch.float64, device=rank.device))
    return float(jaccard.mean()), float(rr.mean())


def jaccard_at_k(
    a: np.ndarray | Tensor, b: np.ndarray | Tensor, k: int = 10, queries: np.ndarray | None = None
) -> float:
    """Mean Jaccard index of the k-neighbourhoods of ``b_i`` and of ``a_i``, both searched among the rows of ``b``."""
    return neighbourhood_metrics(a, b, k, queries)[0]


def mrr_at_k(a: np.ndarray | Tensor, b: np.ndarray | Tensor, k: int = 10, queries: np.ndarray | None = None) -> float:
    """Mean reciprocal rank of ``b_i`` among the k rows of ``b`` closest to ``a_i`` (0 when not among them)."""
    return neighbourhood_metrics(a, b, k, queries)[1]


def mean_cosine(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    """Mean over rows of cos(a_i, b_i); the spaces must have the same dimension."""
    ta, tb = _t(a), _t(b)
    if ta.shape != tb.shape:
        raise ValueError(f"mean cosine needs spaces of the same shape, got {tuple(ta.shape)} and {tuple(tb.shape)}")
    if ta.numel() <= 1 << 22:  # small: all in float64; large: float32 cosines, float64 mean
        ta, tb = ta.double(), tb.double()
    return float(F.cosine_similarity(ta, tb, dim=-1).double().mean())


def linear_cka(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    """Linear CKA, ``||B_c^T A_c||_F^2 / (||A_c^T A_c||_F ||B_c^T B_c||_F)`` with column-centred A, B (O(N d^2))."""
    ta, tb = _t(a, torch.float64), _t(b, torch.float64)
    if ta.shape[0] != tb.shape[0]:
        raise ValueError(f"CKA needs the same rows in both spaces, got {ta.shape[0]} and {tb.shape[0]}")
    ta = ta - ta.mean(0)
    tb = tb - tb.mean(0)
    cross = torch.linalg.matrix_norm(tb.T @ ta) ** 2
    denom = torch.linalg.matrix_norm(ta.T @ ta) * torch.linalg.matrix_norm(tb.T @ tb)
    return float(cross / denom) if denom > 0 else float("nan")


def gram_linear(x: Tensor) -> Tensor:
    x = _t(x, torch.float64)
    return x @ x.T


def gram_rbf(x: Tensor, threshold: float = 1.0) -> Tensor:
    """RBF Gram matrix with bandwidth ``threshold**2 * median squared distance`` (Kornblith et al.'s ``gram_rbf``)."""
    x = _t(x, torch.float64)
    dot = x @ x.T
    sq = torch.diagonal(dot)
    sq_dist = (sq[:, None] + sq[None, :] - 2 * dot).clamp_min(0)
    median = torch.median(sq_dist.reshape(-1))  # lower median, diagonal zeros included, as the reference numpy code
    return torch.exp(-sq_dist / (2 * threshold**2 * median))


def cka_from_grams(k: Tensor, l: Tensor) -> float:
    """``<H K H, H L H>_F / (||H K H||_F ||H L H||_F)`` with the centring matrix H."""
    n = k.shape[0]
    h = torch.eye(n, dtype=torch.float64, device=k.device) - 1.0 / n
    kc, lc = h @ k @ h, h @ l @ h
    denom = torch.linalg.matrix_norm(kc) * torch.linalg.matrix_norm(lc)
    return float((kc * lc).sum() / denom) if denom > 0 else float("nan")


def rbf_cka(
    a: np.ndarray | Tensor, b: np.ndarray | Tensor, threshold: float = 1.0, max_rows: int = 4000, seed: int = 0
) -> float:
    """RBF CKA (N x N kernels: on ``max_rows`` random rows when there are more)."""
    ta, tb = _t(a, torch.float64), _t(b, torch.float64)
    if ta.shape[0] != tb.shape[0]:
        raise ValueError(f"CKA needs the same rows in both spaces, got {ta.shape[0]} and {tb.shape[0]}")
    if ta.shape[0] > max_rows:
        rows = torch.as_tensor(np.random.default_rng(seed).choice(ta.shape[0], max_rows, replace=False))
        ta, tb = ta[rows], tb[rows]
    return cka_from_grams(gram_rbf(ta, threshold), gram_rbf(tb, threshold))


def compare_spaces(
    a: np.ndarray,
    b: np.ndarray,
    anchors: ParallelAnchors,
    k: int = 10,
    similarity: Similarity = "inner",
    normalization: Normalization = "l2",
    max_queries: int = 2_000,
    seed: int = 0,
    extended: bool = False,
    device: str = "cpu",
) -> dict[str, float | int | None]:
    """The ``relreps-compare`` record. Neighbourhood metrics and CKA are computed on the relative
    representations (the spaces the paper compares); ``mean_cosine_absolute`` is None when the dimensions
    differ. Neighbourhood metrics use ``max_queries`` random query rows when there are more (searching all rows).
    ``extended`` adds the absolute-space counterparts and RBF CKA."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"the two spaces must embed the same samples: {a.shape[0]} rows vs {b.shape[0]}")
    anchors.check(a.shape[0], b.shape[0])
    ta, tb = _t(a).to(device), _t(b).to(device)
    ra = relative_projection(ta, ta[torch.as_tensor(anchors.ids_a, device=ta.device)], similarity, normalization)
    rb = relative_projection(tb, tb[torch.as_tensor(anchors.ids_b, device=tb.device)], similarity, normalization)
    n = a.shape[0]
    queries = None
    if n > max_queries:
        queries = np.sort(np.random.default_rng(seed).choice(n, size=max_queries, replace=False))
    same_dim = a.shape[1] == b.shape[1]
    jac, mrr = neighbourhood_metrics(ra, rb, k, queries)
    out: dict[str, float | int | None] = {
        "mean_cosine_relative": mean_cosine(ra, rb),
        "mean_cosine_absolute": mean_cosine(ta, tb) if same_dim else None,
        f"jaccard@{k}": jac,
        "mrr": mrr,
        "cka_linear": linear_cka(ra, rb),
    }
    if extended:
        jac_abs, mrr_abs = neighbourhood_metrics(ta, tb, k, queries) if same_dim else (None, None)
        out.update(
            {
                f"jaccard@{k}_absolute": jac_abs,
                "mrr_absolute": mrr_abs,
                "cka_linear_absolute": linear_cka(ta, tb),
                "cka_rbf": rbf_cka(ra, rb, seed=seed),
                "cka_rbf_absolute": rbf_cka(ta, tb, seed=seed),
                "n": n,
                "anchors": len(anchors),
                "k": k,
                "queries": n if queries is None else len(queries),
            }
        )
    return out
