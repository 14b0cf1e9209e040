"""Reading a user's model outputs and features (the official pipeline's inputs, from files).

A data folder ``DATA`` holds the splits ``train`` (features only: the whitening statistics), ``val``
(features, labels, model predictions: the SVMs are fit here), ``test`` (ranked and scored) and
optionally ``pool`` (candidates for the data-selection intervention). Each split is one of:

* a folder ``DATA/<split>/`` with ``features.npy`` (n, d), ``labels.npy`` (n,) integer classes, and the
  model's ``preds.npy`` (n,) or ``outputs.npy`` (n, C) logits/probabilities; optional ``images.npy``
  (n, H, W[, 3]) for the plots. Extra arrays used by the interventions: ``inputs.npy`` (the classifier's
  input vectors) and ``groups.npy`` (subgroup ids);
* a CSV file ``DATA/<split>.csv`` with a header: columns ``label``, ``pred`` (or ``prob_0..prob_{C-1}``),
  optionally ``file`` (an image path, relative to the CSV, for the plots); every other column is a feature;
* a folder of images ``DATA/<split>/<class name>/*.png|jpg`` (labels from the sorted folder names) with
  ``DATA/<split>/preds.csv`` (columns ``file,pred``, file relative to the split folder); its features
  come from an encoder (``--encoder``).

``DATA/classes.txt`` (one class name a line) names the classes for captions and plots.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["IMAGE_EXTENSIONS", "SplitData", "load_class_names", "load_image_files", "load_split", "read_npy",
           "softmax_if_logits"]  # fmt: skip

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class SplitData:
    name: str
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    preds: np.ndarray | None = None
    probs: np.ndarray | None = None
    images: np.ndarray | None = None
    files: list[Path] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        for a in (self.features, self.labels, self.preds):
            if a is not None:
                return len(a)
        return len(self.files or [])

    def confidence(self) -> np.ndarray | None:
        """The model's probability of the true label (for the confidence-ranking baseline)."""
        if self.probs is None or self.labels is None:
            return None
        return self.probs[np.arange(self.n), self.labels]


def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"{path}: not a readable .npy array ({e})") from e


def softmax_if_logits(outputs: np.ndarray) -> np.ndarray:
    """Rows that are already probabilities (non-negative, sum 1) are kept; anything else gets a softmax."""
    out = outputs.astype(np.float64)
    if (out >= 0).all() and np.allclose(out.sum(1), 1.0, atol=1e-4):
        return out
    out = out - out.max(1, keepdims=True)
    e = np.exp(out)
    return e / e.sum(1, keepdims=True)


def _int_vector(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim != 1:
        raise UsageError(f"{path}: expected a 1-D array of class indices, got shape {arr.shape}")
    if (
        arr.size
        and not np.issubdtype(arr.dtype, np.integer)
        and (not np.issubdtype(arr.dtype, np.number) or not np.all(np.mod(arr, 1) == 0))
    ):
        raise UsageError(f"{path}: class indices must be integers")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise UsageError(f"{path}: negative class index {int(arr.min())}")
    return arr


def load_class_names(root: Path) -> list[str] | None:
    path = Path(root) / "classes.txt"
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_image_files(folder: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image paths under ``folder/<class>/``, their labels and the class names (sorted, as ImageFolder)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for i, c in enumerate(classes):
        for p in sorted((folder / c).rglob("*")):
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
                files.append(p)
                labels.append(i)
    if not files:
        raise UsageError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders")
    return files, np.array(labels, dtype=np.int64), classes


def _read_preds_csv(path: Path, folder: Path, files: list[Path]) -> np.ndarray:
    index = {str(p.relative_to(folder)): i for i, p in enumerate(files)}
    preds = np.full(len(files), -1, dtype=np.int64)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["file", "pred"]:
            raise UsageError(f"{path}: the first line must be the header 'file,pred'")
        for lineno, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise UsageError(f"{path}:{lineno}: expected 2 fields (file,pred), got {len(row)}")
            name, value = row[0].strip(), row[1].strip()
            if name not in index:
                raise UsageError(f"{path}:{lineno}: {name!r} is not an image under {folder}")
            try:
                preds[index[name]] = int(value)
            except ValueError:
                raise UsageError(f"{path}:{lineno}: prediction {value!r} is not an integer class index") from None
    missing = np.flatnonzero(preds < 0)
    if missing.size:
        raise UsageError(f"{path}: no prediction for {files[missing[0]].relative_to(folder)} ({missing.size} missing)")
    return preds


def _load_csv(path: Path, name: str) -> SplitData:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise UsageError(f"{path}: empty file (a header line is required)")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise UsageError(f"{path}:1: duplicate column names")
        prob_cols = sorted(
            (h for h in header if h.startswith("prob_")), key=lambda h: int(h[5:]) if h[5:].isdigit() else -1
        )
        special = {"label", "pred", "file", *prob_cols}
        feat_cols = [i for i, h in enumerate(header) if h not in special]
        rows: list[list[str]] = []
        for lineno, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != len(header):
                raise UsageError(f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}")
            rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no data rows")
    col = {h: i for i, h in enumerate(header)}

    def numbers(indices: list[int], what: str) -> np.ndarray:
        out = np.empty((len(rows), len(indices)))
        for r, row in enumerate(rows):
            for j, i in enumerate(indices):
                try:
                    out[r, j] = float(row[i])
                except ValueError:
                    raise UsageError(
                        f"{path}:{r + 2}: {what} column {header[i]!r} holds {row[i]!r}, not a number"
                    ) from None
        return out

    data = SplitData(name)
    if feat_cols:
        data.features = numbers(feat_cols, "feature")
    for key in ("label", "pred"):
        if key in col:
            v = numbers([col[key]], key)[:, 0]
            bad = np.flatnonzero((np.mod(v, 1) != 0) | (v < 0))
            if bad.size:
                raise UsageError(f"{path}:{bad[0] + 2}: {key} {rows[bad[0]][col[key]]!r} is not a class index")
            setattr(data, "labels" if key == "label" else "preds", v.astype(np.int64))
    if prob_cols:
        data.probs = softmax_if_logits(numbers([col[h] for h in prob_cols], "probability"))
        if data.preds is None:
            data.preds = data.probs.argmax(1)
    if "file" in col:
        data.files = [path.parent / row[col["file"]].strip() for row in rows]
    return data


def _load_folder(folder: Path, name: str, encoder=None) -> SplitData:
    data = SplitData(name)
    images_dir = any(p.is_dir() for p in folder.iterdir())
    if (folder / "features.npy").is_file():
        data.features = read_npy(folder / "features.npy")
    if (folder / "labels.npy").is_file():
        data.labels = _int_vector(read_npy(folder / "labels.npy"), folder / "labels.npy")
    if (folder / "preds.npy").is_file():
        data.preds = _int_vector(read_npy(folder / "preds.npy"), folder / "preds.npy")
    if (folder / "outputs.npy").is_file():
        out = read_npy(folder / "outputs.npy")
        if out.ndim != 2:
            raise UsageError(f"{folder / 'outputs.npy'}: expected (n, classes) model outputs, got shape {out.shape}")
        data.probs = softmax_if_logits(out)
        if data.preds is None:
            data.preds = data.probs.argmax(1)
    if (folder / "images.npy").is_file():
        data.images = read_npy(folder / "images.npy")
    for extra in ("inputs", "groups"):
        if (folder / f"{extra}.npy").is_file():
            data.extra[extra] = read_npy(folder / f"{extra}.npy")
    if images_dir and data.features is None:
        files, labels, _ = load_image_files(folder)
        data.files, data.labels = files, labels
        if (folder / "preds.csv").is_file():
            data.preds = _read_preds_csv(folder / "preds.csv", folder, files)
        if encoder is None:
            raise UsageError(f"{folder} holds images but no features.npy: pass --encoder to embed them")
        data.features = encoder.encode_images(_encoder_images(encoder, files))
    return data


def _encoder_images(encoder, files: list[Path]):
    """Paths for an open_clip encoder (its own preprocessing); 8x8 grey arrays for the toy encoder."""
    from failure_directions.encoders import ToyJointEncoder

    if isinstance(encoder, ToyJointEncoder):
        from PIL import Image

        side = int(round(encoder.in_dim**0.5))
        arrs = []
        for p in files:
            with Image.open(p) as im:
                arrs.append(np.asarray(im.convert("L").resize((side, side)), dtype=np.float32) / 255.0)
        return np.stack(arrs)
    return files


def load_split(root: str | os.PathLike, name: str, encoder=None, required: bool = True) -> SplitData | None:
    """Split ``name`` of the data folder ``root`` (a sub-folder or ``<name>.csv``), checked for consistency."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"data folder not found: {root}")
    folder, table = root / name, root / f"{name}.csv"
    if folder.is_dir() and table.is_file():
        raise UsageError(f"{root}: both {name}/ and {name}.csv exist; keep one")
    if folder.is_dir():
        data = _load_folder(folder, name, encoder)
    elif table.is_file():
        data = _load_csv(table, name)
    elif required:
        raise UsageError(f"{root}: no split {name!r} (expected {name}/ with features.npy, or {name}.csv)")
    else:
        return None
    _check_split(data, root)
    return data


def _check_split(d: SplitData, root: Path) -> None:
    where = f"{root}/{d.name}"
    if d.features is None:
        raise UsageError(f"{where}: no features (features.npy, feature columns, or images with --encoder)")
    if d.features.ndim != 2:
        raise UsageError(f"{where}: features must be (n, d), got shape {d.features.shape}")
    n = len(d.features)
    for key in ("labels", "preds", "probs", "images"):
        a = getattr(d, key)
        if a is not None and len(a) != n:
            raise UsageError(f"{where}: {n} feature rows but {len(a)} {key}")
    if d.files is not None and len(d.files) != n:
        raise UsageError(f"{where}: {n} feature rows but {len(d.files)} files")
    for key, a in d.extra.items():
        if len(a) != n:
            raise UsageError(f"{where}: {n} feature rows but {len(a)} {key}")
    if d.name != "train" and d.labels is None:
        raise UsageError(f"{where}: no labels (labels.npy or a 'label' column)")
    if d.name in ("val", "test") and d.preds is None:
        raise UsageError(f"{where}: no model predictions (preds.npy, outputs.npy, or a 'pred' column)")
