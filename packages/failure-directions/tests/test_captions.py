"""Caption scores are the SVM decision values of the preprocessed text differences (official path)."""

import numpy as np
import pytest

from failure_directions.captions import attribute_scores, caption_candidates, caption_scores, rank_captions
from failure_directions.svm import FailureSVM, SVMConfig
from orals23_shared.cli import UsageError


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    z = rng.normal(0.5, 2.0, size=(400, 6))
    y = np.repeat([0, 1], 200)
    pred = np.where(z[:, 0] > 1.0, 1 - y, y)
    return FailureSVM(SVMConfig(c_grid=(0.1, 1.0))).set_preprocess(z).fit(z, y, pred), z, y


def test_caption_score_is_the_decision_value_of_the_preprocessed_difference(fitted):
    svm, _, _ = fitted
    rng = np.random.default_rng(1)
    text, ref = rng.normal(size=(5, 6)), rng.normal(size=6)
    s = caption_scores(svm, 1, text, ref)
    d = text - ref
    w = (d - svm.pre.mean) / svm.pre.std
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(s, w @ svm.classes[1].coef + svm.classes[1].intercept, rtol=1e-12)
    np.testing.assert_allclose(s, svm.decision_function(d, np.ones(5, int)), rtol=1e-12)
    diff = caption_scores(svm, 1, text, ref, mode="difference")
    v = d / svm.pre.std
    np.testing.assert_allclose(diff, (v / np.linalg.norm(v, axis=1, keepdims=True)) @ svm.classes[1].coef, rtol=1e-12)


def test_candidates_follow_the_official_template():
    caps = caption_candidates(["cat"], [None, "white"], [None, "on the grass"])
    assert caps == ["a photo of a cat", "a photo of a cat on the grass", "a photo of a white cat",
                    "a photo of a white cat on the grass"]  # fmt: skip
    r = rank_captions(caps, np.array([0.5, -1.0, 2.0, -1.0]), top=2)
    assert [x["caption"] for x in r["hardest"]] == [caps[1], caps[3]]
    assert [x["caption"] for x in r["easiest"]] == [caps[2], caps[0]]


def test_attribute_scores_use_the_same_path_on_mean_differences(fitted):
    svm, z, y = fitted
    attr = {"big_x0": z[:, 0] > 1.0, "random": np.random.default_rng(2).random(len(y)) < 0.5}
    rows = attribute_scores(svm, 0, z, y, attr)
    assert rows[0]["attribute"] == "big_x0"  # the feature the errors depend on is the hardest attribute
    m = y == 0
    ref = z[m].mean(0)
    expect = caption_scores(svm, 0, z[m][attr["big_x0"][m]].mean(0), ref)[0]
    assert rows[0]["score"] == pytest.approx(expect)
    assert rows[0]["auc"] > 0.9
    with pytest.raises(UsageError, match="has no SVM"):
        caption_scores(svm, 5, z[:1], z[0])
