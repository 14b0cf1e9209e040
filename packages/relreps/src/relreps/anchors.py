"""Anchor selection (Moschella et al., ICLR 2023, Sec. 3 and App. A.2).

Anchors are *samples* (indices), shared by every model that must communicate; each model embeds them with its
own encoder. Choices, all seeded and drawn from a pool (the training split):

* ``uniform``: K samples uniformly without replacement (word embeddings: 300 uniform; graphs: 300 random
  training nodes);
* ``stratified``: the same number per class (the official ``stratified_subset``, vision/AE configs);
* ``fps``: farthest-point sampling on L2-normalised features from a random start (the word-embedding
  notebook's ``fps`` choice);
* ``ParallelAnchors``: for two *different* domains, anchor i of domain A corresponds to anchor i of domain B
  (a translation of it, Sec. 5.2 cross-lingual stitching); the two index lists differ.

``read_anchor_ids`` reads a file with one row index per line (the same sample in both spaces) or two per line
(``i_a i_b``: parallel anchors); ``#`` starts a comment.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from orals23_shared.cli import UsageError

__all__ = [
    "AnchorMode",
    "ParallelAnchors",
    "uniform_anchors",
    "stratified_anchors",
    "farthest_point_anchors",
    "select_anchors",
    "read_anchor_ids",
]

AnchorMode = Literal["uniform", "stratified", "fps"]


def _pool(n: int, pool: np.ndarray | None) -> np.ndarray:
    idx = np.arange(n) if pool is None else np.asarray(pool, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise UsageError(f"anchor pool holds indices outside 0..{n - 1}")
    return idx


def _check_k(k: int, available: int) -> None:
    if k < 1:
        raise UsageError(f"the number of anchors must be >= 1, got {k}")
    if k > available:
        raise UsageError(f"asked for {k} anchors but only {available} samples are available to draw them from")


def uniform_anchors(n: int, k: int, seed: int = 0, pool: np.ndarray | None = None) -> np.ndarray:
    """K indices drawn uniformly without replacement from ``pool`` (default: all ``n``), sorted."""
    idx = _pool(n, pool)
    _check_k(k, idx.size)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=k, replace=False))


def stratified_anchors(
    labels: np.ndarray, k: int, seed: int = 0, pool: np.ndarray | None = None, num_classes: int | None = None
) -> np.ndarray:
    """K indices with (almost) the same number per class; sorted.

    Each class gets ``k // C`` anchors and ``k % C`` random classes one more. A class with fewer samples than its
    share gives all it has and the rest is drawn from the other classes (with a warning). A class of
    ``range(num_classes)`` with no sample in the pool, or ``k < C``, is an error.
    """
    labels = np.asarray(labels).reshape(-1)
    idx = _pool(labels.size, pool)
    _check_k(k, idx.size)
    pool_labels = labels[idx]
    classes = np.unique(pool_labels)
    if num_classes is not None:
        missing = sorted(set(range(num_classes)) - {int(c) for c in classes})
        if missing:
            raise UsageError(
                f"stratified anchors: class(es) {missing} have no sample in the anchor pool; "
                "use --anchor-mode uniform or give every class at least one sample"
            )
    n_classes = classes.size
    if k < n_classes:
        raise UsageError(f"stratified anchors need at least one per class: {k} anchors for {n_classes} classes")
    rng = np.random.default_rng(seed)
    quota = np.full(n_classes, k // n_classes)
    quota[rng.permutation(n_classes)[: k % n_classes]] += 1
    members = [rng.permutation(idx[pool_labels == c]) for c in classes]
    take = np.minimum(quota, [m.size for m in members])
    short = int((quota - take).sum())
    chosen = [m[:t] for m, t in zip(members, take)]
    if short:
        short_classes = [int(c) for c, q, t in zip(classes, quota, take) if t < q]
        warnings.warn(
            f"stratified anchors: class(es) {short_classes} have fewer samples than their share; "
            f"{short} anchors drawn from the other classes instead",
            stacklevel=2,
        )
        rest = np.concatenate([m[t:] for m, t in zip(members, take)])
        chosen.append(rng.choice(rest, size=short, replace=False))
    return np.sort(np.concatenate(chosen))


def farthest_point_anchors(
    features: np.ndarray | torch.Tensor, k: int, seed: int = 0, pool: np.ndarray | None = None, normalize: bool = True
) -> np.ndarray:
    """Greedy farthest-point sampling: start at a random pool point, then repeatedly take the point farthest
    (Euclidean, on L2-normalised rows when ``normalize``) from those chosen. Returns indices in selection order."""
    feats = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
    feats = feats.reshape(feats.shape[0], -1).to(torch.float64)
    idx = _pool(feats.shape[0], pool)
    _check_k(k, idx.size)
    pts = feats[torch.as_tensor(idx)]
    if normalize:
        pts = F.normalize(pts, p=2, dim=-1)
    rng = np.random.default_rng(seed)
    first = int(rng.integers(idx.size))
    chosen = [first]
    dist = torch.cdist(pts, pts[first : first + 1]).squeeze(1)
    for _ in range(k - 1):
        nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(pts, pts[nxt : nxt + 1]).squeeze(1))
    return idx[np.asarray(chosen)]


def select_anchors(
    mode: AnchorMode,
    k: int,
    seed: int,
    n: int,
    labels: np.ndarray | None = None,
    features: np.ndarray | torch.Tensor | None = None,
    pool: np.ndarray | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """Dispatch on ``mode`` (uniform | stratified | fps)."""
    if mode == "uniform":
        return uniform_anchors(n, k, seed, pool)
    if mode == "stratified":
        if labels is None:
            raise UsageError("stratified anchors need class labels; use --anchor-mode uniform or fps")
        return stratified_anchors(labels, k, seed, pool, num_classes)
    if mode == "fps":
        if features is None:
            raise UsageError("farthest-point anchors need features")
        return farthest_point_anchors(features, k, seed, pool)
    raise UsageError(f"unknown anchor mode {mode!r} (uniform | stratified | fps)")


@dataclass(frozen=True)
class ParallelAnchors:
    """Anchor i of space A (``ids_a[i]``) corresponds to anchor i of space B (``ids_b[i]``)."""

    ids_a: np.ndarray
    ids_b: np.ndarray

    def __post_init__(self) -> None:
        a, b = np.asarray(self.ids_a).reshape(-1), np.asarray(self.ids_b).reshape(-1)
        if a.size != b.size:
            raise UsageError(f"parallel anchors need as many indices in A as in B, got {a.size} and {b.size}")
        if a.size == 0:
            raise UsageError("parallel anchors: no anchors given")
        object.__setattr__(self, "ids_a", a.astype(np.int64))
        object.__setattr__(self, "ids_b", b.astype(np.int64))

    @classmethod
    def same(cls, ids: np.ndarray) -> ParallelAnchors:
        """The usual case: the same samples in both spaces."""
        return cls(np.asarray(ids), np.asarray(ids))

    def __len__(self) -> int:
        return int(self.ids_a.size)

    def check(self, n_a: int, n_b: int) -> ParallelAnchors:
        for name, ids, n in (("A", self.ids_a, n_a), ("B", self.ids_b, n_b)):
            bad = ids[(ids < 0) | (ids >= n)]
            if bad.size:
                raise UsageError(f"anchor index {int(bad[0])} is out of range for space {name} with {n} rows")
        return self


def read_anchor_ids(path: str | os.PathLike) -> ParallelAnchors:
    """One row index a line (same sample in both spaces) or two (``i_a i_b``, parallel anchors)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"anchor file not found: {path}")
    a: list[int] = []
    b: list[int] = []
    width = None
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].replace(",", " ").split()
        if not line:
            continue
        if len(line) not in (1, 2) or (width is not None and len(line) != width):
            raise UsageError(f"{path}:{lineno}: expected {width or '1 or 2'} integer(s) per line, got {raw.strip()!r}")
        width = len(line)
        try:
            vals = [int(v) for v in line]
        except ValueError:
            raise UsageError(f"{path}:{lineno}: not an integer row index: {raw.strip()!r}") from None
        if min(vals) < 0:
            raise UsageError(f"{path}:{lineno}: negative row index {min(vals)}")
        a.append(vals[0])
        b.append(vals[-1])
    if not a:
        raise UsageError(f"{path}: no anchor indices in the file")
    if len(set(zip(a, b))) != len(a):
        raise UsageError(f"{path}: the same anchor is listed twice")
    return ParallelAnchors(np.asarray(a), np.asarray(b))
