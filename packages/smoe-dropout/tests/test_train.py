"""Lightning training: the frozen router, the schedule in the loop, exact resume, dense-to-SMoE fine-tuning."""

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
from orals23_shared.seed import seed_everything
from smoe_dropout.cli import train_main
from smoe_dropout.model import moe_layers
from smoe_dropout.train import SMoEModule, TrainConfig, build_data, load_run, model_config, train

BASE = dict(d_model=16, n_heads=2, n_layers=1, d_ff=64, n_experts=8, context=16, batch_size=4, val_tokens=256)
BASE |= dict(quiet=True, threads=1, log_every=1)


class Counting(torch.utils.data.Dataset):
    """A dataset that counts the items read (a resumed run must not re-train from step 0)."""

    def __init__(self, inner):
        self.inner, self.reads = inner, 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        self.reads += 1
        return self.inner[i]


def test_router_frozen_schedule_applied_and_reaches_n(corpus, tmp_path):
    cfg = TrainConfig(data=corpus, steps=5, k_start=2, out=tmp_path / "run", checkpoint_every=5, **BASE)
    data = build_data(cfg)
    seed_everything(cfg.seed)  # as train() does before building the model
    initial = SMoEModule(vars(model_config(cfg, data)), {}).model
    before = {k: v.clone() for k, v in initial.state_dict().items() if "router" in k}
    result = train(cfg, data)
    after = result.model.state_dict()
    assert before and all(torch.equal(before[k], after[k]) for k in before)  # bit-identical router
    changed = [k for k in after if "router" not in k and not torch.equal(initial.state_dict()[k], after[k])]
    assert any("w1" in k for k in changed)  # the experts did train
    ks = [r["k"] for r in read_metrics(result.run_dir) if "k" in r]
    assert ks == [2, 4, 5, 6, 8]  # round(6 t / 4) + 2, Python's (official) half-to-even round; last step at N
    assert result.summary["train_k_final"] == 8
    assert result.summary["curve_k"] == [1, 2, 4, 8] and len(result.summary["val_bpc_curve"]) == 4


def test_learned_router_trains_and_is_balanced(corpus, tmp_path):
    cfg = TrainConfig(data=corpus, steps=3, router="learned", k_schedule="constant", k=2, out=tmp_path / "l", **BASE)
    data = build_data(cfg)
    seed_everything(cfg.seed)
    initial = SMoEModule(vars(model_config(cfg, data)), {}).model.state_dict()
    result = train(cfg, data)
    w = result.model.state_dict()["blocks.0.ffn.router.weight"]
    assert not torch.equal(w, initial["blocks.0.ffn.router.weight"])
    rows = [r for r in read_metrics(result.run_dir) if "train_balance_loss" in r]
    assert rows and all(r["k"] == 2 and r["train_balance_loss"] > 0 for r in rows)


def test_resume_two_plus_two_equals_four_straight(corpus, tmp_path):
    straight = train(TrainConfig(data=corpus, steps=4, out=tmp_path / "straight", checkpoint_every=2, **BASE))
    staged_cfg = dict(data=corpus, steps=4, out=tmp_path / "staged", checkpoint_every=2, **BASE)
    first = train(TrainConfig(stop_after=2, **staged_cfg))
    assert first.summary["steps"] == 2
    cfg = TrainConfig(resume=True, **staged_cfg)
    data = build_data(cfg)
    data.train = Counting(data.train)
    resumed = train(cfg, data)
    assert resumed.summary["steps"] == 4
    assert data.train.reads < 4 * cfg.batch_size  # it trained steps 3 and 4 only (a fresh restart reads 4 batches)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
    assert resumed.summary["val_bpc_curve"] == pytest.approx(straight.summary["val_bpc_curve"], abs=1e-6)
    steps = [r["step"] for r in read_metrics(resumed.run_dir) if "train_loss" in r]
    assert steps == [1, 2, 3, 4]
    losses = {r["step"]: r["train_loss"] for r in read_metrics(resumed.run_dir) if "train_loss" in r}
    ref = {r["step"]: r["train_loss"] for r in read_metrics(straight.run_dir) if "train_loss" in r}
    assert losses == pytest.approx(ref, abs=1e-6)


@pytest.mark.slow
def test_kill_9_then_resume_ends_with_the_uninterrupted_metrics(corpus, tmp_path, tiny):
    args = ["--data", str(corpus), "--steps", "200", "--checkpoint-every", "4", "--log-every", "1", *tiny]
    env = {**os.environ, "ORALS23_THREADS": "1"}
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "smoe_dropout.cli", "train", *args, "--out", str(run)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        ck = latest(run / "checkpoints", ".ckpt")
        if ck is not None and int(ck.stem.split("-")[-1]) >= 8:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists()
    assert train_main([*args, "--out", str(run), "--resume"]) == 0
    assert train_main([*args, "--out", str(tmp_path / "straight")]) == 0
    got = json.loads((run / "summary.json").read_text())
    ref = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert got["steps"] == ref["steps"] == 200
    assert got["val_bpc_curve"] == pytest.approx(ref["val_bpc_curve"], abs=1e-6)
    losses = [r["train_loss"] for r in read_metrics(run) if "train_loss" in r]
    assert losses == pytest.approx([r["train_loss"] for r in read_metrics(tmp_path / "straight") if "train_loss" in r])


def test_dense_to_smoe_fine_tuning_starts_from_the_dense_function(corpus, tmp_path, tsv_files):
    dense = train(TrainConfig(data=corpus, steps=3, router="dense", out=tmp_path / "dense", **BASE))
    ft = TrainConfig(
        data=corpus,
        steps=2,
        router="random",
        k_schedule="constant",
        k=8,
        lr=1e-12,  # (almost) no update: the fine-tuned model is still the converted one
        dropout=0.0,
        init_from=dense.run_dir,
        out=tmp_path / "ft",
        **{**BASE, "d_model": 32},  # the architecture comes from the source run, not from these flags
    )
    res = train(ft)
    meta = json.loads((res.run_dir / "model.json").read_text())
    assert meta["init_from"] == str(dense.run_dir) and meta["source_router"] == "dense"
    assert meta["model"]["d_model"] == 16 and not meta["head_reinitialised"]
    model, _, _ = load_run(res.run_dir)
    ref, _, _ = load_run(dense.run_dir)
    x = torch.randint(1, ref.cfg.vocab_size, (2, 16))
    from smoe_dropout.model import use_top_k

    with use_top_k(model, 8, uniform=True):
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-4)
    assert all(not m.router.weight.requires_grad for m in moe_layers(model))
    # transfer to sentence classification: trunk from the LM, a new head
    train_tsv, dev_tsv = tsv_files
    cls = train(
        TrainConfig(
            task="textcls",
            train_file=train_tsv,
            val_file=dev_tsv,
            steps=2,
            init_from=dense.run_dir,
            out=tmp_path / "cls",
            **BASE,
        )
    )
    meta = json.loads((cls.run_dir / "model.json").read_text())
    assert meta["head_reinitialised"] and meta["model"]["n_classes"] == 2
    assert 0.0 <= cls.summary["val_accuracy"] <= 1.0


def test_digits_task_reports_test_accuracy_per_k(tmp_path):
    res = train(TrainConfig(task="digits", steps=3, out=tmp_path / "d", **{**BASE, "context": 8, "batch_size": 16}))
    assert len(res.summary["test_accuracy_curve"]) == 4
    assert all(0 <= a <= 1 for a in res.summary["test_accuracy_curve"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_resume(corpus, tmp_path, tiny):
    run = tmp_path / "ddp"
    base = [sys.executable, "-m", "smoe_dropout.cli", "train", "--data", str(corpus), *tiny]
    base += ["--strategy", "ddp", "--devices", "2", "--device", "cpu", "--steps", "4", "--checkpoint-every", "2"]
    base += ["--log-every", "1"]
    env = {**os.environ, "ORALS23_THREADS": "1"}  # Lightning's DDP on CPU uses gloo
    first = subprocess.run([*base, "--stop-after", "2", "--out", str(run)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert latest(run / "checkpoints", ".ckpt").name == "ckpt-00000002.ckpt"
    second = subprocess.run([*base, "--resume", "--out", str(run)], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["world_size"] == 2 and len(summary["val_bpc_curve"]) == 4
    steps = [r["step"] for r in read_metrics(run) if "train_loss" in r]
    assert steps == [1, 2, 3, 4]  # rank 0 logs; the resumed run continued at step 3
