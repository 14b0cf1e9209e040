"""An offline planted-subpopulation benchmark on scikit-learn's 8x8 digits (brief, Sec. 3(d)).

Jain et al. (ICLR 2023) test their method on datasets with a known hard subpopulation: CelebA with a
skewed attribute, CIFAR-100 superclasses with an under-represented subclass, Colored MNIST. Offline we
plant one: inside a few "affected" classes a minority style (intensity-inverted digits, 1 - x) is rare
in the training split (``train_rate``, 2%) and common in val/test/pool (``eval_rate``, 30%), so a
classifier trained on the train split fails mostly on it. Two nuisance styles, "faint" (contrast x0.4)
and "noisy" (Gaussian noise), occur at the same rate in every split and class: they give the error
SVM and the captions real competitors.

Every image is a *rendering* of one of the 1797 bundled digits with a small random affine jitter
(rotation, scale, sub-pixel shift; bilinear), several per base image, so the splits are larger than
the raw set. Splits are drawn per class over *base* images: no digit appears in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from orals23_shared.cli import UsageError

__all__ = ["DIGIT_NAMES", "SPLITS", "STYLES", "Benchmark", "PlantedConfig", "Split", "caption_for", "encoder_corpus",
           "make_planted_digits", "render"]  # fmt: skip

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = ("train", "val", "test", "pool")
STYLES = ("inverted", "faint", "noisy")


@dataclass
class PlantedConfig:
    """The planted benchmark. Defaults: affected digits 2, 5, 8; 2% inverted in train, 30% elsewhere."""

    affected: tuple[int, ...] = field(default=(2, 5, 8), metadata={"help": "classes holding the planted minority"})
    train_rate: float = field(default=0.02, metadata={"help": "minority share of affected classes in train"})
    eval_rate: float = field(default=0.3, metadata={"help": "minority share of affected classes in val/test/pool"})
    nuisance_rate: float = field(
        default=0.1, metadata={"help": "rate of each nuisance style (faint, noisy), all splits"}
    )
    fractions: tuple[float, ...] = field(
        default=(0.4, 0.2, 0.2, 0.2), metadata={"help": "share of base digits in train, val, test, pool"}
    )
    renders: tuple[int, ...] = field(default=(3, 2, 2, 3), metadata={"help": "renders per base digit per split"})
    jitter: float = field(default=1.0, metadata={"help": "scale of the random affine jitter (0: none)"})

    def check(self) -> None:
        if not self.affected or any(not 0 <= c < 10 for c in self.affected):
            raise UsageError(f"--affected must name digits 0-9, got {self.affected}")
        for name in ("train_rate", "eval_rate", "nuisance_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise UsageError(f"--{name.replace('_', '-')} must lie in [0, 1], got {v}")
        if len(self.fractions) != 4 or len(self.renders) != 4:
            raise UsageError("--fractions and --renders need 4 values: train, val, test, pool")
        if any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise UsageError(f"--fractions must be positive and sum to 1, got {self.fractions}")
        if any(r < 1 for r in self.renders):
            raise UsageError(f"--renders must be >= 1, got {self.renders}")


@dataclass
class Split:
    """Rendered images (n, 8, 8) in [0, 1] with their labels, base digit ids and style flags."""

    images: np.ndarray
    labels: np.ndarray
    base: np.ndarray
    styles: dict[str, np.ndarray]
    minority: np.ndarray  # inverted and in an affected class: the planted subpopulation

    @property
    def inputs(self) -> np.ndarray:
        return self.images.reshape(len(self.images), -1)

    @property
    def groups(self) -> np.ndarray:
        """Group id 2*label + minority: worst-group accuracy is taken over these."""
        return 2 * self.labels + self.minority.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> Split:
        return Split(self.images[idx], self.labels[idx], self.base[idx], {k: v[idx] for k, v in self.styles.items()},
                     self.minority[idx])  # fmt: skip


@dataclass
class Benchmark:
    config: PlantedConfig
    splits: dict[str, Split]

    def __getitem__(self, name: str) -> Split:
        return self.splits[name]


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def render(images: np.ndarray, rng: np.random.Generator, jitter: float = 1.0) -> np.ndarray:
    """Random small affine jitter of (n, 8, 8) images: rotation +-12 deg, scale 0.9-1.1, shift +-0.3 px."""
    n = len(images)
    if jitter <= 0 or n == 0:
        return images.astype(np.float32).copy()
    ang = np.deg2rad(rng.uniform(-12, 12, n)) * jitter
    scale = 1 + rng.uniform(-0.1, 0.1, n) * jitter
    shift = rng.uniform(-0.08, 0.08, (n, 2)) * jitter
    cos, sin = np.cos(ang) / scale, np.sin(ang) / scale
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    x = torch.from_numpy(images.astype(np.float32))[:, None]
    grid = F.affine_grid(torch.from_numpy(theta).float(), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[:, 0].numpy().clip(0, 1)


def _apply_styles(images: np.ndarray, styles: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    x = images.copy()
    x[styles["faint"]] *= 0.4
    noise = rng.normal(0, 0.25, x.shape).astype(np.float32)
    x = np.where(styles["noisy"][:, None, None], x + noise, x)
    x = np.where(styles["inverted"][:, None, None], 1.0 - x, x)
    return x.clip(0, 1).astype(np.float32)


def make_planted_digits(config: PlantedConfig | None = None, seed: int = 0) -> Benchmark:
    """Draw the four splits; the same ``(config, seed)`` always gives the same benchmark."""
    cfg = config or PlantedConfig()
    cfg.check()
    images, labels = _load_digits()
    rng = np.random.default_rng(seed)
    split_of = np.empty(len(labels), dtype=np.int64)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum(cfg.fractions)[:-1] * len(idx)).astype(int)
        for s, part in enumerate(np.split(idx, cuts)):
            split_of[part] = s
    affected = np.isin(labels, cfg.affected)
    splits = {}
    for s, name in enumerate(SPLITS):
        base = np.repeat(np.flatnonzero(split_of == s), cfg.renders[s])
        n = len(base)
        rate = cfg.train_rate if name == "train" else cfg.eval_rate
        inverted = affected[base] & (rng.random(n) < rate)
        styles = {
            "inverted": inverted,
            "faint": rng.random(n) < cfg.nuisance_rate,
            "noisy": rng.random(n) < cfg.nuisance_rate,
        }
        imgs = _apply_styles(render(images[base], rng, cfg.jitter), styles, rng)
        splits[name] = Split(imgs, labels[base], base, styles, inverted.copy())
    return Benchmark(cfg, splits)


def caption_for(label: int, styles: dict[str, bool], rng: np.random.Generator | None = None, keep: float = 1.0) -> str:
    """ "a photo of a [style words] <digit name>"; each present style word is kept with prob ``keep``."""
    words = [w for w in STYLES if styles.get(w)]
    if rng is not None:
        words = [w for w in words if rng.random() < keep]
        rng.shuffle(words)
    return " ".join(["a photo of a", *words, DIGIT_NAMES[int(label)]])


def encoder_corpus(
    bench: Benchmark, renders: int = 4, seed: int = 0, keep: float = 0.8
) -> tuple[np.ndarray, list[str]]:
    """Image-caption pairs for the package's toy joint encoder: the *train* split's base digits, each
    rendered ``renders`` times with every style drawn independently with probability 1/2 (a corpus whose
    style balance owes nothing to the classifier's skew), captioned with ``caption_for``."""
    images, labels = _load_digits()
    rng = np.random.default_rng(seed + 7919)
    base = np.repeat(np.unique(bench["train"].base), renders)
    n = len(base)
    styles = {w: rng.random(n) < 0.5 for w in STYLES}
    imgs = _apply_styles(render(images[base], rng, bench.config.jitter), styles, rng)
    caps = [caption_for(labels[b], {w: styles[w][i] for w in STYLES}, rng, keep) for i, b in enumerate(base)]
    return imgs, caps
