"""PASCAL3D+ release 1.1 (Xiang et al. 2014) as the Image2Sphere code reads it (Klee et al., ICLR 2023,
Sec. 5.2; official ``src/pascal_dataset.py``, itself after Mohlin et al. 2020).

Layout under ``PASCAL3D+_release1.1/``:

* ``Images/<class>_pascal/<id>.jpg`` and ``Annotations/<class>_pascal/<id>.mat`` (PASCAL VOC 2012 images),
  split by ``PASCAL/VOCdevkit/VOC2012/ImageSets/Main/<class>_{train,val}.txt`` (first token of each line;
  ids without a PASCAL3D+ image are skipped, as in the official code);
* ``Images/<class>_imagenet/<id>.JPEG`` and ``Annotations/<class>_imagenet/<id>.mat``, split by
  ``Image_sets/<class>_imagenet_{train,val}.txt`` (one id per line).

Train = PASCAL train + ImageNet train + ImageNet val; test = PASCAL val (official split). Each ``.mat``
holds ``record.objects``; the first object is used, and records whose viewpoint is empty or has distance
0, whose object is occluded, truncated or difficult, or whose box is empty are dropped (official filter).

The pose label is the official camera model's: the object-to-camera rotation from azimuth, elevation
and in-plane rotation theta, followed by the rotation of a virtual camera that looks at the centre of
the smallest cone around the box's corner rays (up = the old camera's x axis); the image is warped by
the homography of that camera rotation to ``size`` x ``size`` pixels. Two official-code slips are fixed
(README): the principal point is (px, py), not (px, px), and the cone axis is a unit vector (the official
two-point case leaves it unnormalised, so its label is not a rotation). Training-time warp augmentation
(flip, box jitter, random up) and the RenderForCNN synthetic images are not implemented.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from orals23_shared.cli import UsageError

__all__ = [
    "PASCAL3D_CLASSES",
    "pascal_object_rotation",
    "pascal_intrinsics",
    "look_at_box",
    "read_annotation",
    "pascal3d_records",
    "load_pascal3d",
]

PASCAL3D_CLASSES = (
    "aeroplane",
    "bicycle",
    "boat",
    "bottle",
    "bus",
    "car",
    "chair",
    "diningtable",
    "motorbike",
    "sofa",
    "train",
    "tvmonitor",
)


def _rz(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def pascal_object_rotation(azimuth: float, elevation: float, theta: float) -> np.ndarray:
    """Rotation part of the official camera ``P = K [R | t]`` (angles in degrees), with K upper triangular
    and positive on its diagonal: ``diag(1, -1, 1) Rz(theta) diag(1, 1, -1) Rx(e - 90) Rz(-a)``.

    The official code builds P = T flip_y Rz(theta) diag(f, f, -1) Rx(e - 90) Rz(-a) [I | -C] and splits
    it by an RQ decomposition; the closed form above is that split (tested against ``scipy.linalg.rq``)."""
    a, e, t = np.radians([azimuth, elevation, theta])
    return np.diag([1.0, -1.0, 1.0]) @ _rz(t) @ np.diag([1.0, 1.0, -1.0]) @ _rx(e - np.pi / 2) @ _rz(-a)


def pascal_intrinsics(focal: float, viewport: float, px: float, py: float) -> np.ndarray:
    """K = [[f, 0, px], [0, f, py], [0, 0, 1]] with f = focal * viewport (PASCAL3D+ convention)."""
    f = focal * viewport
    return np.array([[f, 0.0, px], [0.0, f, py], [0.0, 0.0, 1.0]])


def _covering_axis(rays: np.ndarray) -> np.ndarray:
    """Unit axis of the narrowest cone holding all unit ``rays`` (k <= 4, so brute force over the cones
    through 2 or 3 of them is exact)."""
    cands = []
    for i, j in itertools.combinations(range(len(rays)), 2):
        cands.append(rays[i] + rays[j])
    for tri in itertools.combinations(range(len(rays)), 3):
        x = rays[list(tri)]
        if abs(np.linalg.det(x)) > 1e-12:
            cands.append(np.linalg.solve(x, np.ones(3)))
    best, best_cos = rays[0], -2.0
    for c in cands:
        c = c / np.linalg.norm(c)
        worst = float((rays @ c).min())
        if worst > best_cos:
            best, best_cos = c, worst
    return best


def look_at_box(
    bbox: np.ndarray, k: np.ndarray, size: int, up: np.ndarray = np.array([1.0, 0.0, 0.0])
) -> tuple[np.ndarray, np.ndarray]:
    """(R_view, K_new): the rotation of a virtual camera whose optical axis is the axis of the narrowest
    cone around the box corners' rays and whose y row is ``up`` made orthogonal to it, and the intrinsics
    that fit that cone into ``size`` pixels (official ``get_desired_camera``)."""
    x0, y0, x1, y1 = bbox
    corners = np.array([[x0, y0, 1.0], [x0, y1, 1.0], [x1, y0, 1.0], [x1, y1, 1.0]])
    rays = np.linalg.solve(k, corners.T).T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    z = _covering_axis(rays)
    y = up - (up @ z) * z
    y /= np.linalg.norm(y)
    x = -np.cross(y, z)
    r = np.stack([y, x, z])
    proj = rays @ r.T
    proj = proj[:, :2] / proj[:, 2:]
    f = 1.0 / np.abs(proj).max()
    k_new = np.array([[size * f / 2, 0.0, size / 2], [0.0, size * f / 2, size / 2], [0.0, 0.0, 1.0]])
    return r, k_new


def _warp(image: np.ndarray, h: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) image -> (C, size, size): output pixel (col, row) samples the input at h^-1 (col, row, 1)
    bilinearly, zeros outside (as ``skimage.transform.warp`` with the inverse map)."""
    from scipy.ndimage import map_coordinates

    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    pts = np.linalg.solve(h, np.stack([cols.ravel(), rows.ravel(), np.ones(size * size)]))
    src_c, src_r = pts[0] / pts[2], pts[1] / pts[2]
    out = [
        map_coordinates(image[..., ch], [src_r, src_c], order=1, mode="constant", cval=0.0).reshape(size, size)
        for ch in range(image.shape[2])
    ]
    return np.stack(out).astype(np.float32)


def _scalar(struct: np.ndarray, name: str) -> float:
    return float(np.asarray(struct[name][0][0]).reshape(-1)[0])


def read_annotation(path: Path) -> dict | None:
    """The first object of a PASCAL3D+ ``.mat`` record as plain values; None when the official filter drops
    it. A file that is not such a record is a one-line ``UsageError`` naming it."""
    from scipy.io import loadmat

    try:
        obj = loadmat(path)["record"]["objects"][0][0][0][0]
        vp = obj["viewpoint"]
        if vp.dtype == np.float64 or vp.dtype.names is None or "distance" not in vp.dtype.names:
            return None
        if _scalar(vp, "distance") == 0:
            return None
        if any(_scalar(obj, key) for key in ("occluded", "difficult", "truncated")):
            return None
        bbox = np.asarray(obj["bbox"][0], dtype=np.float64).reshape(-1)[:4]
        rec = {
            "class": str(obj["class"][0]),
            "bbox": bbox,
            **{key: _scalar(vp, key) for key in ("azimuth", "elevation", "theta", "focal", "viewport", "px", "py")},
        }
    except (KeyError, IndexError, ValueError, TypeError, OSError) as e:
        raise UsageError(f"{path}: not a PASCAL3D+ annotation record ({type(e).__name__}: {e})") from None
    left, top, right, bottom = bbox.astype(np.uint16)
    if not (left < right and top < bottom):
        return None
    return rec


def _resolve_root(root: str | Path) -> Path:
    root = Path(root)
    if (root / "PASCAL3D+_release1.1").is_dir():
        root = root / "PASCAL3D+_release1.1"
    if not (root / "Images").is_dir() or not (root / "Annotations").is_dir():
        raise UsageError(f"{root} is not a PASCAL3D+ release 1.1 folder (needs Images/ and Annotations/)")
    return root


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise UsageError(f"PASCAL3D+ split list missing: {path}")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def pascal3d_records(
    root: str | Path, split: str = "train", classes: tuple[str, ...] = PASCAL3D_CLASSES
) -> list[tuple[Path, Path, dict]]:
    """(image, annotation, record) of the official split that pass the official filter and whose object
    is of one of ``classes``."""
    if split not in ("train", "test"):
        raise UsageError(f"PASCAL3D+ split must be train or test, got {split!r}")
    unknown = [c for c in classes if c not in PASCAL3D_CLASSES]
    if unknown:
        raise UsageError(f"unknown PASCAL3D+ class(es) {', '.join(unknown)} (known: {', '.join(PASCAL3D_CLASSES)})")
    root = _resolve_root(root)
    voc = root / "PASCAL" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    pairs: list[tuple[Path, Path]] = []
    for cls in classes:
        for i in _read_list(voc / f"{cls}_{'train' if split == 'train' else 'val'}.txt"):
            img = root / "Images" / f"{cls}_pascal" / f"{i}.jpg"
            if img.is_file():
                pairs.append((img, root / "Annotations" / f"{cls}_pascal" / f"{i}.mat"))
        if split == "train":
            for sub in ("train", "val"):
                for i in _read_list(root / "Image_sets" / f"{cls}_imagenet_{sub}.txt"):
                    pairs.append(
                        (
                            root / "Images" / f"{cls}_imagenet" / f"{i}.JPEG",
                            root / "Annotations" / f"{cls}_imagenet" / f"{i}.mat",
                        )
                    )
    kept = []
    for img, ann in pairs:
        if not ann.is_file():
            raise UsageError(f"PASCAL3D+ annotation missing: {ann}")
        rec = read_annotation(ann)
        if rec is None:
            continue
        if rec["class"] not in PASCAL3D_CLASSES:
            raise UsageError(f"{ann}: object class {rec['class']!r} is not a PASCAL3D+ class")
        if rec["class"] in classes:
            kept.append((img, ann, rec))
    return kept


def load_pascal3d(
    root: str | Path,
    split: str = "train",
    limit: int | None = None,
    size: int = 224,
    classes: tuple[str, ...] = PASCAL3D_CLASSES,
):
    """PASCAL3D+ as a ``PoseData``: warped crops (N, 3, size, size) in [0, 1], labels, class ids.
    ``limit`` keeps that many records evenly spaced over the split (so every class keeps its share)."""
    from PIL import Image

    from image2sphere.data import PoseData, spread_indices

    recs = pascal3d_records(root, split, classes)
    if not recs:
        raise UsageError(f"no usable PASCAL3D+ {split} records under {root}")
    recs = [recs[i] for i in spread_indices(len(recs), limit)]
    imgs, rots, labels = [], [], []
    for img_path, _, a in recs:
        if not img_path.is_file():
            raise UsageError(f"PASCAL3D+ image missing: {img_path}")
        try:
            with Image.open(img_path) as im:
                image = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        except OSError as e:
            raise UsageError(f"{img_path}: cannot read image ({e})") from None
        k = pascal_intrinsics(a["focal"], a["viewport"], a["px"], a["py"])
        r_view, k_new = look_at_box(a["bbox"], k, size)
        h = k_new @ r_view @ np.linalg.inv(k)
        imgs.append(_warp(image, h / h[2, 2], size))
        rots.append(r_view @ pascal_object_rotation(a["azimuth"], a["elevation"], a["theta"]))
        labels.append(classes.index(a["class"]))
    return PoseData(
        torch.from_numpy(np.stack(imgs)),
        torch.from_numpy(np.stack(rots)).float(),
        name=f"pascal3d-{split}",
        labels=torch.tensor(labels),
        class_names=tuple(classes),
    )
