"""pass@k against exact combinatorics (Chen et al. Eq. 1)."""

from __future__ import annotations

from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mbxp.evaluate import summarize
from mbxp.passk import estimate_pass_at_k, pass_at_k, pass_at_k_table


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_equals_binomial_formula(nck):
    n, c, k = nck
    exact = 1 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_is_probability_that_some_of_k_draws_passes():
    # enumerate every k-subset of 6 samples with 2 correct: fraction of subsets containing a pass
    from itertools import combinations

    samples = [1, 1, 0, 0, 0, 0]
    for k in range(1, 7):
        subsets = list(combinations(range(6), k))
        frac = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(6, 2, k) == pytest.approx(frac)


def test_pass_at_1_is_the_fraction_correct_and_large_n_is_stable():
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)
    assert 0.0 <= pass_at_k(10_000, 3, 100) <= 1.0
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 3, 3) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    assert list(estimate_pass_at_k(4, [0, 4], 2)) == [0.0, 1.0]


def test_k_reported_only_when_every_task_has_enough_samples():
    table = pass_at_k_table({"a": (10, 3), "b": (5, 5)}, [1, 5, 10])
    assert set(table) == {"1", "5"}
    assert table["1"] == pytest.approx((3 / 10 + 1.0) / 2)


def test_summary_is_per_language():
    rows = [
        {"task_id": "A/1", "language": "java", "status": "passed", "passed": True, "result": "passed"},
        {"task_id": "A/1", "language": "java", "status": "failed", "passed": False, "result": "failed: x"},
        {"task_id": "A/1", "language": "java", "status": "error", "passed": False, "result": "error: bwrap"},
        {"task_id": "B/1", "language": "ruby", "status": "timeout", "passed": False, "result": "timed out"},
        {"task_id": "B/1", "language": "ruby", "status": "compile_error", "passed": False, "result": "compile error"},
        {"task_id": "C/1", "language": "ruby", "status": "error", "passed": False, "result": "error: bwrap"},
    ]
    s = summarize(rows, [1, 2, 3])
    # pass@k over the samples that ran: the errors are neither failures nor tasks (C/1 has none that ran)
    assert s["pass@k"] == {"java": {"1": 0.5, "2": 1.0}, "ruby": {"1": 0.0, "2": 0.0}}
    assert s["n_samples"] == 6 and s["n_tasks"] == 2 and s["n_errors"] == 2
    assert s["languages"]["ruby"]["results"] == {"timeout": 1, "compile_error": 1, "error": 1}
    assert s["languages"]["java"]["n_ran"] == 2 and s["languages"]["java"]["n_errors"] == 1
