"""The command lines: --help, pretrain -> train -> eval on generated and on new .npz data, the run-folder policy,
and bad input as one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adaptation_sb import bench, reproduce
from adaptation_sb.cli import adapt_entry, dominoes_entry, eval_entry, pretrain_entry, train_entry

FAST = ["--quiet", "--threads", "1"]
TINY_FT = ["--epochs", "1", "--probe-epochs", "2", "--batch-size", "128", *FAST]


def code_of(entry, argv, monkeypatch):
    monkeypatch.setattr("sys.argv", ["prog", *argv])
    with pytest.raises(SystemExit) as e:
        entry()
    return e.value.code


@pytest.mark.parametrize(
    "entry", [pretrain_entry, train_entry, adapt_entry, eval_entry, bench.entry, reproduce.entry, dominoes_entry]
)
def test_help(entry, monkeypatch, capsys):
    assert code_of(entry, ["--help"], monkeypatch) == 0
    assert "usage" in capsys.readouterr().out


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "pre"
    argv = ["--epochs", "2", "--hidden", "32", "--feat-dim", "16", "--batch-size", "128", "--out", str(run), *FAST]
    with pytest.raises(SystemExit) as e, pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["adaptation-sb-pretrain", *argv])
        pretrain_entry()
    assert e.value.code == 0
    return run


def test_pretrain_train_eval_and_a_used_out(pretrained, tmp_path, monkeypatch, capsys):
    assert (pretrained / "backbone.pt").is_file() and (pretrained / "summary.json").is_file()
    run = tmp_path / "adapt"
    argv = ["--backbone", str(pretrained), "--probe", "vat", *TINY_FT, "--out", str(run)]
    assert code_of(train_entry, argv, monkeypatch) == 0
    for name in ("config.json", "env.json", "model.pt", "lp_head.pt", "metrics.jsonl", "summary.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    saved = json.loads((run / "config.json").read_text())
    assert (saved["lr"], saved["probe_lr"]) == (0.01, 0.1)  # the MLP backbone's defaults
    assert set(summary["safety"]) >= {"val", "test", "test_random", "corruption", "anomaly", "distortion"}
    capsys.readouterr()
    assert code_of(train_entry, argv, monkeypatch) == 2  # a used --out
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err
    assert code_of(eval_entry, [str(run), "--json", "--no-corruptions", *FAST[1:]], monkeypatch) == 0
    rec = json.loads(capsys.readouterr().out)
    # eval on the run's own data reproduces what training reported
    assert rec["metrics"]["test_random"]["acc"] == pytest.approx(summary["safety"]["test_random"]["acc"])
    assert rec["metrics"]["test"]["ece_15"] == pytest.approx(summary["safety"]["test"]["ece_15"])
    # a model.pt whose head does not take the backbone's features: one line, exit 2
    import shutil

    import torch

    bad = tmp_path / "bad-head"
    bad.mkdir()
    shutil.copy(run / "config.json", bad / "config.json")
    blob = torch.load(run / "model.pt", weights_only=True)
    blob["state_dict"]["head.weight"] = torch.zeros(10, 5)
    torch.save(blob, bad / "model.pt")
    assert code_of(eval_entry, [str(bad), "--no-corruptions"], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the head takes 5 features but the backbone gives 16" in err, err


def test_new_npz_data_end_to_end(tmp_path, monkeypatch, capsys):
    """A dataset the package never saw: 12x12 'images' of 3 classes in .npz files, with an OOD split."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    for name, n in (("train", 90), ("val", 30), ("test", 30), ("shifted", 30)):
        y = np.arange(n) % 3
        x = rng.uniform(0, 0.3, size=(n, 12, 12))
        for i, c in enumerate(y):
            x[i, 4 * c : 4 * c + 4] += 0.5 if name != "shifted" else 0.3
        np.savez(data / f"{name}.npz", x=x.clip(0, 1).astype(np.float32), y=y)
    np.savez(tmp_path / "outliers.npz", x=rng.uniform(0, 1, size=(20, 12, 12)).astype(np.float32))
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert code_of(pretrain_entry, ["--data", str(data), "--epochs", "3", "--out", str(pre), *FAST], monkeypatch) == 0
    argv = ["--data", str(data), "--backbone", str(pre / "backbone.pt"), "--protocol", "lp+ft", "--probe", "soup"]
    assert code_of(adapt_entry, [*argv, *TINY_FT, "--out", str(run)], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "shifted: acc" in out and "anomaly AUROC" in out
    assert code_of(eval_entry, [str(run), "--ood", str(tmp_path / "outliers.npz"), "--json"], monkeypatch) == 0
    rec = json.loads(capsys.readouterr().out)
    assert set(rec["metrics"]["anomaly"]) == {"outliers", "mean_auroc"}
    assert 0.0 <= rec["metrics"]["shifted"]["acc"] <= 1.0


def test_conv_backbone_on_rgb_images_end_to_end(tmp_path, monkeypatch, capsys):
    """--arch conv on (n, 3, H, W) uint8 images (the MNIST-CIFAR layout), pretrain -> LP+FT -> eval."""
    rng = np.random.default_rng(1)
    data = tmp_path / "rgb"
    data.mkdir()
    for name, n in (("train", 60), ("val", 20), ("test", 20)):
        y = np.arange(n) % 2
        x = rng.integers(0, 100, size=(n, 3, 16, 8), dtype=np.uint8)
        x[y == 1, 0, :8] += 120  # class 1: a bright red top half
        np.savez(data / f"{name}.npz", x=x, y=y)
    pre, run = tmp_path / "pre", tmp_path / "run"
    argv = ["--data", str(data), "--arch", "conv", "--channels", "4", "--feat-dim", "8", "--epochs", "2"]
    assert code_of(pretrain_entry, [*argv, "--out", str(pre), *FAST], monkeypatch) == 0
    blob = json.loads((pre / "summary.json").read_text())
    assert blob["backbone"]["arch"] == "conv" and blob["backbone"]["in_shape"] == [3, 16, 8]
    argv = ["--data", str(data), "--backbone", str(pre), "--protocol", "lp+ft", "--probe", "udp"]
    assert code_of(train_entry, [*argv, *TINY_FT, "--out", str(run)], monkeypatch) == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["lr"], saved["probe_lr"]) == (0.001, 0.03)  # the conv backbone's stable defaults
    capsys.readouterr()
    assert code_of(eval_entry, [str(run), "--json", "--no-corruptions"], monkeypatch) == 0
    rec = json.loads(capsys.readouterr().out)
    assert 0.0 <= rec["metrics"]["test"]["acc"] <= 1.0 and "distortion" in rec["metrics"]


def test_bad_input_is_one_line_and_exit_2(pretrained, tmp_path, monkeypatch, capsys):
    big = tmp_path / "big"
    big.mkdir()
    for name in ("train", "val", "test"):
        np.savez(big / f"{name}.npz", x=np.zeros((4, 8, 8), np.float32), y=np.arange(4))
    scaled = tmp_path / "scaled"
    scaled.mkdir()
    np.savez(scaled / "train.npz", x=np.full((4, 16, 8), 255.0, np.float32), y=np.arange(4))
    bb = ["--backbone", str(pretrained)]
    flat = tmp_path / "flat"
    flat.mkdir()
    np.savez(flat / "train.npz", x=np.zeros((4, 20), np.float32), y=np.arange(4))
    import torch

    blob = torch.load(pretrained / "backbone.pt", weights_only=True)
    blob["config"]["feat_dim"] = 8  # the user's checkpoint claims 8 features, its weights give 16
    torch.save(blob, tmp_path / "mismatch.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = [
        (train_entry, [*bb, "--probe", "fgsm"], "probe variant 'fgsm' is not defined"),
        (train_entry, [*bb, "--protocol", "lp-ft"], "invalid choice"),
        (train_entry, [], "--backbone is required"),
        (train_entry, ["--backbone", str(tmp_path / "none")], "no backbone"),
        (train_entry, [*bb, "--data", str(big)], "do not fit the backbone"),
        (train_entry, [*bb, "--data", str(scaled)], "[0, 1]"),
        (train_entry, [*bb, "--data", str(tmp_path / "nowhere")], "not 'digits-dominoes'"),
        (train_entry, [*bb, "--correlation", "2"], "--correlation must lie in [0, 1]"),
        (train_entry, [*bb, "--soup-heads", "40", "--probe", "soup"], "exceeds the feature size 16"),
        (train_entry, ["--backbone", str(tmp_path / "mismatch.pt")], "(feature size 8): net.3.weight has shape"),
        (train_entry, ["--backbone", str(tmp_path / "junk.pt")], "not a backbone written by adaptation-sb-pretrain"),
        (pretrain_entry, ["--epochs", "0"], "--epochs must be >= 1"),
        (pretrain_entry, ["--arch", "conv", "--data", str(flat)], "a conv backbone takes images"),
        (pretrain_entry, ["--arch", "resnet"], "invalid choice"),
        (eval_entry, [str(tmp_path / "nope")], "run folder not found"),
        (
            dominoes_entry,
            ["--cifar", str(tmp_path), "--mnist", str(tmp_path), "--out", str(tmp_path / "d")],
            "MNIST file not found",
        ),
        (eval_entry, [str(tmp_path)], "not a finished adaptation-sb-train run"),
    ]
    for i, (entry, argv, msg) in enumerate(cases):
        extra = {train_entry: TINY_FT, pretrain_entry: FAST}.get(entry)
        full = [*argv, *extra, "--out", str(tmp_path / f"r{i}")] if extra else argv
        assert code_of(entry, full, monkeypatch) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, (argv, err)


def test_resume_refuses_a_changed_schedule_and_accepts_stop_after(pretrained, tmp_path, monkeypatch, capsys):
    run = tmp_path / "r"
    argv = ["--backbone", str(pretrained), *TINY_FT, "--out", str(run)]
    assert code_of(train_entry, [*argv, "--stop-after", "1"], monkeypatch) == 0
    capsys.readouterr()
    assert code_of(train_entry, [*argv, "--resume", "--epochs", "3"], monkeypatch) == 2  # the LR horizon changed
    assert "epochs" in capsys.readouterr().err
    assert code_of(train_entry, [*argv, "--resume"], monkeypatch) == 0


def test_bench_quick_writes_side_by_side_ratios(tmp_path, monkeypatch):
    argv = ["--feat-dim", "40", "--batch", "16", "--inner", "2", "--out", str(tmp_path), "--threads", "1"]
    assert code_of(bench.entry, argv, monkeypatch) == 0
    rec = json.loads((tmp_path / "bench.json").read_text())
    rows = {r["what"]: r for r in rec["rows"]}
    assert rows["probe lp"]["ratio_over_lp"] == 1.0
    assert all(rows[f"probe {v}"]["n"] >= 5 for v in ("vat", "udp", "soup"))
    assert any("FT step" in k and r["ratio_ft_over_lp"] > 0 for k, r in rows.items())
    assert code_of(bench.entry, ["--feat-dim", "5"], monkeypatch) == 2
