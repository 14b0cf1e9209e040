"""CLIs: --help, a used --out refused in one line, bad input (alpha <= 0, p not prime, malformed IDX) exits 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from omnigrok.cli import landscape_main, train_main
from omnigrok.reproduce import main as reproduce_main

TINY = ["--task", "digits", "--n-train", "40", "--hidden", "8", "--steps", "6", "--n-evals", "4", "--threads", "1"]


def _exit(fn, argv):
    from orals23_shared.cli import run_cli

    with pytest.raises(SystemExit) as e:
        run_cli(fn, argv)
    return e.value.code


@pytest.mark.parametrize("fn", [train_main, landscape_main, reproduce_main])
def test_help(fn, capsys):
    with pytest.raises(SystemExit) as e:
        fn(["--help"])
    assert e.value.code == 0
    assert "--out" in capsys.readouterr().out


def test_train_writes_a_run_and_refuses_a_used_out(tmp_path, capsys):
    out = tmp_path / "run"
    assert _exit(train_main, [*TINY, "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run"] == str(out) and (out / "curves.png").is_file() and (out / "metrics.jsonl").is_file()
    assert _exit(train_main, [*TINY, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err
    assert _exit(train_main, [*TINY, "--out", str(out), "--quiet", "--overwrite"]) == 0


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--alpha", "0"], "--alpha must be > 0"),
        (["--alpha", "-2"], "--alpha must be > 0"),
        (["--task", "modadd", "--p", "12"], "prime"),
        (["--task", "mnist"], "--data-dir"),
        (["--task", "nope"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert _exit(train_main, [*TINY, *flags, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "r" / "config.json").exists()  # refused before a run folder is made


def test_a_corrected_rerun_after_bad_input_is_not_refused(tmp_path, capsys):
    mod = ["--task", "modadd", "--d-model", "8", "--n-heads", "2", "--d-head", "4", "--d-mlp", "16", "--steps", "2",
           "--n-evals", "2", "--threads", "1", "--quiet", "--out", str(tmp_path / "r")]  # fmt: skip
    assert _exit(train_main, [*mod, "--p", "12"]) == 2
    assert _exit(landscape_main, [*mod, "--p", "12"]) == 2
    assert _exit(train_main, [*mod, "--p", "7"]) == 0


def test_malformed_idx_via_the_cli(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for kind, n in (("train", 4), ("t10k", 2)):
        (folder / f"{kind}-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + b"".join(
            int(v).to_bytes(4, "big") for v in (n, 28, 28)) + np.zeros(n * 784, np.uint8).tobytes())  # fmt: skip
        (folder / f"{kind}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n))
    bad = folder / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x08\x08" + bad.read_bytes()[2:])  # wrong magic
    proc = subprocess.run(
        [sys.executable, "-c", "from omnigrok.cli import train_entry; train_entry()", "--task", "mnist",
         "--data-dir", str(folder), "--n-train", "4", "--steps", "1", "--out", str(tmp_path / "r")],  # fmt: skip
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "wrong magic" in proc.stderr


def test_landscape_cli_and_resume(tmp_path, capsys):
    out = tmp_path / "lu"
    args = [*TINY, "--alphas", "0.5,1,2", "--out", str(out), "--quiet"]
    assert _exit(landscape_main, args) == 0
    rows = json.loads((out / "landscape.json").read_text())["rows"]
    assert [r["alpha"] for r in rows] == [0.5, 1.0, 2.0]
    for r in rows:
        assert r["norm"] == pytest.approx(r["alpha"] * r["w0"], rel=1e-6)
    assert (out / "lu.png").is_file()
    capsys.readouterr()
    assert _exit(landscape_main, [*args, "--resume"]) == 0  # every alpha done: nothing retrained
    assert json.loads((out / "landscape.json").read_text())["rows"] == rows
    assert _exit(landscape_main, [*TINY, "--alphas", "0,1,2", "--out", str(tmp_path / "x")]) == 2
