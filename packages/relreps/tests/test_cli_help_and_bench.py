"""Every CLI answers --help; relreps-bench writes its ratios; scale-out with DDP on 2 CPU processes (slow)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from relreps.bench import main as bench_main
from relreps.cli import compare_main, stitch_main, train_main
from relreps.reproduce import main as reproduce_main

from .helpers import run


@pytest.mark.parametrize("main", [train_main, stitch_main, compare_main, reproduce_main, bench_main])
def test_every_cli_answers_help(main, capsys):
    code, out, _ = run(main, ["--help"], capsys)
    assert code == 0 and "usage:" in out and "--seed" in out


def test_bench_writes_ratios(tmp_path, capsys):
    argv = ["--out", tmp_path, "--repeats", "5", "--warmup", "0", "--steps", "1", "--anchors", "20",
            "--batch-size", "16", "--compare-rows", "400", "--compare-dim", "8", "--no-memory"]  # fmt: skip
    code, out, err = run(bench_main, argv, capsys)
    assert code == 0, err
    bench = json.loads((tmp_path / "bench.json").read_text())
    steps = [r for r in bench["rows"] if r["bench"] == "train_step" and r["head"] == "relative"]
    assert len(steps) == 4 and all(r["ratio_to_absolute"] > 0 and r["n"] == 5 for r in steps)
    assert any(r["bench"] == "compare" for r in bench["rows"]) and "load_after" in bench
    code, _, err = run(bench_main, ["--anchors", "x", "--out", tmp_path], capsys)
    assert code == 2 and "comma-separated" in err


def _ddp(out, steps, resume=False):
    cmd = [sys.executable, "-m", "relreps.cli", "train", "--out", str(out), "--strategy", "ddp", "--devices", "2",
           "--max-steps", str(steps), "--checkpoint-every", "2", "--quiet", "--threads", "1"]  # fmt: skip
    if resume:
        cmd.append("--resume")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out / "model.pt", weights_only=True)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_resumes_from_its_checkpoint(tmp_path):
    straight = _ddp(tmp_path / "straight", 4)
    _ddp(tmp_path / "resumed", 2)
    assert (tmp_path / "resumed" / "checkpoints" / "ckpt-00000002.ckpt").is_file()
    resumed = _ddp(tmp_path / "resumed", 4, resume=True)
    for k in straight:
        torch.testing.assert_close(straight[k], resumed[k], rtol=0, atol=1e-6)
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4  # continued, not restarted
