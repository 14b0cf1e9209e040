"""Run folders never mix two runs; a resumed RunLogger keeps every record; threads; the bench protocol."""

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orals23_shared import bench
from orals23_shared.cli import (
    RunFields,
    UsageError,
    add_dataclass_args,
    add_run_args,
    config_from_args,
    parse_run_config,
    run_cli,
)
from orals23_shared.runfolder import config_differences, is_worker_process, jsonable, prepare_run_dir
from orals23_shared.runs import RunLogger, read_metrics
from orals23_shared.threads import ENV_VAR, default_threads, set_threads, usable_cores

_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from orals23_shared.runs import RunLogger
    log = RunLogger(sys.argv[1], quiet=True)
    for step in range(4):
        log.log(step, loss=1.0 / (step + 1))
    log._file.write('{"step": 4, "loss": 0.2')  # half a record, then killed
    log._file.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_resumed_logger_after_a_kill_mid_line_keeps_every_record(tmp_path, capsys):
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path)], capture_output=True)
    assert proc.returncode == -9
    assert (tmp_path / "metrics.jsonl").read_text().endswith('"loss": 0.2')
    with RunLogger(tmp_path, quiet=True) as log:
        assert log.dropped_tail == '{"step": 4, "loss": 0.2'
        for step in (4, 5, 6):
            log.log(step, loss=0.1)
    assert "dropped a torn last line" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(tmp_path)] == [0, 1, 2, 3, 4, 5, 6]


def test_read_metrics_skips_and_reports_a_bad_middle_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1, "lo\n{"step": 2}\n')
    with pytest.warns(UserWarning, match="metrics.jsonl:2"):
        rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 2]


def test_resume_step_drops_records_logged_after_the_checkpoint(tmp_path):
    with RunLogger(tmp_path, quiet=True) as log:
        for step in range(10):
            log.log(step, loss=float(step))
    with RunLogger(tmp_path, quiet=True, resume_step=5) as log:  # the checkpoint was at step 5
        log.log(6, loss=-1.0)
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6] and rows[-1]["loss"] == -1.0


def test_run_folder_policy(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = {"lr": 0.1, "hidden": 64, "epochs": 2, "out": str(out)}
    run, resumed = prepare_run_dir(out, cfg)
    assert run == out and not resumed and json.loads((out / "config.json").read_text()) == cfg
    (out / "metrics.jsonl").write_text('{"step": 0}\n')
    with pytest.raises(UsageError, match="already holds a run; pass --resume"):
        prepare_run_dir(out, cfg)
    # resume: free fields (epochs) may change, model fields may not
    run, resumed = prepare_run_dir(out, {**cfg, "epochs": 4}, resume=True)
    assert resumed and json.loads((out / "config.json").read_text())["epochs"] == 4
    with pytest.raises(UsageError, match=r"hidden \(saved 64, given 128\)"):
        prepare_run_dir(out, {**cfg, "hidden": 128}, resume=True)
    with pytest.raises(UsageError, match="exclude each other"):
        prepare_run_dir(out, cfg, resume=True, overwrite=True)
    # overwrite empties the old run
    run, resumed = prepare_run_dir(out, {**cfg, "hidden": 128}, overwrite=True)
    assert not resumed and not (out / "metrics.jsonl").exists()
    # a folder that is not a run is never deleted
    other = tmp_path / "home"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="holds no run"):
        prepare_run_dir(other, cfg, overwrite=True)
    assert (other / "thesis.tex").read_text() == "precious"
    # nothing to resume: a new run, said on stderr
    run, resumed = prepare_run_dir(tmp_path / "fresh", cfg, resume=True)
    assert not resumed and "nothing to resume" in capsys.readouterr().err


def test_config_differences_normalise_tuples_and_paths(tmp_path):
    assert config_differences({"dims": [1, 2], "root": "x"}, {"dims": (1, 2), "root": tmp_path / ".." / "x"}) == [
        f"root (saved 'x', given '{tmp_path / '..' / 'x'}')"
    ]


def test_threads_default_never_oversubscribes(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_threads() == usable_cores()
    monkeypatch.setenv(ENV_VAR, "1")
    assert default_threads() == 1
    monkeypatch.setenv(ENV_VAR, "512")
    assert default_threads() == usable_cores()
    assert set_threads(10_000) == usable_cores() and os.environ["OMP_NUM_THREADS"] == str(usable_cores())
    assert set_threads(1) == 1 and os.environ[ENV_VAR] == "1"
    with pytest.raises(ValueError):
        set_threads(-1)


def test_set_threads_applies_to_torch():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_time_call_median_min_max():
    calls = []
    t = bench.time_call(lambda: (calls.append(1), time.sleep(0.002)), repeats=5, warmup=2)
    assert len(calls) == 7 and t.n == 5
    assert 0.002 <= t.min <= t.median <= t.max
    with pytest.raises(ValueError, match=">= 5"):
        bench.time_call(lambda: None, repeats=2)


def test_time_call_with_a_cpu_clock_ignores_sleeping():
    t = bench.time_call(lambda: time.sleep(0.01), repeats=5, warmup=0, clock=time.process_time)
    assert t.max < 0.005  # sleeping costs no CPU time; wall time would be >= 0.01


def test_peak_rss_sees_an_allocation_in_a_fresh_process():
    small = bench.peak_rss("orals23_shared.bench:allocate_mib", {"mib": 1})
    big = bench.peak_rss("orals23_shared.bench:allocate_mib", {"mib": 200})
    assert big["result"] == 200 * 1024 * 1024
    assert 180 <= big["delta_mib"] - small["delta_mib"] <= 260
    with pytest.raises(RuntimeError, match="failed"):
        bench.peak_rss("orals23_shared.bench:no_such_function")


def test_write_bench_records_machine_and_load(tmp_path):
    path = bench.write_bench(tmp_path, "pkg", [{"phase": "x", "median": 0.1}], config={"out": tmp_path}, load_before={})
    data = json.loads(path.read_text())
    assert data["rows"][0]["phase"] == "x" and data["machine"]["cores"] >= 1 and "loadavg_1m" in data["load_after"]


def test_argparse_errors_are_one_line(capsys):
    import argparse

    def main(argv):
        p = argparse.ArgumentParser(prog="x-train")
        p.add_argument("--rule", choices=["gd", "fa"])
        p.parse_args(argv)

    with pytest.raises(SystemExit) as e:
        run_cli(main, ["--rule", "dfa"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice: 'dfa'" in err and len(err.splitlines()) == 1


def test_shared_imports_no_framework():
    code = "import orals23_shared, sys; print(sorted({'torch', 'jax', 'lightning'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_markers_registered_once_and_deselected_by_default(tmp_path):
    (tmp_path / "test_m.py").write_text(
        "import pytest\n\n@pytest.mark.slow\ndef test_s():\n    pass\n\n"
        "@pytest.mark.gpu\ndef test_g():\n    pass\n\ndef test_plain():\n    pass\n"
    )
    run = [sys.executable, "-m", "pytest", "-q", "--strict-markers", "-p", "no:cacheprovider", str(tmp_path)]
    default = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert "1 passed, 2 deselected" in default.stdout, default.stdout
    slow = subprocess.run([*run, "-m", "slow"], capture_output=True, text=True, cwd=tmp_path)
    assert "1 passed, 2 deselected" in slow.stdout and slow.returncode == 0


@dataclass
class _Cfg(RunFields):
    out: Path = field(default=Path("runs/x"), metadata={"help": "run folder"})
    lr: float = field(default=0.1, metadata={"help": "step size"})
    dims: tuple[int, ...] = field(default=(2, 3), metadata={"help": "widths"})


def test_run_fields_are_inherited_as_flags_and_checked(tmp_path):
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, _Cfg)
    cfg = config_from_args(parser, _Cfg, ["--lr", "0.5", "--devices", "0", "--out", str(tmp_path / "r")])
    assert cfg.lr == 0.5 and cfg.out == tmp_path / "r" and cfg.seed == 0
    assert cfg.run_problems() == ["--devices and --num-nodes must be >= 1"]
    assert _Cfg().run_problems() == [] and _Cfg().out == Path("runs/x")


def test_jsonable_and_prepare_run_dir_take_a_dataclass(tmp_path):
    cfg = _Cfg(out=tmp_path / "r")
    assert jsonable(cfg)["dims"] == [2, 3] and jsonable(cfg)["out"] == str(tmp_path / "r")
    run, resumed = prepare_run_dir(cfg.out, cfg)
    assert not resumed and json.loads((run / "config.json").read_text())["dims"] == [2, 3]
    run, resumed = prepare_run_dir(cfg.out, _Cfg(out=tmp_path / "r", quiet=True), resume=True)
    assert resumed
    with pytest.raises(UsageError, match="lr"):
        prepare_run_dir(cfg.out, _Cfg(out=tmp_path / "r", lr=1.0), resume=True)


@pytest.mark.parametrize(
    ("env", "worker"),
    [({}, False), ({"LOCAL_RANK": "0", "RANK": "0"}, False), ({"LOCAL_RANK": "1"}, True), ({"NODE_RANK": "2"}, True),
     ({"RANK": "3"}, True), ({"SLURM_PROCID": "1"}, True), ({"RANK": ""}, False)],
)  # fmt: skip
def test_is_worker_process(monkeypatch, env, worker):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_worker_process() is worker


def test_add_run_args():
    parser = argparse.ArgumentParser()
    add_run_args(parser, "runs/x")
    args = parser.parse_args([])
    assert (args.out, args.resume, args.overwrite, args.quiet) == (Path("runs/x"), False, False, False)
    args = parser.parse_args(["--out", "o", "--resume", "--quiet"])
    assert (args.out, args.resume, args.quiet) == (Path("o"), True, True)


@dataclass
class _Plain:
    lr: float = field(default=0.1, metadata={"help": "step size"})


def test_parse_run_config():
    cfg, args = parse_run_config(_Plain, ["--lr", "2", "--overwrite"], prog="p", description="d", default_out="runs/p")
    assert cfg.lr == 2.0 and args.overwrite and args.out == Path("runs/p")


def test_bench_and_reproduce_fields_match_the_shared_flags():
    from dataclasses import fields

    from orals23_shared.bench import BenchFields, add_bench_args
    from orals23_shared.reproduce import ReproduceFields, add_reproduce_args

    for cls, add in ((BenchFields, lambda p: add_bench_args(p, "x")), (ReproduceFields, add_reproduce_args)):
        flags = argparse.ArgumentParser()
        add(flags)
        config = argparse.ArgumentParser()
        add_dataclass_args(config, cls)
        by_flags = {k: v for k, v in vars(flags.parse_args([])).items()}
        built = config_from_args(config, cls, [])
        assert {f.name for f in fields(cls)} == set(by_flags)
        assert all(getattr(built, k) == v for k, v in by_flags.items() if k != "out")
