"""Run records read back; checkpoints survive an interrupted write; seeding; CLI plumbing."""

import json
import multiprocessing as mp
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from orals23_shared.checkpoint import atomic_save, atomic_write_json, checkpoint_path, latest
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.runs import RunLogger, make_run_dir, read_metrics
from orals23_shared.seed import seed_everything


def test_run_dir_and_logger_read_back(tmp_path):
    run = make_run_dir(tmp_path, "exp", config={"lr": 0.1}, seed=3)
    assert run.parent.name == "exp"
    assert json.loads((run / "config.json").read_text()) == {"lr": 0.1}
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 3 and "numpy" in env["packages"]
    with RunLogger(run, quiet=True) as log:
        for step in log.progress(range(3)):
            log.log(step, loss=1.0 / (step + 1), acc=np.float32(0.5))
        log.summary(best=0.75)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert rows[2]["loss"] == pytest.approx(1 / 3) and rows[0]["acc"] == 0.5
    assert json.loads((run / "summary.json").read_text())["best"] == 0.75


def test_read_metrics_tolerates_torn_last_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0, "loss": 1}\n{"step": 1, "lo')
    with pytest.warns(UserWarning, match="torn write"):
        assert read_metrics(tmp_path) == [{"step": 0, "loss": 1}]


def test_latest_picks_highest_step_and_ignores_temp(tmp_path):
    for step in (5, 40, 12):
        atomic_save(checkpoint_path(tmp_path, step), lambda f, s=step: f.write(str(s).encode()))
    (tmp_path / ".ckpt-00000099.pt.abc.tmp").write_bytes(b"partial")
    assert latest(tmp_path).name == "ckpt-00000040.pt"
    assert latest(tmp_path / "missing") is None


def _slow_writer(path: str, started) -> None:
    def writer(f):
        f.write(b"NEW" * 1000)
        f.flush()
        started.set()
        time.sleep(60)  # killed here, mid-write

    atomic_save(path, writer)


def test_checkpoint_survives_interrupted_write(tmp_path):
    target = tmp_path / "ckpt-00000001.pt"
    atomic_save(target, lambda f: f.write(b"OLD"))
    ctx = mp.get_context("fork")
    started = ctx.Event()
    proc = ctx.Process(target=_slow_writer, args=(str(target), started))
    proc.start()
    assert started.wait(30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert target.read_bytes() == b"OLD"  # previous checkpoint intact
    assert latest(tmp_path) == target  # the leftover temp file is not taken for a checkpoint


def test_atomic_save_cleans_up_when_writer_raises(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})

    def bad(f):
        f.write(b"{")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save(target, bad)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_seed_everything_repeats():
    seed_everything(7)
    a = (random.random(), np.random.rand())
    seed_everything(7)
    assert (random.random(), np.random.rand()) == a
    with pytest.raises(ValueError):
        seed_everything(-1)


@dataclass
class _Cfg:
    lr: float = field(default=0.1, metadata={"help": "learning rate"})
    steps: int = 10
    rule: Literal["gd", "fa"] = "gd"
    widths: list[int] = field(default_factory=lambda: [64, 128])
    quiet: bool = False
    out: Path | None = None


def _parser():
    import argparse

    p = argparse.ArgumentParser(prog="t")
    add_dataclass_args(p, _Cfg)
    return p


def test_config_layers_defaults_file_flags(tmp_path):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"lr": 0.5, "steps": 3}))
    cfg = config_from_args(_parser(), _Cfg, ["--config", str(cfg_file), "--steps", "7", "--widths", "8,16", "--quiet"])
    assert cfg == _Cfg(lr=0.5, steps=7, rule="gd", widths=[8, 16], quiet=True, out=None)
    assert config_from_args(_parser(), _Cfg, ["--out", "x"]).out == Path("x")


def test_config_unknown_key_and_bad_choice(tmp_path):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"lrr": 0.5}))
    with pytest.raises(UsageError, match="unknown option"):
        config_from_args(_parser(), _Cfg, ["--config", str(cfg_file)])
    with pytest.raises(SystemExit):
        _parser().parse_args(["--rule", "dfa"])


def test_run_cli_exit_code_2_one_line(capsys):
    def main(argv):
        raise UsageError("rho must lie in [0, 1], got 2.0")

    with pytest.raises(SystemExit) as e:
        run_cli(main, [])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: rho must lie in [0, 1], got 2.0") and "\n" not in err
