"""Datasets for relreps (Moschella et al., ICLR 2023): what the paper's experiments use, offline.

* ``digits``: scikit-learn's bundled 8x8 digits (1797 images, 10 classes), pixels scaled to [0, 1]; flat
  [N, 64] for the MLP, [N, 1, 8, 8] for the CNN.
* ``npz``: a user's arrays ``x`` (N, ...) and ``y`` (N,) integer labels (optional for autoencoders).
* ``embeddings``: a user's saved embeddings ``.npy`` (N x D float) and labels ``.npy``: a frozen encoder.
* Planetoid ``cora`` / ``citeseer`` / ``pubmed``: the raw files ``ind.<name>.{x,tx,allx,y,ty,ally,graph,
  test.index}`` read by PyG's ``read_planetoid_data`` from a local folder (never a download), row-normalised
  features (``NormalizeFeatures``, as the official benchmark).

Splits are stratified and fixed by ``split_seed`` (not the model seed), so that models of different seeds share
the data and the anchor samples. Nodes are split the same way (the official script uses a random 90/10
train/val node split and reports validation accuracy; we hold out a test split as well).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from orals23_shared.cli import UsageError
from orals23_shared.paths import shared_data_dir

__all__ = [
    "SampleData",
    "Split",
    "PLANETOID",
    "split_indices",
    "load_digits",
    "load_npz",
    "load_embeddings",
    "read_npy",
    "read_labels",
    "find_planetoid_dir",
    "load_planetoid",
]

PLANETOID = ("cora", "citeseer", "pubmed")
_PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class SampleData:
    """Inputs ``x`` (features, images or row indices), labels ``y`` (or None), a fixed split."""

    x: Tensor
    y: Tensor | None
    split: Split
    name: str
    kind: str  # "tabular" | "image" | "embeddings"
    num_classes: int = 0
    table: np.ndarray | None = None  # the embeddings when kind == "embeddings"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def features(self) -> np.ndarray:
        """Per-sample features for farthest-point anchors (the embeddings themselves for ``embeddings``)."""
        if self.table is not None:
            return self.table
        return self.x.reshape(len(self.x), -1).numpy()


def split_indices(
    n: int, labels: np.ndarray | None, seed: int = 0, test_fraction: float = 0.4, val_fraction: float = 0.1
) -> Split:
    """Stratified (when labels allow it) train/val/test split of ``range(n)``, fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1 and test_fraction + val_fraction < 1):
        raise UsageError(f"bad split fractions: test {test_fraction}, val {val_fraction} (each in [0, 1), sum < 1)")
    idx = np.arange(n)

    def strat(sub: np.ndarray) -> np.ndarray | None:
        if labels is None:
            return None
        lab = labels[sub]
        _, counts = np.unique(lab, return_counts=True)
        return lab if counts.min() >= 2 else None

    n_test = max(1, int(round(test_fraction * n)))
    n_val = int(round(val_fraction * n))
    if n - n_test - n_val < 2:
        raise UsageError(f"{n} samples are too few to split into train/val/test")
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat(idx))
    if n_val:
        train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1, stratify=strat(rest))
    else:
        train, val = rest, np.empty(0, dtype=np.int64)
    return Split(np.sort(train), np.sort(val), np.sort(test))


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise UsageError(f"{source}: labels must be a 1-D array, got shape {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise UsageError(f"{source}: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise UsageError(f"{source}: labels must be >= 0, found {int(y.min())}")
    return y


def load_digits(image: bool = False, split_seed: int = 0, test_fraction: float = 0.4, val_fraction: float = 0.1):
    """scikit-learn's digits: [N, 64] (or [N, 1, 8, 8]) in [0, 1] and labels 0..9."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    y = np.asarray(d.target, dtype=np.int64)
    split = split_indices(len(y), y, split_seed, test_fraction, val_fraction)
    return SampleData(x, torch.from_numpy(y), split, "digits", "image" if image else "tabular", 10)


def load_npz(
    path: str | os.PathLike,
    need_labels: bool = True,
    image: bool | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.4,
    val_fraction: float = 0.1,
) -> SampleData:
    """A user's ``.npz`` with ``x`` (N, ...) float and ``y`` (N,) integer labels (``y`` optional for autoencoders)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"data file not found: {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npz file ({e})") from None
    if "x" not in arrays:
        raise UsageError(f"{path}: no array named 'x' (found: {', '.join(arrays.files) or 'none'})")
    x = np.asarray(arrays["x"])
    if x.ndim < 2 or x.shape[0] < 4:
        raise UsageError(f"{path}: x must have shape (N, ...) with N >= 4, got {x.shape}")
    if x.dtype.kind not in "fiub" or not np.all(np.isfinite(x)):
        raise UsageError(f"{path}: x must be finite numbers, got dtype {x.dtype} or NaN/inf values")
    y = None
    if "y" in arrays:
        y = _labels(arrays["y"], f"{path} (y)")
        if y.shape[0] != x.shape[0]:
            raise UsageError(f"{path}: x has {x.shape[0]} rows but y has {y.shape[0]}")
    elif need_labels:
        raise UsageError(f"{path}: no array named 'y' (integer labels) for classification")
    if image is None:
        image = x.ndim >= 3
    xt = torch.tensor(x, dtype=torch.float32)
    if image and xt.dim() == 3:
        xt = xt.unsqueeze(1)
    if image and xt.dim() != 4:
        raise UsageError(f"{path}: images must be (N, H, W) or (N, C, H, W), got {x.shape}")
    if not image:
        xt = xt.reshape(len(xt), -1)
    split = split_indices(len(xt), y, split_seed, test_fraction, val_fraction)
    n_classes = int(y.max()) + 1 if y is not None else 0
    return SampleData(
        xt, None if y is None else torch.from_numpy(y), split, path.stem, "image" if image else "tabular", n_classes
    )


def _check_npy_magic(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise UsageError(f"{path}: not a .npy file (expected NumPy's binary format, as written by numpy.save)")


def read_npy(path: str | os.PathLike, what: str = "embeddings") -> np.ndarray:
    """A 2-D finite float array from ``.npy`` (N x D), with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} file not found: {path}")
    _check_npy_magic(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npy file ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{path}: expected one array in a .npy file")
    if arr.ndim != 2:
        raise UsageError(f"{path}: {what} must be a 2-D array N x D, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise UsageError(f"{path}: {what} must be numbers, got dtype {arr.dtype}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise UsageError(f"{path}: {what} need at least 2 rows and 1 column, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise UsageError(f"{path}: {what} hold NaN or inf (first in row {row})")
    return arr.astype(np.float32, copy=False)


def read_labels(path: str | os.PathLike, n: int) -> np.ndarray:
    """Integer labels ``.npy`` (N,) for ``n`` samples."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"labels file not found: {path}")
    _check_npy_magic(path)
    try:
        y = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path}: not a readable .npy file ({e})") from None
    y = _labels(np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and 1 in np.asarray(y).shape else y, str(path))
    if y.shape[0] != n:
        raise UsageError(f"{path}: {y.shape[0]} labels for {n} embedding rows")
    return y


def load_embeddings(
    path: str | os.PathLike,
    labels: str | os.PathLike | None,
    split_seed: int = 0,
    test_fraction: float = 0.4,
    val_fraction: float = 0.1,
) -> SampleData:
    """Saved embeddings as a frozen encoder: the model input is the row index."""
    table = read_npy(path)
    y = read_labels(labels, len(table)) if labels is not None else None
    split = split_indices(len(table), y, split_seed, test_fraction, val_fraction)
    x = torch.arange(len(table))
    n_classes = int(y.max()) + 1 if y is not None else 0
    return SampleData(
        x, None if y is None else torch.from_numpy(y), split, Path(path).stem, "embeddings", n_classes, table
    )


def find_planetoid_dir(name: str, folder: str | os.PathLike | None = None) -> Path:
    """The folder holding ``ind.<name>.*``: ``folder`` (or its ``raw/``), else the team data folder."""
    name = name.lower()
    candidates = []
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"Planetoid folder not found: {folder}")
        candidates = [folder, folder / "raw", folder / name, folder / name.capitalize() / "raw"]
    else:
        found = shared_data_dir(name)
        if found is not None:
            candidates = [found]
    for c in candidates:
        if all((c / f"ind.{name}.{f}").is_file() for f in _PLANETOID_FILES):
            return c
    if folder is None:
        raise UsageError(
            f"no local {name} files: pass --data FOLDER holding ind.{name}.{{x,tx,allx,y,ty,ally,graph,test.index}}"
        )
    missing = [f"ind.{name}.{f}" for f in _PLANETOID_FILES if not (Path(folder) / f"ind.{name}.{f}").is_file()]
    raise UsageError(f"{folder}: missing Planetoid file(s) {', '.join(missing)}")


def load_planetoid(
    name: str,
    folder: str | os.PathLike | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.1,
    val_fraction: float = 0.1,
):
    """A Planetoid graph as a PyG ``Data`` with row-normalised features and seeded stratified node masks."""
    import torch_geometric.transforms as T
    from torch_geometric.io import read_planetoid_data

    path = find_planetoid_dir(name, folder)
    try:
        data = read_planetoid_data(str(path), name.lower())
    except Exception as e:  # a corrupt pickle or a wrong file set: one line, not a traceback
        raise UsageError(f"{path}: could not read the {name} Planetoid files ({type(e).__name__}: {e})") from None
    data = T.NormalizeFeatures()(data)
    y = data.y.numpy()
    split = split_indices(data.num_nodes, y, split_seed, test_fraction, val_fraction)
    for part in ("train", "val", "test"):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[torch.as_tensor(getattr(split, part))] = True
        data[f"{part}_mask"] = mask
    data.x = data.x.to_sparse()  # bag-of-words features are ~1% non-zero: sparse products are much faster
    data.name = name.lower()
    data.num_classes = int(y.max()) + 1
    return data, split
