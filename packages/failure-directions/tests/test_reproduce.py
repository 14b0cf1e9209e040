"""Every reproduce claim can fail: a wrong model, measured with the same code, gets "not".

The wrong model is the fitted SVM with its sign flipped (it ranks the easiest images first), the same
construction for every claim; the right one is measured beside it on the same small planted benchmark.
"""

import numpy as np
import pytest

from failure_directions.benchmark import DIGIT_NAMES
from failure_directions.captions import caption_candidates, caption_scores
from failure_directions.interventions import evaluate_groups, lowest_per_class
from failure_directions.metrics import balanced_accuracy, error_auc, subgroup_recovery
from failure_directions.reproduce import (
    CAPTION_ADJECTIVES,
    auc_claim,
    caption_claim,
    confidence_claim,
    precision_claim,
    selection_claim,
)
from failure_directions.svm import FailureSVM, SVMConfig
from failure_directions.train import ClassifierConfig, predict, train_classifier


@pytest.fixture(scope="module")
def fitted(small_bench):
    tr, va, te = (small_bench.splits[s] for s in ("train", "val", "test"))
    svm = FailureSVM(SVMConfig(degenerate="skip")).set_preprocess(tr.features)
    svm.fit(va.features, va.labels, va.preds, n_classes=10)
    return svm, svm.decision_function(te.features, te.labels)


def _affected(small_bench):
    return list(small_bench.bench.config.affected)


def test_auc_claim_flipped_svm_is_not(small_bench, fitted):
    _, s = fitted
    te = small_bench.splits["test"]
    right = auc_claim([error_auc(s, te.labels, te.preds)["pooled"]], [balanced_accuracy(s, te.labels, te.preds)])
    wrong = auc_claim([error_auc(-s, te.labels, te.preds)["pooled"]], [balanced_accuracy(-s, te.labels, te.preds)])
    assert right.verdict != "not"
    assert wrong.verdict == "not", wrong.ours


def test_precision_and_confidence_claims_flipped_svm_is_not(small_bench, fitted):
    _, s = fitted
    te = small_bench.splits["test"]
    minority = small_bench.bench["test"].minority
    conf = subgroup_recovery(te.confidence(), te.labels, minority, _affected(small_bench))
    claims = {}
    for name, scores in (("right", s), ("wrong", -s)):
        rec = subgroup_recovery(scores, te.labels, minority, _affected(small_bench))
        claims[name] = (
            precision_claim([rec["precision"]], [rec["base_rate"]], [rec["auc"]]),
            confidence_claim([rec["precision"]], [conf["precision"]]),
        )
    assert claims["right"][0].verdict == "reproduced", claims["right"][0].ours
    assert [c.verdict for c in claims["wrong"]] == ["not", "not"], [c.ours for c in claims["wrong"]]


def test_caption_claim_flipped_svm_is_not(small_bench, fitted):
    """Three small benchmarks (seeds 0-2), 9 (seed, class) pairs: the flipped SVM's hardest caption is
    the right one's easiest."""
    from failure_directions.encoders import ToyEncoderConfig
    from failure_directions.pipeline import build_benchmark

    runs = [(small_bench, fitted[0])]
    for seed in (1, 2):
        br = build_benchmark(seed=seed, classifier=ClassifierConfig(steps=120),
                             encoder=ToyEncoderConfig(steps=120), encoder_renders=2)  # as conftest's small_bench  # fmt: skip
        svm = FailureSVM(SVMConfig(degenerate="skip")).set_preprocess(br.splits["train"].features)
        va = br.splits["val"]
        runs.append((br, svm.fit(va.features, va.labels, va.preds, n_classes=10)))
    hardest = {"right": [], "wrong": []}
    for br, svm in runs:
        for c in _affected(br):
            cands = caption_candidates([DIGIT_NAMES[c]], CAPTION_ADJECTIVES)
            sc = caption_scores(svm, c, br.encoder.encode_text(cands), br.encoder.encode_text([cands[0]])[0])
            hardest["right"].append(cands[int(np.argmin(sc))])
            hardest["wrong"].append(cands[int(np.argmin(-sc))])
    assert caption_claim(hardest["wrong"]).verdict == "not", hardest["wrong"]
    assert caption_claim(hardest["right"]).verdict != "not", hardest["right"]


def test_selection_claim_flipped_svm_is_not(small_bench):
    """Retrain with the K pool images per class the flipped SVM ranks hardest (the easiest ones) vs K random."""
    tr, va, te, pool = (small_bench.splits[s] for s in ("train", "val", "test", "pool"))
    svm = FailureSVM(SVMConfig(degenerate="skip")).set_preprocess(tr.features)
    svm.fit(va.features, va.labels, va.preds, n_classes=10)
    s_pool = svm.decision_function(pool.features, pool.labels)
    hard = np.array([2 * c + 1 for c in _affected(small_bench)])
    clf = ClassifierConfig(steps=120)
    k = 20

    def retrain(idx):
        x = np.concatenate([tr.extra["inputs"], pool.extra["inputs"][idx]])
        y = np.concatenate([tr.labels, pool.labels[idx]])
        model, _ = train_classifier(x, y, clf, seed=0, n_classes=10)
        pred, _ = predict(model, te.extra["inputs"])
        return evaluate_groups(pred, te.labels, te.extra["groups"], hard)["hard_acc"]

    rng = np.random.default_rng(0)
    acc = {
        "right": retrain(lowest_per_class(s_pool, pool.labels, k, rng)),
        "wrong": retrain(lowest_per_class(-s_pool, pool.labels, k, rng)),
        "random": retrain(lowest_per_class(np.zeros(len(s_pool)), pool.labels, k, rng)),
    }
    base = (te.preds == te.labels)[np.isin(te.extra["groups"], hard)].mean()
    wrong = selection_claim([acc["wrong"]], [acc["random"]], [np.nan], [base], k)
    assert wrong.verdict == "not", wrong.ours
    assert selection_claim([acc["right"]], [acc["random"]], [np.nan], [base], k).verdict != "not", acc


def test_claim_bars_by_hand():
    """The bars themselves, at their edges (fixed constants in reproduce.py)."""
    assert auc_claim([0.70, 0.72], [0.6, 0.6]).verdict == "reproduced"
    assert auc_claim([0.65, 0.9], [0.6, 0.6]).verdict == "reproduced"
    assert auc_claim([0.45, 0.99], [0.6, 0.6]).verdict == "partly"  # one seed at chance
    assert auc_claim([0.52, 0.55], [0.5, 0.5]).verdict == "not"  # barely above chance is not a predictor
    assert precision_claim([0.6], [0.3], [0.9]).verdict == "reproduced"
    assert precision_claim([0.55], [0.3], [0.9]).verdict == "partly"  # under 2x the base rate
    two = ["a photo of a inverted two", "a photo of a faint two", "a photo of a two", "a photo of a inverted two"]
    assert caption_claim(two).verdict == "partly"  # 1/2
    assert caption_claim(two[:3]).verdict == "not"  # 1/3: near chance (1/4)
    assert selection_claim([0.8, 0.9], [0.7, 0.89], [1, 1], [0.5, 0.5], 20).verdict == "reproduced"
    assert selection_claim([0.8, 0.8], [0.7, 0.81], [1, 1], [0.5, 0.5], 20).verdict == "partly"
