"""Data: character/byte tokenisers, text corpora, and the synthetic languages of the H3 paper (Section 3.1, Table 2).

* ``CharTokenizer`` (vocabulary = the corpus' characters, sorted) and ``ByteTokenizer`` (UTF-8 bytes, 256 ids):
  hub tokenisers cannot be downloaded, and any UTF-8 text file is a corpus (``load_corpus``).
* ``induction_head`` -- a random sequence with one special token (the copy trigger) followed by a token X
  somewhere inside; the sequence ends with the trigger again and the model must output X (it has to recall the
  token that followed the earlier trigger).
* ``associative_recall`` -- (key, value) pairs with a fresh random key -> value map per sequence, then the trigger
  and a query key seen earlier; the target is its value.

Both are next-token LMs trained on every position; the test metric is the accuracy at the last position only
(official ``safari`` synthetics; the train accuracy over all positions stays low because the other tokens are random).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from orals23_shared.cli import UsageError

__all__ = [
    "CharTokenizer",
    "ByteTokenizer",
    "make_tokenizer",
    "load_corpus",
    "split_corpus",
    "LMWindows",
    "SyntheticTask",
    "induction_head",
    "associative_recall",
    "make_synthetic",
]


class CharTokenizer:
    """One id per distinct character of the corpus (sorted), like nanoGPT's shakespeare_char."""

    kind = "char"

    def __init__(self, chars: str | list[str]) -> None:
        self.chars = sorted(set(chars))
        if not self.chars:
            raise UsageError("cannot build a character vocabulary from an empty text")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as e:
            raise UsageError(f"character {e.args[0]!r} is not in the model's vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def state(self) -> dict:
        return {"kind": "char", "chars": "".join(self.chars)}


class ByteTokenizer:
    """UTF-8 bytes, 256 ids (works for any text; decoding replaces broken multi-byte sequences)."""

    kind = "byte"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def state(self) -> dict:
        return {"kind": "byte"}


def make_tokenizer(state: dict | str, text: str | None = None) -> CharTokenizer | ByteTokenizer:
    """From a saved ``state()`` dict, or from a kind ("char" / "byte") and the corpus text."""
    if isinstance(state, dict):
        return CharTokenizer(state["chars"]) if state["kind"] == "char" else ByteTokenizer()
    if state == "byte":
        return ByteTokenizer()
    if state == "char":
        if text is None:
            raise UsageError("a char tokenizer needs the corpus text")
        return CharTokenizer(text)
    raise UsageError(f"unknown tokenizer {state!r} (choose char or byte)")


def load_corpus(path: str | Path) -> str:
    """Read a UTF-8 text file; clear errors for a missing, empty or non-UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"corpus file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UsageError(
            f"{path}: not UTF-8 text (invalid byte 0x{raw[e.start]:02x} at offset {e.start}, line {line})"
        ) from None
    if not text.strip():
        raise UsageError(f"{path}: the corpus is empty")
    return text


def split_corpus(
    ids: list[int] | np.ndarray, val_fraction: float = 0.1, block_size: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """First ``1 - val_fraction`` of the tokens for training, the rest for validation."""
    arr = np.asarray(ids, dtype=np.int64)
    n_val = int(round(len(arr) * val_fraction))
    train, val = arr[: len(arr) - n_val], arr[len(arr) - n_val :]
    if len(train) <= block_size or len(val) <= block_size:
        raise UsageError(
            f"corpus too short ({len(arr)} tokens) for block_size {block_size} with a "
            f"{val_fraction:.0%} validation split"
        )
    return train, val


class LMWindows(torch.utils.data.Dataset):
    """Random windows ``(x, y = x shifted by one)`` of ``block_size`` tokens; ``n`` windows per epoch.

    ``random=False`` gives the deterministic non-overlapping windows used for validation.
    """

    def __init__(self, tokens: np.ndarray, block_size: int, n: int, seed: int = 0, random: bool = True) -> None:
        if len(tokens) <= block_size:
            raise UsageError(f"{len(tokens)} tokens are too few for block_size {block_size}")
        self.tokens = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
        self.block_size = block_size
        hi = len(tokens) - block_size - 1
        if random:
            self.starts = np.random.default_rng(seed).integers(0, hi + 1, size=n)
        else:
            self.starts = np.arange(0, hi + 1, block_size)[:n]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = int(self.starts[i])
        chunk = self.tokens[s : s + self.block_size + 1]
        return chunk[:-1], chunk[1:]


@dataclass
class SyntheticTask:
    """Train/test token sequences (N, L+1): inputs ``seq[:, :-1]``, next-token targets ``seq[:, 1:]``."""

    name: str
    vocab_size: int
    train: np.ndarray
    test: np.ndarray


def _unique(rng: np.random.Generator, make, n: int, exclude: set | None = None) -> np.ndarray:
    seen: set = set() if exclude is None else set(exclude)
    out = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise UsageError(f"could not draw {n} distinct sequences; increase the sequence length or vocabulary")
        s = make(rng)
        key = s.tobytes()
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    return np.stack(out)


def induction_head(
    n_train: int = 5000, n_test: int = 500, seq_len: int = 30, vocab_size: int = 20, seed: int = 0
) -> SyntheticTask:
    """Induction head: ``seq_len`` random tokens from ``vocab_size - 2`` symbols with "trigger, X" inserted at a
    random position, then the trigger again; target X. Id ``vocab_size - 1`` is the trigger ("=>"),
    ``vocab_size - 2`` the unused no-op ("."). Sequences (N, seq_len + 2)."""
    if vocab_size < 4 or seq_len < 3:
        raise UsageError("induction head needs vocab_size >= 4 and seq_len >= 3")
    trig, n_sym = vocab_size - 1, vocab_size - 2

    def make(rng: np.random.Generator) -> np.ndarray:
        body = rng.integers(0, n_sym, size=seq_len)
        p = int(rng.integers(0, seq_len - 1))
        body[p] = trig
        x = body[p + 1]
        return np.concatenate([body, [trig, x]]).astype(np.int64)

    rng = np.random.default_rng(seed)
    train = _unique(rng, make, n_train)
    test = _unique(rng, make, n_test, exclude={s.tobytes() for s in train})
    return SyntheticTask("induction_head", vocab_size, train, test)


def associative_recall(
    n_train: int = 5000, n_test: int = 500, num_pairs: int = 10, vocab_size: int = 10, seed: int = 0
) -> SyntheticTask:
    """Associative recall: ``num_pairs`` (key, value) pairs, keys from ``(vocab_size - 2) // 2`` symbols, values
    from as many others, with a fresh random key -> value map per sequence; then the trigger and a key that
    occurred; target its value. Id ``vocab_size - 1`` is the trigger. Sequences (N, 2 num_pairs + 3)."""
    n_keys = (vocab_size - 2) // 2
    if n_keys < 2 or num_pairs < 1:
        raise UsageError("associative recall needs vocab_size >= 6 and num_pairs >= 1")
    trig = vocab_size - 1
    keys = np.arange(n_keys)
    values = np.arange(n_keys, 2 * n_keys)

    def make(rng: np.random.Generator) -> np.ndarray:
        mapping = rng.integers(0, n_keys, size=n_keys)  # fresh map key -> value index
        ks = rng.choice(keys, size=num_pairs)
        vs = values[mapping[ks]]
        q = rng.choice(ks)
        pairs = np.stack([ks, vs], axis=1).reshape(-1)
        return np.concatenate([pairs, [trig, q, values[mapping[q]]]]).astype(np.int64)

    rng = np.random.default_rng(seed)
    train = _unique(rng, make, n_train)
    test = _unique(rng, make, n_test, exclude={s.tobytes() for s in train})
    return SyntheticTask("associative_recall", vocab_size, train, test)


def make_synthetic(task: str, n_train: int, n_test: int, seed: int) -> SyntheticTask:
    if task == "induction_head":
        return induction_head(n_train, n_test, seed=seed)
    if task == "associative_recall":
        return associative_recall(n_train, n_test, seed=seed)
    raise UsageError(f"unknown synthetic task {task!r} (choose induction_head or associative_recall)")
