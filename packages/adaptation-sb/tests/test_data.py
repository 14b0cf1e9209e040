"""Digits-dominoes: the intended correlation in every split, the bars, and the .npz loader's checks."""

from __future__ import annotations

import numpy as np
import pytest

from adaptation_sb.data import DominoesConfig, bar_pattern, load_npz_split, make_digits_dominoes
from orals23_shared.cli import UsageError


def test_dominoes_split_has_the_intended_correlation(splits):
    for name in ("train", "val", "test"):
        s = splits.as_dict()[name]
        assert s.agreement == pytest.approx(round(0.9 * len(s)) / len(s), abs=1e-12)  # exactly the requested share
        assert s.x.shape[1:] == (16, 8) and s.x.min() >= 0.0 and s.x.max() <= 1.0
    assert abs(splits.test_random.agreement - 0.1) < 0.05  # chance
    assert abs(splits.pretrain.agreement - 0.1) < 0.05  # the source task never sees the correlation
    np.testing.assert_array_equal(splits.test_random.y, splits.test.y)
    np.testing.assert_array_equal(splits.test_random.x[:, :8], splits.test.x[:, :8])  # same complex halves
    paired = make_digits_dominoes(DominoesConfig(correlation=1.0, seed=1))
    assert paired.train.agreement == 1.0 and paired.test.agreement == 1.0
    assert abs(paired.test_random.agreement - 0.1) < 0.05
    # the bottom half is exactly the bar of the recorded simple class
    for i in range(5):
        np.testing.assert_array_equal(paired.train.x[i, 8:], bar_pattern(int(paired.train.simple[i])))


def test_bars_are_distinct_and_linearly_separable():
    bars = np.stack([bar_pattern(c).ravel() for c in range(10)])
    assert np.linalg.matrix_rank(bars) == 10  # one linear read-out per class recovers the bar exactly
    with pytest.raises(ValueError):
        bar_pattern(10)


def test_splits_are_reproducible_and_seeded():
    a = make_digits_dominoes(DominoesConfig(seed=3))
    b = make_digits_dominoes(DominoesConfig(seed=3))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.y, make_digits_dominoes(DominoesConfig(seed=4)).train.y)
    with pytest.raises(UsageError, match="correlation"):
        DominoesConfig(correlation=1.5)


def test_npz_loader_checks(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.random.rand(6, 16, 8).astype(np.float32), y=np.arange(6))
    s = load_npz_split(good)
    assert len(s) == 6 and s.x.dtype == np.float32
    cases = {
        "scale.npz": dict(x=np.full((3, 4, 4), 255.0), y=np.zeros(3, int)),
        "shape.npz": dict(x=np.zeros((3, 4, 4)), y=np.zeros(2, int)),
        "labels.npz": dict(x=np.zeros((3, 4, 4)), y=np.array([0.5, 1, 2])),
        "nolabel.npz": dict(x=np.zeros((3, 4, 4))),
    }
    msgs = {"scale.npz": r"\[0, 1\]", "shape.npz": "must be", "labels.npz": "integer", "nolabel.npz": "needs arrays"}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(UsageError, match=msgs[name]):
            load_npz_split(tmp_path / name)
    assert (load_npz_split(tmp_path / "nolabel.npz", require_labels=False).y == -1).all()
    with pytest.raises(UsageError, match="not found"):
        load_npz_split(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(UsageError, match="readable"):
        load_npz_split(tmp_path / "junk.npz")


def _write_fixtures(tmp_path):
    """Tiny CIFAR-10 pickles and gzipped MNIST idx files in the real formats."""
    import gzip
    import pickle

    rng = np.random.default_rng(0)
    cifar, mnist = tmp_path / "cifar-10-batches-py", tmp_path / "mnist"
    cifar.mkdir()
    mnist.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = list(range(10)) * 2
        data = rng.integers(0, 256, size=(20, 3072), dtype=np.uint8)
        with open(cifar / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    for prefix, n in (("train", 30), ("t10k", 20)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labs = (np.arange(n) % 10).astype(np.uint8)
        head = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
        (mnist / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + imgs.tobytes()))
        head = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        (mnist / f"{prefix}-labels-idx1-ubyte").write_bytes(head + labs.tobytes())
    return cifar, mnist


def test_mnist_cifar_dominoes_from_real_format_files(tmp_path):
    from adaptation_sb.mnist_cifar import make_mnist_cifar_dominoes, read_idx

    cifar, mnist = _write_fixtures(tmp_path)
    out = make_mnist_cifar_dominoes(cifar, mnist, tmp_path / "dom", correlation=1.0, seed=0)
    train, test_random = load_npz_split(out / "train.npz"), load_npz_split(out / "test_random.npz")
    assert train.x.shape == (90, 3, 64, 32) and train.x.max() <= 1.0  # uint8 read back in [0, 1]
    assert train.agreement == 1.0 and len(load_npz_split(out / "val.npz")) == 10
    assert test_random.agreement < 0.5
    # the bottom half holds an MNIST digit of the recorded class, padded by 2 and repeated over the channels
    digits = read_idx(mnist / "train-images-idx3-ubyte")
    labels = read_idx(mnist / "train-labels-idx1-ubyte")
    bottom = np.rint(train.x[0, 0, 32 + 2 : 32 + 30, 2:30] * 255).astype(np.uint8)
    match = [i for i in range(len(labels)) if np.array_equal(digits[i], bottom)]
    assert match and labels[match[0]] == train.simple[0]
    np.testing.assert_array_equal(train.x[0, 0, 32:], train.x[0, 2, 32:])
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x99" + b"\x00" * 8)
    with pytest.raises(UsageError, match="not an MNIST idx file"):
        read_idx(tmp_path / "bad")
    with pytest.raises(UsageError, match="CIFAR-10 batch not found"):
        make_mnist_cifar_dominoes(tmp_path, mnist, tmp_path / "x")
