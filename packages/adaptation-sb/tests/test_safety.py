"""Safety metrics against hand computations; corruptions' definitions and their input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptation_sb.safety import (
    CORRUPTIONS,
    corrupt,
    detection_metrics,
    ece_15,
    fpr_at_95_tpr,
    rms_calibration_error,
    synthetic_ood,
)


def test_ece_15_bins_by_hand():
    # confidences 0.95, 0.65, 0.72, 0.81, 0.97 fall in bins 14, 9, 10, 12, 14 (ceil(15 c) - 1)
    probs = np.array([[0.95, 0.05], [0.65, 0.35], [0.28, 0.72], [0.19, 0.81], [0.03, 0.97]])
    labels = np.array([0, 1, 1, 0, 1])  # correct: 1, 0, 1, 0, 1
    # bin 14: conf 0.96, acc 1 (weight 2/5); singles: |0 - .65|, |1 - .72|, |0 - .81|
    expected = (2 * 0.04 + 0.65 + 0.28 + 0.81) / 5
    assert ece_15(probs, labels) == pytest.approx(expected, abs=1e-12)


def test_rms_adaptive_calibration_error_by_hand():
    conf = np.array([0.9, 0.6, 0.7, 0.8, 0.5])
    correct = np.array([1, 0, 1, 1, 0])
    # sorted: .5(0) .6(0) | .7(1) .8(1) .9(1): bins of beta=2, the last takes the remainder
    expected = math.sqrt(2 / 5 * 0.55**2 + 3 / 5 * 0.2**2)
    assert rms_calibration_error(conf, correct, beta=2) == pytest.approx(expected, abs=1e-12)
    # the official loop drops the last bin
    official = math.sqrt(2 / 5 * 0.55**2)
    assert rms_calibration_error(conf, correct, beta=2, official_skip_last=True) == pytest.approx(official, abs=1e-12)
    # fewer examples than beta: one bin
    assert rms_calibration_error(conf, correct, beta=100) == pytest.approx(abs(conf.mean() - correct.mean()))
    # perfectly calibrated bins give zero
    assert rms_calibration_error([0.5, 0.5, 1.0, 1.0], [0, 1, 1, 1], beta=2) == pytest.approx(0.0)


def test_fpr95_and_detection_by_hand():
    s_out = np.arange(1, 21, dtype=float)  # the threshold 2 catches 19 of 20 outliers (95%)
    s_in = np.array([0.5, 1.5, 2.5, 10.0])
    assert fpr_at_95_tpr(s_in, s_out) == pytest.approx(0.5)
    d = detection_metrics(np.array([0.0, 1.0]), np.array([2.0, 3.0]))
    assert d["auroc"] == 1.0 and d["aupr"] == 1.0 and d["fpr95"] == 0.0
    d = detection_metrics(np.array([0.0, 2.5]), np.array([2.0, 3.0]))
    assert d["auroc"] == pytest.approx(0.75)  # 3 of the 4 (out, in) pairs ordered


def test_corruptions_follow_their_definitions():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=(4, 8, 8)).astype(np.float32)
    out = corrupt(x, "contrast", 2)
    means = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - means) * 0.5 + means, atol=1e-6)
    np.testing.assert_allclose(corrupt(x, "brightness", 5), np.clip(x + 0.3, 0, 1), atol=1e-6)
    flat = np.full((200, 8, 8), 0.5, dtype=np.float32)
    stds = [float((corrupt(flat, "gaussian_noise", s, seed=1) - flat).std()) for s in range(1, 6)]
    np.testing.assert_allclose(stds, [0.04, 0.06, 0.08, 0.09, 0.10], rtol=0.03)
    frac = [float(np.mean(corrupt(flat, "impulse_noise", s) != 0.5)) for s in (1, 5)]
    np.testing.assert_allclose(frac, [0.01, 0.07], atol=0.005)
    for name in CORRUPTIONS:
        for sev in (1, 5):
            c = corrupt(x, name, sev, seed=3)
            assert c.shape == x.shape and c.min() >= 0.0 and c.max() <= 1.0
            np.testing.assert_array_equal(c, corrupt(x, name, sev, seed=3))  # seeded


def test_corruptions_refuse_images_outside_unit_range_and_bad_arguments():
    x = np.zeros((2, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(x + 255.0, "gaussian_noise", 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(x - 0.5, "contrast", 1)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(x, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ValueError, match="batch of images"):
        corrupt(np.zeros(64), "contrast", 1)


def test_synthetic_outliers_are_images_in_unit_range():
    for name in ("gaussian", "rademacher", "blobs"):
        o = synthetic_ood(name, (10, 16, 8), seed=0)
        assert o.shape == (10, 16, 8) and o.min() >= 0 and o.max() <= 1
    assert set(np.unique(synthetic_ood("rademacher", (5, 4, 4)))) == {0.0, 1.0}
