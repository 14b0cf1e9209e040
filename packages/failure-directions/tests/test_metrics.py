"""Rankings and metrics against sklearn and hand counts."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from failure_directions.metrics import (
    balanced_accuracy,
    error_auc,
    precision_at_k,
    rank_within_class,
    subgroup_recovery,
)


def test_rank_within_class_orders_by_score_then_index_and_drops_nan():
    s = np.array([0.5, -1.0, 0.5, np.nan, -1.0, 2.0])
    y = np.array([0, 0, 0, 0, 1, 1])
    r = rank_within_class(s, y)
    assert r[0].tolist() == [1, 0, 2] and r[1].tolist() == [4, 5]


def test_error_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.3, (y + 1) % 3, y)
    s = rng.normal(size=300) - 1.5 * (pred != y)
    m = error_auc(s, y, pred)
    assert m["pooled"] == pytest.approx(roc_auc_score(pred != y, -s))
    for c in range(3):
        k = y == c
        assert m["per_class"][c] == pytest.approx(roc_auc_score((pred != y)[k], -s[k]))
    assert m["mean_per_class"] == pytest.approx(np.mean([m["per_class"][c] for c in range(3)]))


def test_balanced_accuracy_by_hand():
    y = np.zeros(6, int)
    pred = np.array([0, 0, 0, 0, 1, 1])  # 4 correct, 2 wrong
    s = np.array([1, 1, -1, 1, -1, 1.0])  # correct: 3/4 predicted correct; wrong: 1/2 predicted wrong
    assert balanced_accuracy(s, y, pred) == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_precision_at_k_and_subgroup_recovery_by_hand():
    s = np.array([-3, -2, -1, 0, 1, 2, -5, 5.0])
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    pos = np.array([1, 0, 1, 0, 0, 1, 1, 0], bool)
    p = precision_at_k(s, y, pos, 2)
    assert p["per_class"][0] == {"precision": 0.5, "base_rate": 0.5}
    assert p["per_class"][1] == {"precision": 0.5, "base_rate": 0.5}
    rec = subgroup_recovery(s, y, pos, [0])
    # class 0: |g| = 3, top-3 hardest = rows 0, 1, 2 -> 2 members
    assert rec["precision"] == pytest.approx(2 / 3) and rec["base_rate"] == pytest.approx(0.5)
    assert rec["auc"] == pytest.approx(roc_auc_score(pos[:6], -s[:6]))
