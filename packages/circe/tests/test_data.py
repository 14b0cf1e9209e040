"""Data generators and loaders: exact checks of what is drawn and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circe.data import (
    Scaling,
    Triples,
    linear_gaussian,
    load_npz,
    nonlinear_shortcut,
    procedural_sprites,
    save_npz,
    split_heldout,
    weak_shortcut,
)
from circe.reproduce import linear_gaussian_optima
from orals23_shared.cli import UsageError


def test_linear_gaussian_closed_form_optima_match_simulation():
    """Least squares fitted on a large simulated sample reproduces the closed-form ID/OOD MSEs."""
    tr = linear_gaussian(200_000, 0)
    x = tr.x[:, :2].double()
    w = torch.linalg.lstsq(x, tr.y.double()).solution
    opt = linear_gaussian_optima()
    te_id, te_ood = linear_gaussian(200_000, 1), linear_gaussian(200_000, 2, ood=True)
    mse = lambda d, w, cols: float(((d.x[:, cols].double() @ w - d.y.double()) ** 2).mean())  # noqa: E731
    assert mse(te_id, w, [0, 1]) == pytest.approx(opt["erm"]["id"], abs=0.005)
    assert mse(te_ood, w, [0, 1]) == pytest.approx(opt["erm"]["ood"], abs=0.03)
    w1 = torch.linalg.lstsq(x[:, :1], tr.y.double()).solution
    assert mse(te_id, w1, [0]) == pytest.approx(opt["invariant"]["id"], abs=0.005)
    assert mse(te_ood, w1, [0]) == pytest.approx(opt["invariant"]["ood"], abs=0.005)
    # the brief's numbers (from simulation): ERM 0.07 / 1.41, invariant 0.33; the closed form gives 0.072 / 1.403
    assert opt["erm"]["id"] == pytest.approx(0.07, abs=0.005) and opt["erm"]["ood"] == pytest.approx(1.41, abs=0.01)
    assert opt["invariant"]["id"] == pytest.approx(0.33, abs=0.005)
    # OOD: Z independent of Y with the training marginal
    ood = linear_gaussian(50_000, 3, ood=True)
    assert abs(float(torch.corrcoef(torch.cat([ood.y, ood.z], 1).T)[0, 1])) < 0.02
    assert float(ood.z.var()) == pytest.approx(1.09, rel=0.03)


def test_procedural_sprites_draw_exact_positions():
    d = procedural_sprites(64, seed=0, size=32, grid=16, side=4, noise_px=2.0)
    assert d.x.shape == (64, 1, 32, 32)
    imgs = d.x[:, 0].numpy()
    assert np.all(imgs.sum((1, 2)) == 16)  # one 4x4 square per image
    cols = np.argmax(imgs.max(1), axis=1)  # left-most column of the square
    expected = np.rint(d.z[:, 0].numpy() * 15 * 28 / 15).astype(int)
    np.testing.assert_array_equal(cols, expected)
    # training: posX within a few grid cells of posY; OOD: independent
    tr = procedural_sprites(4000, seed=1)
    ood = procedural_sprites(4000, seed=2, ood=True)
    assert np.corrcoef(tr.y[:, 0], tr.z[:, 0])[0, 1] > 0.95
    assert abs(np.corrcoef(ood.y[:, 0], ood.z[:, 0])[0, 1]) < 0.05


def test_npz_round_trip_and_errors(tmp_path):
    d = linear_gaussian(30, 0)
    p = save_npz(tmp_path / "a.npz", d)
    back = load_npz(p)
    torch.testing.assert_close(back.x, d.x)
    with pytest.raises(UsageError, match="not found"):
        load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "b.npz", x=d.x.numpy(), y=d.y.numpy())
    with pytest.raises(UsageError, match="missing array"):
        load_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x=d.x.numpy(), y=d.y.numpy()[:20], z=d.z.numpy())
    with pytest.raises(UsageError, match="mismatched lengths"):
        load_npz(tmp_path / "c.npz")
    y = d.y.numpy().copy()
    y[7, 0] = np.nan
    np.savez(tmp_path / "d.npz", x=d.x.numpy(), y=y, z=d.z.numpy())
    with pytest.raises(UsageError, match="y has NaN.*row 7"):
        load_npz(tmp_path / "d.npz")
    (tmp_path / "e.npz").write_text("not a zip")
    with pytest.raises(UsageError, match="not a readable"):
        load_npz(tmp_path / "e.npz")
    with pytest.raises(UsageError, match="too few"):
        split_heldout(d, 25, seed=0, min_train=8)
    tr, held = split_heldout(d, 10, seed=0)
    assert len(tr) == 20 and len(held) == 10
    assert not set(map(tuple, tr.y.tolist())) & set(map(tuple, held.y.tolist()))


def test_triples_validate():
    with pytest.raises(UsageError, match="mismatched"):
        Triples(torch.zeros(5, 2), torch.zeros(4, 1), torch.zeros(5, 1))
    with pytest.raises(UsageError, match=r"y must have shape \(n, d\)"):
        Triples(torch.zeros(5, 2), torch.zeros(5, 1, 1), torch.zeros(5, 1))


@pytest.mark.parametrize("gen", [linear_gaussian, nonlinear_shortcut, weak_shortcut])
def test_shortcut_tasks_keep_the_z_marginal_and_drop_the_dependence_ood(gen):
    tr, ood = gen(40_000, 0), gen(40_000, 1, ood=True)
    corr = lambda d: float(np.corrcoef(d.y[:, 0], d.z[:, 0])[0, 1])  # noqa: E731
    assert corr(tr) > 0.8 and abs(corr(ood)) < 0.02
    assert float(ood.z.std()) == pytest.approx(float(tr.z.std()), rel=0.02)
    # X2 is Z plus small noise: the shortcut
    assert float(np.corrcoef(tr.x[:, 1], tr.z[:, 0])[0, 1]) > 0.99


def test_scaling_standardises_and_is_scale_free():
    d = linear_gaussian(500, 0)
    s = Scaling.fit(d)
    torch.testing.assert_close(s.y(d.y).mean(0), torch.zeros(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.y(d.y).std(0), torch.ones(1), atol=1e-5, rtol=0)
    scaled = Triples(d.x * 0.29, d.y * 0.29, d.z * 0.29)
    s2 = Scaling.fit(scaled)
    torch.testing.assert_close(s2.y(scaled.y), s.y(d.y), atol=1e-5, rtol=0)
    torch.testing.assert_close((scaled.x - s2.x_shift) / s2.x_scale, (d.x - s.x_shift) / s.x_scale, atol=1e-5, rtol=0)
    raw = Scaling.fit(d, standardize=False)
    torch.testing.assert_close(raw.y(d.y), d.y)
    img = Scaling.fit(procedural_sprites(20, 0))  # images: the official Normalize(0.5, 0.5)
    assert float(img.x_shift) == 0.5 and float(img.x_scale) == 0.5
