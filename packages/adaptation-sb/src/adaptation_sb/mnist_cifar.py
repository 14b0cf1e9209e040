"""MNIST-CIFAR dominoes from the user's own files (Shah et al. 2020; Trivedi et al. 2023, Sec. 4).

The paper's SB benchmark: a CIFAR-10 image (top, 32x32, the *complex* feature; label = its class) stacked over an
MNIST digit (bottom, 28x28 zero-padded to 32x32 and repeated over 3 channels, the *simple* feature) whose class
equals the label for a ``correlation`` share of the examples; ``test_random`` pairs the test images with random
digits. Reads the standard files (no download): CIFAR-10's python pickles (``data_batch_1..5``, ``test_batch``)
and MNIST's idx files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-*``), and writes
a folder of ``.npz`` splits (uint8 images, read back scaled to [0, 1]) for ``--data``.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["make_mnist_cifar_dominoes", "read_cifar10", "read_idx"]


def read_idx(path: str | Path) -> np.ndarray:
    """An MNIST idx file (gzipped or not): images (n, 28, 28) uint8 or labels (n,) uint8."""
    path = Path(path)
    if not path.is_file():
        gz = path.with_name(path.name + ".gz")
        if not gz.is_file():
            raise UsageError(f"{path}: MNIST file not found (nor {gz.name})")
        path = gz
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (2049, 2051):
        raise UsageError(f"{path}: not an MNIST idx file (magic {magic}, expected 2049 or 2051)")
    ndim = magic - 2048
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UsageError(f"{path}: truncated ({data.size} values, header says {int(np.prod(dims))})")
    return data.reshape(dims)


def read_cifar10(folder: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 python version: train (50000, 3, 32, 32) uint8, labels, test images, labels."""
    folder = Path(folder)

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        path = folder / name
        if not path.is_file():
            raise UsageError(f"{path}: CIFAR-10 batch not found (the python version: data_batch_1..5, test_batch)")
        with open(path, "rb") as f:
            try:
                d = pickle.load(f, encoding="bytes")
            except (pickle.UnpicklingError, EOFError) as e:
                raise UsageError(f"{path}: not a CIFAR-10 pickle ({e})") from None
        return np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32), np.asarray(d[b"labels"], np.int64)

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = batch("test_batch")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_te, y_te


def _stack(cifar: np.ndarray, mnist: np.ndarray, digit_of: np.ndarray, y: np.ndarray, rng) -> np.ndarray:  # noqa: ANN001
    """(n, 3, 64, 32): CIFAR on top, a random MNIST image of class ``digit_of[i]`` below."""
    by_class = {c: np.flatnonzero(y == c) for c in range(10)}
    picks = np.array([rng.choice(by_class[int(c)]) for c in digit_of])
    digits = np.zeros((len(picks), 32, 32), np.uint8)
    digits[:, 2:30, 2:30] = mnist[picks]
    return np.concatenate([cifar, np.repeat(digits[:, None], 3, axis=1)], axis=2)


def make_mnist_cifar_dominoes(
    cifar_dir: str | Path, mnist_dir: str | Path, out: str | Path, correlation: float = 0.9, seed: int = 0,
    val_fraction: float = 0.1, limit: int = 0,
) -> Path:  # fmt: skip
    """Write ``train/val/test/test_random.npz`` (uint8 x, y = CIFAR class, simple = the digit's class)."""
    from adaptation_sb.data import _simple_labels

    if not 0.0 <= correlation <= 1.0:
        raise UsageError(f"correlation must lie in [0, 1], got {correlation}")
    mnist_dir = Path(mnist_dir)
    m_tr = read_idx(mnist_dir / "train-images-idx3-ubyte")
    l_tr = read_idx(mnist_dir / "train-labels-idx1-ubyte").astype(np.int64)
    m_te = read_idx(mnist_dir / "t10k-images-idx3-ubyte")
    l_te = read_idx(mnist_dir / "t10k-labels-idx1-ubyte").astype(np.int64)
    for y in (l_tr, l_te):
        if set(np.unique(y)) != set(range(10)):
            raise UsageError(f"{mnist_dir}: MNIST labels must cover the 10 classes 0..9")
    c_tr, y_tr, c_te, y_te = read_cifar10(cifar_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y_tr))
    if limit:
        order = order[:limit]
    n_val = int(round(val_fraction * len(order)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    te = np.arange(len(y_te))[: limit or None]
    plan = {
        "train": (c_tr[order[n_val:]], y_tr[order[n_val:]], correlation, m_tr, l_tr),
        "val": (c_tr[order[:n_val]], y_tr[order[:n_val]], correlation, m_tr, l_tr),
        "test": (c_te[te], y_te[te], correlation, m_te, l_te),
        "test_random": (c_te[te], y_te[te], None, m_te, l_te),
    }
    for name, (cx, cy, corr, mx, my) in plan.items():
        simple = _simple_labels(cy, corr, rng)
        np.savez(out / f"{name}.npz", x=_stack(cx, mx, simple, my, rng), y=cy, simple=simple)
    return out
