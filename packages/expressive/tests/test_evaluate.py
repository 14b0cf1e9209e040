"""Filtered realistic ranks against a brute-force loop, ties, the frequency baseline, and torch.compile."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from expressive.evaluate import FilterIndex, evaluate, filtered_ranks, frequency_ranks
from expressive.model import MODELS, build_model


def _tiny(seed: int = 0, n: int = 25, r: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    known = np.unique(
        np.stack([rng.integers(n, size=300), rng.integers(r, size=300), rng.integers(n, size=300)], 1), axis=0
    )
    test = known[rng.choice(len(known), 30, replace=False)]
    return known, test


def _brute_force_ranks(model, known: np.ndarray, test: np.ndarray, n: int) -> tuple[list[float], list[float]]:
    """One candidate at a time: filtered, realistic rank = 1 + #better + #equal / 2."""
    true = {tuple(map(int, t)) for t in known}
    out = {"tail": [], "head": []}
    with torch.no_grad():
        for h, r, t in test.tolist():
            for side in ("tail", "head"):
                pos = float(model.score(torch.tensor([h]), torch.tensor([r]), torch.tensor([t])))
                better = equal = 0
                for e in range(n):
                    cand = (h, r, e) if side == "tail" else (e, r, t)
                    if cand in true:
                        continue
                    s = float(model.score(*(torch.tensor([c]) for c in cand)))
                    better += s > pos
                    equal += s == pos
                out[side].append(1 + better + equal / 2)
    return out["head"], out["tail"]


@pytest.mark.parametrize("name", MODELS)
def test_filtered_ranks_equal_brute_force(name):
    known, test = _tiny()
    model = build_model(name, 25, 3, 5)
    filt = FilterIndex(known)
    head, tail = _brute_force_ranks(model, known, test, 25)
    for bs in (4, 64):
        got_tail = filtered_ranks(model, test, filt, "tail", batch_size=bs, compile="off")
        got_head = filtered_ranks(model, test, filt, "head", batch_size=bs, compile="off")
        assert np.allclose(got_tail, tail) and np.allclose(got_head, head), name


def test_ties_get_the_mean_rank():
    """A model that scores every triple alike ranks the true entity in the middle of the unfiltered candidates."""
    known, test = _tiny(1)
    model = build_model("distmult", 25, 3, 4)
    with torch.no_grad():
        model.entity.weight.zero_()
    filt = FilterIndex(known)
    ranks = filtered_ranks(model, test, filt, "tail", compile="off")
    for (h, r, _t), rank in zip(test, ranks):
        others = 25 - len(filt.known(int(h), int(r), "tail"))  # candidates left besides the true tail
        assert rank == pytest.approx(1 + others / 2)


def test_metrics_from_known_ranks():
    known, test = _tiny(2)
    model = build_model("transe", 25, 3, 4)
    m = evaluate(model, test, known, compile="off")
    head, tail = _brute_force_ranks(model, known, test, 25)
    both = np.array(head + tail)
    assert m["mrr"] == pytest.approx(np.mean(1 / both))
    assert m["hits@10"] == pytest.approx(np.mean(both <= 10))
    assert m["tail_mrr"] == pytest.approx(np.mean(1 / np.array(tail)))
    assert m["n_triples"] == len(test)


def test_frequency_baseline_brute_force():
    known, test = _tiny(3)
    train = known[:200]
    filt = FilterIndex(known)
    got = frequency_ranks(train, test, filt, 25)
    ranks = []
    for side, (a, b) in (("head", (2, 0)), ("tail", (0, 2))):
        for row in test:
            counts = np.bincount(train[train[:, 1] == row[1]][:, b], minlength=25).astype(float)
            pos = counts[row[b]]
            kn = set(filt.known(int(row[a]), int(row[1]), side).tolist()) | {int(row[b])}
            neg = [counts[e] for e in range(25) if e not in kn]
            ranks.append(1 + sum(s > pos for s in neg) + sum(s == pos for s in neg) / 2)
    assert got["mrr"] == pytest.approx(np.mean(1 / np.array(ranks)))


def test_nan_scores_are_refused():
    known, test = _tiny()
    model = build_model("distmult", 25, 3, 4)
    with torch.no_grad():
        model.entity.weight[0] = float("nan")
    with pytest.raises(FloatingPointError):
        filtered_ranks(model, test, FilterIndex(known), "tail", compile="off")


@pytest.mark.slow
@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="no C++ compiler for inductor")
def test_compiled_scoring_matches_eager():
    known, test = _tiny(4)
    model = build_model("expressive", 25, 3, 8)
    filt = FilterIndex(known)
    eager = filtered_ranks(model, test, filt, "tail", batch_size=16, compile="off")
    compiled = filtered_ranks(model, test, filt, "tail", batch_size=16, compile="on")
    assert np.allclose(eager, compiled)


def test_bench_brute_force_reference_agrees(tiny_kg_dir):
    """The bench's fallback without PyKEEN: our ranks equal a per-candidate loop."""
    from expressive.bench import brute_force_reference
    from expressive.data import load_kg

    row = brute_force_reference(load_kg(tiny_kg_dir), dim=8, n_triples=15, seed=0)
    assert row["max_rank_difference"] == 0.0
