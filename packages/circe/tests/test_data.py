"""Data generators and loaders: exact checks of what is drawn and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circe.data import (
    Triples,
    linear_gaussian,
    load_dsprites,
    load_npz,
    load_yaleb,
    procedural_sprites,
    read_pgm,
    save_npz,
    split_heldout,
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


def test_dsprites_loader_on_a_fake_file(tmp_path):
    # 6 latents: color, shape, scale, orientation, posX, posY; a 4x4 position grid, 2 shapes
    rows = [(0, s, 0, 0, px, py) for s in range(2) for px in range(4) for py in range(4)]
    classes = np.array(rows)
    imgs = np.zeros((len(rows), 8, 8), dtype=np.uint8)
    for i, (_, _, _, _, px, py) in enumerate(rows):
        imgs[i, 2 * py, 2 * px] = 1
    np.savez(tmp_path / "dsprites.npz", imgs=imgs, latents_classes=classes)
    d = load_dsprites(tmp_path / "dsprites.npz", n=200, seed=0, mode="linear")
    assert d.x.shape == (200, 1, 8, 8)
    # the sampled image really sits at (posX, posY) = (z, y) * 3
    for i in range(20):
        r, c = np.argwhere(d.x[i, 0].numpy() > 0)[0]
        assert (c // 2, r // 2) == (round(float(d.z[i]) * 3), round(float(d.y[i]) * 3))
    tricky = load_dsprites(tmp_path / "dsprites.npz", n=100, seed=1, mode="tricky")
    assert set(np.round(tricky.z[:, 0].numpy() ** 2).astype(int)) <= {0, 1, 2, 3}
    with pytest.raises(UsageError, match="missing array"):
        np.savez(tmp_path / "bad.npz", imgs=imgs)
        load_dsprites(tmp_path / "bad.npz", n=10, seed=0)


def test_yaleb_loader_and_pgm(tmp_path):
    sub = tmp_path / "yaleB11"
    sub.mkdir()
    img = (np.arange(48 * 42) % 256).astype(np.uint8).reshape(48, 42)
    for pose, az in ((0, 10), (3, -25), (8, 130)):
        name = f"yaleB11_P{pose:02d}A{az:+04d}E+00.pgm"
        (sub / name).write_bytes(b"P5\n# comment\n42 48\n255\n" + img.tobytes())
    (sub / "yaleB11_P00_Ambient.pgm").write_bytes(b"P5\n42 48\n255\n" + img.tobytes())
    np.testing.assert_allclose(read_pgm(sub / "yaleB11_P00A+010E+00.pgm"), img / 255.0, rtol=1e-6)
    (tmp_path / "ascii.pgm").write_text("P2\n2 2\n10\n0 5\n10 5\n")
    np.testing.assert_allclose(read_pgm(tmp_path / "ascii.pgm"), [[0, 0.5], [1, 0.5]])
    data, subjects = load_yaleb(tmp_path, size=16)
    assert data.x.shape == (3, 1, 16, 16) and list(subjects) == [11, 11, 11]
    assert sorted(data.y[:, 0].tolist()) == pytest.approx([0, 3 / 9, 8 / 9])
    assert sorted(data.z[:, 0].tolist()) == pytest.approx([-25 / 130, 10 / 130, 1.0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no Extended Yale-B"):
        load_yaleb(tmp_path / "empty", size=8)
    with pytest.raises(UsageError, match="not found"):
        load_yaleb(tmp_path / "missing", size=8)


def test_triples_validate():
    with pytest.raises(UsageError, match="mismatched"):
        Triples(torch.zeros(5, 2), torch.zeros(4, 1), torch.zeros(5, 1))
    with pytest.raises(UsageError, match=r"y must have shape \(n, d\)"):
        Triples(torch.zeros(5, 2), torch.zeros(5, 1, 1), torch.zeros(5, 1))
