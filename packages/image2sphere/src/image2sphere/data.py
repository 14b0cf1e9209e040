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
    "MODELNET10_CLASSES",
    "spread_indices",
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


def spread_indices(n: int, limit: int | None) -> np.ndarray:
    """``limit`` indices spread evenly over ``range(n)`` (all when ``limit`` is None or >= n): a subset of
    a file sorted by class keeps every class."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise UsageError(f"number of images must be >= 1, got {limit}")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


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


MODELNET10_CLASSES = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)


def load_modelnet10(path: str | Path, limit: int | None = None) -> PoseData:
    """ModelNet10-SO(3) from either of its two forms (``limit`` images spread evenly over the file):

    * the npz written by the official ``prepare_modelnet10.py``: ``imgs`` uint8 (N, H, W, 1), ``rots``
      (N, 3, 3), ``cat_ids`` (N,);
    * the released ``<split>.Rawjpg.lmdb`` folder (Liao et al. 2019): an LMDB of JPEG images keyed by view
      name ``<class>_<view>`` and ``viewID2quat.pkl`` mapping each view name to its quaternion (w, x, y, z),
      read in the pickle's order as the official converter does (needs the ``lmdb`` package).

    Grayscale is expanded to 3 channels and divided by 255 (official ``ModelNet10Dataset``)."""
    path = Path(path)
    if path.is_dir():
        return _load_modelnet10_lmdb(path, limit)
    if not path.is_file():
        raise UsageError(f"ModelNet10-SO(3) file not found: {path}")
    try:
        z = np.load(path)
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"{path}: not a ModelNet10-SO(3) npz ({type(e).__name__})") from None
    if not hasattr(z, "files"):
        raise UsageError(f"{path}: not a ModelNet10-SO(3) npz (a single array, not imgs/rots/cat_ids)")
    with z:
        missing = [k for k in ("imgs", "rots") if k not in z.files]
        if missing:
            raise UsageError(f"{path} is missing array(s) {', '.join(missing)}")
        idx = spread_indices(len(z["rots"]), limit)
        imgs = z["imgs"][idx]
        rots = z["rots"][idx]
        cats = z["cat_ids"][idx] if "cat_ids" in z.files else None
    if imgs.ndim == 3:
        imgs = imgs[..., None]
    if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3):
        raise UsageError(f"{path}: imgs must be (N, H, W, 1 or 3), got {imgs.shape}")
    labels = None if cats is None else np.asarray(cats).astype(np.int64).reshape(-1)
    return _modelnet_posedata(imgs, rots.astype(np.float32), labels, "modelnet10")


def _modelnet_posedata(imgs: np.ndarray, rots: np.ndarray, labels: np.ndarray | None, name: str) -> PoseData:
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return PoseData(
        x,
        torch.from_numpy(rots),
        name=name,
        labels=None if labels is None else torch.from_numpy(labels),
        class_names=MODELNET10_CLASSES if labels is not None else (),
    )


def _load_modelnet10_lmdb(folder: Path, limit: int | None) -> PoseData:
    import io
    import pickle

    from PIL import Image
    from scipy.spatial.transform import Rotation

    quat_file = folder / "viewID2quat.pkl"
    if not quat_file.is_file():
        raise UsageError(f"ModelNet10-SO(3) folder {folder} has no viewID2quat.pkl")
    if not (folder / "data.mdb").is_file():
        raise UsageError(f"ModelNet10-SO(3) folder {folder} has no LMDB data.mdb")
    try:
        import lmdb
    except ImportError:
        raise UsageError(
            "reading the raw ModelNet10-SO(3) LMDB needs the lmdb package: pip install 'image2sphere[lmdb]'"
        ) from None
    try:
        with open(quat_file, "rb") as f:
            quats = pickle.load(f, encoding="latin1")
        views = list(quats.items())
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a malformed file
        raise UsageError(f"{quat_file}: not a view-name -> quaternion pickle ({type(e).__name__})") from None
    views = [views[i] for i in spread_indices(len(views), limit)]
    imgs, rots, labels = [], [], []
    env = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, subdir=True)
    try:
        with env.begin() as txn:
            for view, quat in views:
                cls = "_".join(str(view).split("_")[:-1])
                if cls not in MODELNET10_CLASSES:
                    raise UsageError(f"{quat_file}: view {view!r} does not start with a ModelNet10 class name")
                q = np.asarray(quat, dtype=np.float64).reshape(-1)
                if q.shape != (4,) or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-6:
                    raise UsageError(f"{quat_file}: view {view!r} has no valid quaternion (w, x, y, z): {quat!r}")
                raw = txn.get(str(view).encode("utf8"))
                if raw is None:
                    raise UsageError(f"{folder}: view {view!r} of viewID2quat.pkl is not in the LMDB")
                try:
                    with Image.open(io.BytesIO(raw)) as im:
                        img = np.asarray(im.convert("RGB"))[..., :1]
                except OSError:
                    raise UsageError(f"{folder}: view {view!r} is not a decodable image") from None
                imgs.append(img)
                rots.append(Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix())
                labels.append(MODELNET10_CLASSES.index(cls))
    finally:
        env.close()
    sizes = {i.shape for i in imgs}
    if len(sizes) != 1:
        raise UsageError(f"{folder}: images of different sizes {sorted(sizes)}")
    return _modelnet_posedata(
        np.stack(imgs), np.stack(rots).astype(np.float32), np.array(labels, dtype=np.int64), "modelnet10"
    )
