"""relreps-train: run folders, exact resume (2 + 2 steps = 4, mid-epoch and across an epoch end, kill -9), heads."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from orals23_shared.paths import require_shared_data
from relreps.build import TrainConfig, build_data
from relreps.cli import train_main
from relreps.train import RelRepsModule, load_run, train

from .helpers import run


def _cfg(out, **kw):
    base = dict(out=Path(out), quiet=True, epochs=2, checkpoint_every=2)
    base.update(kw)
    return TrainConfig(**base)


def _metrics(run_dir):
    return [{k: v for k, v in json.loads(l).items() if k != "time"} for l in open(Path(run_dir) / "metrics.jsonl")]


def _weights_close(a, b, atol=1e-6):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.allclose(sa[k].float(), sb[k].float(), atol=atol, rtol=0) for k in sa)


@pytest.mark.parametrize(("first", "total"), [(2, 4), (29, 31)])  # inside epoch 0; across the end of epoch 0
def test_resume_continues_exactly_and_only_runs_the_remaining_steps(tmp_path, monkeypatch, first, total):
    straight = train(_cfg(tmp_path / "straight", max_steps=total, checkpoint_every=first))
    train(_cfg(tmp_path / "resumed", max_steps=first, checkpoint_every=first))
    calls = []
    original = RelRepsModule.training_step
    monkeypatch.setattr(RelRepsModule, "training_step", lambda self, b, i: calls.append(i) or original(self, b, i))
    resumed = train(_cfg(tmp_path / "resumed", max_steps=total, resume=True, checkpoint_every=first))
    assert len(calls) == total - first  # a fresh restart would run all steps
    assert _weights_close(straight.model, resumed.model)
    assert _metrics(tmp_path / "straight") == _metrics(tmp_path / "resumed")
    assert resumed.summary.pop("resumed_from_step") == first and straight.summary.pop("resumed_from_step") is None
    assert straight.summary == resumed.summary


def test_a_used_out_is_refused_with_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(train_main, ["--out", out, "--epochs", "1", "--quiet"], capsys)
    assert code == 0 and json.loads(stdout)["test_acc"] > 0.5
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "env.json", "metrics.jsonl", "summary.json", "model.pt", "checkpoints"} <= files
    code, _, err = run(train_main, ["--out", out, "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already holds a run" in err
    code, _, err = run(train_main, ["--out", out, "--epochs", "1", "--lr", "0.5", "--resume"], capsys)
    assert code == 2 and "lr" in err and len(err.strip().splitlines()) == 1


def test_kill_9_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    args = ["--epochs", "2", "--checkpoint-every", "10", "--quiet", "--threads", "1"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "relreps.cli", "train", "--out", str(killed), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and not list((killed / "checkpoints").glob("ckpt-0000002*.ckpt")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed; raise --epochs"
    done = sorted(p.name for p in (killed / "checkpoints").glob("ckpt-*.ckpt"))
    assert done and done[-1] < "ckpt-00000058.ckpt"
    resumed = train(_cfg(killed, epochs=2, checkpoint_every=10, threads=1, resume=True))
    assert resumed.summary["resumed_from_step"] == int(done[-1][5:13])
    straight = train(_cfg(tmp_path / "straight", epochs=2, checkpoint_every=10, threads=1))
    assert _weights_close(straight.model, resumed.model)
    assert _metrics(killed) == _metrics(tmp_path / "straight")
    assert json.loads((killed / "summary.json").read_text())["test_acc"] == straight.summary["test_acc"]


def test_cnn_and_autoencoder_and_absolute_heads_train(tmp_path):
    cnn = train(_cfg(tmp_path / "cnn", arch="cnn", epochs=1))
    assert cnn.summary["test_acc"] > 0.3
    ae = train(_cfg(tmp_path / "ae", task="autoencode", max_steps=20, epochs=1))
    assert 0 < ae.summary["test_mse"] < 0.2
    ab = train(_cfg(tmp_path / "abs", head="absolute", arch="cnn", task="autoencode", max_steps=5))
    assert not ab.model.is_relative and ab.summary["test_mse"] > 0
    loaded = load_run(tmp_path / "cnn")
    assert np.array_equal(loaded.anchor_ids, json.loads((tmp_path / "cnn" / "anchors.json").read_text())["anchor_ids"])


def test_graph_training_on_cora(tmp_path):
    require_shared_data("cora")
    r = train(_cfg(tmp_path / "cora", dataset="cora", epochs=30, checkpoint_every=50))
    assert r.summary["test_acc"] > 0.5  # 7 classes: chance ~0.3
    assert r.model.anchor_nodes.numel() == 300


def test_npz_data_and_bad_inputs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ok.npz", x=rng.normal(size=(120, 6)), y=np.arange(120) % 3)
    np.savez(tmp_path / "gap.npz", x=rng.normal(size=(60, 6)), y=np.where(np.arange(60) % 2, 2, 0))
    np.savez(tmp_path / "noy.npz", x=rng.normal(size=(60, 6)))
    np.save(tmp_path / "emb.npy", rng.normal(size=(60, 6)).astype(np.float32))
    code, out, err = run(train_main, ["--dataset", "npz", "--data", tmp_path / "ok.npz", "--latent-dim", "8",
                                      "--out", tmp_path / "ok", "--epochs", "2", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "ok" / "config.json").read_text())
    anchors = json.loads((tmp_path / "ok" / "anchors.json").read_text())["anchor_ids"]
    assert config["anchors"] is None and len(anchors) == 60  # 120 rows, 60 in training: all of them are anchors
    data = build_data(TrainConfig(dataset="npz", data=tmp_path / "ok.npz"))
    train_x = data.x[torch.as_tensor(data.split.train)]
    torch.testing.assert_close(train_x.mean(0), torch.zeros(6), atol=1e-5, rtol=0)  # z-scored on the training split
    cases = [
        (["--dataset", "npz"], "needs --data"),
        (["--dataset", "npz", "--data", tmp_path / "missing.npz"], "not found"),
        (["--dataset", "npz", "--data", tmp_path / "noy.npz"], "no array named 'y'"),
        (["--dataset", "npz", "--data", tmp_path / "gap.npz", "--anchors", "10"], r"class(es) [1] have no sample"),
        (["--dataset", "npz", "--data", tmp_path / "ok.npz", "--anchors", "500"], "asked for 500 anchors"),
        (["--dataset", "embeddings", "--data", tmp_path / "emb.npy"], "needs --labels"),
        (["--dataset", "cora", "--arch", "mlp"], "does not fit"),
        (["--lr", "-1"], "--lr must be positive"),
        (["--head", "sideways"], "invalid choice"),
    ]
    for i, (argv, message) in enumerate(cases):
        code, _, err = run(train_main, [*argv, "--out", tmp_path / f"bad{i}", "--quiet"], capsys)
        assert code == 2, (argv, err)
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_more_latent_dimensions_than_anchors_warns_in_one_line(tmp_path, capsys):
    with pytest.warns(UserWarning, match="32 dimensions but there are only 16 anchors"):
        code, _, _ = run(train_main, ["--anchors", "16", "--latent-dim", "32", "--max-steps", "2",
                                      "--out", tmp_path / "w", "--quiet"], capsys)  # fmt: skip
    assert code == 0
    assert warnings.formatwarning("only 16 anchors", UserWarning, "x.py", 1) == "warning: only 16 anchors\n"
