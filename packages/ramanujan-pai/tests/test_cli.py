"""CLIs: --help, the -metrics JSON contract, a used --out refused in one line, bad input exits 2 with one line."""

import json

import numpy as np
import pytest

from orals23_shared.cli import run_cli
from ramanujan_pai.bench import main as bench_main
from ramanujan_pai.cli import eval_main, metrics_main, prune_main, train_main
from ramanujan_pai.graph import METRIC_KEYS, layer_metrics
from ramanujan_pai.reproduce import main as reproduce_main

TINY = ["--hidden", "32,16", "--epochs", "2", "--batch-size", "128", "--lr", "0.01", "--threads", "1"]


def _exit(fn, argv):
    with pytest.raises(SystemExit) as e:
        run_cli(fn, argv)
    return e.value.code


def _one_line_error(capsys, text):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err
    return err


@pytest.mark.parametrize("fn", [prune_main, metrics_main, train_main, eval_main, reproduce_main, bench_main])
def test_help(fn, capsys):
    with pytest.raises(SystemExit) as e:
        fn(["--help"])
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_prune_then_metrics_json_contract(tmp_path, capsys):
    masks = tmp_path / "m.npz"
    argv = ["--method", "synflow", "--density", "0.2", "--iterations", "5", "--hidden", "64,32", "--out", str(masks)]
    assert _exit(prune_main, [*argv, "--json"]) == 0
    pruned = json.loads(capsys.readouterr().out)
    assert pruned["density"] == pytest.approx(0.2, abs=1e-4)
    assert _exit(metrics_main, [str(masks), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"layers", "model"} and list(out["layers"]) == ["hidden.0", "hidden.1", "out"]
    z = np.load(masks)
    for name, v in out["layers"].items():
        assert {"skipped", *METRIC_KEYS} <= set(v)
        ref = layer_metrics(z[name])
        assert v["skipped"] == ref["skipped"]
        for k in METRIC_KEYS:
            assert v[k] == ref[k]
        if v["skipped"]:
            assert all(v[k] is None for k in METRIC_KEYS)
    valid = [v["delta_r"] for v in out["layers"].values() if not v["skipped"]]
    assert out["model"]["delta_r"] == pytest.approx(np.mean(valid))
    assert _exit(prune_main, argv) == 2  # exists
    _one_line_error(capsys, "--overwrite")


def test_metrics_on_conv_weights_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 8, 3, 3)) * (rng.random((16, 8, 3, 3)) < 0.4)
    np.savez(tmp_path / "w.npz", conv=w, fc=rng.normal(size=(10, 16)))
    assert _exit(metrics_main, [str(tmp_path / "w.npz"), "--json", "--narc", "corrected"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = layer_metrics(w, "corrected")
    assert out["layers"]["conv"]["mu_hat"] == ref["mu_hat"] and out["layers"]["conv"]["narc"] == ref["narc_corrected"]
    assert _exit(metrics_main, [str(tmp_path / "w.npz")]) == 0
    assert "conv" in capsys.readouterr().out


def test_train_eval_and_used_out(tmp_path, capsys):
    out = tmp_path / "run"
    assert _exit(train_main, [*TINY, "--method", "erk", "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run"] == str(out) and (out / "metrics.jsonl").is_file() and (out / "masks.npz").is_file()
    assert _exit(train_main, [*TINY, "--method", "erk", "--out", str(out), "--quiet"]) == 2
    _one_line_error(capsys, "already holds a run")
    assert _exit(eval_main, [str(out), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["epoch"] == 2 and 0 <= ev["test_acc"] <= 1
    assert _exit(metrics_main, [str(out), "--json"]) == 0  # a run folder: its masks
    assert json.loads(capsys.readouterr().out)["layers"]["out"]["dim_in"] == 16
    # train on a user .npz with the saved masks of another shape: one line
    rng = np.random.default_rng(1)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(120, 5)), y=np.repeat(np.arange(3), 40))
    assert _exit(train_main, [*TINY, "--data", str(data), "--masks", str(out / "masks.npz"),
                              "--out", str(tmp_path / "r2")]) == 2  # fmt: skip
    _one_line_error(capsys, "shape")
    assert _exit(train_main, [*TINY, "--data", str(data), "--method", "snip", "--out", str(tmp_path / "r3"),
                              "--quiet"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--density", "0"], "--density must be in (0, 1]"),
        (["--density", "1.5"], "--density must be in (0, 1]"),
        (["--method", "nope"], "invalid choice"),
        (["--data", "/nonexistent/x.npz"], "No such file"),
        (["--model", "cnn", "--data", "BAD2D"], "N x C x H x W"),
    ],
)
def test_train_bad_input(tmp_path, capsys, argv, message):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "flat.npz", x=rng.normal(size=(60, 4)), y=np.repeat(np.arange(2), 30))
    argv = [str(tmp_path / "flat.npz") if a == "BAD2D" else a for a in argv]
    assert _exit(train_main, [*TINY, *argv, "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, message)


def test_metrics_bad_input(tmp_path, capsys):
    assert _exit(metrics_main, [str(tmp_path / "missing.npz")]) == 2
    _one_line_error(capsys, "No such file")
    np.savez(tmp_path / "three.npz", a=np.ones((2, 3, 4)))
    assert _exit(metrics_main, [str(tmp_path / "three.npz")]) == 2
    _one_line_error(capsys, "out x in")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert _exit(metrics_main, [str(tmp_path / "junk.npz")]) == 2
    _one_line_error(capsys, "not a readable")
    assert _exit(prune_main, ["--method", "snip", "--density", "2", "--out", str(tmp_path / "m.npz")]) == 2
    _one_line_error(capsys, "density")


def test_reproduce_and_bench_bad_input(tmp_path, capsys):
    assert _exit(reproduce_main, ["--quick", "--models", "vit", "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "--models")
    assert _exit(bench_main, ["--densities", "0,2", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "--densities")
