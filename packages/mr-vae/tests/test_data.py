"""Loaders on tiny fixtures written here in the real formats: IDX (MNIST / Fashion-MNIST), image folders, arrays."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from mr_vae.data import ImageData, check_range, load_data, load_digits_images, read_idx, write_idx
from orals23_shared.cli import UsageError


def _mnist_folder(folder, n_train=30, n_test=10, gz=True, h=28, w=28, prefix=("train", "t10k")):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    tr = rng.integers(0, 256, (n_train, h, w), dtype=np.uint8)
    te = rng.integers(0, 256, (n_test, h, w), dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix[0]}-images-idx3-ubyte{ext}", tr)
    write_idx(folder / f"{prefix[1]}-images-idx3-ubyte{ext}", te)
    write_idx(folder / f"{prefix[0]}-labels-idx1-ubyte{ext}", rng.integers(0, 10, n_train, dtype=np.uint8))
    return tr, te


def test_idx_header_is_the_standard_one(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "x-idx3-ubyte", a).read_bytes()
    # magic 0x00000803 (unsigned byte, 3 dims), then big-endian dims 2, 3, 4, then the pixels in C order
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert raw[4:16] == b"\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04"
    assert raw[16:] == a.tobytes()
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte"), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.gz", f)), f)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_style_folder_uses_its_own_test_file(tmp_path, gz):
    tr, te = _mnist_folder(tmp_path / "mnist", gz=gz)
    data = load_data(str(tmp_path / "mnist"))
    assert data.train.shape == (30, 1, 28, 28) and data.test.shape == (10, 1, 28, 28)
    torch.testing.assert_close(data.train[:, 0], torch.tensor(tr / 255.0, dtype=torch.float32))
    torch.testing.assert_close(data.test[:, 0], torch.tensor(te / 255.0, dtype=torch.float32))


def test_fashion_mnist_names_and_a_single_idx_file(tmp_path):
    # Fashion-MNIST ships the same file names and format; a lone IDX file is split at random
    _mnist_folder(tmp_path / "fashion", n_train=20, n_test=5, prefix=("train", "t10k"))
    assert load_data(str(tmp_path / "fashion")).test.shape[0] == 5
    one = load_data(str(tmp_path / "fashion" / "train-images-idx3-ubyte.gz"), seed=1, test_fraction=0.25)
    assert one.train.shape == (15, 1, 28, 28) and one.test.shape == (5, 1, 28, 28)


def test_bad_idx_files_are_named_in_one_line(tmp_path):
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(UsageError, match="bad magic"):
        read_idx(bad)
    a = np.zeros((4, 5, 5), dtype=np.uint8)
    good = write_idx(tmp_path / "t-idx3-ubyte", a).read_bytes()
    (tmp_path / "trunc-idx3-ubyte").write_bytes(good[:-7])
    with pytest.raises(UsageError, match="trunc-idx3-ubyte: IDX header says 4x5x5"):
        read_idx(tmp_path / "trunc-idx3-ubyte")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(UsageError, match="broken.gz"):
        read_idx(tmp_path / "broken.gz")
    with pytest.raises(UsageError, match="not found"):
        load_data(str(tmp_path / "nope"))


def _png(path, size, value=128, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 255)).save(path)


def test_image_folder_grey_and_rgb(tmp_path):
    for i in range(5):
        _png(tmp_path / "imgs" / f"sub{i % 2}" / f"{i}.png", (6, 4), value=51 * i)
    data = load_data(str(tmp_path / "imgs"), seed=0, test_fraction=0.2)
    assert data.train.shape == (4, 1, 4, 6) and data.test.shape == (1, 1, 4, 6)
    values = sorted(torch.cat([data.train, data.test])[:, 0, 0, 0].tolist())
    assert values == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    for i in range(3):
        _png(tmp_path / "rgb" / f"{i}.jpg", (5, 5), mode="RGB")
    rgb = load_data(str(tmp_path / "rgb"), channels=3, test_fraction=0.34)
    assert rgb.train.shape[1:] == (3, 5, 5)


def test_image_folder_bad_input(tmp_path):
    _png(tmp_path / "mixed" / "a.png", (6, 4))
    _png(tmp_path / "mixed" / "b.png", (7, 4))
    with pytest.raises(UsageError, match=r"b.png: image size 7x4 differs from a.png's 6x4"):
        load_data(str(tmp_path / "mixed"))
    _png(tmp_path / "junk" / "a.png", (6, 4))
    (tmp_path / "junk" / "b.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match="b.png: not a readable image"):
        load_data(str(tmp_path / "junk"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        load_data(str(tmp_path / "empty"))


def test_arrays_and_the_bernoulli_range_check(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    data = load_data(str(tmp_path / "x.npy"), test_fraction=0.25)
    assert data.train.shape == (15, 1, 3, 4)
    with pytest.raises(UsageError, match=r"data not in \[0, 1\] for a Bernoulli decoder"):
        check_range(data, "bernoulli", binarize=True)
    assert check_range(data, "gaussian", binarize=True) is data  # a Gaussian decoder takes any real values
    np.save(tmp_path / "nan.npy", np.full((4, 2), np.nan))
    with pytest.raises(UsageError, match="NaN"):
        load_data(str(tmp_path / "nan.npy"))
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(UsageError, match="named 'x'"):
        load_data(str(tmp_path / "two.npz"))


def test_digits_default_and_static_binarisation():
    x = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    data = load_data("digits", seed=3)
    assert data.train.shape == (1438, 1, 8, 8) and data.test.shape == (359, 1, 8, 8)
    assert torch.equal(load_data("digits", seed=3).test, data.test)  # the split is fixed by the seed
    binary = check_range(data, "bernoulli", binarize=True)
    assert set(binary.train.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(binary.train, (data.train >= 0.5).float())
    soft = check_range(ImageData(data.train, data.test, "d"), "bernoulli", binarize=False)
    assert soft.train is data.train
    assert float(load_data("digits-raw").train.max()) == 16.0
