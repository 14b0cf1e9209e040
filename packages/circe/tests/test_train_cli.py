"""Training, checkpoints/resume and the CLI contract (``circe-train``/``circe-eval``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from circe.cli import eval_entry, eval_main, train_entry, train_main
from circe.data import linear_gaussian, procedural_sprites, save_npz
from circe.model import SmallCNN
from circe.train import TrainConfig, load_run, train
from orals23_shared.checkpoint import latest
from orals23_shared.cli import UsageError, run_cli

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
    pred = module.model(x.x)[-1].detach()
    assert res["mse"] == pytest.approx(float(((pred - x.y) ** 2).mean()), rel=1e-5)


def test_resume_continues_from_checkpoint(tmp_path):
    run = tmp_path / "run"
    base = dict(
        method="circe",
        n_train=192,
        n_val=64,
        heldout=40,
        batch_size=64,
        quiet=True,
        out=run,
        checkpoint_every=1,
        threads=1,
    )
    first = train(TrainConfig(epochs=2, **base))
    ck2 = latest(run / "checkpoints", ".ckpt")
    assert first.summary["steps"] == 2 * 3
    with pytest.raises(UsageError, match="already holds checkpoints"):
        train(TrainConfig(epochs=3, **base))
    second = train(TrainConfig(epochs=3, resume=True, **base))
    assert second.summary["steps"] == 3 * 3
    ck3 = latest(run / "checkpoints", ".ckpt")
    assert ck3 != ck2 and ck3.name == "ckpt-00000009.ckpt"
    # the held-out regression travels in the checkpoint
    state = torch.load(ck3, map_location="cpu", weights_only=False)["state_dict"]
    torch.testing.assert_close(state["w1"], first.module.w1)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    with pytest.raises(UsageError, match="no checkpoint"):
        train(TrainConfig(epochs=1, resume=True, **{**base, "out": tmp_path / "fresh"}))


def test_sprites_cnn_shapes():
    d = procedural_sprites(5, 0, size=32)
    feats = SmallCNN([1, 32, 32], 1)(d.x)
    assert feats[-1].shape == (5, 1) and len(feats) == 5
    assert SmallCNN([1, 64, 64], 2)(torch.zeros(3, 64, 64))[-1].shape == (3, 2)


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
