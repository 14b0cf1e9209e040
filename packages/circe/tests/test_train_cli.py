"""Training, checkpoints/resume and the CLI contract (``circe-train``/``circe-eval``)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from circe.cli import eval_entry, eval_main, train_entry, train_main
from circe.data import Triples, linear_gaussian, procedural_sprites, save_npz
from circe.model import SmallCNN
from circe.train import TrainConfig, load_run, train
from orals23_shared.checkpoint import latest
from orals23_shared.cli import RunFields, UsageError, run_cli
from orals23_shared.runs import read_metrics

TINY = [
    "--n-train",
    "192",
    "--n-val",
    "64",
    "--heldout",
    "40",
    "--batch-size",
    "64",
    "--epochs",
    "2",
    "--quiet",
    "--threads",
    "1",
]


@pytest.fixture()
def files(tmp_path):
    tr = save_npz(tmp_path / "train.npz", linear_gaussian(240, 0))
    va = save_npz(tmp_path / "val.npz", linear_gaussian(64, 1))
    te = save_npz(tmp_path / "test.npz", linear_gaussian(100, 2, ood=True))
    return tr, va, te


@pytest.mark.parametrize("method", ["circe", "hsic", "hscic", "gcm", "erm"])
def test_train_file_contract_and_eval_json(files, tmp_path, capsys, method):
    tr, va, te = files
    run = tmp_path / f"run-{method}"
    assert (
        train_main(["--method", method, "--gamma", "1", "--train", str(tr), "--val", str(va), "--out", str(run), *TINY])
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(out["val_mse"])
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "model.json"):
        assert (run / name).is_file(), name
    assert latest(run / "checkpoints", ".ckpt") is not None
    assert eval_main([str(run), "--data", str(te), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"mse", "cond_dep"} and np.isfinite(res["mse"]) and np.isfinite(res["cond_dep"])
    # the reloaded model predicts exactly what the trained one did
    module = load_run(run)
    x = linear_gaussian(100, 2, ood=True)
    pred = module.model.predict(x.x)
    assert res["mse"] == pytest.approx(float(((pred - x.y) ** 2).mean()), rel=1e-5)


class _KillAt(L.Callback):
    """Stands in for a kill: the run dies at the start of epoch ``epoch`` (its checkpoints are on disk)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("killed")


class _CountSteps(L.Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_train_batch_end(self, *args) -> None:
        self.steps += 1


RESUME_BASE = dict(n_train=192, n_val=64, n_eval=0, heldout=40, batch_size=64, quiet=True, checkpoint_every=1, epochs=4)


@pytest.mark.parametrize("method", ["circe", "gcm"])
def test_resume_equals_an_uninterrupted_run(tmp_path, method):
    """2 epochs, killed, then resumed for 2 more == 4 straight (weights to 1e-6, same logged metrics)."""
    base = dict(RESUME_BASE, method=method, gamma=10.0)
    straight = train(TrainConfig(out=tmp_path / "a", **base))
    with pytest.raises(RuntimeError, match="killed"):
        train(TrainConfig(out=tmp_path / "b", **base), callbacks=[_KillAt(2)])
    assert latest(tmp_path / "b" / "checkpoints", ".ckpt").name == "ckpt-00000006.ckpt"
    count = _CountSteps()
    resumed = train(TrainConfig(out=tmp_path / "b", resume=True, **base), callbacks=[count])
    assert count.steps == 2 * 3  # it continued: a fresh restart would train 4 epochs (12 steps)
    assert resumed.summary["steps"] == straight.summary["steps"] == 12
    for (name, p), q in zip(straight.module.state_dict().items(), resumed.module.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
    rows_a, rows_b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["epoch"] for r in rows_b] == [0, 1, 2, 3]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-5)
    # the held-out regression travels in the checkpoint
    state = torch.load(latest(tmp_path / "b" / "checkpoints", ".ckpt"), map_location="cpu", weights_only=False)
    torch.testing.assert_close(state["state_dict"]["w1"], straight.module.w1)
    with pytest.raises(UsageError, match="differs from the saved run in gamma"):
        train(TrainConfig(out=tmp_path / "b", resume=True, **{**base, "gamma": 1.0}))


def test_second_train_into_the_same_out_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    argv = ["--out", str(tmp_path / "run"), "--n-eval", "0", "--epochs", "1", *TINY]
    assert _exit_code(train_entry, argv, monkeypatch) in (0, None)
    capsys.readouterr()
    assert _exit_code(train_entry, argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err
    assert _exit_code(train_entry, [*argv, "--overwrite"], monkeypatch) in (0, None)


def test_run_fields_are_the_shared_ones(tmp_path, monkeypatch):
    """TrainConfig inherits orals23_shared.cli.RunFields (its checks included); a DDP child (rank > 0) neither
    prepares nor logs into the run folder that rank 0 owns."""
    assert issubclass(TrainConfig, RunFields)
    assert TrainConfig().out == Path("runs/circe")
    with pytest.raises(UsageError, match="--devices and --num-nodes"):
        TrainConfig(devices=0)
    cfg = dict(RESUME_BASE, method="circe", gamma=10.0, epochs=1, out=tmp_path / "r")
    train(TrainConfig(**cfg))
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    monkeypatch.setenv("LOCAL_RANK", "1")
    train(TrainConfig(**cfg))  # rank 0 would refuse the used --out; a child trusts rank 0's folder
    after = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    assert after == before  # config.json, env.json, model.json, metrics.jsonl, summary.json untouched


def test_fitted_model_and_circe_unchanged_when_the_data_are_scaled(tmp_path):
    """Scale-free strength: x, y and z times 0.29 give the same model (in the data's units) and CIRCE values."""
    splits = {
        "train": linear_gaussian(232, 0),
        "val": linear_gaussian(128, 1),
        "val_ood": linear_gaussian(128, 2, ood=True),
    }
    scaled = {k: Triples(d.x * 0.29, d.y * 0.29, d.z * 0.29) for k, d in splits.items()}
    test = linear_gaussian(200, 3)
    base = dict(RESUME_BASE, epochs=3, method="circe", gamma=300.0)

    def fit(data, name, **kw):
        res = train(TrainConfig(out=tmp_path / name, **{**base, **kw}), data=data)
        factor = 0.29 if data is scaled else 1.0
        pred = res.module.model.predict(test.x * factor) / factor
        return pred, res.summary["val_cond_dep"], read_metrics(tmp_path / name)[-1]["val_penalty"]

    p1, cd1, pen1 = fit(splits, "one")
    p2, cd2, pen2 = fit(scaled, "scaled")
    spread = float(p1.std())
    assert float((p1 - p2).abs().max()) <= 0.05 * spread
    assert cd2 == pytest.approx(cd1, rel=0.05) and pen2 == pytest.approx(pen1, rel=0.05)
    # the test has teeth: without standardisation, the same gamma fits a different model on the scaled data
    q1, _, _ = fit(splits, "raw-one", standardize=False)
    q2, _, _ = fit(scaled, "raw-scaled", standardize=False)
    assert float((q1 - q2).abs().max()) > 0.05 * spread


def test_small_cnn_is_the_official_regressor():
    """Official config: conv 1->16->32->64 (3x3, stride 2) with two max-pools, fc1 256->128 + LeakyReLU,
    fc2 128->64 (no activation), target 64->1; features [enc, fc1, fc2, y_hat]."""
    cnn = SmallCNN([1, 64, 64], 1)
    convs = [m for m in cnn.featurizer if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 16, (3, 3), (2, 2), (1, 1)),
        (16, 32, (3, 3), (2, 2), (1, 1)),
        (32, 64, (3, 3), (2, 2), (1, 1)),
    ]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in cnn.featurizer) == 2
    lin = [m for m in cnn.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(256, 128), (128, 64), (64, 1)]
    assert sum(p.numel() for p in cnn.parameters()) == 160 + 4640 + 18496 + 32896 + 8256 + 65
    feats = cnn(torch.rand(8, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(8, 256), (8, 128), (8, 64), (8, 1)]
    with torch.no_grad():
        torch.testing.assert_close(feats[1], torch.nn.functional.leaky_relu(cnn.fc1[0](feats[0])))
        torch.testing.assert_close(feats[2], cnn.fc2(feats[1]))  # fc2: no activation
    d = procedural_sprites(5, 0, size=32)
    assert SmallCNN([1, 32, 32], 2)(d.x)[-1].shape == (5, 2)


def _exit_code(entry, argv, monkeypatch):
    monkeypatch.setattr("sys.argv", ["prog", *argv])
    with pytest.raises(SystemExit) as e:
        entry()
    return e.value.code


@pytest.mark.parametrize("entry", [train_entry, eval_entry])
def test_help(entry, monkeypatch, capsys):
    assert _exit_code(entry, ["--help"], monkeypatch) == 0
    assert "usage" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(files, tmp_path, monkeypatch, capsys):
    tr, va, te = files
    cases = [
        (train_entry, ["--train", str(tr), "--out", str(tmp_path / "r1")], "--train and --val"),
        (
            train_entry,
            ["--train", str(tmp_path / "nope.npz"), "--val", str(va), "--out", str(tmp_path / "r2")],
            "not found",
        ),
        (
            train_entry,
            ["--train", str(tr), "--val", str(va), "--heldout", "230", "--out", str(tmp_path / "r3")],
            "too few",
        ),
        (train_entry, ["--gamma", "-1", "--out", str(tmp_path / "r4")], "gamma"),
        (eval_entry, [str(tmp_path / "no-run"), "--data", str(te)], "run folder not found"),
        (eval_entry, [str(tmp_path)], "--data"),
    ]
    for entry, argv, msg in cases:
        assert _exit_code(entry, argv, monkeypatch) == 2, argv
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    # a mismatched val file (different feature count)
    np.savez(tmp_path / "val_bad.npz", x=np.zeros((64, 3)), y=np.zeros((64, 1)), z=np.zeros((64, 1)))
    code = _exit_code(
        train_entry,
        ["--train", str(tr), "--val", str(tmp_path / "val_bad.npz"), "--out", str(tmp_path / "r5")],
        monkeypatch,
    )
    assert code == 2 and "differ" in capsys.readouterr().err


def test_run_cli_usage_error_is_one_line(capsys):
    def main(argv):
        raise UsageError("boom")

    with pytest.raises(SystemExit) as e:
        run_cli(main, [])
    assert e.value.code == 2 and capsys.readouterr().err.strip().endswith("boom")
