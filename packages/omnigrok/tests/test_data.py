"""Modular addition is complete and split without overlap; IDX files are read exactly or refused in one line."""

import gzip
import struct

import numpy as np
import pytest
import torch

from omnigrok.data import is_prime, load_digits_split, load_mnist, modular_addition, read_idx
from orals23_shared.cli import UsageError


@pytest.mark.parametrize("p,frac", [(5, 0.4), (31, 0.3), (113, 0.3)])
def test_modular_addition_complete_and_disjoint(p, frac):
    d = modular_addition(p, frac, seed=1)
    assert len(d.x_train) == int(frac * p * p)
    pairs_tr = {(int(a), int(b)) for a, b, _ in d.x_train}
    pairs_te = {(int(a), int(b)) for a, b, _ in d.x_test}
    assert not pairs_tr & pairs_te
    assert pairs_tr | pairs_te == {(a, b) for a in range(p) for b in range(p)}
    assert len(pairs_tr) + len(pairs_te) == p * p  # no duplicates
    x = torch.cat([d.x_train, d.x_test])
    y = torch.cat([d.y_train, d.y_test])
    assert torch.equal(y, (x[:, 0] + x[:, 1]) % p)
    assert (x[:, 2] == p).all()  # the '=' token


def test_modular_addition_split_depends_on_seed_only():
    a, b, c = modular_addition(7, 0.5, seed=0), modular_addition(7, 0.5, seed=0), modular_addition(7, 0.5, seed=1)
    assert torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("p", [1, 4, 12, 113 * 2, 91])
def test_modular_addition_refuses_non_primes(p):
    with pytest.raises(UsageError, match="prime"):
        modular_addition(p)


def test_is_prime_matches_a_sieve():
    n = 500
    sieve = np.ones(n, bool)
    sieve[:2] = False
    for i in range(2, n):
        if sieve[i]:
            sieve[2 * i :: i] = False
    assert [is_prime(i) for i in range(n)] == sieve.tolist()


def _idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">i", s) for s in arr.shape)
    return head + arr.astype(">u1" if code == 0x08 else ">i4").tobytes()


def _write_mnist(folder, n_train=12, n_test=5, gz=False, rng=np.random.default_rng(0)):
    parts = {}
    for kind, n in (("train", n_train), ("t10k", n_test)):
        img = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in ((f"{kind}-images-idx3-ubyte", img), (f"{kind}-labels-idx1-ubyte", lab)):
            data = _idx_bytes(arr)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        parts[kind] = (img, lab)
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_exactly(tmp_path, gz):
    parts = _write_mnist(tmp_path, gz=gz)
    d = load_mnist(tmp_path, n_train=10)
    img, lab = parts["train"]
    assert d.x_train.shape == (10, 784)
    assert torch.allclose(d.x_train, torch.from_numpy(img[:10].reshape(10, -1) / 255.0))
    assert torch.equal(d.y_train, torch.from_numpy(lab[:10].astype(np.int64)))
    assert d.x_test.shape == (5, 784)


def test_read_idx_int32_roundtrip(tmp_path):
    arr = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr, code=0x0C))
    assert np.array_equal(read_idx(tmp_path / "a.idx"), arr)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda b: b"\x08\x03" + b[2:], "wrong magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "wrong magic"),
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b[:3], "truncated"),
        (lambda b: b + b"\x00", "too long"),
    ],
)
def test_read_idx_refuses_malformed_files(tmp_path, mutate, message):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(UsageError, match=message) as e:
        load_mnist(tmp_path, n_train=10)
    assert "train-images-idx3-ubyte" in str(e.value) and "\n" not in str(e.value)


def test_truncated_gzip_is_refused(tmp_path):
    _write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(UsageError, match="t10k-labels"):
        load_mnist(tmp_path, n_train=10)


def test_missing_mnist_file_and_mismatched_counts(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(UsageError, match="do not match"):
        load_mnist(tmp_path, n_train=10)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UsageError, match="not found"):
        load_mnist(tmp_path, n_train=10)


def test_digits_split_is_stratified():
    d = load_digits_split(150, seed=0)
    assert len(d.x_train) == 150 and len(d.x_train) + len(d.x_test) == 1797
    counts = torch.bincount(d.y_train, minlength=10)
    assert counts.min() >= 14 and counts.max() <= 16
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0


def _rows(x):
    return {tuple(r) for r in x.tolist()}


def test_digits_validation_split_never_touches_the_fixed_test_half():
    from sklearn.datasets import load_digits

    test0 = load_digits_split(100, seed=0, n_val=300)
    test7 = load_digits_split(100, seed=7, n_val=300)
    val0 = load_digits_split(100, seed=0, n_val=300, holdout="val")
    val7 = load_digits_split(100, seed=7, n_val=300, holdout="val")
    assert torch.equal(test0.x_test, test7.x_test)  # the test half does not depend on the seed
    assert torch.equal(test0.x_train, val0.x_train)  # holdout picks the evaluated set only
    assert len(test0.x_test) == 1797 - 1797 // 2 and len(val0.x_test) == 300
    # train and validation images of any seed come from the other half: no test image is ever tuned on
    all_x = load_digits(return_X_y=True)[0] / 16.0
    test_rows = _rows(test0.x_test)
    dev = {tuple(r) for r in all_x.tolist() if tuple(r) not in test_rows}
    for d in (val0, val7):
        assert _rows(d.x_train) <= dev and _rows(d.x_test) <= dev
    assert not _rows(val0.x_train) & _rows(val0.x_test)
    assert torch.bincount(val0.y_test, minlength=10).min() >= 28  # stratified


@pytest.mark.parametrize(
    "kw,message",
    [(dict(n_val=0, holdout="val"), "needs --n-val"), (dict(n_val=900), "sum to"), (dict(n_val=5), ">= 10")],
)
def test_digits_validation_split_refuses_bad_sizes(kw, message):
    with pytest.raises(UsageError, match=message):
        load_digits_split(100, seed=0, **kw)
