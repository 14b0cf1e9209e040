"""Filtered rank-based evaluation of link prediction (Bordes et al., 2013; the protocol of the paper's Table 3).

For every evaluation triple (h, r, t) we rank the true tail among *all* entities for the query (h, r, ?) and the
true head among all entities for (?, r, t). Filtered setting: every other entity e for which (h, r, e) (or
(e, r, t)) is a known true triple (train + valid + test) is removed from the candidates before ranking. Ties
get the *realistic* rank, the mean of the optimistic and pessimistic ranks, 1 + #{better} + #{equal} / 2
(Berrendorf et al., 2020; PyKEEN's ``realistic`` rank, the one the paper reports); it is computed by
``orals23_shared.metrics.rank_of_positive`` after the filtered candidates are set to -inf.

MRR and Hits@{1,3,10} are averaged over both directions ("both" in PyKEEN); ``head_*`` and ``tail_*`` are
reported too. Scoring is batched: a batch of B queries against all N entities at once ((B, N) scores), with
an optional ``torch.compile`` of the model's scoring kernel that fuses the elementwise work of ExpressivE,
BoxE and RotatE into one loop (10-40x faster on CPU than eager torch, which writes every intermediate).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from expressive.model import KGEModel
from orals23_shared.metrics import hits_at_k, mean_reciprocal_rank, rank_of_positive

__all__ = ["FilterIndex", "evaluate", "filtered_ranks", "frequency_ranks", "summarise_ranks"]

CompileMode = Literal["auto", "on", "off"]
_ELEMENTWISE = ("expressive", "boxe", "rotate")


class FilterIndex:
    """Known true triples as two lookups: (h, r) -> tails and (r, t) -> heads (numpy arrays)."""

    def __init__(self, known: np.ndarray) -> None:
        known = np.unique(np.asarray(known, dtype=np.int64).reshape(-1, 3), axis=0)
        self.tails = self._group(known[:, 0], known[:, 1], known[:, 2])
        self.heads = self._group(known[:, 1], known[:, 2], known[:, 0])

    @staticmethod
    def _group(a: np.ndarray, b: np.ndarray, value: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        order = np.lexsort((value, b, a))
        a, b, value = a[order], b[order], value[order]
        if len(a) == 0:
            return {}
        starts = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])])
        ends = np.r_[starts[1:], len(a)]
        return {(int(a[s]), int(b[s])): value[s:e] for s, e in zip(starts, ends)}

    def known(self, anchor: int, r: int, side: str) -> np.ndarray:
        """Entities e with (anchor, r, e) known (side "tail") or (e, r, anchor) known (side "head")."""
        table = self.tails if side == "tail" else self.heads
        key = (anchor, r) if side == "tail" else (r, anchor)
        return table.get(key, _EMPTY)


_EMPTY = np.empty(0, dtype=np.int64)


@dataclass
class _Kernel:
    fn: Callable | None
    chunk: int
    compiled: bool


def _has_compiler() -> bool:
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def _choose_kernel(model: KGEModel, n_queries: int, batch_size: int, compile: CompileMode) -> _Kernel:
    """Eager (candidates chunked to stay in cache) or ``torch.compile``d (one fused loop over all candidates)."""
    work = n_queries * model.num_entities * model.dim
    want = compile == "on" or (compile == "auto" and model.name in _ELEMENTWISE and work > 4e9 and _has_compiler())
    if want:
        return _Kernel(torch.compile(model.tail_kernel, dynamic=False), 0, True)
    chunk = max(8, 131072 // max(1, batch_size * model.dim)) if model.name in _ELEMENTWISE else 0
    return _Kernel(None, chunk, False)


@torch.no_grad()
def filtered_ranks(
    model: KGEModel,
    triples: np.ndarray,
    filt: FilterIndex,
    side: Literal["tail", "head"],
    batch_size: int = 64,
    compile: CompileMode = "auto",
    device: str | torch.device = "cpu",
    progress: Callable | None = None,
) -> np.ndarray:
    """Realistic filtered rank of the true ``side`` entity of every triple (1-based, float)."""
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    n = len(triples)
    if n == 0:
        return np.empty(0)
    was_training = model.training
    model.eval()
    kernel = _choose_kernel(model, n, batch_size, compile)
    cand = model.entity_repr(None)
    anchor_col, target_col = (0, 2) if side == "tail" else (2, 0)
    ranks = np.empty(n)
    batches = range(0, n, batch_size)
    for start in progress(batches) if progress else batches:
        rows = triples[start : start + batch_size]
        b = len(rows)
        pad = batch_size - b if kernel.compiled else 0  # fixed shapes: one compiled graph
        idx = np.concatenate([rows, np.repeat(rows[:1], pad, axis=0)]) if pad else rows
        anchor = torch.as_tensor(idx[:, anchor_col], device=device)
        rel = torch.as_tensor(idx[:, 1], device=device)
        a, rr = model.side_repr(anchor, rel, side)
        scores = _run_kernel(model, kernel, a, rr, cand)[:b].float().cpu().numpy()
        if np.isnan(scores).any():
            raise FloatingPointError("the model produced NaN scores; the ranks would be meaningless")
        target = rows[:, target_col]
        pos = scores[np.arange(b), target].copy()
        fr, fc = [], []
        for i, (anc, r) in enumerate(zip(rows[:, anchor_col], rows[:, 1])):
            known = filt.known(int(anc), int(r), side)
            fr.append(np.full(len(known), i))
            fc.append(known)
        scores[np.concatenate(fr).astype(np.int64), np.concatenate(fc).astype(np.int64)] = -np.inf
        scores[np.arange(b), target] = -np.inf  # the true entity is the positive, not a negative
        ranks[start : start + b] = rank_of_positive(pos, scores)
    model.train(was_training)
    return ranks


def _run_kernel(model: KGEModel, kernel: _Kernel, a: torch.Tensor, rr: torch.Tensor, cand: torch.Tensor):
    if kernel.compiled:
        try:
            return kernel.fn(a, rr, cand)
        except Exception as e:  # no working C++ toolchain, an unsupported op: eager is exact, only slower
            print(f"expressive: torch.compile failed ({type(e).__name__}); scoring in eager mode", file=sys.stderr)
            kernel.fn, kernel.compiled = None, False
            kernel.chunk = max(8, 131072 // max(1, a.shape[0] * model.dim))
    return model.score_all_from(a, rr, cand, kernel.chunk)


def summarise_ranks(head: np.ndarray, tail: np.ndarray, ks: tuple[int, ...] = (1, 3, 10)) -> dict[str, float]:
    """MRR and Hits@k over both directions, plus per direction (``head_*``, ``tail_*``)."""
    both = np.concatenate([head, tail])
    out: dict[str, float] = {"mrr": mean_reciprocal_rank(both)}
    out |= {f"hits@{k}": hits_at_k(both, k) for k in ks}
    for name, r in (("head", head), ("tail", tail)):
        out[f"{name}_mrr"] = mean_reciprocal_rank(r)
        out |= {f"{name}_hits@{k}": hits_at_k(r, k) for k in ks}
    out["mean_rank"] = float(both.mean())
    out["n_triples"] = len(tail)
    return out


def evaluate(
    model: KGEModel,
    triples: np.ndarray,
    known: np.ndarray | FilterIndex,
    batch_size: int = 64,
    compile: CompileMode = "auto",
    device: str | torch.device = "cpu",
    progress: Callable | None = None,
) -> dict[str, float]:
    """Filtered MRR / Hits@{1,3,10} of ``triples`` in both directions; ``known``: every true triple."""
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    if len(triples) == 0:
        raise ValueError("no triples to evaluate")
    filt = known if isinstance(known, FilterIndex) else FilterIndex(known)
    kw = dict(batch_size=batch_size, compile=compile, device=device, progress=progress)
    tail = filtered_ranks(model, triples, filt, "tail", **kw)
    head = filtered_ranks(model, triples, filt, "head", **kw)
    return summarise_ranks(head, tail)


def frequency_ranks(train: np.ndarray, triples: np.ndarray, filt: FilterIndex, num_entities: int) -> dict[str, float]:
    """The relation-frequency baseline: rank candidates for (h, r, ?) by how often each is a tail of r in train
    (heads likewise), filtered and realistic like the models. A model that learned nothing beyond relation
    statistics scores this."""
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    num_rel = int(max(train[:, 1].max(), triples[:, 1].max())) + 1
    counts = {
        "tail": np.zeros((num_rel, num_entities)),
        "head": np.zeros((num_rel, num_entities)),
    }
    np.add.at(counts["tail"], (train[:, 1], train[:, 2]), 1)
    np.add.at(counts["head"], (train[:, 1], train[:, 0]), 1)
    out = {}
    for side, (ac, tc) in (("tail", (0, 2)), ("head", (2, 0))):
        scores = counts[side][triples[:, 1]].copy()
        pos = scores[np.arange(len(triples)), triples[:, tc]].copy()
        for i, row in enumerate(triples):
            scores[i, filt.known(int(row[ac]), int(row[1]), side)] = -np.inf
        scores[np.arange(len(triples)), triples[:, tc]] = -np.inf
        out[side] = rank_of_positive(pos, scores)
    return summarise_ranks(out["head"], out["tail"])
