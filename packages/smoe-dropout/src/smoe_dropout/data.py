"""Data for the three tasks: char-level LM text (enwik8's stand-in: tiny Shakespeare, any UTF-8 file), sentence
classification from GLUE-style ``sentence<TAB>label`` files (SST-2's format), and scikit-learn's digits as a
sequence of 8 rows of 8 pixels (the fast classifier of the brief).

Token ids: 0 is padding and unknown characters, the corpus' characters (sorted) are 1..V-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from orals23_shared.cli import UsageError

__all__ = [
    "CharVocab",
    "Digits",
    "LMWindows",
    "TextClassification",
    "load_digits_split",
    "load_text",
    "load_tsv",
    "split_text",
]


class CharVocab:
    """Characters -> ids 1..V-1 (sorted); 0 = padding / a character the vocabulary lacks."""

    def __init__(self, chars: str) -> None:
        self.chars = "".join(sorted(set(chars)))
        if not self.chars:
            raise UsageError("cannot build a character vocabulary from an empty text")
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        return np.fromiter((self.index.get(c, 0) for c in text), dtype=np.int64, count=len(text))

    def unknown(self, text: str) -> int:
        """How many characters of ``text`` the vocabulary lacks (they become id 0)."""
        return sum(1 for c in text if c not in self.index)


def load_text(path: str | Path) -> str:
    """A UTF-8 text file; one line for a missing, empty or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"text file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UsageError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line})") from None
    if not text.strip():
        raise UsageError(f"{path}: the file is empty")
    return text


def split_text(ids: np.ndarray, val_fraction: float, context: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``1 - val_fraction`` of the characters for training, the rest for validation (the usual split)."""
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in (0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    if len(train) <= context or len(val) <= context:
        raise UsageError(
            f"the text has {len(ids)} characters: too few for a context of {context} with a {val_fraction:.0%} "
            "validation split (use a longer file or a smaller --context)"
        )
    return train, val


class LMWindows(Dataset):
    """Windows ``(x, y = x shifted by one)`` of ``context`` tokens starting every ``stride`` characters."""

    def __init__(self, ids: np.ndarray, context: int, stride: int = 1, limit: int = 0) -> None:
        if len(ids) <= context:
            raise UsageError(f"{len(ids)} tokens are too few for a context of {context}")
        self.ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        self.context = context
        self.starts = torch.arange(0, len(ids) - context, stride)
        if limit:
            self.starts = self.starts[: max(1, limit)]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = int(self.starts[i])
        chunk = self.ids[s : s + self.context + 1]
        return chunk[:-1], chunk[1:]


@dataclass
class TextClassification(Dataset):
    """Sentences as padded id rows (B, L) and integer labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def load_tsv(path: str | Path) -> tuple[list[str], list[int]]:
    """GLUE's ``sentence<TAB>label`` file (SST-2's ``train.tsv`` / ``dev.tsv``; a header line is skipped).

    Labels are non-negative integers; a malformed line is reported with its number.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"tsv file not found: {path}")
    sentences, labels = [], []
    lines = load_text(path).splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t")
        if lineno == 1 and parts[-1].strip().lower() == "label":
            continue
        if len(parts) < 2:
            raise UsageError(f"{path}:{lineno}: expected 'sentence<TAB>label', found no tab")
        sentence, label = "\t".join(parts[:-1]).strip(), parts[-1].strip()
        if not label.isdigit():
            raise UsageError(f"{path}:{lineno}: label {label!r} is not a non-negative integer")
        if not sentence:
            raise UsageError(f"{path}:{lineno}: empty sentence")
        sentences.append(sentence)
        labels.append(int(label))
    if not sentences:
        raise UsageError(f"{path}: no labelled sentences")
    return sentences, labels


def encode_sentences(sentences: list[str], labels: list[int], vocab: CharVocab, max_len: int) -> TextClassification:
    """Ids truncated to ``max_len`` and right-padded with 0 to the longest sentence."""
    rows = [vocab.encode(s[:max_len]) for s in sentences]
    width = max(len(r) for r in rows)
    x = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r)] = torch.from_numpy(r)
    empty = (x != 0).sum(1) == 0
    if bool(empty.any()):
        i = int(empty.nonzero()[0])
        raise UsageError(f"sentence {i + 1} has no character of the vocabulary: {sentences[i][:40]!r}")
    return TextClassification(x, torch.tensor(labels, dtype=torch.long))


@dataclass
class Digits(Dataset):
    """8x8 digit images as sequences of 8 rows (8 features each), pixel values scaled to [0, 1]."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def load_digits_split(seed: int = 0) -> tuple[Digits, Digits, Digits]:
    """scikit-learn's ``load_digits`` (1797 images, shipped in its wheel): stratified 60/20/20 train/val/test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32).reshape(-1, 8, 8)
    y = data.target.astype(np.int64)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=0.2, random_state=seed, stratify=y)
    train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=y[rest])

    def part(i: np.ndarray) -> Digits:
        return Digits(torch.from_numpy(x[i]), torch.from_numpy(y[i]))

    return part(train), part(val), part(test)
