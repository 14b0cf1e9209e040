"""Metrics and verdicts on synthetic distributions with known answers (issue 19, section 2)."""

import math

import numpy as np
import pytest
import torch

from image2sphere.evaluate import DistributionScorer, count_modes
from image2sphere.render import make_shape
from image2sphere.reproduce import shape_claims
from image2sphere.so3 import angles_to_matrix, random_rotations, so3_healpix_grid

CUBE = torch.from_numpy(make_shape("cube").symmetries).float()
TET = torch.from_numpy(make_shape("tetrahedron").symmetries).float()
EYE = torch.eye(3)[None]


@pytest.fixture(scope="module")
def grid():
    return angles_to_matrix(so3_healpix_grid(3)).float()  # 36,864 rotations, 7.5 deg spacing


def peaks(grid, centres, sigma_deg=4.0, weights=None):
    """Sum of concentrated (matrix-Fisher-like) bumps exp(-theta^2 / 2 sigma^2) at ``centres``, normalised."""
    tr = grid.reshape(-1, 9).double() @ centres.reshape(-1, 9).double().T
    theta = torch.arccos(torch.clamp((tr - 1) / 2, -1, 1))
    w = torch.ones(len(centres), dtype=torch.float64) if weights is None else weights.double()
    p = (torch.exp(-(theta**2) / (2 * math.radians(sigma_deg) ** 2)) * w).sum(1)
    return p / p.sum()


def gts(n, seed=0):
    return torch.from_numpy(random_rotations(n, np.random.default_rng(seed))).float()


@pytest.mark.parametrize("group,expected", [(CUBE, 24), (TET, 12), (EYE, 1)])
def test_count_modes_counts_the_peaks(grid, group, expected):
    for r in gts(3, seed=expected):
        modes = count_modes(peaks(grid, r @ group), grid)
        assert len(modes) == expected
        assert abs(sum(m for _, m in modes) - 1) < 0.02


def test_count_modes_of_a_uniform_distribution_is_not_one_peak():
    grid = angles_to_matrix(so3_healpix_grid(2)).float()
    p = torch.full((len(grid),), 1.0 / len(grid))
    # a 20-deg ball holds (t - sin t)/pi = 0.7% of a uniform distribution, below the 1% floor: no mode
    assert count_modes(p, grid) == []


def test_mass_within_15_and_loglik_closed_forms(grid):
    g = gts(4)
    n = len(grid)
    uniform = torch.full((4, n), 1.0 / n)
    sc = DistributionScorer(CUBE, n_mode_images=0)
    sc.add(uniform, grid, g[:, None])
    m = sc.result()
    assert m["loglik"] == pytest.approx(-math.log(math.pi**2), abs=1e-6)
    # uniform mass within 15 deg of 24 disjoint equivalents = 24 (t - sin t) / pi (Haar measure of a ball)
    t = math.radians(15)
    assert m["mass_within_15deg"] == pytest.approx(24 * (t - math.sin(t)) / math.pi, rel=0.25)
    # all mass on the grid cell of the label: loglik = log(N / pi^2)
    delta = torch.zeros(4, n)
    from image2sphere.so3 import nearest_rotation

    delta[torch.arange(4), nearest_rotation(g, grid)] = 1.0
    sc = DistributionScorer(CUBE, n_mode_images=0)
    sc.add(delta, grid, g[:, None])
    m = sc.result()
    assert m["loglik"] == pytest.approx(math.log(n / math.pi**2), abs=1e-6)
    assert m["mass_within_15deg"] == pytest.approx(1.0) and m["median_error_deg"] < 6


def score(grid, probs, g, sym, compare=None):
    sc = DistributionScorer(sym, compare, n_mode_images=len(g))
    sc.add(probs, grid, g[:, None])
    return sc.result()


def test_perfect_24_mode_prediction_fails_every_marked_cube_claim(grid):
    g = gts(6, seed=3)
    probs = torch.stack([peaks(grid, r @ CUBE) for r in g]).float()
    m = score(grid, probs, g, EYE, CUBE)
    assert m["modes_median"] == 24 and m["modes_matched_fraction"] == 1.0  # the old bar: "a peak near the truth"
    assert abs(m["loglik_gain_vs_symmetrised"]) < 0.3
    claims = shape_claims("cube_marked", 1, m)
    assert len(claims) == 4
    assert [c.verdict for c in claims] == ["not"] * 4, [(c.claim, c.ours, c.verdict) for c in claims]
    # the same prediction is a perfect answer for the plain cube
    claims = shape_claims("cube", 24, score(grid, probs, g, CUBE))
    assert [c.verdict for c in claims] == ["reproduced"] * 4, [(c.claim, c.ours, c.verdict) for c in claims]


def test_single_correct_mode_passes_every_marked_cube_claim(grid):
    g = gts(6, seed=4)
    probs = torch.stack([peaks(grid, r[None]) for r in g]).float()
    m = score(grid, probs, g, EYE, CUBE)
    assert m["modes_median"] == 1 and m["top_mode_matched_fraction"] == 1.0
    assert m["loglik_gain_vs_symmetrised"] > math.log(24) - 0.5
    claims = shape_claims("cube_marked", 1, m)
    assert [c.verdict for c in claims] == ["reproduced"] * 4, [(c.claim, c.ours, c.verdict) for c in claims]


def test_one_dominant_mode_at_a_wrong_equivalent_is_not_reproduced(grid):
    g = gts(6, seed=5)
    wrong = CUBE[1:2]  # a 90/120/180-deg cube symmetry, not the identity
    assert float(torch.trace(wrong[0])) < 2.5
    probs = torch.stack([peaks(grid, r @ wrong) for r in g]).float()
    claims = shape_claims("cube_marked", 1, score(grid, probs, g, EYE, CUBE))
    assert [c.verdict for c in claims] == ["not"] * 4, [(c.claim, c.ours, c.verdict) for c in claims]


def test_per_class_metrics_average_over_classes_not_images():
    from image2sphere.evaluate import per_class_metrics

    deg = torch.tensor([1.0, 2.0, 3.0, 40.0])  # class 0: three easy views, class 1: one hard view
    m = per_class_metrics(torch.deg2rad(deg), torch.tensor([0, 0, 0, 1]))
    assert m["class_mean_acc15"] == pytest.approx(0.5)  # per image it would be 0.75
    assert m["class_mean_median_error_deg"] == pytest.approx((2.0 + 40.0) / 2)
    assert m["n_classes"] == 2


def test_modelnet10_loader_keeps_class_ids(tmp_path):
    from image2sphere.data import load_modelnet10

    rots = random_rotations(3, np.random.default_rng(1)).astype(np.float32)
    imgs = np.zeros((3, 8, 8, 1), np.uint8)
    np.savez(tmp_path / "m.npz", imgs=imgs, rots=rots, cat_ids=np.array([4, 0, 4]))
    assert load_modelnet10(tmp_path / "m.npz").labels.tolist() == [4, 0, 4]
