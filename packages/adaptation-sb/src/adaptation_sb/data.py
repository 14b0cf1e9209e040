"""Simplicity-bias data: digits-dominoes, built offline, and the user's own arrays (Trivedi et al., ICLR 2023, Sec. 4).

A dominoes image stacks a *complex* half over a *simple* half (Shah et al., 2020; the paper's MNIST-CIFAR: CIFAR-10
on top, MNIST below, label = the CIFAR class). Here, offline and honestly named **digits-dominoes**:

* complex half (top 8x8): a scikit-learn ``load_digits`` image (UCI optical digits, bundled with scikit-learn),
  rotated by a random angle in [-rotation, rotation] degrees plus Gaussian pixel noise, scaled to [0, 1];
* simple half (bottom 8x8): a class-coded bar (a horizontal bar in row c for classes 0..7, a vertical bar in
  column 1 or 6 for classes 8 and 9), linearly separable by construction;
* label = the digit's class. The bar shows the label for exactly ``round(correlation * n)`` examples and a uniformly
  drawn *other* class for the rest; "random" splits draw the bar's class uniformly (agreement ~ 1/10, chance).

Splits (disjoint digit images, fixed by the seed): ``pretrain`` (unlabelled, random bars: the encoder's source
task), ``train``/``val`` (correlated, ``val`` is the only split used for selection), ``test`` (correlated, ID) and
``test_random`` (same images as ``test``, bars randomised: the SB test of the paper's "random OOD").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orals23_shared.cli import UsageError

__all__ = [
    "DominoesConfig",
    "DominoesSplits",
    "Split",
    "bar_pattern",
    "load_npz_split",
    "make_digits_dominoes",
    "make_dominoes",
]

N_CLASSES = 10


def bar_pattern(label: int, size: int = 8) -> np.ndarray:
    """The simple feature of class ``label``: one bright bar on an 8x8 canvas."""
    if not 0 <= label < N_CLASSES:
        raise ValueError(f"bar label must lie in 0..9, got {label}")
    img = np.zeros((size, size), dtype=np.float32)
    if label < 8:
        img[label, :] = 1.0
    else:
        img[:, 1 if label == 8 else 6] = 1.0
    return img


@dataclass
class Split:
    """Images in [0, 1] (n, H, W), labels (n,), and the class the simple half shows (n,) (-1: none)."""

    x: np.ndarray
    y: np.ndarray
    simple: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def agreement(self) -> float:
        """Fraction of examples whose simple half shows their label."""
        return float(np.mean(self.simple == self.y))


@dataclass
class DominoesSplits:
    pretrain: Split
    train: Split
    val: Split
    test: Split
    test_random: Split

    def as_dict(self) -> dict[str, Split]:
        return {k: getattr(self, k) for k in ("pretrain", "train", "val", "test", "test_random")}


@dataclass
class DominoesConfig:
    correlation: float = 1.0  # fraction of train/val/test examples whose bar shows the label (paired dominoes)
    rotation: float = 30.0  # degrees, complex half
    noise: float = 0.1  # Gaussian pixel noise (std), complex half
    fractions: tuple[float, float, float, float] = (0.35, 0.3, 0.1, 0.25)  # pretrain, train, val, test
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.correlation <= 1.0:
            raise UsageError(f"--correlation must lie in [0, 1], got {self.correlation}")
        if self.rotation < 0 or self.noise < 0:
            raise UsageError("--rotation and --noise must be >= 0")


def _simple_labels(y: np.ndarray, correlation: float | None, rng: np.random.Generator) -> np.ndarray:
    """The bar's class: the label for exactly round(correlation*n) examples, another class for the rest.

    ``correlation=None``: uniformly random bars (independent of the label).
    """
    n = y.shape[0]
    if correlation is None:
        return rng.integers(0, N_CLASSES, size=n)
    simple = y.copy()
    flip = rng.permutation(n)[: n - int(round(correlation * n))]
    simple[flip] = (y[flip] + rng.integers(1, N_CLASSES, size=flip.size)) % N_CLASSES
    return simple


def make_dominoes(
    complex_half: np.ndarray, y: np.ndarray, correlation: float | None, rng: np.random.Generator
) -> Split:
    """Stack each complex 8x8 image over a bar; see the module docstring for the bar's class."""
    simple = _simple_labels(y, correlation, rng)
    bars = np.stack([bar_pattern(int(c)) for c in simple]) if len(y) else np.zeros((0, 8, 8), np.float32)
    x = np.concatenate([complex_half.astype(np.float32), bars], axis=1)
    return Split(x=x, y=y.astype(np.int64), simple=simple.astype(np.int64))


def _augment(images: np.ndarray, rotation: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import rotate

    out = np.empty_like(images, dtype=np.float32)
    for i, img in enumerate(images):
        angle = rng.uniform(-rotation, rotation) if rotation else 0.0
        out[i] = rotate(img, angle, reshape=False, order=1, mode="constant", cval=0.0) if angle else img
    out += rng.normal(0.0, noise, size=out.shape).astype(np.float32) if noise else 0.0
    return np.clip(out, 0.0, 1.0)


def make_digits_dominoes(cfg: DominoesConfig) -> DominoesSplits:
    """Digits-dominoes splits from scikit-learn's bundled digits (no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(labels))
    cuts = np.cumsum(np.round(np.asarray(cfg.fractions) / sum(cfg.fractions) * len(labels)).astype(int))[:-1]
    parts = np.split(order, cuts)
    imgs = [_augment(images[p], cfg.rotation, cfg.noise, rng) for p in parts]
    pre, tr, va, te = (make_dominoes(imgs[i], labels[parts[i]], cfg.correlation, rng) for i in range(4))
    pre = make_dominoes(imgs[0], labels[parts[0]], None, rng)  # the source task never sees a correlated bar
    te_random = make_dominoes(imgs[3], labels[parts[3]], None, rng)
    return DominoesSplits(pre, tr, va, te, te_random)


def load_npz_split(path: str | Path, require_labels: bool = True) -> Split:
    """A split from the user's ``.npz``: ``x`` (n, ...) floats in [0, 1] (or uint8, scaled by 1/255) and ``y`` (n,)
    integer labels
    (``y`` may be absent when ``require_labels`` is false: an anomaly set; its labels are then -1)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: file not found (an .npz with arrays x and y)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or ("y" not in f and require_labels):
                raise UsageError(f"{path}: needs arrays 'x' and 'y', found {sorted(f.files)}")
            x = np.asarray(f["x"])
            x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)  # uint8 images
            y = np.asarray(f["y"]) if "y" in f else np.full(x.shape[:1], -1)
            simple = np.asarray(f["simple"]) if "simple" in f else np.full(y.shape, -1)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npz ({e})") from None
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise UsageError(f"{path}: x must be (n, ...) and y (n,), got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (require_labels and y.size and y.min() < 0):
        raise UsageError(f"{path}: y must hold non-negative integer labels")
    if not np.isfinite(x).all() or (x.size and (x.min() < 0.0 or x.max() > 1.0)):
        raise UsageError(f"{path}: x must hold finite values in [0, 1] (scale images first)")
    return Split(x=x, y=y.astype(np.int64), simple=simple.astype(np.int64))
