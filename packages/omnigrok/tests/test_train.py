"""Training: constrained runs stay on the sphere, weight decay shrinks the norm, runs are deterministic,
and a resumed run (2 + 2 steps, or killed with SIGKILL) equals an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from omnigrok.train import TrainConfig, build, resolve, train
from orals23_shared.runs import read_metrics

TINY = dict(task="digits", n_train=60, hidden=(16, 16), n_evals=200, dtype="float64", batch_size=20)


def _cfg(**kw):
    return resolve(TrainConfig(**{**TINY, **kw}))


def test_constrained_training_keeps_the_norm_after_every_step():
    cfg = _cfg(alpha=3.0, constrained=True, steps=25, lr=1e-2)
    res = train(cfg)
    assert [h["step"] for h in res["history"]] == list(range(26))  # evaluated after every step
    for h in res["history"]:
        assert abs(h["norm"] - res["w_target"]) <= 1e-6 * res["w_target"]
    assert res["w_target"] == pytest.approx(3.0 * res["w0"], rel=1e-14)
    assert cfg.weight_decay == 0.0  # constrained runs default to no weight decay, as the official landscape


def test_unconstrained_norm_moves_and_weight_decay_shrinks_it():
    plain = train(_cfg(alpha=8.0, weight_decay=0.0, steps=40, lr=1e-2))
    decayed = train(_cfg(alpha=8.0, weight_decay=2.0, steps=40, lr=1e-2))
    assert plain["history"][0]["norm"] == pytest.approx(8.0 * plain["w0"], rel=1e-12)
    # decoupled decay multiplies theta by (1 - lr*wd) each step: 40 steps of 0.98 shrink it by ~0.45
    assert decayed["history"][-1]["norm"] < 0.7 * plain["history"][-1]["norm"]


def test_a_tiny_run_is_deterministic_for_a_seed():
    a, b = train(_cfg(steps=15, seed=4)), train(_cfg(steps=15, seed=4))
    c = train(_cfg(steps=15, seed=5))
    assert a["history"] == b["history"]
    assert a["history"] != c["history"]


def test_modadd_tiny_run_trains():
    cfg = resolve(TrainConfig(task="modadd", p=7, train_frac=0.5, d_model=8, n_heads=2, d_head=4, d_mlp=16,
                              steps=5, n_evals=10, dtype="float32"))  # fmt: skip
    res = train(cfg)
    assert res["history"][-1]["train_loss"] < res["history"][0]["train_loss"]


def _weights(run_dir):
    from orals23_shared.checkpoint import latest

    return torch.load(latest(run_dir / "checkpoints"), weights_only=False)["model"]


def test_resume_two_plus_two_equals_four(tmp_path):
    cfg4 = _cfg(steps=4, alpha=8.0, checkpoint_every=2)
    straight = train(cfg4, out=tmp_path / "straight")
    first = train(_cfg(steps=2, alpha=8.0, checkpoint_every=2), out=tmp_path / "split")
    resumed = train(cfg4, out=tmp_path / "split", resume=True)
    assert first["steps_run"] == 2 and resumed["steps_run"] == 2  # a fresh restart would run 4
    wa, wb = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-6, rtol=0), k
    assert [r["step"] for r in read_metrics(tmp_path / "split")] == [0, 1, 2, 3, 4]
    assert straight["history"][-1]["train_loss"] == pytest.approx(resumed["history"][-1]["train_loss"], abs=1e-9)


def _cli(*args):
    return [sys.executable, "-c", "from omnigrok.cli import train_entry; train_entry()", *args]


def test_kill_minus_nine_then_resume_gives_the_uninterrupted_curves(tmp_path):
    flags = ["--task", "digits", "--n-train", "60", "--hidden", "16,16", "--batch-size", "20", "--steps", "1500",
             "--checkpoint-every", "100", "--n-evals", "60", "--alpha", "4", "--weight-decay", "0.5", "--lr", "3e-3",
             "--threads", "1", "--quiet"]  # fmt: skip
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cli(*flags, "--out", str(out)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        ckpts = sorted((out / "checkpoints").glob("ckpt-*.pt")) if (out / "checkpoints").is_dir() else []
        if ckpts and ckpts[-1].name >= "ckpt-00000300.pt":
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the run finished before it could be killed")
    done = subprocess.run(_cli(*flags, "--out", str(out), "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert 300 <= summary["resumed_from"] < 1500  # it continued from a checkpoint, it did not start over
    ref = train(resolve(TrainConfig(task="digits", n_train=60, hidden=(16, 16), batch_size=20, steps=1500,
                                    checkpoint_every=100, n_evals=60, alpha=4.0, weight_decay=0.5, lr=3e-3)))  # fmt: skip
    got = read_metrics(out)
    assert [r["step"] for r in got] == [h["step"] for h in ref["history"]]
    for r, h in zip(got, ref["history"]):
        for k in ("train_loss", "test_loss", "train_acc", "test_acc", "norm"):
            assert r[k] == pytest.approx(h[k], rel=1e-9, abs=1e-12), (r["step"], k)


def test_build_refuses_mnist_without_data_dir():
    from orals23_shared.cli import UsageError

    with pytest.raises(UsageError, match="data-dir"):
        build(resolve(TrainConfig(task="mnist")))
