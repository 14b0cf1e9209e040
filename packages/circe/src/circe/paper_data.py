"""The paper's image data from the standard files, with the official samplers, noise and splits (Pogodin et al., Sec. 5).

dSprites (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``: ``imgs`` (737280, 64, 64) uint8 in {0, 1},
``latents_classes`` (737280, 6) = color, shape, scale, orientation, posX, posY), as the official
``data/split_dsprites.py`` + ``data/dsprites.py`` / ``data/dsprites_nonlinear.py``:

* split 80/10/10 with ``sklearn.model_selection.train_test_split(random_state=42)`` (train, then val/test from
  the remaining 20%);
* "linear" sampler (train and val): per image ``eps ~ N(0, 1)``; images with ``|posY - posX| <= eps`` are kept
  and resampled with replacement; target posY/31, distractor posX/31;
* "tricky" sampler: per image and pass ``xi = +-sqrt(U{0..3})``; images with ``|posX - xi^2 - posY| < 1`` are
  collected until enough; target posY/31, distractor ``xi`` (a non-linear, non-invertible Y-Z link);
* OOD splits (``val_ood``/``test_ood``): the split's images as they are (posX independent of posY);
* translation noise on every image: ``2 N(0, noise)`` pixels (noise = 2) along the *target* axis, rounded to
  whole pixels (torchvision's ``affine`` samples the nearest pixel), background filled in: label noise.

Extended Yale-B (``<root>/yaleBxx/yaleBxx_PppA+aaaE+ee.pgm``; ``*E*.pgm`` only, so ambient images are skipped), as
``data/split_yale_b.py`` + ``data/yale_extended.py`` with ``nl_type: y-cone`` (the official config):

* split by subject 80/10/10 with ``train_test_split(random_state=42)`` over the *sorted* subject folders (the
  official code splits ``os.listdir`` order, which depends on the file system); a root that already holds
  ``train/``, ``val/``, ``test/`` folders (after the official script) is used as it is;
* "y-cone" sampler (train, val): for each pose y and 10 draws of ``e = +-0.5 y^2 / 9``, images with
  ``|4.5 (az/130 + 1) - 0.5 y - e| < 1`` are collected (with multiplicity) until the split's size is reached;
* "mod" sampler (``nl_type: mod``, train, val): per pass one ``eps_i = |N(0, 1)|`` per image, and images with
  ``|p_i - 0.5 |az_i / 10|| <= eps_i / 2`` are collected (pose in 0..9, azimuth in degrees, both before scaling):
  the pose follows the *modulus* of the azimuth, a non-monotone Y-Z link;
* pose noise on every image: ``p' = int(p + N(0, noise))``; when the subject has an image at pose p' with the same
  lighting, that image is used, the target stays p (label noise); where the official code would stop in ``pdb``
  because the file is missing, the original image is kept;
* target pose/9, distractor azimuth/130; images area-averaged to ``size x size`` grey (the official code resizes
  to 224x224 for an ImageNet ResNet-18, whose weights are a download: not used here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from circe.data import Triples
from orals23_shared.cli import UsageError

__all__ = [
    "DSPRITES_FILE",
    "official_split",
    "read_dsprites",
    "dsprites_linear_indices",
    "dsprites_tricky_indices",
    "translate_rows",
    "load_dsprites",
    "yaleb_files",
    "yaleb_subject_split",
    "yaleb_cone_indices",
    "yaleb_mod_indices",
    "yaleb_noisy_files",
    "read_pgm",
    "area_resize",
    "load_yaleb",
]

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SPLITS = ("train", "val", "val_ood", "test", "test_ood")


def official_split(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the official 80/10/10 split: ``train_test_split`` twice with ``random_state=42``."""
    from sklearn.model_selection import train_test_split  # imported here: only the paper's data need it

    train, rest = train_test_split(np.arange(n), test_size=0.2, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, random_state=seed)
    return np.asarray(train), np.asarray(val), np.asarray(test)


# -- dSprites ------------------------------------------------------------------------------------------------


def read_dsprites(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``imgs`` (uint8) and ``latents_classes`` from ``root/dsprites_ndarray_...npz`` (or that file itself)."""
    root = Path(root)
    path = root / DSPRITES_FILE if root.is_dir() else root
    if not path.is_file():
        raise UsageError(f"dSprites file not found: {path} (expected {DSPRITES_FILE})")
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npz file ({e})") from e
    with f:
        for k in ("imgs", "latents_classes"):
            if k not in f.files:
                raise UsageError(f"{path}: not a dSprites file (missing array {k})")
        imgs, classes = f["imgs"], f["latents_classes"]
    if imgs.ndim != 3 or classes.ndim != 2 or classes.shape != (imgs.shape[0], 6):
        raise UsageError(
            f"{path}: expected imgs (n, H, W) and latents_classes (n, 6), got {imgs.shape} and {classes.shape}"
        )
    return imgs, classes


def dsprites_linear_indices(classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Official "linear" sampler: keep ``|posY - posX| <= eps_i`` (eps_i ~ N(0,1) per image), resample n."""
    pos_x, pos_y = classes[:, 4] + 1, classes[:, 5] + 1
    eps = rng.normal(size=len(classes))
    kept = np.flatnonzero((pos_y >= pos_x - eps) & (pos_y <= pos_x + eps))
    if kept.size == 0:
        raise UsageError("dSprites: no image satisfies the linear sampler (is posX/posY in latents_classes?)")
    return rng.choice(kept, n, replace=True)


def dsprites_tricky_indices(
    classes: np.ndarray, n: int, rng: np.random.Generator, max_passes: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Official "tricky" sampler: per pass and pose y, ``xi = +-sqrt(U{0..3})`` per image; collect images with
    ``|posX - xi^2 - y| < 1`` and posY = y; a random n of the collected (index, xi) pairs."""
    pos_x, pos_y = classes[:, 4] + 1, classes[:, 5] + 1
    m = len(classes)
    idx: list[np.ndarray] = []
    xis: list[np.ndarray] = []
    total = 0
    for _ in range(max_passes):
        for y in range(1, int(pos_y.max()) + 1):
            xi = 2 * (rng.integers(0, 2, m) - 0.5) * np.sqrt(rng.integers(0, 4, m))
            ok = np.flatnonzero((np.abs(pos_x - xi**2 - y) < 1) & (pos_y == y))
            idx.append(ok)
            xis.append(xi[ok])
            total += ok.size
        if total >= n:
            break
    if total == 0:
        raise UsageError("dSprites: no image satisfies the tricky sampler")
    all_idx, all_xi = np.concatenate(idx), np.concatenate(xis)
    pick = rng.permutation(all_idx.size)[:n]
    return all_idx[pick], all_xi[pick]


def translate_rows(imgs: np.ndarray, shifts: np.ndarray, fill: int = 0) -> np.ndarray:
    """Shift image ``i`` down by ``shifts[i]`` whole pixels (up when negative); vacated rows get ``fill``."""
    out = np.full_like(imgs, fill)
    h = imgs.shape[-2]
    for s in np.unique(shifts):
        sel = np.flatnonzero(shifts == s)
        s = int(s)
        if abs(s) >= h:
            continue
        if s >= 0:
            out[sel, ..., s:, :] = imgs[sel, ..., : h - s, :]
        else:
            out[sel, ..., : h + s, :] = imgs[sel, ..., -s:, :]
    return out


def _noisy_images(imgs: np.ndarray, idx: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    shifts = np.rint(2 * rng.normal(0.0, noise, size=idx.size)).astype(int) if noise > 0 else np.zeros(idx.size, int)
    return translate_rows(imgs[idx], shifts)[:, None]


def load_dsprites(
    root: str | Path,
    mode: str = "linear",
    n_train: int = 0,
    n_val: int = 0,
    n_eval: int = 0,
    noise: float = 2.0,
    seed: int = 0,
) -> dict[str, Triples]:
    """``train``, ``val`` (correlated), ``val_ood``, ``test``, ``test_ood`` (uniform) from the standard file.

    ``n_train``/``n_val``: rows drawn by the sampler (0 = the split's size, as the official loader); ``n_eval``:
    rows of each of test, val_ood and test_ood (0 = the whole split). x is uint8 (n, 1, 64, 64) in {0, 1}.
    """
    if mode not in ("linear", "tricky"):
        raise UsageError(f"dSprites mode must be 'linear' or 'tricky', got {mode!r}")
    imgs, classes = read_dsprites(root)
    top = max(int(classes[:, 4].max()), int(classes[:, 5].max()), 1)
    splits = dict(zip(("train", "val", "test"), official_split(len(classes))))
    rng = np.random.default_rng(seed)
    out: dict[str, Triples] = {}
    for name in SPLITS:
        base = splits[name.removesuffix("_ood")]
        cls = classes[base]
        if name in ("train", "val"):
            n = (n_train if name == "train" else n_val) or len(base)
            if mode == "linear":
                pick = dsprites_linear_indices(cls, n, rng)
                z = cls[pick, 4:5] / top
            else:
                pick, xi = dsprites_tricky_indices(cls, n, rng)
                z = xi[:, None]
        else:
            n = min(n_eval or len(base), len(base))
            pick = rng.permutation(len(base))[:n]
            z = cls[pick, 4:5] / top
        x = _noisy_images(imgs[base], pick, noise, rng)
        y = cls[pick, 5:6] / top
        out[name] = Triples(
            torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(z.astype(np.float32))
        )
    return out


# -- Extended Yale-B -----------------------------------------------------------------------------------------

_YALE = re.compile(r"^(yaleB\d+)_P(\d+)A([+-]\d+)E([+-]\d+)\.pgm$")


@dataclass
class YaleFiles:
    """One row per ``*E*.pgm`` image: its path, subject, pose, azimuth and elevation (degrees)."""

    paths: list[Path]
    subject: np.ndarray
    pose: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def yaleb_files(folders: list[Path]) -> YaleFiles:
    """Every ``yaleBxx_PppA+aaaE+ee.pgm`` in the given subject folders (sorted)."""
    rows = []
    for folder in folders:
        for p in sorted(folder.glob("*E*.pgm")):
            m = _YALE.match(p.name)
            if m is not None:
                rows.append((p, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    if not rows:
        return YaleFiles([], np.array([], dtype=str), np.zeros(0, int), np.zeros(0, int), np.zeros(0, int))
    paths, subj, pose, az, el = zip(*rows)
    return YaleFiles(list(paths), np.array(subj), np.array(pose), np.array(az), np.array(el))


def yaleb_subject_split(root: str | Path) -> dict[str, list[Path]]:
    """Subject folders of train/val/test: ``root/{train,val,test}/*`` if present, else the official split."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"Extended Yale-B folder not found: {root}")
    if all((root / s).is_dir() for s in ("train", "val", "test")):
        return {s: sorted(p for p in (root / s).iterdir() if p.is_dir()) for s in ("train", "val", "test")}
    subjects = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("yaleB"))
    if len(subjects) < 3:
        raise UsageError(f"{root}: need at least 3 subject folders yaleBxx/ (found {len(subjects)})")
    tr, va, te = official_split(len(subjects))
    return {"train": [subjects[i] for i in tr], "val": [subjects[i] for i in va], "test": [subjects[i] for i in te]}


def _random_n(idx: list[np.ndarray], n: int, rng: np.random.Generator, sampler: str) -> np.ndarray:
    """A random ``n`` of the rows the sampler's passes collected (with multiplicity), as the official loaders."""
    all_idx = np.concatenate(idx)
    if all_idx.size == 0:
        raise UsageError(f"Extended Yale-B: no image satisfies the {sampler} sampler")
    return all_idx[rng.permutation(all_idx.size)[:n]]


def yaleb_cone_indices(files: YaleFiles, n: int, rng: np.random.Generator, max_passes: int = 10_000) -> np.ndarray:
    """Official "y-cone" sampler: rows collected with multiplicity, a random n of them."""
    az = 0.5 * (files.azimuth / 130 + 1) * 9
    idx: list[np.ndarray] = []
    total = 0
    for _ in range(max_passes):
        for y in np.unique(files.pose):
            for _ in range(10):
                e = 0.5 * 2 * (rng.integers(0, 2) - 0.5) * y**2 / 9
                ok = np.flatnonzero((np.abs(az - 0.5 * y - e) < 1) & (files.pose == y))
                idx.append(ok)
                total += ok.size
        if total >= n:
            break
    return _random_n(idx, n, rng, "y-cone")


def yaleb_mod_indices(files: YaleFiles, n: int, rng: np.random.Generator, max_passes: int = 10_000) -> np.ndarray:
    """Official "mod" sampler: passes of ``|p - 0.5 |az / 10|| <= eps / 2``, ``eps ~ |N(0, 1)|`` per image and
    pass, rows collected with multiplicity (grouped by pose, as the official loop), a random n of them."""
    centre = 0.5 * np.abs(files.azimuth / 10)
    idx: list[np.ndarray] = []
    total = 0
    for _ in range(max_passes):
        eps = np.abs(rng.normal(0.0, 1.0, size=len(files)))
        keep = (files.pose >= centre - eps / 2) & (files.pose <= centre + eps / 2)
        for y in np.unique(files.pose):
            ok = np.flatnonzero(keep & (files.pose == y))
            idx.append(ok)
            total += ok.size
        if total >= n:
            break
    return _random_n(idx, n, rng, "mod")


YALEB_SAMPLERS = {"y-cone": yaleb_cone_indices, "mod": yaleb_mod_indices}


def yaleb_noisy_files(files: YaleFiles, rows: np.ndarray, noise: float, rng: np.random.Generator) -> list[Path]:
    """The image shown for each row: the same subject and lighting at pose ``int(p + N(0, noise))`` when it exists."""
    table = {
        (s, p, a, e): i for i, (s, p, a, e) in enumerate(zip(files.subject, files.pose, files.azimuth, files.elevation))
    }
    shift = rng.normal(0.0, noise, size=rows.size) if noise > 0 else np.zeros(rows.size)
    out = []
    for r, d in zip(rows, shift):
        new = int(files.pose[r] + d)  # truncation toward zero, as the official int()
        key = (files.subject[r], new, files.azimuth[r], files.elevation[r])
        out.append(files.paths[table.get(key, r)] if 0 <= new < 10 else files.paths[r])
    return out


def read_pgm(path: str | Path) -> np.ndarray:
    """Read a binary (P5) or ASCII (P2) PGM image as a float array in [0, 1]."""
    path = Path(path)
    data = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            while pos < len(data) and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise UsageError(f"{path}: truncated PGM header")
        tokens.append(data[start:pos])
    magic = tokens[0]
    try:
        w, h, maxval = (int(t) for t in tokens[1:4])
    except ValueError as e:
        raise UsageError(f"{path}: malformed PGM header {tokens!r}") from e
    if magic == b"P5":
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
        avail = max(0, (len(data) - pos - 1) // dtype.itemsize)
        body = np.frombuffer(data, dtype=dtype, count=min(w * h, avail), offset=min(pos + 1, len(data)))
    elif magic == b"P2":
        body = np.array(data[pos:].split()[: w * h], dtype=np.float64)
    else:
        raise UsageError(f"{path}: not a PGM image (magic {magic!r})")
    if body.size != w * h:
        raise UsageError(f"{path}: expected {w * h} pixels, found {body.size}")
    return body.reshape(h, w).astype(np.float32) / float(maxval)


def area_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Mean over ``size x size`` nearly equal blocks (area interpolation), vectorised."""
    h, w = img.shape
    rows = np.linspace(0, h, size + 1).astype(int)[:-1]
    cols = np.linspace(0, w, size + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(img.astype(np.float64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.maximum(np.diff(np.append(rows, h)), 1), np.maximum(np.diff(np.append(cols, w)), 1))
    return (sums / counts).astype(np.float32)


def load_yaleb(
    root: str | Path,
    n_train: int = 0,
    n_val: int = 0,
    n_eval: int = 0,
    noise: float = 2.0,
    size: int = 64,
    seed: int = 0,
    mode: str = "y-cone",
) -> dict[str, Triples]:
    """``train``, ``val`` (correlated by the ``mode`` sampler: "y-cone" or "mod"), ``val_ood``, ``test``,
    ``test_ood`` (all images) from the folders.

    ``n_train``/``n_val``: rows drawn by the sampler (0 = the split's number of images, as the official loader);
    ``n_eval``: rows of each OOD/test split (0 = all). Only the images a split uses are read.
    """
    if mode not in YALEB_SAMPLERS:
        raise UsageError(f"unknown Yale-B sampler {mode!r}: use one of {', '.join(YALEB_SAMPLERS)}")
    folders = yaleb_subject_split(root)
    rng = np.random.default_rng(seed)
    out: dict[str, Triples] = {}
    cache: dict[Path, np.ndarray] = {}
    for name in SPLITS:
        files = yaleb_files(folders[name.removesuffix("_ood")])
        if len(files) == 0:
            raise UsageError(f"{root}: no Extended Yale-B images yaleBxx_PppA+aaaE+ee.pgm in the {name} subjects")
        if name in ("train", "val"):
            rows = YALEB_SAMPLERS[mode](files, (n_train if name == "train" else n_val) or len(files), rng)
        else:
            rows = rng.permutation(len(files))[: min(n_eval or len(files), len(files))]
        shown = yaleb_noisy_files(files, rows, noise, rng)
        for p in shown:
            if p not in cache:
                cache[p] = area_resize(read_pgm(p), size)
        x = np.stack([cache[p] for p in shown])[:, None]
        y = files.pose[rows, None] / 9.0
        z = files.azimuth[rows, None] / 130.0
        out[name] = Triples(
            torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(z.astype(np.float32))
        )
    return out
