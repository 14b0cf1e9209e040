"""Datasets of the Omnigrok experiments (Liu, Michaud, Tegmark, ICLR 2023, Secs. 3-5).

* MNIST from the standard IDX files (``train-images-idx3-ubyte`` etc., optionally ``.gz``) in a user
  folder; the official run uses the first 1000 training images and the 10,000 test images.
* scikit-learn's bundled ``load_digits`` (8x8, 1797 images; no download): the offline default.
* Modular addition ``(a, b, '=') -> (a + b) mod p`` over all ``p^2`` pairs, randomly split (Sec. 5).
* Teacher-student regression: a fixed random 5-100-100-5 tanh teacher on N(0, I) inputs (Sec. 3.1).

Every loader returns a ``Split`` of tensors; bad files raise ``UsageError`` with one line.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from orals23_shared.cli import UsageError

__all__ = [
    "Split",
    "read_idx",
    "load_mnist",
    "load_digits_split",
    "modular_addition",
    "teacher_student",
    "is_prime",
]

#: IDX type codes (third magic byte) -> numpy big-endian dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Split:
    """Train and test tensors of one task."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: str | torch.device) -> Split:
        return Split(*(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)))


def is_prime(n: int) -> bool:
    """Trial division (the moduli here are small)."""
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST's format): magic ``00 00 <type> <ndim>``, big-endian int32 dims, data.

    A wrong magic number, an unknown type code, or a file shorter or longer than its header says
    raises ``UsageError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # a truncated or corrupt gzip stream
        raise UsageError(f"{path}: cannot read ({e})") from e
    if len(data) < 4:
        raise UsageError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise UsageError(
            f"{path}: wrong magic number 0x{data[:4].hex()} (expected 0x0000TTNN with type TT in "
            f"{sorted(f'{c:02x}' for c in _IDX_TYPES)} and NN >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UsageError(f"{path}: truncated IDX header ({len(data)} bytes, {header} needed for {ndim} dimensions)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_TYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise UsageError(f"{path}: {what} IDX file: {len(data)} bytes, the header {dims} says {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise UsageError(f"MNIST file {stem}[.gz] not found in {folder}")


def load_mnist(folder: str | Path, n_train: int = 1000, n_test: int | None = None) -> Split:
    """MNIST from the four IDX files in ``folder``: the first ``n_train`` training images, the test set.

    Pixels scaled to [0, 1] and flattened (784); labels int64. The official notebook takes the first
    1000 training images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--data-dir {folder} is not a folder (it must hold the MNIST IDX files)")
    parts = []
    for kind, n in (("train", n_train), ("t10k", n_test)):
        images = read_idx(_find(folder, f"{kind}-images-idx3-ubyte"))
        labels = read_idx(_find(folder, f"{kind}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UsageError(
                f"{folder}: {kind} images {images.shape} and labels {labels.shape} do not match "
                "(expected (N, rows, cols) and (N,))"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise UsageError(f"{folder}: {kind} labels outside 0..9")
        if n is not None:
            if n > len(images):
                raise UsageError(f"--n-train {n} exceeds the {len(images)} {kind} images in {folder}")
            images, labels = images[:n], labels[:n]
        x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float64) / 255.0)
        parts += [x, torch.from_numpy(labels.astype(np.int64))]
    return Split(*parts)


def load_digits_split(n_train: int = 300, seed: int = 0, n_val: int = 0, holdout: str = "test") -> Split:
    """scikit-learn's bundled 8x8 digits, pixels / 16, stratified, ``n_train`` training images.

    ``n_val == 0``: the other images are the test set (split by ``seed``). ``n_val > 0``: a fixed half
    of the images (stratified, independent of ``seed``) is the test set, and ``n_train`` training plus
    ``n_val`` validation images are drawn from the other half by ``seed``, so tuning on validation data
    with any seed never sees a test image. ``holdout`` picks the held-out set returned as ``x_test``:
    "test" or "val".
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    if holdout not in ("test", "val"):
        raise UsageError(f"--holdout must be test or val, got {holdout!r}")
    if n_val == 0:
        if holdout == "val":
            raise UsageError("--holdout val needs --n-val > 0 (validation images held out of training)")
        if not 10 <= n_train <= len(x) - 10:
            raise UsageError(f"--n-train must be in 10..{len(x) - 10} for digits, got {n_train}")
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, train_size=n_train, stratify=y, random_state=seed)
    else:
        pool_x, test_x, pool_y, test_y = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
        if n_val < 10 or n_train < 10 or n_train + n_val > len(pool_x):
            raise UsageError(
                f"--n-train {n_train} and --n-val {n_val} must each be >= 10 and sum to <= {len(pool_x)} for digits"
            )
        x_tr, val_x, y_tr, val_y = train_test_split(
            pool_x, pool_y, train_size=n_train, test_size=n_val, stratify=pool_y, random_state=seed
        )
        x_te, y_te = (val_x, val_y) if holdout == "val" else (test_x, test_y)
    return Split(
        torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(), torch.from_numpy(x_te), torch.from_numpy(y_te).long()
    )


def modular_addition(p: int = 113, train_frac: float = 0.3, seed: int = 0) -> Split:
    """All ``p^2`` prompts ``(a, b, p)`` with answer ``(a + b) mod p``; a random ``train_frac`` for training.

    ``p`` must be prime (the task of the paper and of Power et al.); token ``p`` is '='.
    """
    if not is_prime(p):
        raise UsageError(f"--p must be a prime, got {p}")
    if not 0.0 < train_frac < 1.0:
        raise UsageError(f"--train-frac must be in (0, 1), got {train_frac}")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    y = (a + b) % p
    n_train = int(train_frac * p * p)
    if n_train < 1 or n_train >= p * p:
        raise UsageError(f"--train-frac {train_frac} leaves an empty train or test set for p={p}")
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:n_train], perm[n_train:]
    return Split(x[tr], y[tr], x[te], y[te])


def teacher_student(
    n_train: int = 100, n_test: int = 100, dims: tuple[int, ...] = (5, 100, 100, 5), seed: int = 0
) -> Split:
    """Targets of a random tanh teacher MLP (default PyTorch init) on standard normal inputs."""
    from omnigrok.model import MLP

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        teacher = MLP(dims[0], dims[1:-1], dims[-1], activation="tanh").double()
    x = torch.randn(n_train + n_test, dims[0], generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = teacher(x)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
