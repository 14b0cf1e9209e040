"""Executors on the released data: a passing and a failing program per language not covered by
test_convert (Python, TypeScript, Go, C#), and the TypeScript swallowed-tests trap (brief section c)."""

from __future__ import annotations

import pytest

from mbxp.data import read_jsonl, read_problems
from mbxp.execution import ExecConfig, check_program
from mbxp.harness import insert_marker
from mbxp.languages import LANGUAGES, TOKEN_VAR
from mbxp.toolchains import toolchain_problem
from orals23_shared.paths import require_shared_data

FILES = {
    "python": ("mbxp/mbpp_release_v1.jsonl.gz", None),
    "typescript": ("mbxp/mbtsp_release_v1.2.jsonl.gz", None),
    "csharp": ("mbxp/mbcsp_release_v1.2.jsonl.gz", None),
    "go": ("mbxp/mbgp_release_v1.1.jsonl.gz", "mbxp/examples/mbgp_samples.jsonl.gz"),
}
WRONG = {
    "python": "    return None\n",
    "typescript": "    return -12345;\n};\n",
    "csharp": "            return default;\n        }\n",
    "go": "\treturn 0\n}\n",
}


def _problem_and_completion(lang: str):
    root = require_shared_data("mbxp")
    problems = read_problems(root / FILES[lang][0])
    if FILES[lang][1] is None:
        tid = {"python": "MBPP/17", "typescript": "MBTSP/1", "csharp": "MBCSP/17"}[lang]
        return problems[tid], problems[tid]["canonical_solution"]
    for _, s in read_jsonl(root / FILES[lang][1]):
        if s["task_id"] == "MBGP/17":
            return problems["MBGP/17"], s["completion"]
    raise AssertionError("MBGP/17 sample missing")


@pytest.mark.parametrize("lang", sorted(FILES))
def test_released_solution_passes_and_wrong_one_fails(lang):
    reason = toolchain_problem(lang)
    if reason:
        pytest.skip(reason)
    problem, completion = _problem_and_completion(lang)
    good = check_program(problem, completion, lang, ExecConfig(timeout=20))
    assert good["passed"], good
    bad = check_program(problem, WRONG[lang], lang, ExecConfig(timeout=20))
    assert not bad["passed"], bad


def test_typescript_swallowed_tests_fail_in_strict_mode_only():
    reason = toolchain_problem("typescript")
    if reason:
        pytest.skip(reason)
    root = require_shared_data("mbxp")
    problem = read_problems(root / "mbxp/mbtsp_release_v1.2.jsonl.gz")["MBTSP/17"]
    swallow = problem["canonical_solution"]  # truncated text: tsc recovers, emits JS, the tests never run
    strict = check_program(problem, swallow, "typescript", ExecConfig(timeout=20))
    compat = check_program(problem, swallow, "typescript", ExecConfig(timeout=20, mode="mxeval"))
    assert compat["passed"], compat  # mxeval: tsc exit code 2 (syntax error, JS emitted), node exits 0
    assert not strict["passed"] and "did not run" in strict["result"], strict
    # the strict run also records mxeval's verdict of the same execution (one run, both scores)
    assert strict["mxeval_passed"] is True and "mxeval_passed" not in compat
    right = "    return 4 * a;\n};\n"
    both = check_program(problem, right, "typescript", ExecConfig(timeout=20))
    assert both["passed"] and both["mxeval_passed"], both
    wrong = check_program(problem, WRONG["typescript"], "typescript", ExecConfig(timeout=20))
    assert not wrong["passed"] and not wrong["mxeval_passed"], wrong


def test_one_strict_run_reports_both_scores(tmp_path):
    """summary.json of a strict run: strict pass@k, mxeval's pass@k of the same runs, and the task ids that
    pass only under mxeval's rules (exit code 0, tests never ran)."""
    from mbxp.evaluate import EvalConfig, evaluate

    reason = toolchain_problem("javascript")
    if reason:
        pytest.skip(reason)
    problem = {
        "task_id": "T/1",
        "language": "javascript",
        "prompt": "function f(x) {\n",
        "test": "\nif (f(2) !== 3) { throw new Error('wrong'); }\n",
        "entry_point": "f",
    }
    samples = [
        {"task_id": "T/1", "language": "javascript", "completion": "    return x + 1;\n}\n"},
        {"task_id": "T/1", "language": "javascript", "completion": "    return x + 1;\n}\nprocess.exit(0);\n"},
        {"task_id": "T/1", "language": "javascript", "completion": "    return x;\n}\n"},
    ]
    summary = evaluate(samples, {"T/1": problem}, tmp_path, EvalConfig(k=[1], workers=1, quiet=True))
    assert summary["pass@k"]["javascript"]["1"] == pytest.approx(1 / 3)
    assert summary["pass@k (mxeval rules)"]["javascript"]["1"] == pytest.approx(2 / 3)
    info = summary["languages"]["javascript"]
    assert info["n_passed"] == 1 and info["n_passed_mxeval_rules"] == 2
    assert info["passed_only_under_mxeval_rules"] == ["T/1"]


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_marker_lands_after_the_last_test_statement(lang):
    root = require_shared_data("mbxp")
    meta = {
        "python": "mbpp",
        "java": "mbjp",
        "javascript": "mbjsp",
        "typescript": "mbtsp",
        "cpp": "mbcpp",
        "csharp": "mbcsp",
        "go": "mbgp",
        "kotlin": "mbkp",
        "php": "mbphp",
        "perl": "mbplp",
        "ruby": "mbrbp",
        "scala": "mbscp",
        "swift": "mbswp",
    }[lang]
    path = next((root / "mbxp").glob(f"{meta}_release_*.jsonl.gz"))
    for _, rec in read_jsonl(path):
        test = rec["test"]
        marked = insert_marker(lang, test)
        i = marked.index(TOKEN_VAR)
        before = marked[:i]
        # every test statement (the last comparison) comes before the marker
        last = max(test.rfind(w) for w in ("assert", "compare", "Compare", "deepCompare", "!=", "candidate"))
        assert last < i, (rec["task_id"], lang)
        assert before.count("{") - before.count("}") <= test.count("{") - test.count("}") + 3
