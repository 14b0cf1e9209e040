"""dSprites and Extended Yale-B from small files written here in the standard formats: the official split, samplers
and noise, checked against independent references; the CLI reaches them (``--data dsprites|yaleb --root``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from circe.cli import train_entry
from circe.paper_data import (
    DSPRITES_FILE,
    area_resize,
    dsprites_linear_indices,
    dsprites_tricky_indices,
    load_dsprites,
    load_yaleb,
    official_split,
    read_pgm,
    translate_rows,
    yaleb_files,
    yaleb_mod_indices,
    yaleb_subject_split,
)
from orals23_shared.cli import UsageError

SIDE = 4  # sprite side in pixels; posX/posY in 0..31 -> pixel 2 * pos


def _sprite(px: int, py: int) -> np.ndarray:
    img = np.zeros((64, 64), dtype=np.uint8)
    img[2 * py : 2 * py + SIDE, 2 * px : 2 * px + SIDE] = 1
    return img


@pytest.fixture(scope="module")
def dsprites_dir(tmp_path_factory):
    """The dSprites file layout with 3 shapes, one scale and orientation: 32 x 32 positions (3072 images 64 x 64)."""
    root = tmp_path_factory.mktemp("dsprites")
    classes = np.array([(0, s, 0, 0, px, py) for s in range(3) for px in range(32) for py in range(32)], dtype=np.int64)
    values = classes.astype(np.float64) / np.array([1, 1, 1, 1, 31, 31])
    imgs = np.stack([_sprite(px, py) for *_, px, py in classes])
    np.savez_compressed(root / DSPRITES_FILE, imgs=imgs, latents_classes=classes, latents_values=values)
    return root


def test_official_split_is_train_test_split_with_seed_42():
    """Reference: sklearn's ShuffleSplit draws one RandomState(42) permutation, test part first."""
    n = 1000
    tr, va, te = official_split(n)
    perm = np.random.RandomState(42).permutation(n)
    n_test = math.ceil(0.2 * n)
    np.testing.assert_array_equal(tr, perm[n_test:])
    rest = perm[:n_test]
    perm2 = np.random.RandomState(42).permutation(n_test)
    np.testing.assert_array_equal(te, rest[perm2[: math.ceil(0.5 * n_test)]])
    np.testing.assert_array_equal(va, rest[perm2[math.ceil(0.5 * n_test) :]])


def test_dsprites_linear_sampler_is_the_official_rule(dsprites_dir):
    """Kept iff posX - eps <= posY <= posX + eps with eps ~ N(0, 1) drawn per image, then resampled uniformly."""
    classes = np.load(dsprites_dir / DSPRITES_FILE)["latents_classes"]
    idx = dsprites_linear_indices(classes, 20_000, np.random.default_rng(0))
    eps = np.random.default_rng(0).normal(size=len(classes))  # the same first draw, by hand
    d = np.abs(classes[:, 5] - classes[:, 4])
    kept = np.flatnonzero(d <= eps)
    assert set(idx) == set(kept)  # every kept image drawn, no other
    counts = np.bincount(idx, minlength=len(classes))[kept]
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()  # uniform over the kept
    # images with eps < 0 are never kept, also at d = 0 (a "|N(0,1)|" or "round(N(0,1))" rule would keep them)
    assert not set(idx) & set(np.flatnonzero((d == 0) & (eps < 0)))


def test_dsprites_tricky_sampler(dsprites_dir):
    classes = np.load(dsprites_dir / DSPRITES_FILE)["latents_classes"]
    idx, xi = dsprites_tricky_indices(classes, 5000, np.random.default_rng(1))
    assert set(np.round(xi**2, 6)) <= {0.0, 1.0, 2.0, 3.0} and (xi < 0).any() and (xi > 0).any()
    gap = (classes[idx, 4] + 1) - xi**2 - (classes[idx, 5] + 1)
    assert np.all(np.abs(gap) < 1)


def test_translate_rows_against_a_loop():
    g = np.random.default_rng(2)
    imgs = g.integers(0, 2, size=(6, 8, 5)).astype(np.uint8)
    shifts = np.array([0, 1, -2, 3, -7, 9])
    out = translate_rows(imgs, shifts)
    for i, s in enumerate(shifts):
        ref = np.zeros_like(imgs[i])
        for r in range(8):
            if 0 <= r - s < 8:
                ref[r] = imgs[i, r - s]
        np.testing.assert_array_equal(out[i], ref)


def test_load_dsprites_splits_noise_and_ood(dsprites_dir):
    data = load_dsprites(dsprites_dir, n_train=3000, n_val=100, n_eval=100, seed=0)
    assert set(data) == {"train", "val", "val_ood", "test", "test_ood"}
    tr = data["train"]
    assert tr.x.shape == (3000, 1, 64, 64) and str(tr.x.dtype) == "torch.uint8"
    shifts = []
    for i in range(600):
        px, py = round(float(tr.z[i, 0]) * 31), round(float(tr.y[i, 0]) * 31)
        x = tr.x[i, 0].numpy()
        rows = np.flatnonzero(x.any(1))
        if rows.size == 0 or rows[0] == 0 or rows[-1] == 63:  # clipped by the canvas: the shift is ambiguous
            continue
        s = int(rows[0]) - 2 * py
        ref = translate_rows(_sprite(px, py)[None], np.array([s]))[0]
        assert np.array_equal(ref, x), f"row {i}: not a vertical shift of the sprite at ({px}, {py})"
        shifts.append(s)
    # noise 2 * N(0, 2) px along the target (vertical) axis; shifts clipped by the canvas are rare
    assert 3.4 < np.std(shifts) < 4.6 and abs(np.mean(shifts)) < 0.6
    corr = lambda d: float(np.corrcoef(d.y[:, 0], d.z[:, 0])[0, 1])  # noqa: E731
    assert corr(tr) > 0.95 and abs(corr(data["test_ood"])) < 0.3
    # the OOD splits are the official split's images, the training images come from the training split only
    _, va, te = official_split(3072)
    assert len(data["val_ood"]) == 100 and (len(va), len(te)) == (307, 308)
    tricky = load_dsprites(dsprites_dir / DSPRITES_FILE, mode="tricky", n_train=200, n_val=50, n_eval=50, seed=1)
    assert set(np.round(tricky["train"].z[:, 0].numpy() ** 2, 4)) <= {0.0, 1.0, 2.0, 3.0}
    with pytest.raises(UsageError, match="dSprites file not found"):
        load_dsprites(dsprites_dir / "nope", n_train=10)


def _pgm(path, img: np.ndarray) -> None:
    h, w = img.shape
    path.write_bytes(f"P5\n# test\n{w} {h}\n255\n".encode() + img.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def yale_dir(tmp_path_factory):
    """Extended Yale-B layout: 10 subjects, poses 0..8, azimuths -130..130 step 10, elevation 0; pixel (0, 0)
    encodes the pose and (0, 1) the azimuth (halved) of the file, so the test can tell which file an image came from."""
    root = tmp_path_factory.mktemp("yale")
    for s in range(11, 21):
        sub = root / f"yaleB{s}"
        sub.mkdir()
        for p in range(9):
            for az in range(-130, 131, 10):
                img = np.full((32, 32), 7, dtype=np.uint8)
                img[:2, :2], img[:2, 2:4] = 20 * p, (az + 130) // 2
                _pgm(sub / f"yaleB{s}_P{p:02d}A{az:+04d}E+00.pgm", img)
        _pgm(sub / f"yaleB{s}_P00_Ambient.pgm", np.zeros((12, 16)))  # no "E" in the name: skipped
    return root


def test_yaleb_split_sampler_and_pose_noise(yale_dir, tmp_path):
    folders = yaleb_subject_split(yale_dir)
    names = sorted(p.name for p in yale_dir.iterdir())
    tr, va, te = official_split(len(names))
    assert [p.name for p in folders["train"]] == [names[i] for i in tr]
    assert [p.name for p in folders["test"]] == [names[i] for i in te]
    data = load_yaleb(yale_dir, n_train=2000, n_val=100, n_eval=100, size=16, seed=0)
    d = data["train"]
    pose = np.rint(d.y[:, 0].numpy() * 9).astype(int)
    az = np.rint(d.z[:, 0].numpy() * 130).astype(int)
    # y-cone: every training row satisfies |4.5 (az/130 + 1) - 0.5 y -+ 0.5 y^2 / 9| < 1 for one sign
    a = 4.5 * (az / 130 + 1) - 0.5 * pose
    assert np.all(np.minimum(np.abs(a - 0.5 * pose**2 / 9), np.abs(a + 0.5 * pose**2 / 9)) < 1)
    # the shown image has the row's lighting; its pose is int(p + N(0, 2)) when in 0..8, else p (label noise)
    shown_pose = np.rint(d.x[:, 0, 0, 0].numpy() * 255 / 20).astype(int)  # 32x32 -> 16x16: 2x2 blocks
    shown_az = 2 * np.rint(d.x[:, 0, 0, 1].numpy() * 255).astype(int) - 130
    assert np.array_equal(shown_az, az)

    # P(shown pose == p): int() truncates toward zero, and a pose outside 0..8 keeps p
    def stay(p: int) -> float:
        keep = norm.cdf(1 / 2) - norm.cdf(-1 / 2) if p == 0 else norm.cdf(1 / 2) - 0.5
        return keep + norm.cdf((-1 - p) / 2) + norm.sf((9 - p) / 2)

    expected = np.mean([1 - stay(p) for p in pose])
    assert np.mean(shown_pose != pose) == pytest.approx(expected, abs=0.04)
    assert shown_pose.min() >= 0 and shown_pose.max() <= 8
    ood = data["test_ood"]
    assert len(ood) == 100 and abs(np.corrcoef(ood.y[:, 0], ood.z[:, 0])[0, 1]) < 0.3
    # a root split already by the official script (train/, val/, test/) is used as it is
    pre = tmp_path / "presplit"
    for split, subjects in folders.items():
        (pre / split).mkdir(parents=True)
        for s in subjects:
            (pre / split / s.name).symlink_to(s)
    assert {k: sorted(p.name for p in v) for k, v in yaleb_subject_split(pre).items()} == {
        k: sorted(p.name for p in v) for k, v in folders.items()
    }


def _official_mod_loop(pose: np.ndarray, az: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The official ``correlate()`` with ``nl_type: mod``, written as loops over poses and images: per pass one
    ``eps = |N(0, 1)|`` per image; per pose y, the images of pose y inside both bounds, in index order."""
    kept: list[int] = []
    while len(kept) < n:
        eps = np.abs(rng.normal(loc=0, scale=1, size=len(pose)))
        for y in np.unique(pose):
            for i in range(len(pose)):
                lo = pose[i] >= 0.5 * abs(az[i] / 10) - eps[i] / 2
                hi = pose[i] <= 0.5 * abs(az[i] / 10) + eps[i] / 2
                if pose[i] == y and lo and hi:
                    kept.append(i)
    kept_arr = np.array(kept)
    return kept_arr[rng.permutation(len(kept_arr))[:n]]


def test_yaleb_mod_sampler_is_the_official_rule(yale_dir):
    files = yaleb_files(yaleb_subject_split(yale_dir)["train"])
    for n, seed in ((50, 0), (3000, 1)):  # one pass / several passes
        ours = yaleb_mod_indices(files, n, np.random.default_rng(seed))
        ref = _official_mod_loop(files.pose, files.azimuth, n, np.random.default_rng(seed))
        assert np.array_equal(ours, ref)
    data = load_yaleb(yale_dir, n_train=1500, n_val=100, n_eval=300, size=16, seed=0, mode="mod")
    pose = data["train"].y[:, 0].numpy() * 9
    az = data["train"].z[:, 0].numpy() * 130
    # pose follows |azimuth| / 20 (half-normal slack), not the signed azimuth; the OOD split does not
    assert np.corrcoef(pose, np.abs(az))[0, 1] > 0.9
    assert abs(np.corrcoef(pose, az)[0, 1]) < 0.2
    ood = data["test_ood"]
    assert abs(np.corrcoef(ood.y[:, 0].numpy(), np.abs(ood.z[:, 0].numpy()))[0, 1]) < 0.3
    cone = load_yaleb(yale_dir, n_train=1500, n_val=100, n_eval=300, size=16, seed=0)
    assert (
        np.corrcoef(cone["train"].y[:, 0].numpy(), np.abs(cone["train"].z[:, 0].numpy()))[0, 1] < 0.9
    )  # a different law
    with pytest.raises(UsageError, match="unknown Yale-B sampler"):
        load_yaleb(yale_dir, n_train=10, mode="cone")


def test_pgm_and_area_resize(tmp_path):
    img = (np.arange(48 * 42) % 256).astype(np.uint8).reshape(48, 42)
    _pgm(tmp_path / "a.pgm", img)
    np.testing.assert_allclose(read_pgm(tmp_path / "a.pgm"), img / 255.0, rtol=1e-6)
    (tmp_path / "ascii.pgm").write_text("P2\n2 2\n10\n0 5\n10 5\n")
    np.testing.assert_allclose(read_pgm(tmp_path / "ascii.pgm"), [[0, 0.5], [1, 0.5]])
    (tmp_path / "short.pgm").write_bytes(b"P5\n4 4\n255\n" + bytes(5))
    with pytest.raises(UsageError, match="expected 16 pixels, found 5"):
        read_pgm(tmp_path / "short.pgm")
    x = np.random.default_rng(0).random((11, 7))
    out = area_resize(x, 3)
    rows, cols = np.linspace(0, 11, 4).astype(int), np.linspace(0, 7, 4).astype(int)
    ref = [[x[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].mean() for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def _exit(argv, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["circe-train", *argv])
    with pytest.raises(SystemExit) as e:
        train_entry()
    return e.value.code, capsys.readouterr()


TINY = "--n-train 192 --n-val 64 --n-eval 64 --heldout 40 --batch-size 64 --epochs 1 --quiet --threads 1".split()


@pytest.mark.parametrize("name", ["dsprites", "yaleb"])
def test_circe_train_reaches_the_paper_data(name, dsprites_dir, yale_dir, tmp_path, monkeypatch, capsys):
    root = dsprites_dir if name == "dsprites" else yale_dir
    extra = ["--image-size", "32", "--yaleb-mode", "mod"] if name == "yaleb" else []
    code, cap = _exit(
        ["--data", name, "--root", str(root), "--out", str(tmp_path / name), *TINY, *extra], monkeypatch, capsys
    )
    assert code in (0, None), cap.err
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    for key in ("val_mse", "val_ood_mse", "test_mse", "test_ood_mse"):
        assert np.isfinite(summary[key])
    code, cap = _exit(["--data", name, "--out", str(tmp_path / "x"), *TINY], monkeypatch, capsys)
    assert code == 2 and "--root" in cap.err and len(cap.err.strip().splitlines()) == 1
    code, cap = _exit(
        ["--data", name, "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "y"), *TINY], monkeypatch, capsys
    )
    assert code == 2 and "not found" in cap.err and len(cap.err.strip().splitlines()) == 1
