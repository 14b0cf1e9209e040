"""Data for the pruned networks: scikit-learn digits (offline stand-in for CIFAR) or a user ``.npz``.

Hoang et al., ICLR 2023 train on CIFAR-10/100 (torchvision downloads), with 10% of the training set
held out for validation and the test accuracy read at the best-validation epoch. Here: digits
(1797 8x8 images, 10 classes, shipped with scikit-learn) split 60/20/20 train/val/test with a fixed
stratified split (seed 0, the same for every run so methods are compared on one test set), any
``.npz`` holding ``x`` (``N x D``, ``N x H x W`` or ``N x C x H x W``) and integer labels ``y``, or a
CIFAR-10/100 folder in the standard python format (``cifar-10-batches-py``: ``data_batch_1..5`` and
``test_batch``; ``cifar-100-python``: ``train`` and ``test``, fine labels), read from a user path: the
official test set is the test split and 10% of the training set is held out for validation, as in
the paper; pixels scaled to [0, 1] and standardised per channel on the training split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from orals23_shared.cli import UsageError, check

__all__ = ["Data", "load_data"]

SPLIT_SEED = 0


@dataclass
class Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UsageError(f"{path}: not a readable .npz file ({type(e).__name__})") from e
    check("x" in z.files and "y" in z.files, f"{path}: needs arrays 'x' and 'y', found {', '.join(z.files) or 'none'}")
    x, y = np.asarray(z["x"], dtype=np.float64), np.asarray(z["y"])
    check(x.ndim in (2, 3, 4), f"{path}: x must be N x D, N x H x W or N x C x H x W, got shape {x.shape}")
    check(y.ndim == 1 and len(y) == len(x), f"{path}: y must be 1-D with one label per row of x, got {y.shape}")
    check(np.issubdtype(y.dtype, np.integer) and y.min() >= 0, f"{path}: y must hold integer labels >= 0")
    check(np.isfinite(x).all(), f"{path}: x holds NaN or infinite values")
    counts = np.bincount(y)
    check(len(counts) >= 2 and counts[counts > 0].min() >= 5, f"{path}: need >= 2 classes with >= 5 examples each")
    if x.ndim == 3:
        x = x[:, None]
    return x, y


CIFAR_FILES = {"cifar10": (tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels"),
               "cifar100": (("train",), "test", b"fine_labels")}  # fmt: skip


def _read_cifar_file(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    import pickle

    try:
        with path.open("rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.uint8)
        y = np.asarray(d[label_key], dtype=np.int64)
    except Exception as e:
        raise UsageError(f"{path}: not a CIFAR python batch ({type(e).__name__}: {e})") from e
    check(x.ndim == 2 and x.shape[1] == 3072, f"{path}: data must be N x 3072 uint8, got shape {x.shape}")
    check(len(y) == len(x), f"{path}: {len(y)} labels for {len(x)} images")
    return x.reshape(-1, 3, 32, 32), y


def load_cifar(folder: str | Path) -> Data:
    """CIFAR-10/100 from the standard python-format folder: train 90/10 train/val (seed 0), official test."""
    from sklearn.model_selection import train_test_split

    folder = Path(folder)
    kind = next((k for k, (train, _, _) in CIFAR_FILES.items() if (folder / train[0]).is_file()), None)
    check(kind is not None, f"{folder}: not a CIFAR folder (expected data_batch_1..5 + test_batch, or train + test)")
    train_files, test_file, key = CIFAR_FILES[kind]
    for name in (*train_files, test_file):
        check((folder / name).is_file(), f"{folder}: {name} is missing")
    parts = [_read_cifar_file(folder / n, key) for n in train_files]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_file(folder / test_file, key)
    tr, val = train_test_split(np.arange(len(y)), test_size=0.1, random_state=SPLIT_SEED)
    xf = x.astype(np.float32) / 255.0
    mu = xf[tr].mean(axis=(0, 2, 3), keepdims=True)
    sd = xf[tr].std(axis=(0, 2, 3), keepdims=True)
    sd = np.where(sd > 0, sd, 1.0)
    norm = lambda a: torch.tensor((a.astype(np.float32) / 255.0 - mu) / sd, dtype=torch.float32)  # noqa: E731
    yt = torch.tensor(y, dtype=torch.long)
    n_classes = int(max(y.max(), y_test.max())) + 1
    return Data(norm(x[tr]), yt[tr], norm(x[val]), yt[val], norm(x_test), torch.tensor(y_test), n_classes, kind)


def load_data(source: str | Path = "digits", image: bool = False) -> Data:
    """Digits (``image``: as ``1 x 8 x 8``, else 64 features in [0, 1]) or a user ``.npz``, split 60/20/20."""
    from sklearn.model_selection import train_test_split

    if str(source) == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, name = d.data / 16.0, d.target, "digits"
        if image:
            x = x.reshape(-1, 1, 8, 8)
    elif Path(source).is_dir():
        data = load_cifar(source)
        if not image:
            flat = (t.flatten(1) for t in (data.x_train, data.x_val, data.x_test))
            data.x_train, data.x_val, data.x_test = flat
        return data
    else:
        x, y = _read_npz(Path(source))
        name = Path(source).stem
        check(not image or x.ndim == 4, f"{source}: an image model needs x as N x C x H x W (or N x H x W)")
    idx = np.arange(len(y))
    trval, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=SPLIT_SEED)
    train, val = train_test_split(trval, test_size=0.25, stratify=y[trval], random_state=SPLIT_SEED)
    if name != "digits":  # standardise each feature on the training split
        mu = x[train].mean(axis=0, keepdims=True)
        sd = x[train].std(axis=0, keepdims=True)
        x = (x - mu) / np.where(sd > 0, sd, 1.0)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long)
    return Data(xt[train], yt[train], xt[val], yt[val], xt[test], yt[test], int(y.max()) + 1, name)
