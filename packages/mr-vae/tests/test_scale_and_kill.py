"""A real kill -9 mid-run then --resume, and DDP on two CPU processes (gloo) that resumes from its checkpoint.

Both start fresh Python processes (torch + Lightning imports), so they are ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from orals23_shared.checkpoint import latest
from orals23_shared.runs import read_metrics

ARGS = [
    "--hidden",
    "32,32",
    "--latent",
    "4",
    "--batch-size",
    "32",
    "--eval-betas",
    "3",
    "--eval-samples",
    "2",
    "--quiet",
    "--threads",
    "1",
]


def _cli(*argv: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mr_vae.cli", "train", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _weights(run):
    state = torch.load(latest(run / "checkpoints", ".ckpt"), map_location="cpu", weights_only=False)
    return state["global_step"], state["state_dict"]


@pytest.mark.slow
def test_kill_9_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    steps = "400"
    straight = _cli("mr", "--steps", steps, "--checkpoint-every", "25", "--out", str(tmp_path / "a"), *ARGS)
    assert straight.wait(timeout=600) == 0, straight.stderr.read()
    victim = _cli("mr", "--steps", steps, "--checkpoint-every", "25", "--out", str(tmp_path / "b"), *ARGS)
    deadline = time.time() + 600
    while latest(tmp_path / "b" / "checkpoints", ".ckpt") is None and victim.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at, _ = _weights(tmp_path / "b")
    assert 0 < killed_at < int(steps)
    resumed = _cli("mr", "--steps", steps, "--checkpoint-every", "25", "--out", str(tmp_path / "b"), "--resume", *ARGS)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["resumed_from"] == killed_at
    step_a, state_a = _weights(tmp_path / "a")
    step_b, state_b = _weights(tmp_path / "b")
    assert step_a == step_b == int(steps)
    for k, v in state_a.items():
        torch.testing.assert_close(state_b[k], v, rtol=0, atol=1e-6)
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["test_curve"]
    b = json.loads((tmp_path / "b" / "summary.json").read_text())["test_curve"]
    for key in ("rate", "distortion"):
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5)
    assert [r["step"] for r in read_metrics(tmp_path / "b")] == [r["step"] for r in read_metrics(tmp_path / "a")]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_resumes_from_its_checkpoint(tmp_path):
    # a constant learning rate (no warm-up, cosine from lr to lr) so that a 2-step run is the first half of a 4-step one
    ddp = ["--strategy", "ddp", "--devices", "2", "--checkpoint-every", "2", "--warmup", "0", "--min-lr", "1e-3", *ARGS]
    straight = _cli("mr", "--steps", "4", "--out", str(tmp_path / "a"), *ddp)
    out, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err
    first = _cli("mr", "--steps", "2", "--out", str(tmp_path / "b"), *ddp)
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert _weights(tmp_path / "b")[0] == 2
    resumed = _cli("mr", "--steps", "4", "--out", str(tmp_path / "b"), "--resume", *ddp)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["resumed_from"] == 2
    step, state = _weights(tmp_path / "b")
    step_a, state_a = _weights(tmp_path / "a")
    assert step == step_a == 4
    for k, v in state_a.items():  # 2 + 2 resumed DDP steps equal 4 straight ones
        torch.testing.assert_close(state[k], v, rtol=0, atol=1e-6)
