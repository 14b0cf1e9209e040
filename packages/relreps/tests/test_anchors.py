"""Anchor choices against naive references; parallel anchors; anchor files with bad lines."""

import numpy as np
import pytest
import torch

from orals23_shared.cli import UsageError
from relreps.anchors import (
    ParallelAnchors,
    farthest_point_anchors,
    read_anchor_ids,
    stratified_anchors,
    uniform_anchors,
)


def test_uniform_anchors_are_seeded_distinct_and_from_the_pool():
    pool = np.arange(10, 60)
    a = uniform_anchors(100, 20, seed=3, pool=pool)
    assert len(set(a)) == 20 and set(a) <= set(pool)
    assert np.array_equal(a, uniform_anchors(100, 20, seed=3, pool=pool))
    assert not np.array_equal(a, uniform_anchors(100, 20, seed=4, pool=pool))
    with pytest.raises(UsageError, match="only 50 samples"):
        uniform_anchors(100, 51, pool=pool)


def test_stratified_anchors_take_the_same_number_per_class():
    labels = np.repeat(np.arange(5), 30)
    a = stratified_anchors(labels, 23, seed=1)
    counts = np.bincount(labels[a], minlength=5)
    assert counts.sum() == 23 and counts.max() - counts.min() <= 1 and len(set(a)) == 23


def test_stratified_anchors_refuse_empty_classes_and_too_few_anchors():
    labels = np.array([0] * 10 + [2] * 10)
    with pytest.raises(UsageError, match=r"class\(es\) \[1\] have no sample"):
        stratified_anchors(labels, 6, num_classes=3)
    with pytest.raises(UsageError, match="at least one per class"):
        stratified_anchors(np.repeat(np.arange(4), 5), 3)


def test_stratified_anchors_redistribute_a_short_class_with_a_warning():
    labels = np.array([0] * 2 + [1] * 20 + [2] * 20)
    with pytest.warns(UserWarning, match=r"class\(es\) \[0\]"):
        a = stratified_anchors(labels, 15, seed=0)
    counts = np.bincount(labels[a], minlength=3)
    assert counts[0] == 2 and counts.sum() == 15 and len(set(a)) == 15


def _naive_fps(x, k, first):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    chosen = [first]
    for _ in range(k - 1):
        best, best_d = None, -1.0
        for i in range(len(x)):
            d = min(np.linalg.norm(x[i] - x[j]) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def test_farthest_point_sampling_matches_a_naive_loop():
    x = np.random.default_rng(0).normal(size=(40, 3))
    got = farthest_point_anchors(x, 8, seed=5)
    first = int(np.random.default_rng(5).integers(40))
    assert got.tolist() == _naive_fps(x, 8, first)
    pool = np.arange(20, 40)
    assert set(farthest_point_anchors(torch.as_tensor(x), 5, seed=1, pool=pool)) <= set(pool)


def test_anchor_files_one_or_two_columns(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("# anchors\n3\n7  # comment\n\n11\n")
    p = read_anchor_ids(f)
    assert p.ids_a.tolist() == [3, 7, 11] and p.ids_b.tolist() == [3, 7, 11]
    f.write_text("3 30\n7 70\n")
    p = read_anchor_ids(f)
    assert p.ids_a.tolist() == [3, 7] and p.ids_b.tolist() == [30, 70]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\nx\n", r":2: not an integer"),
        ("1\n2 3\n", r":2: expected 1 integer"),
        ("1\n-4\n", r":2: negative row index"),
        ("1\n1\n", "listed twice"),
        ("# nothing\n", "no anchor indices"),
    ],
)
def test_bad_anchor_files_name_the_line(tmp_path, text, message):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_anchor_ids(f)


def test_parallel_anchors_check_lengths_and_ranges():
    with pytest.raises(UsageError, match="as many"):
        ParallelAnchors(np.array([1, 2]), np.array([1]))
    with pytest.raises(UsageError, match="out of range for space B"):
        ParallelAnchors(np.array([1, 2]), np.array([1, 9])).check(10, 5)
