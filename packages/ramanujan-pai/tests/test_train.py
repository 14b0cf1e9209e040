"""Training with fixed masks: learns, keeps pruned weights at zero, resumes exactly, is deterministic."""

import pytest
import torch

from ramanujan_pai.data import load_data
from ramanujan_pai.model import prunable_layers
from ramanujan_pai.train import TrainConfig, train

TINY = dict(hidden=(64, 32), density=0.5, epochs=4, batch_size=64, method="snip", lr=1e-2)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def test_tiny_run_learns_and_holds_masks(digits):
    res = train(TrainConfig(**TINY), data=digits)
    assert res["test_acc"] > 0.5  # chance is 0.1
    assert res["density"] == pytest.approx(0.5, abs=1 / 6000)
    losses = [h["train/loss"] for h in res["history"]]
    assert losses[-1] < losses[0]
    for n, m in prunable_layers(res["model"]).items():
        assert (m.weight[~res["masks"][n]] == 0).all()
        assert (m.weight[res["masks"][n]] != 0).float().mean() > 0.99
    g = res["graph"]
    assert g["layers"] == 3 and "imdb_norm" in g


def test_same_seed_same_result(digits):
    cfg = {**TINY, "epochs": 1}
    a, b = train(TrainConfig(**cfg, seed=4), data=digits), train(TrainConfig(**cfg, seed=4), data=digits)
    assert a["history"] == b["history"]


def test_resume_two_plus_two_equals_four(tmp_path, digits):
    cfg = dict(TINY, method="synflow", iterations=5)
    straight = train(TrainConfig(**cfg), out=tmp_path / "a", data=digits)
    train(TrainConfig(**{**cfg, "epochs": 2}), out=tmp_path / "b", data=digits)
    resumed = train(TrainConfig(**cfg), out=tmp_path / "b", resume=True, data=digits)
    for (n, p), q in zip(straight["model"].state_dict().items(), resumed["model"].state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), n
    assert resumed["history"] == straight["history"]
    assert resumed["epochs_run"] == 2 and straight["epochs_run"] == 4  # continued, not restarted
    restarted = train(TrainConfig(**cfg), out=tmp_path / "c", resume=True, data=digits)  # nothing to resume
    assert restarted["epochs_run"] == 4


def test_cnn_and_dense(digits):
    img = load_data("digits", image=True)
    res = train(TrainConfig(model="cnn", method="grasp", density=0.2, epochs=1, batch_size=256), data=img)
    assert res["density"] == pytest.approx(0.2, abs=1e-4) and 0 <= res["test_acc"] <= 1
    dense = train(TrainConfig(hidden=(16,), method="dense", epochs=1), data=digits)
    assert dense["density"] == 1.0


def _cifar_fixture(folder, n=12, seed=0):
    """CIFAR-10 python batches in the real format (pickled dicts, b"data" N x 3072 uint8, b"labels")."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        (folder / name).write_bytes(pickle.dumps(d))
    return folder


def test_cifar_folder_loader(tmp_path):
    from orals23_shared.cli import UsageError

    folder = _cifar_fixture(tmp_path / "cifar-10-batches-py")
    data = load_data(folder, image=True)
    assert data.input_shape == (3, 32, 32) and data.n_classes == 10 and data.name == "cifar10"
    assert len(data.y_train) + len(data.y_val) == 60 and len(data.y_val) == 6 and len(data.y_test) == 12
    assert torch.allclose(data.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)  # standardised on train
    assert load_data(folder).input_shape == (3072,)
    res = train(TrainConfig(data=str(folder), model="cnn", method="snip", density=0.1, epochs=1, batch_size=16))
    assert 0 <= res["test_acc"] <= 1 and res["density"] == pytest.approx(0.1, abs=1e-4)
    (folder / "data_batch_3").unlink()
    with pytest.raises(UsageError, match="data_batch_3 is missing"):
        load_data(folder)
    (folder / "data_batch_3").write_bytes(b"junk")
    with pytest.raises(UsageError, match="not a CIFAR python batch"):
        load_data(folder)
    with pytest.raises(UsageError, match="not a CIFAR folder"):
        load_data(tmp_path)
