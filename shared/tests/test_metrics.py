"""Metrics against scikit-learn and hand-computed cases."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from orals23_shared.metrics import (
    accuracy,
    expected_calibration_error,
    hits_at_k,
    hits_at_k_ogb,
    mean_reciprocal_rank,
    rank_of_positive,
    roc_auc,
)


def test_accuracy_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    scores = rng.normal(size=(200, 5))
    assert accuracy(scores, y) == pytest.approx(accuracy_score(y, scores.argmax(1)))
    assert accuracy(scores.argmax(1), y) == pytest.approx(accuracy_score(y, scores.argmax(1)))


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="rows"):
        accuracy(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounding creates ties
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_auc_needs_both_classes():
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([0.1, 0.2], [1, 1])


def test_ece_hand_computed():
    # four predictions, 15 bins: confidences 0.95, 0.95 (bin 14), 0.6 (bin 8), 0.3 -> binary max 0.7 (bin 10)
    probs = np.array([[0.05, 0.95], [0.95, 0.05], [0.4, 0.6], [0.7, 0.3]])
    labels = np.array([1, 1, 1, 0])
    # bin 14: conf 0.95, acc 1/2 -> |0.5-0.95| * 2/4 = 0.225
    # bin  8: conf 0.6,  acc 1   -> 0.4 * 1/4 = 0.1
    # bin 10: conf 0.7,  acc 1   -> 0.3 * 1/4 = 0.075
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)


def test_ece_perfectly_calibrated_is_small_and_confident_wrong_is_large():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 1.0, 200_000)
    correct = rng.uniform(size=conf.size) < conf
    labels = np.where(correct, 1, 0)
    probs = np.stack([1 - conf, conf], axis=1)
    assert expected_calibration_error(probs, labels) < 0.01
    assert expected_calibration_error(probs, 1 - labels) > 0.4


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match="softmax"):
        expected_calibration_error(np.array([[2.0, -1.0]]), np.array([0]))


def test_ranks_hand_computed_with_ties():
    pos = np.array([0.9, 0.5, 0.1])
    neg = np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.1], [0.2, 0.3, 0.4]])
    ranks = rank_of_positive(pos, neg)
    # 0.9 beats all -> 1; 0.5 ties one and loses to one -> 1 + 1 + 0.5 = 2.5; 0.1 loses to 3 -> 4
    np.testing.assert_allclose(ranks, [1.0, 2.5, 4.0])
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2.5 + 1 / 4) / 3)
    assert hits_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert hits_at_k(ranks, 3) == pytest.approx(2 / 3)


def test_shared_negatives_same_as_broadcast():
    rng = np.random.default_rng(2)
    pos = rng.normal(size=50)
    neg = np.round(rng.normal(size=80), 1)
    np.testing.assert_allclose(rank_of_positive(pos, neg), rank_of_positive(pos, np.tile(neg, (50, 1))))


def test_hits_ogb_convention():
    neg = np.array([0.1, 0.5, 0.3])
    pos = np.array([0.6, 0.4, 0.2])
    # k=2: 2nd best negative is 0.3 -> 0.6, 0.4 are hits
    assert hits_at_k_ogb(pos, neg, 2) == pytest.approx(2 / 3)
    # fewer negatives than k -> every positive is a hit (OGB)
    assert hits_at_k_ogb(pos, neg, 100) == 1.0
