"""The per-class SVMs against exact references: preprocessing by hand, decision values from the
coefficients, C chosen as a manual 2-fold CV loop would, a known failure direction recovered."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from failure_directions.metrics import rank_within_class, subgroup_recovery
from failure_directions.svm import DEFAULT_C_GRID, DegenerateClassError, FailureSVM, Preprocess, SVMConfig
from orals23_shared.cli import UsageError


def _linear_errors(n_per_class=400, d=12, n_classes=3, seed=0, noise=0.0):
    """Features N(0, I); the classifier errs exactly where u_c . z > t (plus label noise)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_per_class * n_classes, d))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    u = rng.normal(size=(n_classes, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    err = np.einsum("nd,nd->n", z, u[labels]) > 0.3
    flip = rng.random(len(err)) < noise
    err = err ^ flip
    preds = np.where(err, (labels + 1) % n_classes, labels)
    return z, labels, preds, u


def test_preprocess_equals_hand_computation():
    rng = np.random.default_rng(1)
    train = rng.normal(3.0, 2.0, size=(50, 6))
    train[:, 4] = 7.0  # a constant dimension: divided by 1, not 0
    x = rng.normal(size=(9, 6))
    pre = Preprocess.from_train(train)
    mean = train.mean(0)
    std = np.sqrt(((train - mean) ** 2).sum(0) / (len(train) - 1))  # ddof 1, as torch.std
    std[4] = 1.0
    w = (x - mean) / std
    expected = w / np.sqrt((w**2).sum(1, keepdims=True))
    np.testing.assert_allclose(pre(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(pre(x), axis=1), 1.0, rtol=1e-12)
    assert np.allclose(Preprocess.from_train(train, whiten=False)(x), x / np.linalg.norm(x, axis=1, keepdims=True))
    assert np.allclose(Preprocess.from_train(train, normalize=False)(x), w)


def test_decision_values_are_w_dot_z_plus_b():
    z, labels, preds, _ = _linear_errors(n_per_class=150)
    train = np.random.default_rng(5).normal(0.2, 1.3, size=(300, z.shape[1]))
    svm = FailureSVM().set_preprocess(train).fit(z, labels, preds)
    zt = svm.preprocess(z)
    s = svm.decision_function(z, labels)
    for c in range(3):
        f = svm.classes[c]
        m = labels == c
        np.testing.assert_allclose(s[m], zt[m] @ f.coef + f.intercept, rtol=1e-12, atol=1e-12)
    # the failure direction points toward the predicted errors: -w / |w|
    d = svm.directions()
    np.testing.assert_allclose(d[0], -svm.classes[0].coef / np.linalg.norm(svm.classes[0].coef))
    assert ((s < 0) == (svm.predict_errors(z, labels) == 1)).all()


def test_c_selection_equals_a_manual_two_fold_cv_loop():
    z, labels, preds, _ = _linear_errors(n_per_class=160, noise=0.15, seed=3)
    cfg = SVMConfig(seed=4)
    svm = FailureSVM(cfg).set_preprocess(z).fit(z, labels, preds)
    zt = svm.preprocess(z)
    for c in range(3):
        m = labels == c
        x, y = zt[m], (preds[m] == labels[m]).astype(int)
        best_c, best_score, scores = None, -np.inf, []
        for C in np.logspace(-6, 0, 7):
            fold = []
            for tr, te in StratifiedKFold(2).split(x, y):
                clf = LinearSVC(loss="hinge", dual=True, C=C, class_weight="balanced", max_iter=cfg.max_iter,
                                tol=cfg.tol, random_state=cfg.seed).fit(x[tr], y[tr])  # fmt: skip
                fold.append(balanced_accuracy_score(y[te], clf.predict(x[te])))
            scores.append(np.mean(fold))
            if scores[-1] > best_score:  # the official strict ">": the first best C wins ties
                best_c, best_score = C, scores[-1]
        f = svm.classes[c]
        assert f.C == pytest.approx(best_c) and f.cv_score == pytest.approx(best_score)
        np.testing.assert_allclose(f.cv_scores, scores)
        assert f.cv_score == max(f.cv_scores)
        refit = LinearSVC(loss="hinge", dual=True, C=best_c, class_weight="balanced", max_iter=cfg.max_iter,
                          tol=cfg.tol, random_state=cfg.seed).fit(x, y)  # fmt: skip
        np.testing.assert_allclose(f.coef, refit.coef_[0], rtol=1e-10, atol=1e-12)
    assert tuple(DEFAULT_C_GRID) == tuple(np.logspace(-6, 0, 7))


def test_recovers_a_known_failure_direction():
    z, labels, preds, u = _linear_errors(n_per_class=1500, d=10)
    svm = FailureSVM(SVMConfig(c_grid=(0.01, 0.1, 1.0))).set_preprocess(z).fit(z, labels, preds)
    for c in range(3):
        w = svm.classes[c].coef
        cos = float(-w @ u[c] / np.linalg.norm(w))  # errors lie along -w
        assert cos > 0.95, (c, cos)


def test_a_shuffled_error_labelling_recovers_no_direction():
    z, labels, preds, u = _linear_errors(n_per_class=1500, d=10)
    rng = np.random.default_rng(0)
    shuffled = preds.copy()
    for c in range(3):
        m = np.flatnonzero(labels == c)
        shuffled[m] = preds[rng.permutation(m)]
    svm = FailureSVM(SVMConfig(c_grid=(0.01, 0.1, 1.0))).set_preprocess(z).fit(z, labels, shuffled)
    coss = [abs(float(svm.classes[c].coef @ u[c] / np.linalg.norm(svm.classes[c].coef))) for c in range(3)]
    assert max(coss) < 0.5


def test_planted_separable_subgroup_has_auc_one():
    rng = np.random.default_rng(2)
    n, d = 600, 8
    z = rng.normal(size=(n, d))
    labels = np.repeat([0, 1], n // 2)
    member = (labels == 0) & (rng.random(n) < 0.3)
    # separable by the sign of the whitened first coordinate, which L2 normalisation keeps
    z[:, 0] = np.where(member, 2.0, -2.0) + rng.uniform(-0.5, 0.5, n)  # a separable subgroup in class 0 ...
    preds = labels.copy()
    preds[member] = 1  # ... on which the classifier always errs
    preds[(labels == 1) & (rng.random(n) < 0.2)] = 0
    svm = FailureSVM().set_preprocess(z).fit(z, labels, preds)
    s = svm.decision_function(z, labels)
    rec = subgroup_recovery(s, labels, member, [0])
    assert rec["auc"] == 1.0 and rec["precision"] == 1.0


def test_rankings_are_deterministic_and_ties_break_by_index():
    z, labels, preds, _ = _linear_errors(n_per_class=200, noise=0.1)
    z[5] = z[7]  # two identical rows of class 0: their order must follow the index
    a = FailureSVM(SVMConfig(seed=3)).set_preprocess(z).fit(z, labels, preds)
    b = FailureSVM(SVMConfig(seed=3)).set_preprocess(z).fit(z, labels, preds)
    sa, sb = a.decision_function(z, labels), b.decision_function(z, labels)
    np.testing.assert_array_equal(sa, sb)
    ra, rb = rank_within_class(sa, labels), rank_within_class(sb, labels)
    for c in ra:
        np.testing.assert_array_equal(ra[c], rb[c])
    order = list(ra[0])
    assert order.index(5) + 1 == order.index(7)


def test_save_and_load_round_trip(tmp_path):
    z, labels, preds, _ = _linear_errors(n_per_class=120, noise=0.1)
    labels[labels == 2] = 1  # class 2 absent from val
    svm = FailureSVM().set_preprocess(z).fit(z, labels, preds % 2, n_classes=3)
    path = svm.save(tmp_path / "svm.npz")
    back = FailureSVM.load(path)
    np.testing.assert_array_equal(back.decision_function(z, labels), svm.decision_function(z, labels))
    assert back.fitted_classes() == svm.fitted_classes() == [0, 1]
    assert np.isnan(back.decision_function(z[:2], np.array([2, 2]))).all()
    with pytest.raises(UsageError, match="not a saved FailureSVM"):
        (tmp_path / "bad.npz").write_bytes(b"nope")
        FailureSVM.load(tmp_path / "bad.npz")


def test_checkpointed_classes_are_not_refitted(tmp_path, monkeypatch):
    import failure_directions.svm as mod

    z, labels, preds, _ = _linear_errors(n_per_class=100, noise=0.1)
    first = FailureSVM().set_preprocess(z).fit(z, labels, preds, checkpoint_dir=tmp_path)
    calls = []
    real = mod.fit_class_svm
    monkeypatch.setattr(mod, "fit_class_svm", lambda *a, **k: calls.append(1) or real(*a, **k))
    (tmp_path / "class-0002.npz").unlink()  # as if killed before class 2 finished
    again = FailureSVM().set_preprocess(z).fit(z, labels, preds, checkpoint_dir=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.coef, again.coef)


def test_bad_input_is_a_clear_error():
    z, labels, preds, _ = _linear_errors(n_per_class=50, noise=0.2)
    svm = FailureSVM().set_preprocess(z)
    with pytest.raises(UsageError, match="val labels has 149 entries but the features have 150 rows"):
        svm.fit(z, labels[:-1], preds)
    bad = z.copy()
    bad[17, 3] = np.nan
    with pytest.raises(UsageError, match="NaN in row 17"):
        svm.fit(bad, labels, preds)
    with pytest.raises(UsageError, match="12 dimensions but the train features had 12|dimensions"):
        svm.fit(z[:, :5], labels, preds)
    only_correct = preds.copy()
    only_correct[labels == 1] = 1
    with pytest.raises(
        DegenerateClassError, match="class 1: 50 validation points, 0 errors \\(only correct predictions\\)"
    ):
        svm.fit(z, labels, only_correct)
    skipped = FailureSVM(SVMConfig(degenerate="skip")).set_preprocess(z).fit(z, labels, only_correct)
    assert skipped.fitted_classes() == [0, 2] and not skipped.classes[1].fitted
    assert np.isnan(skipped.decision_function(z, labels)[labels == 1]).all()
    with pytest.raises(UsageError, match="2-D"):
        Preprocess.from_train(np.zeros(5))
