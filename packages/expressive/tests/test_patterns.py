"""Pattern analysis: rule mining by hand, geometric rates on parallelograms built to (not) capture a pattern."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from expressive.model import ExpressivE, build_model
from expressive.patterns import Geometry, analyse_patterns, geometric_rate, mine_rules, pair_inside, sample_region


def _set(model: ExpressivE, r: int, **p: float) -> None:
    """Give relation r the same preprocessed parameters in every dimension (tanh_map on, min_denom 0)."""
    d = model.dim
    vals = []
    for name in ("d_h", "d_t", "c_h", "c_t", "s_h", "s_t"):
        v = torch.full((d,), float(p[name]))
        if name in ("d_h", "d_t", "c_h", "c_t"):
            v = torch.atanh(v)
        if name == "s_t":
            v = v - torch.where(v >= 0, 1.0, -1.0) * 1e-4
        vals.append(v)
    with torch.no_grad():
        model.relation.weight[r] = torch.cat(vals)


def test_mine_rules_by_hand():
    train = np.array([[0, 0, 1], [1, 0, 0], [2, 0, 3], [0, 1, 1], [2, 1, 3], [1, 2, 0], [4, 2, 5], [0, 2, 0]])
    rules = mine_rules(train, 3)
    sym = {tuple(r["relations"]): r["confidence"] for r in rules["symmetry"]}
    assert sym[(0,)] == pytest.approx(2 / 3) and sym[(1,)] == 0
    hier = {tuple(r["relations"]): r["confidence"] for r in rules["hierarchy"]}
    assert hier[(1, 0)] == 1.0 and hier[(0, 1)] == pytest.approx(2 / 3)
    inv = {tuple(r["relations"]): r["confidence"] for r in rules["inversion"]}
    assert inv[(1, 2)] == pytest.approx(1 / 2)  # (0,1) in r1 -> (1,0) in r2; (2,3) -> (3,2) not
    comp = {tuple(r["relations"]): (r["support"], r["confidence"]) for r in rules["composition"]}
    assert comp[(0, 0, 2)] == (2, pytest.approx(1 / 2))  # r0 o r0 = {(0, 0), (1, 1)}; r2 holds (0, 0)


def test_symmetry_and_inversion_rates():
    model = ExpressivE(4, 3, 6)
    _set(model, 0, d_h=0.3, d_t=0.3, c_h=0.1, c_t=0.1, s_h=0.5, s_t=0.5)  # mirror-symmetric
    _set(model, 1, d_h=0.2, d_t=0.4, c_h=0.3, c_t=-0.2, s_h=0.2, s_t=0.7)
    _set(model, 2, d_h=0.4, d_t=0.2, c_h=-0.2, c_t=0.3, s_h=0.7, s_t=0.2)  # the mirror image of relation 1
    geo = Geometry.of(model)
    assert geometric_rate(geo, "symmetry", [0])["rate"] == pytest.approx(1.0)
    assert geometric_rate(geo, "symmetry", [1])["rate"] < 0.5
    assert geometric_rate(geo, "inversion", [1, 2])["rate"] == pytest.approx(1.0)
    assert geometric_rate(geo, "inversion", [2, 1])["rate"] == pytest.approx(1.0)
    assert geometric_rate(geo, "hierarchy", [1, 2])["mean_dim"] < 0.9


def test_composition_of_translations():
    """Slopes 1 make bands t - h ~ c_t: r1 (shift 0.2) then r2 (shift 0.3) lands in a wide shift-0.5 band,
    and not in a narrow one."""
    model = ExpressivE(4, 4, 3)
    _set(model, 0, d_h=0.05, d_t=0.05, c_h=-0.2, c_t=0.2, s_h=1.0, s_t=1.0)
    _set(model, 1, d_h=0.05, d_t=0.05, c_h=-0.3, c_t=0.3, s_h=1.0, s_t=1.0)
    _set(model, 2, d_h=0.12, d_t=0.12, c_h=-0.5, c_t=0.5, s_h=1.0, s_t=1.0)
    _set(model, 3, d_h=0.02, d_t=0.02, c_h=-0.5, c_t=0.5, s_h=1.0, s_t=1.0)
    geo = Geometry.of(model)
    wide = geometric_rate(geo, "composition", [0, 1, 2], samples=20000)
    narrow = geometric_rate(geo, "composition", [0, 1, 3], samples=20000)
    assert wide["rate"] == pytest.approx(1.0)
    assert narrow["mean_dim"] < 0.6
    wrong = geometric_rate(geo, "composition", [0, 0, 2], samples=20000)  # shift 0.4, not 0.5
    assert wrong["mean_dim"] < 1.0


def test_intersection_rate():
    model = ExpressivE(4, 3, 2)
    _set(model, 0, d_h=0.3, d_t=0.3, c_h=0.0, c_t=0.0, s_h=0.0, s_t=0.0)
    _set(model, 1, d_h=0.3, d_t=0.3, c_h=0.2, c_t=0.2, s_h=0.0, s_t=0.0)
    _set(model, 2, d_h=0.2, d_t=0.2, c_h=0.1, c_t=0.1, s_h=0.0, s_t=0.0)  # exactly the overlap of 0 and 1
    geo = Geometry.of(model)
    assert geometric_rate(geo, "intersection", [0, 1, 2])["rate"] == pytest.approx(1.0)
    assert geometric_rate(geo, "hierarchy", [0, 2])["rate"] < 0.5


def test_sample_region_is_inside_and_fills():
    model = ExpressivE(2, 2, 4)
    _set(model, 0, d_h=0.01, d_t=0.3, c_h=0.0, c_t=0.0, s_h=-2.0, s_t=0.3)  # thin band
    _set(model, 1, d_h=0.9, d_t=0.9, c_h=0.0, c_t=0.0, s_h=0.0, s_t=0.0)  # covers the square
    geo = Geometry.of(model)
    for r in (0, 1):
        x, y = sample_region(geo, r, 500)
        assert not np.isnan(x).any()
        assert geo.inside(r, x, y).all() and (np.abs(x) <= 1).all() and (np.abs(y) <= 1).all()


def test_pair_inside_and_the_report(tmp_path):
    model = ExpressivE(3, 2, 2)
    _set(model, 0, d_h=0.5, d_t=0.5, c_h=0.0, c_t=0.0, s_h=0.0, s_t=0.0)
    _set(model, 1, d_h=0.8, d_t=0.8, c_h=0.0, c_t=0.0, s_h=0.0, s_t=0.0)
    with torch.no_grad():
        model.entity.weight[:] = torch.atanh(torch.tensor([[0.1, 0.1], [0.2, -0.3], [0.9, 0.0]]))
    assert pair_inside(model, 0, np.array([0, 0]), np.array([1, 2]))["all_coordinates"] == 0.5
    train = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 2], [1, 1, 2]] * 3)
    report = analyse_patterns(model, train, ["sub", "super"], min_support=1, min_confidence=1.0, samples=512)
    hier = {tuple(r["names"]): r["rate"] for r in report["rules"]["hierarchy"]}
    assert hier[("sub", "super")] == pytest.approx(1.0)
    assert hier[("super", "sub")] < 1.0


def test_only_base_expressive_is_analysed():
    with pytest.raises(ValueError, match="ExpressivE"):
        Geometry.of(build_model("transe", 3, 1, 2))
    with pytest.raises(ValueError, match="Functional"):
        Geometry.of(build_model("expressive", 3, 1, 2, variant="functional"))
