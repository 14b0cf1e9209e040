"""Verdicts no program can forge (a per-run token), results that never go stale (keys on everything that
decides a verdict), executor errors that are never sample failures, and languages that cannot run here
reported "not run"."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from mbxp.data import read_problems
from mbxp.evaluate import EvalConfig, evaluate
from mbxp.execution import ExecConfig, check_program
from mbxp.languages import DONE_PREFIX, TOKEN_VAR
from mbxp.toolchains import toolchain_problem
from orals23_shared.paths import require_shared_data

PROBLEM = {
    "task_id": "T/0",
    "language": "python",
    "prompt": "def add_one(x):\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    "entry_point": "add_one",
}
GOOD = "    return x + 1\n"


def test_a_self_printing_program_cannot_produce_the_token():
    # prints its whole source (end-of-tests statement included) and exits 0 before the tests run
    quine = "    import sys\n    print(open(sys.argv[0]).read())\n    sys.exit(0)\n"
    res = check_program(PROBLEM, quine, "python", ExecConfig(timeout=10))
    assert res["status"] == "failed" and "did not run to the end" in res["result"], res
    assert res["mxeval_passed"] is True  # mxeval's rules count it (exit code 0)


def test_an_environment_dump_cannot_produce_the_token():
    dump = "    import os, sys\n    print(os.environ)\n    print(*(f'{k}={v}' for k, v in os.environ.items()))\n    sys.exit(0)\n"
    res = check_program(PROBLEM, dump, "python", ExecConfig(timeout=10))
    assert res["status"] == "failed", res


def test_the_token_is_found_after_8_kib_of_output():
    problem = dict(PROBLEM, test=PROBLEM["test"] + "import atexit\natexit.register(lambda: print('y' * 9000))\n")
    res = check_program(problem, GOOD, "python", ExecConfig(timeout=10))
    assert res["status"] == "passed", res  # the token lies between the kept head and tail of the output


def test_the_token_is_not_in_the_program_text():
    from mbxp.harness import strict_program

    text = strict_program("python", PROBLEM["prompt"], GOOD, PROBLEM["test"], "add_one")
    assert TOKEN_VAR in text and DONE_PREFIX in text  # the statement reads it from the environment


PHP_PROBLEM = {
    "task_id": "T/1",
    "language": "php",
    "prompt": "<?php\nfunction addOne($x) {\n",
    "test": '\nif (addOne(1) !== 2) { throw new Exception("wrong"); }\n',
    "entry_point": "addOne",
}


def test_php_closing_tag_prints_the_rest_and_fails_strict():
    if toolchain_problem("php"):
        pytest.skip(toolchain_problem("php"))
    closing = "    return $x + 2;\n}\n?>\n"  # wrong, and everything after ?> is printed, never run
    res = check_program(PHP_PROBLEM, closing, "php", ExecConfig(timeout=10))
    assert res["status"] == "failed" and res["mxeval_passed"] is True, res
    right = check_program(PHP_PROBLEM, "    return $x + 1;\n}\n", "php", ExecConfig(timeout=10))
    assert right["status"] == "passed", right


def test_released_mbphp_175_fails_in_strict_mode_only():
    """The released sample closes PHP with ``?>`` after its function: PHP prints the rest of the file and
    exits 0 (mxeval counts a pass); cut before ``?>``, the same completion fails its first assert."""
    if toolchain_problem("php"):
        pytest.skip(toolchain_problem("php"))
    root = require_shared_data("mbxp")
    from mbxp.data import read_jsonl

    problem = read_problems(root / "mbxp/mbphp_release_v1.2.jsonl.gz")["MBPHP/175"]
    sample = next(
        s for _, s in read_jsonl(root / "mbxp/examples/mbphp_samples.jsonl.gz") if s["task_id"] == "MBPHP/175"
    )
    assert "\n?>\n" in sample["completion"]
    res = check_program(problem, sample["completion"], "php", ExecConfig(timeout=15))
    assert res["status"] == "failed" and res["mxeval_passed"] is True, res
    without = sample["completion"][: sample["completion"].index("?>")]
    res2 = check_program(problem, without, "php", ExecConfig(timeout=15))
    assert res2["status"] == "failed" and res2["mxeval_passed"] is False, res2


def _rows(out):
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_keys_cover_the_problem_and_the_toolchain(tmp_path, monkeypatch):
    samples = [{"task_id": "T/0", "language": "python", "completion": GOOD}]
    cfg = EvalConfig(k=[1], workers=1, quiet=True, resume=True)
    s1 = evaluate(samples, {"T/0": PROBLEM}, tmp_path, cfg)
    assert s1["executed"] == 1 and _rows(tmp_path)[0]["passed"]
    assert evaluate(samples, {"T/0": PROBLEM}, tmp_path, cfg)["reused"] == 1  # same everything: reused
    changed = dict(PROBLEM, test="def check(candidate):\n    assert candidate(1) == 3\n")
    s2 = evaluate(samples, {"T/0": changed}, tmp_path, cfg)  # same task id, another test: re-run
    assert s2["executed"] == 1 and not _rows(tmp_path)[0]["passed"]
    monkeypatch.setattr(importlib.import_module("mbxp.evaluate"), "toolchain_id", lambda lang: "another-python")
    s3 = evaluate(samples, {"T/0": changed}, tmp_path, cfg)  # a toolchain change: re-run
    assert s3["executed"] == 1 and s3["reused"] == 0
    s4 = evaluate(samples, {"T/0": changed}, tmp_path, EvalConfig(k=[1], workers=1, quiet=True, resume=True, timeout=7))
    assert s4["executed"] == 1  # another timeout decides verdicts too


def test_executor_errors_are_not_failures_and_never_reused(tmp_path, monkeypatch):
    import mbxp.sandbox as sb
    import mbxp.selfcheck as sc

    monkeypatch.setattr(sc, "_cache", {})  # the self-check runs (2 programs) before the samples
    calls = {"n": 0}
    real = sb.Sandbox._chain

    def flaky(self, cmd, limits, step, binds, cg):
        calls["n"] += 1
        if calls["n"] > 2:  # after the self-check: the sandbox fails to start
            return ["/bin/sh", "-c", "echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1"]
        return real(self, cmd, limits, step, binds, cg)

    monkeypatch.setattr(sb.Sandbox, "_chain", flaky)
    samples = [{"task_id": "T/0", "language": "python", "completion": c} for c in (GOOD, "    return x\n")]
    summary = evaluate(samples, {"T/0": PROBLEM}, tmp_path, EvalConfig(k=[1], workers=1, quiet=True, resume=True))
    rows = _rows(tmp_path)
    assert [r["status"] for r in rows] == ["error", "error"] and summary["n_errors"] == 2
    assert summary["pass@k"] == {} and summary["languages"]["python"]["n_ran"] == 0  # nothing counted as 0%
    monkeypatch.setattr(sb.Sandbox, "_chain", real)
    again = evaluate(samples, {"T/0": PROBLEM}, tmp_path, EvalConfig(k=[1], workers=1, quiet=True, resume=True))
    assert again["executed"] == 2 and again["reused"] == 0  # errors are re-run, never reused
    assert again["pass@k"]["python"]["1"] == pytest.approx(0.5) and again["n_errors"] == 0


def test_a_language_failing_its_self_check_is_not_run(tmp_path, monkeypatch, request):
    import dataclasses

    import mbxp.languages as langs
    import mbxp.selfcheck as sc
    from mbxp.toolchains import launch

    if toolchain_problem("ruby"):
        pytest.skip(toolchain_problem("ruby"))
    broken = dataclasses.replace(langs.LANGUAGES["ruby"], run=("ruby", "--no-such-flag", "prog.rb"))
    monkeypatch.setitem(langs.LANGUAGES, "ruby", broken)
    monkeypatch.setattr(sc, "_cache", {})
    launch.cache_clear()
    request.addfinalizer(launch.cache_clear)
    problem = {"task_id": "R/0", "language": "ruby", "prompt": "def f(x)\n", "test": "\nraise 'no' unless f(1) == 2\n"}
    samples = [{"task_id": "R/0", "language": "ruby", "completion": "    x + 1\nend\n"}]
    samples += [{"task_id": "T/0", "language": "python", "completion": GOOD}]
    summary = evaluate(
        samples, {"R/0": dict(problem, entry_point="f"), "T/0": PROBLEM}, tmp_path, EvalConfig(k=[1], quiet=True)
    )
    assert "ruby" in summary["not_run"] and "self-check" in summary["not_run"]["ruby"]
    assert "ruby" not in summary["pass@k"] and summary["pass@k"]["python"]["1"] == 1.0
    assert _rows(tmp_path)[0]["status"] == "error"


def test_a_non_string_task_id_is_one_line_exit_2(tmp_path):
    s = tmp_path / "s.jsonl"
    s.write_text(json.dumps({"task_id": 5, "completion": "x", "language": "python"}) + "\n")
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(PROBLEM) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mbxp.cli_main",
            "mbxp-evaluate",
            str(s),
            "--problems",
            str(p),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "'task_id' must be a string" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
