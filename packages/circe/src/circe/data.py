"""Data for CIRCE experiments: (X, Y target, Z distractor) triples (Pogodin et al., ICLR 2023, Sec. 5).

Built in (generated, no downloads), each with an out-of-distribution (OOD) version in which Z is drawn
independently of Y with its training marginal:

* ``linear_gaussian`` - the linear-Gaussian shortcut task of the brief: ``Y ~ N(0,1)``, ``Z = Y + 0.3 e_z``,
  ``X = [Y + 0.7 e_1, Z + 0.05 e_2, 8 noise dims]``.
* ``nonlinear_shortcut`` - the same with a non-linear Y-Z link: ``Z = Y + 0.5 sin(2Y) + 0.3 e_z``.
* ``weak_shortcut`` - the same with a weaker shortcut: ``Z = Y + 0.6 e_z``.
* ``procedural_sprites`` - a square drawn in numpy on a ``size x size`` canvas; target Y = vertical grid
  position, distractor Z = horizontal grid position. In training ``posX = posY + round(N(0,1))`` (clipped); out of
  distribution ``posX`` is uniform, independent of ``posY``. The square is drawn at the target row shifted by
  ``round(N(0, noise_px))`` pixels: label noise on the image, as in the official dSprites loader, so that the
  distractor carries extra information about Y. Not dSprites.

From a user path: ``load_npz`` (arrays ``x`` (n, ...), ``y`` (n, dy), ``z`` (n, dz), validated); the dSprites and
Extended Yale-B readers are in ``circe.paper_data``.

``Scaling`` makes the regulariser strength scale-free: targets and distractors (and tabular features) are
standardised with training statistics, so the MSE is in units of Var(Y) and gamma means the same on every data
scale (see the README, "Scale-free gamma").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from orals23_shared.cli import UsageError

__all__ = [
    "Triples",
    "Scaling",
    "SHORTCUT_TASKS",
    "linear_gaussian",
    "nonlinear_shortcut",
    "weak_shortcut",
    "shortcut_task",
    "procedural_sprites",
    "load_npz",
    "save_npz",
    "split_heldout",
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
        if not a.is_floating_point():  # integer images (uint8 dSprites) are finite by construction
            continue
        finite = torch.isfinite(a.reshape(a.shape[0], -1)).all(1)
        if not bool(finite.all()):
            row = int((~finite).nonzero()[0, 0])
            raise UsageError(f"{source}: {name} has NaN or infinite values (first at row {row})")


def _t(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def shortcut_task(
    n: int, seed: int, ood: bool = False, link: str = "linear", z_noise: float = 0.3, noise_dims: int = 8
) -> Triples:
    """Shortcut task: ``X = [Y + 0.7 e_1, Z + 0.05 e_2, noise]``, ``Z = f(Y) + z_noise e_z``.

    ``link``: ``linear`` (f(Y) = Y) or ``sine`` (f(Y) = Y + 0.5 sin(2Y), monotone but non-linear). OOD: Z is computed from an independent copy
    of Y, so its marginal is the training one and it carries no information about Y.
    """
    if link not in ("linear", "sine"):
        raise UsageError(f"link must be 'linear' or 'sine', got {link!r}")
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, 1))
    f = (lambda t: t) if link == "linear" else (lambda t: t + 0.5 * np.sin(2.0 * t))
    z = f(y) + z_noise * rng.normal(size=(n, 1))
    if ood:
        z = f(rng.normal(size=(n, 1))) + z_noise * rng.normal(size=(n, 1))
    x = np.concatenate(
        [y + 0.7 * rng.normal(size=(n, 1)), z + 0.05 * rng.normal(size=(n, 1)), rng.normal(size=(n, noise_dims))], 1
    )
    return Triples(_t(x), _t(y), _t(z))


def linear_gaussian(n: int, seed: int, ood: bool = False, noise_dims: int = 8) -> Triples:
    """The linear-Gaussian shortcut task of the brief (d)1: ``Z = Y + 0.3 e_z``."""
    return shortcut_task(n, seed, ood, "linear", 0.3, noise_dims)


def nonlinear_shortcut(n: int, seed: int, ood: bool = False, noise_dims: int = 8) -> Triples:
    """Non-linear Y-Z link: ``Z = Y + 0.5 sin(2Y) + 0.3 e_z``."""
    return shortcut_task(n, seed, ood, "sine", 0.3, noise_dims)


def weak_shortcut(n: int, seed: int, ood: bool = False, noise_dims: int = 8) -> Triples:
    """Weaker shortcut: ``Z = Y + 0.6 e_z`` (twice the linear task's distractor noise)."""
    return shortcut_task(n, seed, ood, "linear", 0.6, noise_dims)


#: the generated tabular tasks by name (``circe-train --data NAME``)
SHORTCUT_TASKS = {
    "linear-gaussian": linear_gaussian,
    "nonlinear": nonlinear_shortcut,
    "weak-shortcut": weak_shortcut,
}


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


@dataclass
class Scaling:
    """Affine maps to the units training works in: ``(v - shift) / scale`` for x, y and z.

    ``fit`` with ``standardize=True``: y and z per column by the training mean and standard deviation, tabular x
    per column likewise; images get the official loaders' ``Normalize(0.5, 0.5)`` (pixels in [0, 1] -> [-1, 1]).
    With ``standardize=False`` y, z and tabular x are used as given (the official convention).
    """

    x_shift: Tensor
    x_scale: Tensor
    y_shift: Tensor
    y_scale: Tensor
    z_shift: Tensor
    z_scale: Tensor

    @staticmethod
    def _moments(a: Tensor) -> tuple[Tensor, Tensor]:
        a = a.to(torch.float64)
        sd = a.std(0)
        return a.mean(0).float(), torch.where(sd > 0, sd, torch.ones_like(sd)).float()

    @classmethod
    def fit(cls, data: Triples, standardize: bool = True) -> Scaling:
        one, zero = torch.ones(()), torch.zeros(())
        if data.x.ndim > 2:
            xs, xc = torch.tensor(0.5), torch.tensor(0.5)
        elif standardize:
            xs, xc = cls._moments(data.x)
        else:
            xs, xc = zero, one
        if standardize:
            ys, yc = cls._moments(data.y)
            zs, zc = cls._moments(data.z)
        else:
            ys, yc = torch.zeros(data.y.shape[1]), torch.ones(data.y.shape[1])
            zs, zc = torch.zeros(data.z.shape[1]), torch.ones(data.z.shape[1])
        return cls(xs, xc, ys, yc, zs, zc)

    def y(self, y: Tensor) -> Tensor:
        return (y - self.y_shift.to(y)) / self.y_scale.to(y)

    def z(self, z: Tensor) -> Tensor:
        return (z - self.z_shift.to(z)) / self.z_scale.to(z)

    def as_dict(self) -> dict[str, list[float] | float]:
        return {
            k: getattr(self, k).tolist() for k in ("x_shift", "x_scale", "y_shift", "y_scale", "z_shift", "z_scale")
        }
