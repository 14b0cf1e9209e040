"""The CLI contract of mbxp-evaluate (and friends): outputs, resume, de-duplication, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mbxp.cli import convert_main, evaluate_main, validate_main

PROBLEMS = [
    {
        "task_id": "T/0",
        "language": "python",
        "prompt": "def inc(x):\n",
        "entry_point": "inc",
        "test": "def check(candidate):\n    assert candidate(1) == 2\n",
        "canonical_solution": "    return x + 1\n",
    },
    {
        "task_id": "T/1",
        "language": "python",
        "prompt": "def dbl(x):\n",
        "entry_point": "dbl",
        "test": "def check(candidate):\n    assert candidate(2) == 4\n",
        "canonical_solution": "    return x * 3\n",
    },
]
SAMPLES = [
    {"task_id": "T/0", "completion": "    return x + 1\n", "language": "python"},
    {"task_id": "T/0", "completion": "    return x + 1\n", "language": "python"},  # duplicate program
    {"task_id": "T/0", "completion": "    return x\n", "language": "python"},
    {"task_id": "T/1", "completion": "    return 2 * x\n", "language": "python"},
    {"task_id": "T/1", "completion": "    while True: pass\n", "language": "python"},
    {"task_id": "T/1", "completion": "    return (\n", "language": "python"},
]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "s.jsonl", SAMPLES), _write(tmp_path / "p.jsonl", PROBLEMS)


def test_evaluate_writes_results_and_summary(tmp_path, files):
    s, p = files
    out = tmp_path / "out"
    assert (
        evaluate_main([str(s), "--problems", str(p), "--out", str(out), "--k", "1,2,3", "--timeout", "2", "--quiet"])
        == 0
    )
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, True, False, True, False, False]
    assert rows[4]["result"] == "timed out" and rows[2]["result"].startswith("failed")
    for r, s0 in zip(rows, SAMPLES, strict=True):
        assert r["task_id"] == s0["task_id"] and r["completion"] == s0["completion"] and "seconds" in r
    summary = json.loads((out / "summary.json").read_text())
    # task T/0: n=3, c=2; task T/1: n=3, c=1  -> pass@1 = (2/3 + 1/3) / 2
    assert summary["pass@k"]["python"]["1"] == pytest.approx(0.5)
    assert summary["pass@k"]["python"]["2"] == pytest.approx((1.0 + (1 - 1 / 3)) / 2)
    assert summary["n_samples"] == 6 and summary["n_tasks"] == 2
    assert summary["executed"] == 5 and summary["deduplicated"] == 1


def test_resume_skips_finished_samples(tmp_path, files):
    s, p = files
    out = tmp_path / "out"
    args = [str(s), "--problems", str(p), "--out", str(out), "--timeout", "2", "--quiet", "--k", "1"]
    evaluate_main(args)
    lines = (out / "results.jsonl").read_text().splitlines()
    # a killed run: two finished results and a line cut in the middle
    (out / "results.jsonl").write_text(lines[0] + "\n" + lines[3] + "\n" + lines[4][:20])
    evaluate_main([*args, "--resume"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reused"] == 3 and summary["executed"] == 3  # 2 + the duplicate reused, 3 re-run
    assert summary["pass@k"]["python"]["1"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "samples_text, message",
    [
        ('{"task_id": "T/0", "completion": "x", "language": "python"}\n{"task_id": \n', "line 2: malformed JSON"),
        ('{"task_id": "T/9", "completion": "x", "language": "python"}\n', "unknown task_id 'T/9'"),
        ('{"task_id": "T/0", "completion": "x", "language": "cobol"}\n', "unknown language 'cobol'"),
        ('{"task_id": "T/0", "completion": "x", "language": "swift"}\n', "swift: toolchain"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, files, samples_text, message):
    _, p = files
    s = tmp_path / "bad.jsonl"
    s.write_text(samples_text)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mbxp.cli_main", "mbxp-evaluate", str(s), "--problems", str(p), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_problem_without_tests_is_rejected(tmp_path, files):
    s, _ = files
    bad = _write(tmp_path / "p.jsonl", [dict(PROBLEMS[0], test="")])
    from orals23_shared.cli import UsageError

    with pytest.raises(UsageError, match="line 1: problem T/0 has no tests"):
        evaluate_main([str(s), "--problems", str(bad), "--out", str(tmp_path / "o")])


def test_validate_reports_the_broken_canonical(tmp_path, files, capsys):
    _, p = files
    assert validate_main(["--problems", str(p), "--out", str(tmp_path / "v"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "python: 1/2 canonical solutions pass" in out and "T/1" in out


def test_convert_cli(tmp_path):
    src = _write(tmp_path / "py.jsonl", [dict(PROBLEMS[0], task_id="MBPP/1", description="Write a python function.")])
    out = tmp_path / "java.jsonl"
    assert convert_main(["--source", str(src), "--language", "java", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["task_id"] == "MBJP/1" and "public static int inc(int x) {" in rec["prompt"]


@pytest.mark.parametrize(
    "cli",
    [
        "mbxp-evaluate",
        "mbxp-convert",
        "mbxp-validate",
        "mbxp-generate",
        "mbxp-reproduce",
        "mbxp-bench",
        "mbxp-download",
    ],
)
def test_every_cli_answers_help(cli):
    proc = subprocess.run(
        [sys.executable, "-m", "mbxp.cli_main", cli, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "usage" in proc.stdout.lower(), proc.stderr


def test_a_used_out_is_refused_unless_resume_or_overwrite(tmp_path, files):
    s, p = files
    out = tmp_path / "out"
    args = [str(s), "--problems", str(p), "--out", str(out), "--timeout", "2", "--quiet", "--k", "1"]
    assert evaluate_main(args) == 0
    cmd = [sys.executable, "-m", "mbxp.cli_main", "mbxp-evaluate", *args]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    base = [sys.executable, "-m", "mbxp.cli_main", "mbxp-evaluate", str(s), "--problems", str(p), "--out", str(out)]
    other = subprocess.run([*base, "--timeout", "3", "--resume"], capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "timeout" in other.stderr, other.stderr  # resume with another timeout
    assert evaluate_main([*args, "--overwrite"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reused"] == 0 and summary["executed"] == 5
