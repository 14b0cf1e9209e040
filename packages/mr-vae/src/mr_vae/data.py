"""Image data for the VAEs: scikit-learn's digits (offline default), MNIST / Fashion-MNIST IDX files, image folders,
and ``.npy`` / ``.npz`` arrays, all as float tensors ``(N, C, H, W)``.

The paper trains on static binarised MNIST and Omniglot with a Bernoulli decoder (Section 6); scikit-learn's 8x8
digits (values 0..16, read from the installed wheel, no download) stand in for MNIST on a CPU. Pixel values are scaled
to [0, 1] (digits / 16, uint8 / 255); ``binarize`` thresholds them at 0.5 once (static binarisation).
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from orals23_shared.cli import UsageError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageData",
    "check_range",
    "load_data",
    "load_digits_images",
    "load_image_folder",
    "load_images",
    "read_idx",
    "write_idx",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class ImageData:
    """Training and test images ``(N, C, H, W)`` (float32) and where they came from."""

    train: Tensor
    test: Tensor
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])  # type: ignore[return-value]


def load_digits_images(raw: bool = False) -> Tensor:
    """scikit-learn's 1797 8x8 digits as ``(1797, 1, 8, 8)``: in [0, 1] (values / 16), or the raw 0..16 values."""
    from sklearn.datasets import load_digits

    scale = 1.0 if raw else 1.0 / 16.0
    return torch.tensor(load_digits().data * scale, dtype=torch.float32).reshape(-1, 1, 8, 8)


# -- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------------------
def _open(path: Path):  # noqa: ANN202
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic ``0 0 <dtype> <ndim>``, big-endian int32 dims, then the data."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"IDX file not found: {path}")
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UsageError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise UsageError(f"{path}: truncated IDX header ({ndim} dimensions)")
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise UsageError(
            f"{path}: IDX header says {'x'.join(map(str, dims))} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` in the IDX format (the inverse of :func:`read_idx`; gzipped when the name ends in .gz)."""
    path = Path(path)
    code = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}[array.dtype.newbyteorder("=")]
    big = array.astype(_IDX_DTYPES[code])
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + big.tobytes()
    gz = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _idx_images(array: np.ndarray, path: Path) -> Tensor:
    if array.ndim not in (3, 4):
        raise UsageError(f"{path}: expected IDX images of shape N x H x W (or N x H x W x C), got {array.shape}")
    x = torch.tensor(array.astype(np.float32))
    if array.dtype == np.uint8:
        x = x / 255.0
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()


def _find_idx(folder: Path) -> dict[str, Path]:
    """The image files of an MNIST-style folder: names with ``idx3`` and ``train`` or ``t10k``/``test``."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        if not p.is_file() or "idx3" not in name:
            continue
        if name.startswith("train"):
            found.setdefault("train", p)
        elif name.startswith(("t10k", "test")):
            found.setdefault("test", p)
    return found


# -- image folders ---------------------------------------------------------------------------------------
def load_image_folder(folder: str | os.PathLike, channels: int = 1) -> Tensor:
    """Every image under ``folder`` (recursively, sorted), as grey (1) or RGB (3) channels in [0, 1].

    All images must have one size; the first that differs is named with both sizes.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    mode = {1: "L", 3: "RGB"}[channels]
    arrays, first = [], None
    for p in files:
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as e:
            raise UsageError(f"{p}: not a readable image ({e})") from e
        if first is None:
            first = (p, arr.shape)
        elif arr.shape != first[1]:
            raise UsageError(
                f"{p}: image size {arr.shape[1]}x{arr.shape[0]} differs from {first[0].name}'s "
                f"{first[1][1]}x{first[1][0]}; all images must have one size"
            )
        arrays.append(arr)
    x = torch.tensor(np.stack(arrays))
    return x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()


def _load_array(path: Path) -> Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable .npy/.npz array ({e})") from e
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
        if key is None:
            raise UsageError(f"{path}: .npz with several arrays needs one named 'x' (found {', '.join(keys)})")
        loaded = loaded[key]
    a = np.asarray(loaded)
    if a.ndim < 2 or a.ndim > 4 or not np.issubdtype(a.dtype, np.number):
        raise UsageError(f"{path}: expected a numeric array N x D, N x H x W or N x C x H x W, got {a.shape} {a.dtype}")
    if not np.isfinite(a).all():
        raise UsageError(f"{path}: the array holds NaN or infinite values")
    x = torch.tensor(a.astype(np.float32))
    if a.ndim == 2:
        return x.reshape(len(x), 1, 1, -1)
    return x.unsqueeze(1) if a.ndim == 3 else x


# -- one entry point -------------------------------------------------------------------------------------
def _split(x: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    n_test = int(round(len(x) * test_fraction))
    if len(x) < 2 or n_test < 1 or n_test >= len(x):
        raise UsageError(f"cannot split {len(x)} examples into train and test with --test-fraction {test_fraction}")
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    return x[perm[n_test:]].contiguous(), x[perm[:n_test]].contiguous()


def load_images(spec: str, channels: int = 1) -> tuple[Tensor, Tensor | None, str]:
    """``(images, test images or None, description)`` of ``digits`` (``digits-raw``: values 0..16), an MNIST-style folder of IDX files (``train*idx3*``
    and optionally ``t10k*idx3*``), one IDX file, an image folder, or a ``.npy``/``.npz`` file."""
    if spec in ("digits", "digits-raw"):
        raw = spec == "digits-raw"
        return load_digits_images(raw), None, "sklearn digits" + (" (raw 0..16)" if raw else "")
    path = Path(spec).expanduser()
    if not path.exists():
        raise UsageError(f"data not found: {path} (give 'digits', a folder of IDX files or images, or a .npy file)")
    if path.is_dir():
        idx = _find_idx(path)
        if "train" in idx:
            train = _idx_images(read_idx(idx["train"]), idx["train"])
            if "test" not in idx:
                return train, None, f"IDX {path}"
            test = _idx_images(read_idx(idx["test"]), idx["test"])
            if test.shape[1:] != train.shape[1:]:
                raise UsageError(
                    f"{idx['test']}: images {tuple(test.shape[1:])} differ from the training images "
                    f"{tuple(train.shape[1:])}"
                )
            return train, test, f"IDX {path}"
        return load_image_folder(path, channels), None, f"images {path}"
    if path.suffix.lower() in (".npy", ".npz"):
        return _load_array(path), None, f"array {path}"
    return _idx_images(read_idx(path), path), None, f"IDX {path}"


def load_data(spec: str, seed: int = 0, test_fraction: float = 0.2, channels: int = 1) -> ImageData:
    """Training and test images of ``spec`` (see :func:`load_images`): its own test set when it has one, else a
    seeded random split with ``test_fraction`` held out."""
    train, test, source = load_images(spec, channels)
    if test is None:
        train, test = _split(train, test_fraction, seed)
    return ImageData(train, test, source)


def check_range(data: ImageData, likelihood: str, binarize: bool) -> ImageData:
    """A Bernoulli decoder needs values in [0, 1]; ``binarize`` then thresholds them at 0.5 (static binarisation)."""
    if likelihood != "bernoulli":
        return data
    both = torch.cat([data.train.flatten(), data.test.flatten()])
    lo, hi = float(both.min()), float(both.max())
    if lo < 0.0 or hi > 1.0:
        raise UsageError(
            f"data not in [0, 1] for a Bernoulli decoder (min {lo:.4g}, max {hi:.4g}): rescale it or pass "
            "--decoder gaussian"
        )
    if binarize:
        return ImageData((data.train >= 0.5).float(), (data.test >= 0.5).float(), data.source + ", binarised")
    return data
