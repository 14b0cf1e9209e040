"""Interventions: exact selection, group metrics by hand, the oracle takes the hard group, resume."""

import json

import numpy as np

from failure_directions.interventions import InterventionConfig, evaluate_groups, lowest_per_class, run_interventions
from failure_directions.train import ClassifierConfig


def test_lowest_per_class_by_hand():
    s = np.array([3.0, 1.0, np.nan, 2.0, 0.0, -1.0, 5.0])
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    idx = lowest_per_class(s, y, 2, np.random.default_rng(0))
    assert idx.tolist() == [1, 3, 4, 5]
    assert 2 in lowest_per_class(s, y, 4, np.random.default_rng(0))  # NaN only when nothing else is left


def test_evaluate_groups_by_hand():
    y = np.array([0, 0, 0, 1, 1])
    g = np.array([0, 0, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 1])
    m = evaluate_groups(pred, y, g, np.array([1]))
    assert m["acc"] == 0.6 and m["group_acc"] == {"0": 0.5, "1": 0.0, "2": 1.0}
    assert m["worst_group_acc"] == 0.0 and m["worst_group"] == 1 and m["hard_acc"] == 0.0


def test_run_interventions_and_resume(small_bench, tmp_path):
    cfg = InterventionConfig(k=5, selections=("random", "svm", "oracle"), upweights=("svm",), upweight_k=3)
    clf = ClassifierConfig(steps=40, checkpoint_every=20)
    hard = np.array([5, 11, 17])
    res = run_interventions(small_bench.splits, cfg, clf, seed=0, out=tmp_path, hard_groups=hard)
    r = res["results"]
    assert set(r) == {"base", "select-random", "select-svm", "select-oracle", "upweight-svm"}
    pool = small_bench.splits["pool"]
    # the oracle takes only hard-group images in the affected classes: 3 of 10 classes -> 15 of 50
    assert r["select-oracle"]["hard_fraction"] == 15 / 50 and r["select-oracle"]["n_changed"] == 50
    assert r["select-svm"]["hard_fraction"] > r["select-random"]["hard_fraction"]
    assert np.isin(pool.extra["groups"], hard).any()
    saved = json.loads((tmp_path / "seed-0" / "select-svm" / "result.json").read_text())
    assert saved["hard_acc"] == r["select-svm"]["hard_acc"]
    # resume: finished results are reused (a deleted one is recomputed to the same numbers)
    (tmp_path / "seed-0" / "select-random" / "result.json").unlink()
    again = run_interventions(small_bench.splits, cfg, clf, seed=0, out=tmp_path, hard_groups=hard, resume=True)
    for k in r:
        assert again["results"][k] == r[k]
