"""Datasets for Image2Sphere (Klee et al., ICLR 2023, Sec. 5): rendered SYMSOL-like shapes, and loaders
for the SYMSOL (Murphy et al. 2021) and ModelNet10-SO(3) (Liao et al. 2019, official npz) layouts.

Every dataset is a ``PoseData``: images (N, C, H, W) float32 in [0, 1] and, per image, all of its
symmetry-equivalent rotations (N, K, 3, 3). Training draws one of the K at random per access, as the
official SYMSOL loader does, so the targets are random members of the equivalence class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from image2sphere.render import make_shape, render
from image2sphere.so3 import check_rotations, random_rotations
from orals23_shared.cli import UsageError

__all__ = [
    "PoseData",
    "concat_pose_data",
    "rendered_dataset",
    "LOOKALIKES",
    "load_symsol",
    "load_modelnet10",
    "SYMSOL_SHAPES",
]

# a shape that breaks the symmetry of a look-alike of identical geometry: its predictions are also scored
# against that look-alike's group (a model that ignores the marking must fail)
LOOKALIKES = {"cube_marked": "cube"}

SYMSOL_SHAPES = ("tet", "cube", "icosa", "cone", "cyl", "tetX", "cylO", "sphereX")


@dataclass
class PoseData:
    images: torch.Tensor  # (N, C, H, W) float32
    rotations: torch.Tensor  # (N, K, 3, 3) float32: all equivalent labels of each image
    symmetries: torch.Tensor | None = None  # (G, 3, 3) object symmetry group when known
    name: str = ""
    compare_symmetries: torch.Tensor | None = None  # group of a more symmetric look-alike (marked cube: cube)
    n_equiv: torch.Tensor | None = None  # (N,) number of valid labels per image (rows padded to K); None: all K
    labels: torch.Tensor | None = None  # (N,) class index per image (ModelNet10-SO(3), PASCAL3D+)
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise UsageError(f"{self.name}: images must be (N, C, H, W), got {tuple(self.images.shape)}")
        if self.rotations.ndim == 3:
            self.rotations = self.rotations[:, None]
        if self.rotations.ndim != 4 or self.rotations.shape[0] != self.images.shape[0]:
            raise UsageError(
                f"{self.name}: {self.images.shape[0]} images but rotations of shape {tuple(self.rotations.shape)}"
            )
        check_rotations(self.rotations, f"{self.name} rotations")

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and one label per image (a random member of its equivalence class)."""
        k = self.rotations.shape[1]
        if self.n_equiv is not None:  # rows of different lengths: uniform over each row's own labels
            u = torch.rand(len(idx), generator=generator)
            pick = (u * self.n_equiv[idx]).long().clamp_max(k - 1)
        elif k > 1:
            pick = torch.randint(k, (len(idx),), generator=generator)
        else:
            pick = torch.zeros(len(idx), dtype=torch.long)
        return self.images[idx], self.rotations[idx, pick]

    def subset(self, n: int) -> PoseData:
        return dataclasses.replace(
            self,
            images=self.images[:n],
            rotations=self.rotations[:n],
            n_equiv=None if self.n_equiv is None else self.n_equiv[:n],
            labels=None if self.labels is None else self.labels[:n],
        )


def concat_pose_data(parts: list[PoseData], name: str = "train") -> PoseData:
    """One training set from several (shapes with different numbers of equivalent labels keep all of them:
    rows are padded to the largest K by repeating their first label, and ``n_equiv`` records the true count)."""
    k = max(p.rotations.shape[1] for p in parts)
    rots, counts = [], []
    for p in parts:
        r = p.rotations
        if r.shape[1] < k:
            r = torch.cat([r, r[:, :1].expand(-1, k - r.shape[1], -1, -1)], dim=1)
        rots.append(r)
        n = p.n_equiv if p.n_equiv is not None else torch.full((len(p),), p.rotations.shape[1], dtype=torch.long)
        counts.append(n)
    uneven = any(p.rotations.shape[1] != k or p.n_equiv is not None for p in parts)
    return PoseData(
        torch.cat([p.images for p in parts]),
        torch.cat(rots),
        name=name,
        n_equiv=torch.cat(counts) if uneven else None,
    )


def rendered_dataset(shape: str, n: int, size: int = 64, seed: int = 0) -> PoseData:
    """``n`` renders of ``shape`` at Haar-random poses (the sampled pose is the label)."""
    if n < 1:
        raise UsageError(f"number of images must be >= 1, got {n}")
    sh = make_shape(shape)
    rots = random_rotations(n, np.random.default_rng(seed))
    imgs = render(sh, rots, size=size)
    look = LOOKALIKES.get(shape)
    return PoseData(
        torch.from_numpy(imgs[:, None]),
        torch.from_numpy(rots).float()[:, None],
        torch.from_numpy(sh.symmetries).float(),
        name=f"rendered-{shape}",
        compare_symmetries=None if look is None else torch.from_numpy(make_shape(look).symmetries).float(),
    )


def _read_png(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0


def load_symsol(
    root: str | Path,
    split: str = "test",
    shapes: tuple[str, ...] = ("cube",),
    limit: int | None = None,
    size: int | None = 224,
) -> PoseData:
    """SYMSOL layout: ``root/{split}/images/{shape}_{index:05d}.png`` and ``root/{split}/rotations.npz``
    mapping each shape to (N, K, 3, 3) equivalent rotations (the IPDF release)."""
    folder = Path(root) / split
    rot_file = folder / "rotations.npz"
    if not rot_file.is_file():
        raise UsageError(f"SYMSOL folder {folder} is missing rotations.npz")
    with np.load(rot_file) as z:
        all_rots = {k: z[k] for k in z.files}
    imgs, rots = [], []
    for shape in shapes:
        if shape not in all_rots:
            raise UsageError(f"{rot_file} has no entry for shape {shape!r} (has {', '.join(sorted(all_rots))})")
        r = all_rots[shape]
        if r.ndim == 3:
            r = r[:, None]
        n = len(r) if limit is None else min(limit, len(r))
        for i in range(n):
            p = folder / "images" / f"{shape}_{i:05d}.png"
            if not p.is_file():
                raise UsageError(f"SYMSOL image missing: {p}")
            imgs.append(_read_png(p, size))
        rots.append(r[:n])
    k = max(r.shape[1] for r in rots)
    if any(r.shape[1] != k for r in rots):
        raise UsageError("shapes with different numbers of equivalent rotations: load them separately")
    return PoseData(
        torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.concatenate(rots)).float(), name=f"symsol-{split}"
    )


def load_modelnet10(path: str | Path, limit: int | None = None) -> PoseData:
    """ModelNet10-SO(3) npz as written by the official ``prepare_modelnet10.py``: ``imgs`` uint8
    (N, H, W, 1), ``rots`` (N, 3, 3), ``cat_ids`` (N,). Grayscale is expanded to 3 channels and /255."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"ModelNet10-SO(3) file not found: {path}")
    with np.load(path) as z:
        missing = [k for k in ("imgs", "rots") if k not in z.files]
        if missing:
            raise UsageError(f"{path} is missing array(s) {', '.join(missing)}")
        n = len(z["rots"]) if limit is None else limit
        imgs = z["imgs"][:n]
        rots = z["rots"][:n]
        cats = z["cat_ids"][:n] if "cat_ids" in z.files else None
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3):
        raise UsageError(f"{path}: imgs must be (N, H, W, 1 or 3), got {imgs.shape}")
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    labels = None if cats is None else torch.from_numpy(np.asarray(cats).astype(np.int64).reshape(-1))
    return PoseData(x, torch.from_numpy(rots.astype(np.float32)), name="modelnet10", labels=labels)
