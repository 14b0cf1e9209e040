"""Data for CIRCE experiments: (X, Y target, Z distractor) triples (Pogodin et al., ICLR 2023, Sec. 5).

Built in (generated, no downloads):

* ``linear_gaussian`` - the linear-Gaussian shortcut task of the brief: ``Y ~ N(0,1)``, ``Z = Y + 0.3 e_z``,
  ``X = [Y + 0.7 e_1, Z + 0.05 e_2, 8 noise dims]``; out of distribution Z is drawn independently of Y with the
  same marginal ``N(0, 1.09)``.
* ``procedural_sprites`` - a square drawn in numpy on a ``size x size`` canvas; target Y = vertical grid
  position, distractor Z = horizontal grid position. In training ``posX = posY + round(N(0,1))`` (clipped); out of
  distribution ``posX`` is uniform, independent of ``posY``. The square is drawn at the target row shifted by
  ``round(N(0, noise_px))`` pixels: label noise on the image, as in the official dSprites loader, so that the
  distractor carries extra information about Y. Not dSprites.

From a user path (never downloaded):

* ``load_npz`` - arrays ``x`` (n, ...), ``y`` (n, dy), ``z`` (n, dz), validated.
* ``load_dsprites`` - the original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` layout (``imgs``,
  ``latents_classes``): target posY/31, distractor posX/31 ("linear") or ``xi`` with posX ~ posY + xi^2
  ("tricky"), correlated sampling as the official ``data/dsprites*.py``; ``ood=True`` samples uniformly.
* ``load_yaleb`` - Extended Yale-B ``<root>/<subject>/yaleBxx_PyyA+aaaE+ee.pgm``: target pose/9, distractor
  azimuth/130, images block-averaged to ``size x size``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from orals23_shared.cli import UsageError

__all__ = [
    "Triples",
    "linear_gaussian",
    "procedural_sprites",
    "load_npz",
    "save_npz",
    "split_heldout",
    "load_dsprites",
    "load_yaleb",
    "read_pgm",
]


@dataclass
class Triples:
    """Features ``x`` (n, ...), target ``y`` (n, dy), distractor ``z`` (n, dz), all float32 tensors."""

    x: Tensor
    y: Tensor
    z: Tensor

    def __post_init__(self) -> None:
        validate(self.x, self.y, self.z)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx: np.ndarray | Tensor) -> Triples:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Triples(self.x[idx], self.y[idx], self.z[idx])


def validate(x: Tensor, y: Tensor, z: Tensor, source: str = "data") -> None:
    """Shapes ``x (n, ...)``, ``y (n, dy)``, ``z (n, dz)``, equal n, finite values; else ``UsageError``."""
    if x.ndim < 2:
        raise UsageError(f"{source}: x must have shape (n, features...) but has shape {tuple(x.shape)}")
    for name, a in (("y", y), ("z", z)):
        if a.ndim != 2:
            raise UsageError(f"{source}: {name} must have shape (n, d) but has shape {tuple(a.shape)}")
    n = {"x": x.shape[0], "y": y.shape[0], "z": z.shape[0]}
    if len(set(n.values())) != 1:
        raise UsageError(f"{source}: mismatched lengths x={n['x']}, y={n['y']}, z={n['z']}")
    for name, a in (("x", x), ("y", y), ("z", z)):
        finite = torch.isfinite(a.reshape(a.shape[0], -1)).all(1)
        if not bool(finite.all()):
            row = int((~finite).nonzero()[0, 0])
            raise UsageError(f"{source}: {name} has NaN or infinite values (first at row {row})")


def _t(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def linear_gaussian(n: int, seed: int, ood: bool = False, noise_dims: int = 8) -> Triples:
    """The linear-Gaussian shortcut task (brief (d)1)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, 1))
    z = y + 0.3 * rng.normal(size=(n, 1))
    if ood:  # same marginal N(0, 1 + 0.09), independent of Y
        z = np.sqrt(1.09) * rng.normal(size=(n, 1))
    x = np.concatenate(
        [y + 0.7 * rng.normal(size=(n, 1)), z + 0.05 * rng.normal(size=(n, 1)), rng.normal(size=(n, noise_dims))], 1
    )
    return Triples(_t(x), _t(y), _t(z))


def procedural_sprites(
    n: int, seed: int, ood: bool = False, size: int = 32, grid: int = 16, side: int = 4, noise_px: float = 2.0
) -> Triples:
    """Procedural sprites (brief (d)2): x (n, 1, size, size); y = posY/(grid-1), z = posX/(grid-1)."""
    if size < side + 2:
        raise UsageError(f"canvas {size} too small for sprites of side {side}")
    rng = np.random.default_rng(seed)
    pos_y = rng.integers(0, grid, size=n)
    if ood:
        pos_x = rng.integers(0, grid, size=n)
    else:
        pos_x = np.clip(pos_y + np.rint(rng.normal(size=n)).astype(int), 0, grid - 1)
    span = size - side
    px = np.rint(pos_x * span / (grid - 1)).astype(int)
    py = np.clip(np.rint(pos_y * span / (grid - 1) + rng.normal(scale=noise_px, size=n)).astype(int), 0, span)
    imgs = np.zeros((n, 1, size, size), dtype=np.float32)
    rows = py[:, None] + np.arange(side)[None, :]
    cols = px[:, None] + np.arange(side)[None, :]
    idx = np.arange(n)[:, None, None]
    imgs[idx, 0, rows[:, :, None], cols[:, None, :]] = 1.0
    y = (pos_y / (grid - 1))[:, None]
    z = (pos_x / (grid - 1))[:, None]
    return Triples(_t(imgs), _t(y), _t(z))


def load_npz(path: str | Path) -> Triples:
    """Read ``x``, ``y``, ``z`` from an ``.npz`` file; 1-D ``y``/``z`` are read as one column."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"data file not found: {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npz file ({e})") from e
    with arrays:
        missing = [k for k in ("x", "y", "z") if k not in arrays.files]
        if missing:
            raise UsageError(
                f"{path}: missing array(s) {', '.join(missing)} (has: {', '.join(arrays.files) or 'none'})"
            )
        out = {}
        for k in ("x", "y", "z"):
            a = arrays[k]
            if not np.issubdtype(a.dtype, np.number) and a.dtype != np.bool_:
                raise UsageError(f"{path}: array {k} must be numeric, got dtype {a.dtype}")
            if k != "x" and a.ndim == 1:
                a = a[:, None]
            if k == "x" and a.ndim == 1:
                a = a[:, None]
            out[k] = _t(a.astype(np.float32))
    validate(out["x"], out["y"], out["z"], source=str(path))
    return Triples(out["x"], out["y"], out["z"])


def save_npz(path: str | Path, data: Triples) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=data.x.numpy(), y=data.y.numpy(), z=data.z.numpy())
    return path


def split_heldout(data: Triples, m: int, seed: int, min_train: int = 8) -> tuple[Triples, Triples]:
    """Remove a random held-out set of ``m`` rows (for the Z|Y regression) from the training data."""
    n = len(data)
    if m < 4:
        raise UsageError(f"held-out size must be at least 4, got {m}")
    if n - m < min_train:
        raise UsageError(
            f"training data has {n} rows: too few for a held-out set of {m} plus {min_train} training rows"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return data.subset(perm[m:]), data.subset(perm[:m])


def load_dsprites(path: str | Path, n: int, seed: int, mode: str = "linear", ood: bool = False) -> Triples:
    """Sample ``n`` images from the original dSprites ``.npz`` with the official correlation samplers.

    ``linear``: posX = clip(posY + round(N(0,1))), target posY/31, distractor posX/31.
    ``tricky``: xi = +-sqrt(U{0..3}), posX = clip(posY + xi^2), distractor xi (a non-linear Y-Z relation).
    ``ood``: uniform over all images (posX independent of posY).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"dSprites file not found: {path}")
    if mode not in ("linear", "tricky"):
        raise UsageError(f"dSprites mode must be 'linear' or 'tricky', got {mode!r}")
    with np.load(path, allow_pickle=False) as f:
        for k in ("imgs", "latents_classes"):
            if k not in f.files:
                raise UsageError(f"{path}: not a dSprites file (missing array {k})")
        imgs = f["imgs"]
        classes = f["latents_classes"]
    if classes.ndim != 2 or classes.shape[1] != 6 or classes.shape[0] != imgs.shape[0]:
        raise UsageError(f"{path}: latents_classes must have shape ({imgs.shape[0]}, 6), got {classes.shape}")
    rng = np.random.default_rng(seed)
    pos_x_all, pos_y_all = classes[:, 4], classes[:, 5]
    top = int(max(pos_x_all.max(), pos_y_all.max()))
    by_xy: dict[tuple[int, int], np.ndarray] = {}
    for i, key in enumerate(zip(pos_x_all.tolist(), pos_y_all.tolist())):
        by_xy.setdefault(key, []).append(i)  # type: ignore[arg-type]
    pos_y = rng.integers(0, top + 1, size=n)
    xi = np.zeros(n)
    if ood:
        pos_x = rng.integers(0, top + 1, size=n)
    elif mode == "linear":
        pos_x = np.clip(pos_y + np.rint(rng.normal(size=n)).astype(int), 0, top)
    else:
        xi = np.sqrt(rng.integers(0, 4, size=n)) * rng.choice([-1.0, 1.0], size=n)
        pos_x = np.clip(pos_y + np.rint(xi**2).astype(int), 0, top)
    idx = np.empty(n, dtype=np.int64)
    for k in range(n):
        cands = by_xy.get((int(pos_x[k]), int(pos_y[k])))
        if not cands:
            raise UsageError(f"{path}: no image with posX={pos_x[k]}, posY={pos_y[k]}")
        idx[k] = cands[rng.integers(len(cands))]
    x = imgs[idx].astype(np.float32)[:, None]
    y = (pos_y / max(top, 1))[:, None]
    z = (pos_x / max(top, 1))[:, None] if (mode == "linear" or ood) else xi[:, None]
    return Triples(_t(x), _t(y), _t(z))


_YALE = re.compile(r"^yaleB(\d+)_P(\d+)A([+-]\d+)E([+-]\d+)\.pgm$")


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
        dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
        body = np.frombuffer(data, dtype=dtype, count=w * h, offset=pos + 1)
    elif magic == b"P2":
        body = np.array(data[pos:].split()[: w * h], dtype=np.float64)
    else:
        raise UsageError(f"{path}: not a PGM image (magic {magic!r})")
    if body.size != w * h:
        raise UsageError(f"{path}: expected {w * h} pixels, found {body.size}")
    return body.reshape(h, w).astype(np.float32) / float(maxval)


def _block_resize(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape
    rows = np.linspace(0, h, size + 1).astype(int)
    cols = np.linspace(0, w, size + 1).astype(int)
    out = np.empty((size, size), dtype=np.float32)
    for i in range(size):
        for j in range(size):
            out[i, j] = img[rows[i] : max(rows[i + 1], rows[i] + 1), cols[j] : max(cols[j + 1], cols[j] + 1)].mean()
    return out


def load_yaleb(root: str | Path, size: int = 32) -> tuple[Triples, np.ndarray]:
    """Read every ``yaleBxx_PyyA+aaaE+ee.pgm`` under ``root``; returns the triples and the subject id per row.

    Target pose/9, distractor light azimuth/130 (the official normalisation). Ambient images (``*_Ambient.pgm``)
    and other files are skipped; the correlated "y-cone" samplers of the official code are not included.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"Extended Yale-B folder not found: {root}")
    xs, ys, zs, subj = [], [], [], []
    for p in sorted(root.rglob("*.pgm")):
        m = _YALE.match(p.name)
        if m is None:
            continue
        xs.append(_block_resize(read_pgm(p), size))
        subj.append(int(m.group(1)))
        ys.append(int(m.group(2)) / 9.0)
        zs.append(int(m.group(3)) / 130.0)
    if not xs:
        raise UsageError(f"{root}: no Extended Yale-B images named yaleBxx_PyyA+aaaE+ee.pgm found")
    x = np.stack(xs)[:, None]
    return Triples(_t(x), _t(np.array(ys)[:, None]), _t(np.array(zs)[:, None])), np.array(subj)
