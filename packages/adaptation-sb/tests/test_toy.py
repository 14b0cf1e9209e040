"""The feature-distortion toy against closed forms: LP = least squares, FT leaves S-perp exactly unchanged."""

from __future__ import annotations

import numpy as np

from adaptation_sb.reproduce import toy_claims
from adaptation_sb.toy import ToyConfig, _gd, lp_closed_form, make_problem, run_protocol, run_toy


def test_lp_head_is_the_least_squares_solution():
    cfg = ToyConfig(seed=3, steps=20000)
    p = make_problem(cfg)
    y = p.target(p.x_train)
    v_gd, b = _gd(p.x_train, y, np.zeros(cfg.k), p.b0, cfg.lr, cfg.steps, train_b=False)
    v_ls = lp_closed_form(p.x_train @ p.b0.T, y)
    np.testing.assert_allclose(v_gd, v_ls, rtol=1e-8, atol=1e-10)
    assert np.array_equal(b, p.b0)  # LP never touches the features


def test_ft_changes_features_only_inside_the_id_span():
    cfg = ToyConfig(seed=1)
    p = make_problem(cfg)
    for proto in ("ft", "lp+ft"):
        r = run_protocol(p, proto, cfg)
        assert r["feature_change_in_s"] > 1e-3
        assert r["feature_change_off_s"] <= 1e-12 * r["feature_change_in_s"]
        assert r["id_mse"] < 1e-6  # both fit the ID data


def test_ft_gradient_on_b_lies_in_the_row_span_of_the_inputs():
    """Finite differences of the loss in B along an S-perp direction vanish (the analytic gradient is in S)."""
    cfg = ToyConfig(seed=2)
    p = make_problem(cfg)
    y = p.target(p.x_train)
    rng = np.random.default_rng(0)
    v = rng.normal(size=cfg.k)
    perp = (np.eye(cfg.d) - p.basis @ p.basis.T) @ rng.normal(size=cfg.d)
    direction = np.outer(rng.normal(size=cfg.k), perp)

    def loss(b):
        return 0.5 * np.mean((p.x_train @ b.T @ v - y) ** 2)

    h = 1e-5
    fd = (loss(p.b0 + h * direction) - loss(p.b0 - h * direction)) / (2 * h)
    assert abs(fd) < 1e-9


def test_toy_claims_reproduced_and_a_wrong_model_gets_not():
    runs = [run_toy(ToyConfig(seed=s, steps=1500)) for s in range(2)]
    assert [c.verdict for c in toy_claims(runs)] == ["reproduced", "reproduced"]
    # wrong model 1: "LP+FT" that starts from a random head is FT: no OOD gain, same distortion
    wrong = [{**r, "lp+ft": r["ft"]} for r in runs]
    assert toy_claims(wrong)[0].verdict == "not"
    # wrong model 2: an update that also moves B off the ID span (e.g. weight noise on every direction)
    leak = [{**r, "ft": {**r["ft"], "feature_change_off_s": 0.1}} for r in runs]
    assert toy_claims(leak)[1].verdict == "not"
