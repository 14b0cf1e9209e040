"""Every reproduce claim is a pure function of measured curves: right curves pass, a wrong model's curves fail."""

from __future__ import annotations

import pytest

from orals23_shared.reproduce import overall_verdict
from smoe_dropout.reproduce import (
    ReproConfig,
    claim_learned_saturates,
    claim_monotone,
    claim_training_time,
    claim_vs_dense,
)

KS = [1, 2, 4, 8, 16]


def test_monotone_claim():
    assert claim_monotone(KS, [3.58, 3.38, 3.26, 3.19, 3.17], True, "lm").verdict == "reproduced"
    # a model that does not slim: flat, noisy or worse with more experts
    assert claim_monotone(KS, [3.2, 3.2, 3.2, 3.2, 3.2], True, "lm").verdict == "not"
    assert claim_monotone(KS, [3.17, 3.14, 3.17, 3.22, 3.28], True, "lm").verdict == "not"
    assert claim_monotone(KS, [3.2, 3.19, 3.18, 3.17, 3.16], True, "lm").verdict == "partly"  # too small a gain
    assert claim_monotone(KS, [0.85, 0.89, 0.91, 0.93, 0.93], False, "digits").verdict == "reproduced"
    assert claim_monotone(KS, [0.94, 0.93, 0.92, 0.91, 0.90], False, "digits").verdict == "not"


def test_learned_saturation_claim():
    smoe = [3.58, 3.38, 3.26, 3.19, 3.17]
    assert claim_learned_saturates(KS, smoe, [3.17, 3.14, 3.17, 3.22, 3.28], 2, True, "lm").verdict == "reproduced"
    # a learned router that keeps improving like SMoE-Dropout is not the paper's finding
    assert claim_learned_saturates(KS, smoe, [3.6, 3.4, 3.3, 3.2, 3.15], 2, True, "lm").verdict == "not"
    # an SMoE model that does not improve past k = 2 fails too
    flat = [3.2] * 5
    assert claim_learned_saturates(KS, flat, [3.17, 3.14, 3.17, 3.22, 3.28], 2, True, "lm").verdict == "not"
    acc = claim_learned_saturates(KS, [0.85, 0.89, 0.91, 0.93, 0.93], [0.93, 0.94, 0.94, 0.93, 0.93], 2, False, "d")
    assert acc.verdict == "reproduced"


def test_dense_and_time_claims():
    three = claim_vs_dense([3.15, 3.18, 3.18], [3.22, 3.24, 3.26])
    assert three.verdict == "reproduced" and three.ours == pytest.approx(3.17)
    assert three.details["difference_per_seed"] == pytest.approx([-0.07, -0.06, -0.08])
    assert three.details["dense_bpc_std"] == pytest.approx(0.01633, abs=1e-4)
    assert claim_vs_dense([3.17], [3.24]).verdict == "partly"  # one seed: noise may decide
    assert claim_vs_dense([3.27] * 3, [3.24] * 3).verdict == "partly"
    assert claim_vs_dense([3.40] * 3, [3.24] * 3).verdict == "not"
    with pytest.raises(ValueError):
        claim_vs_dense([3.1, 3.2], [3.2])
    assert claim_training_time(30.0, 40.0).verdict == "reproduced"
    assert claim_training_time(39.0, 40.0).verdict == "partly"
    assert claim_training_time(43.0, 36.0).verdict == "not"


def test_overall_verdict_follows_and_quick_is_small():
    claims = [claim_monotone(KS, [3.2] * 5, True, "lm"), claim_training_time(43.0, 36.0)]
    assert overall_verdict(claims) == "not"
    q, full = ReproConfig.make(True), ReproConfig.make(False)
    assert q.lm_steps < full.lm_steps and q.digits_seeds >= 3 and full.lm_seeds >= 3
    with pytest.raises(ValueError):
        claim_monotone(KS, [3.2] * 5, True, "lm").__class__(claim="x", paper=1, ours=1, verdict="maybe")
