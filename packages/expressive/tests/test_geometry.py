"""ExpressivE's score against the paper's definition: continuity, the centre, hierarchy, symmetry, all-entity scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from expressive.model import MODELS, ExpressivE, build_model, expressive_distance, preprocess_relation
from expressive.patterns import Geometry, sample_region


def _relation(d: int, **parts: torch.Tensor) -> torch.Tensor:
    """A raw (6d) relation row whose *preprocessed* parameters are ``parts`` (tanh_map on, min_denom 0)."""
    out = []
    for name in ("d_h", "d_t", "c_h", "c_t", "s_h", "s_t"):
        v = parts[name]
        if name in ("d_h", "d_t", "c_h", "c_t"):
            v = torch.atanh(v)
        if name == "s_t":
            v = v - torch.where(v >= 0, 1.0, -1.0) * 1e-4
        out.append(v)
    return torch.cat(out)


@pytest.mark.parametrize("width", [0.0, 0.1, 0.5, 0.9, 3.0])
def test_branches_meet_at_the_boundary(width):
    """Per coordinate, tau/w and tau*w - k both equal d/(2d+1) at tau = d."""
    d = torch.tensor([width], dtype=torch.float64)
    w = 2 * d + 1
    inside, outside = d / w, d * w - 0.5 * (w - 1) * (w - 1 / w)
    assert torch.allclose(inside, d / (2 * d + 1)) and torch.allclose(outside, d / (2 * d + 1))
    eps = 1e-7
    below = expressive_distance(d - eps, d)
    above = expressive_distance(d + eps, d)
    assert abs(float(above - below)) < 1e-5
    assert float(expressive_distance(d, d)) == pytest.approx(width / (2 * width + 1), abs=1e-12)


def test_distance_is_the_case_split():
    """The branch-free max form equals the paper's case split on random inputs."""
    g = torch.Generator().manual_seed(1)
    tau = torch.rand(1000, 8, generator=g, dtype=torch.float64) * 2
    width = torch.rand(1000, 8, generator=g, dtype=torch.float64)
    w = 2 * width + 1
    case = torch.where(tau <= width, tau / w, tau * w - 0.5 * (w - 1) * (w - 1 / w))
    assert torch.allclose(expressive_distance(tau, width), case, atol=1e-12)


def test_per_coordinate_score_is_continuous_per_triple_switch_is_not():
    """Brief 3(b): d = (0.5, 0.5), tau = (0.5 +- 1e-6, 0.1): official -0.255 -> -0.604, paper stays -0.255."""
    width = torch.tensor([0.5, 0.5], dtype=torch.float64)
    scores = {}
    for switch in ("coordinate", "triple"):
        for sign in (-1, 1):
            tau = torch.tensor([0.5 + sign * 1e-6, 0.1], dtype=torch.float64)
            scores[switch, sign] = -float(torch.linalg.vector_norm(expressive_distance(tau, width, switch)))
    assert scores["coordinate", -1] == pytest.approx(-0.2550, abs=1e-3)
    assert scores["coordinate", 1] == pytest.approx(-0.2550, abs=1e-3)
    assert scores["triple", -1] == pytest.approx(-0.2550, abs=1e-3)
    assert scores["triple", 1] == pytest.approx(-0.6042, abs=1e-3)


def test_score_zero_exactly_at_the_centre():
    """score = 0 iff tau = 0: put (h, t) at the centre of the parallelogram, then move it."""
    d = 4
    g = torch.Generator().manual_seed(2)
    model = ExpressivE(3, 1, d)
    parts = {
        "d_h": torch.rand(d, generator=g) * 0.5,
        "d_t": torch.rand(d, generator=g) * 0.5,
        "c_h": torch.rand(d, generator=g) * 0.4 - 0.2,
        "c_t": torch.rand(d, generator=g) * 0.4 - 0.2,
        "s_h": torch.rand(d, generator=g) * 0.5,
        "s_t": torch.rand(d, generator=g) * 0.5 + 0.1,
    }
    # centre: h = c_h + s_t t, t = c_t + s_h h  =>  h (1 - s_h s_t) = c_h + s_t c_t
    h = (parts["c_h"] + parts["s_t"] * parts["c_t"]) / (1 - parts["s_h"] * parts["s_t"])
    t = parts["c_t"] + parts["s_h"] * h
    with torch.no_grad():
        model.relation.weight[0] = _relation(d, **parts)
        model.entity.weight[0] = torch.atanh(h)
        model.entity.weight[1] = torch.atanh(t)
        model.entity.weight[2] = torch.atanh(h + 0.05)
    idx = torch.tensor
    with torch.no_grad():
        centre, moved = model.score(idx([0]), idx([0]), idx([1])), model.score(idx([2]), idx([0]), idx([1]))
    assert float(centre) == pytest.approx(0.0, abs=1e-5)
    assert float(moved) < -1e-3


@pytest.mark.parametrize("switch", ["coordinate", "triple"])
def test_symmetric_relation_scores_both_directions_alike(switch):
    d = 6
    model = ExpressivE(10, 1, d, switch=switch)
    g = torch.Generator().manual_seed(3)
    c, s, w = torch.rand(d, generator=g) - 0.5, torch.randn(d, generator=g), torch.rand(d, generator=g) * 0.8
    with torch.no_grad():
        model.relation.weight[0] = _relation(d, d_h=w, d_t=w, c_h=c, c_t=c, s_h=s, s_t=s)
    h, t = torch.arange(10), torch.arange(10).flip(0)
    r = torch.zeros(10, dtype=torch.long)
    assert torch.allclose(model.score(h, r, t), model.score(t, r, h), atol=1e-6)


def test_narrower_parallelogram_lies_inside_the_wider_one():
    """Same centres and slopes, widths d1 <= d2: every sampled point of r1 is inside r2 (rate 1.0 over 10k)."""
    d = 5
    model = ExpressivE(2, 2, d)
    g = torch.Generator().manual_seed(4)
    c_h, c_t = torch.rand(d, generator=g) * 0.6 - 0.3, torch.rand(d, generator=g) * 0.6 - 0.3
    s_h, s_t = torch.rand(d, generator=g) - 0.5, torch.rand(d, generator=g) - 0.5
    wide_h, wide_t = torch.rand(d, generator=g) * 0.6 + 0.2, torch.rand(d, generator=g) * 0.6 + 0.2
    narrow_h, narrow_t = wide_h * torch.rand(d, generator=g), wide_t * torch.rand(d, generator=g)
    with torch.no_grad():
        model.relation.weight[0] = _relation(d, d_h=narrow_h, d_t=narrow_t, c_h=c_h, c_t=c_t, s_h=s_h, s_t=s_t)
        model.relation.weight[1] = _relation(d, d_h=wide_h, d_t=wide_t, c_h=c_h, c_t=c_t, s_h=s_h, s_t=s_t)
    geo = Geometry.of(model)
    x, y = sample_region(geo, 0, 10_000, seed=0)
    assert (~np.isnan(x)).sum(axis=1).min() == 10_000
    assert geo.inside(1, x, y).all()
    # and the full-space check on points built from these samples: inside r1 in every coordinate => inside r2
    pts_h, pts_t = torch.as_tensor(x.T[:2000]), torch.as_tensor(y.T[:2000])
    rel = {k: v.double() for k, v in model.relation_params(torch.tensor([1])).items()}
    tau_h, tau_t = model.tau(pts_h, rel, pts_t)
    assert bool((tau_h <= rel["d_h"] + 1e-9).all() & (tau_t <= rel["d_t"] + 1e-9).all())
    # the converse fails: the wider one is not inside the narrower one
    xw, yw = sample_region(geo, 1, 10_000, seed=1)
    assert geo.inside(0, xw, yw).mean() < 0.99


def test_preprocessing_matches_the_official_parameterisation():
    g = torch.Generator().manual_seed(5)
    raw = torch.randn(7, 18, generator=g)
    raw[0, 15] = 0.0  # s_t = 0 becomes +1e-4
    p = preprocess_relation(raw, "base", tanh_map=True, min_denom=0.0)
    d_h, d_t, c_h, c_t, s_h, s_t = raw.tensor_split(6, dim=-1)
    assert torch.allclose(p["d_h"], torch.tanh(d_h.abs())) and torch.allclose(p["c_t"], torch.tanh(c_t))
    assert torch.allclose(p["s_h"], s_h) and float(p["s_t"][0, 0]) == pytest.approx(1e-4)
    repaired = preprocess_relation(raw, "base", tanh_map=True, min_denom=0.5)
    assert (torch.abs(1 - repaired["s_h"] * repaired["s_t"]) >= 0.5 - 1e-5).all()


def test_functional_variant_is_the_norm_of_tau():
    model = ExpressivE(6, 2, 3, variant="functional")
    h, r, t = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), torch.tensor([3, 4, 5])
    rel = model.relation_params(r)
    he, te = model.entity_repr(h), model.entity_repr(t)
    tau = torch.cat([(he - rel["c_h"] - rel["s_t"] * te).abs(), (te - rel["c_t"] - rel["s_h"] * he).abs()], -1)
    assert torch.allclose(model.score(h, r, t), -tau.norm(dim=-1), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_all_entity_scores_equal_triple_scores(name):
    """score_all (both sides, chunked or not) against scoring every candidate triple one by one."""
    variants = (
        [{}] if name != "expressive" else [{}, {"switch": "triple"}, {"variant": "functional"}, {"min_denom": 0.5}]
    )
    for kw in variants:
        model = build_model(name, 40, 3, 6, **kw)
        h, r, t = torch.randint(40, (9,)), torch.randint(3, (9,)), torch.randint(40, (9,))
        everyone = torch.arange(40)
        tails = torch.stack([model.score(h, r, torch.full_like(h, e)) for e in everyone], 1)
        heads = torch.stack([model.score(torch.full_like(t, e), r, t) for e in everyone], 1)
        for chunk in (0, 7):
            assert torch.allclose(model.score_all(h, r, "tail", chunk), tails, atol=1e-5), (name, kw)
            assert torch.allclose(model.score_all(t, r, "head", chunk), heads, atol=1e-5), (name, kw)


@torch.no_grad()
def test_rotate_and_transe_closed_forms():
    rot = build_model("rotate", 4, 1, 2)
    with torch.no_grad():
        rot.entity.weight[0] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # h = (1, 0) as complex (1+0i, 0+0i)
        rot.entity.weight[1] = torch.tensor([0.0, 0.0, 1.0, 0.0])  # t = (i, 0)
        rot.phase.weight[0] = torch.tensor([math.pi / 2, 0.0])  # rotate the first coordinate by 90 degrees
    assert float(rot.score(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))) == pytest.approx(0.0, abs=1e-5)
    te = build_model("transe", 3, 1, 2, p=1)
    with torch.no_grad():
        te.entity.weight[:] = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
        te.relation.weight[0] = torch.tensor([0.5, 0.5])
    assert float(te.score(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))) == pytest.approx(-2.0)
