"""Grokking metrics are exact on hand-made histories, and every reproduce claim says "not" for a wrong model."""

import pytest

from omnigrok.grokking import eval_schedule, first_step_reaching, grokking_metrics, plateau_step
from omnigrok.landscape import lu_shape
from omnigrok.reproduce import digits_claims, lu_claims, modadd_claims


def _hist(steps, train, test, norm):
    return [
        {"step": s, "train_acc": a, "test_acc": b, "norm": n, "train_loss": 0.0, "test_loss": 0.0}
        for s, a, b, n in zip(steps, train, test, norm)
    ]


STEPS = [0, 10, 100, 1000, 5000]
GROK = _hist(STEPS, [0.1, 0.5, 1.0, 1.0, 1.0], [0.1, 0.2, 0.2, 0.5, 0.95], [80, 80, 78, 50, 30])
PLAIN = _hist(STEPS, [0.1, 0.5, 1.0, 1.0, 1.0], [0.1, 0.5, 0.94, 0.95, 0.95], [10, 10, 10, 10, 10])
STUCK = _hist(STEPS, [0.1, 0.5, 1.0, 1.0, 1.0], [0.1, 0.2, 0.2, 0.21, 0.22], [80, 80, 80, 80, 80])


def test_grokking_metrics_exact():
    m = grokking_metrics(GROK)
    assert (m["t_train"], m["t_test"], m["delay"], m["gap_steps"]) == (100, 5000, 50.0, 4900)
    assert m["norm_at_t_train"] == 78 and m["norm_at_t_test"] == 30
    assert m["test_acc_at_t_train"] == 0.2 and m["test_gain_after_fit"] == pytest.approx(0.75)
    p = grokking_metrics(PLAIN)
    assert (p["t_train"], p["t_test"], p["delay"]) == (100, 100, 1.0)
    never = grokking_metrics(_hist(STEPS, [0.1] * 5, [0.1] * 5, [1] * 5))
    assert never["t_train"] is None and never["delay"] is None


def test_step_helpers():
    assert first_step_reaching([1, 2, 3], [0.5, 0.99, 1.0], 0.99) == 2
    assert first_step_reaching([1, 2], [0.1, 0.2], 0.99) is None
    assert plateau_step([1, 2, 3], [0.5, 0.89, 0.9], tol=0.02) == 2
    s = eval_schedule(20000, 150)
    assert s[0] == 0 and s[-1] == 20000 and s == sorted(set(s)) and 100 <= len(s) <= 152
    assert eval_schedule(20, 200) == list(range(21))


def _verdicts(claims):
    return [c.verdict for c in claims]


def test_digits_claims_reproduced_for_grokking_and_not_for_a_wrong_model():
    g, p, s = grokking_metrics(GROK), grokking_metrics(PLAIN), grokking_metrics(STUCK)
    assert _verdicts(digits_claims([g] * 3, [p] * 3, [s])) == ["reproduced"] * 4
    # a model that never groks (weight decay does nothing): delay and recovery claims fail
    wrong = digits_claims([s] * 3, [p] * 3, [s])
    assert wrong[0].verdict == "not" and wrong[1].verdict == "not"
    # a no-weight-decay run that recovers anyway, and an alpha=1 run that is delayed, are "not"
    assert digits_claims([g] * 3, [g] * 3, [g])[2].verdict == "not"
    assert digits_claims([g] * 3, [p] * 3, [g])[3].verdict == "not"


def _rows(train, test, alphas=(0.25, 0.5, 1, 2, 4, 8)):
    return [
        {"alpha": a, "train_loss": tr, "test_loss": te, "train_acc": 0, "test_acc": 0}
        for a, tr, te in zip(alphas, train, test)
    ]


def test_lu_claims():
    good = _rows([0.5, 0.05, 1e-3, 1e-4, 1e-4, 1e-4], [0.6, 0.2, 0.1, 0.15, 0.3, 0.5])
    assert _verdicts(lu_claims(good, lu_shape(good))) == ["reproduced", "reproduced"]
    flat = _rows([1e-3] * 6, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # no wall, monotone test loss
    assert _verdicts(lu_claims(flat, lu_shape(flat))) == ["not", "not"]


def test_modadd_claims():
    g, p = grokking_metrics(GROK), grokking_metrics(PLAIN)
    assert _verdicts(modadd_claims([g], [p])) == ["reproduced"]
    assert _verdicts(modadd_claims([p], [p])) == ["not"]  # no shrink
    # a baseline that never generalises in the budget gives no valid delay: "not", never reproduced
    s = grokking_metrics(STUCK)
    assert _verdicts(modadd_claims([s], [p])) == ["not"]
