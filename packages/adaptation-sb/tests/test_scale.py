"""Scale-out and crash safety (slow): DDP on 2 CPU processes resumes from its checkpoint; kill -9 then --resume
ends with the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from orals23_shared.checkpoint import latest
from orals23_shared.runs import read_metrics

ENV = {**os.environ, "ORALS23_THREADS": "1"}
SMALL = ["--probe-epochs", "5", "--batch-size", "32", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    run = tmp_path_factory.mktemp("pre") / "pre"
    cmd = [sys.executable, "-m", "adaptation_sb.cli", "pretrain", "--epochs", "1", "--hidden", "32", "--feat-dim", "16"]
    done = subprocess.run([*cmd, "--out", str(run), "--quiet"], env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_resume(pre, tmp_path):
    run = tmp_path / "ddp"
    base = [sys.executable, "-m", "adaptation_sb.cli", "train", "--backbone", str(pre), *SMALL, "--epochs", "1"]
    base += ["--strategy", "ddp", "--devices", "2", "--device", "cpu", "--checkpoint-every", "2", "--log-every", "1"]
    first = subprocess.run([*base, "--stop-after", "2", "--out", str(run)], env=ENV, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert latest(run / "checkpoints", ".ckpt").name == "ckpt-00000002.ckpt"
    second = subprocess.run([*base, "--resume", "--out", str(run)], env=ENV, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    # 539 training examples / 2 ranks = 270 each, / batch 32 = 9 steps per epoch
    assert summary["ft_steps"] == 9 and 0.0 <= summary["safety"]["test"]["acc"] <= 1.0
    steps = [r["step"] for r in read_metrics(run) if "train_loss" in r]
    assert steps == list(range(1, 10))


@pytest.mark.slow
def test_kill_9_then_resume_ends_with_the_uninterrupted_metrics(pre, tmp_path):
    from adaptation_sb.cli import train_main

    args = ["--backbone", str(pre), *SMALL, "--epochs", "30", "--checkpoint-every", "5", "--log-every", "1"]
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "adaptation_sb.cli", "train", *args, "--out", str(run)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ck = latest(run / "checkpoints", ".ckpt")
        if ck is not None and int(ck.stem.split("-")[-1]) >= 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists()
    assert train_main([*args, "--out", str(run), "--resume"]) == 0
    assert train_main([*args, "--out", str(tmp_path / "straight")]) == 0
    got = json.loads((run / "summary.json").read_text())["safety"]
    ref = json.loads((tmp_path / "straight" / "summary.json").read_text())["safety"]
    for split in ("val", "test", "test_random"):
        assert got[split] == pytest.approx(ref[split], abs=1e-6)
    losses = [r["train_loss"] for r in read_metrics(run) if "train_loss" in r]
    assert losses == pytest.approx([r["train_loss"] for r in read_metrics(tmp_path / "straight") if "train_loss" in r])
