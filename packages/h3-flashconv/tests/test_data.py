"""Synthetic languages, tokenisers and corpus loading (with the real Tiny Shakespeare through shared data)."""

import numpy as np
import pytest

from h3_flashconv.data import (
    ByteTokenizer,
    CharTokenizer,
    LMWindows,
    associative_recall,
    induction_head,
    load_corpus,
    split_corpus,
)
from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data


def test_induction_head_structure():
    task = induction_head(300, 50, seq_len=30, vocab_size=20, seed=1)
    trig = 19
    for seq in np.concatenate([task.train, task.test]):
        assert len(seq) == 32
        assert seq[-2] == trig
        first = int(np.flatnonzero(seq[:-2] == trig)[0])
        assert (seq[:-2] == trig).sum() == 1  # exactly one trigger inside
        assert seq[-1] == seq[first + 1]  # target = the token after the earlier trigger
        assert seq.max() <= trig and 18 not in seq  # no-op id unused
    train_keys = {s.tobytes() for s in task.train}
    assert len(train_keys) == 300 and not train_keys & {s.tobytes() for s in task.test}


def test_associative_recall_structure():
    task = associative_recall(300, 50, num_pairs=10, vocab_size=10, seed=2)
    maps_differ = set()
    for seq in task.train:
        pairs = seq[:20].reshape(10, 2)
        mapping = {}
        for k, v in pairs:
            assert 0 <= k < 4 and 4 <= v < 8
            assert mapping.setdefault(int(k), int(v)) == v  # consistent within the sequence
        assert seq[20] == 9 and int(seq[21]) in mapping and seq[22] == mapping[int(seq[21])]
        maps_differ.add(tuple(sorted(mapping.items())))
    assert len(maps_differ) > 50  # a fresh map per sequence


def test_tokenizers_roundtrip():
    tok = CharTokenizer("hello world")
    assert tok.decode(tok.encode("low")) == "low"
    with pytest.raises(UsageError, match="not in the model's vocabulary"):
        tok.encode("xyz")
    b = ByteTokenizer()
    assert b.decode(b.encode("héllo")) == "héllo"


def test_corpus_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_corpus(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(UsageError, match="empty"):
        load_corpus(empty)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("line one\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"not UTF-8.*offset 12, line 2"):
        load_corpus(bad)


def test_split_and_windows():
    train, val = split_corpus(list(range(1000)), 0.1, block_size=8)
    assert len(train) == 900 and val[0] == 900
    ds = LMWindows(train, 8, 5, seed=0)
    x, y = ds[0]
    assert x.shape == (8,) and np.array_equal(y.numpy(), x.numpy() + 1)
    with pytest.raises(UsageError, match="too short"):
        split_corpus(list(range(20)), 0.1, block_size=8)


def test_tiny_shakespeare_from_shared_data():
    path = require_shared_data("tinyshakespeare") / "input.txt"
    text = load_corpus(path)
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65
    assert len(text) == 1115394
    train, val = split_corpus(tok.encode(text[:100000]), 0.1, block_size=64)
    assert len(train) == 90000
