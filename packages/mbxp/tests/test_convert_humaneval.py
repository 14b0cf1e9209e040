"""Multi-HumanEval conversion: tests captured by running HumanEval's ``check``, against hand-written text
and against the released files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mbxp.convert import capture_checks, parse_python_problem
from mbxp.convert.humaneval import (
    CASE_MARKER,
    HE_TARGETS,
    convert_humaneval,
    convert_humaneval_records,
    humaneval_problems,
)
from mbxp.data import read_jsonl, read_problems
from mbxp.reproduce_conversion import same_text
from orals23_shared.paths import require_shared_data

# a loop (two unrolled cases), a helper variable and an abs(... - y) < 1e-6 test: 4 cases
HE_REC = {
    "task_id": "HumanEval/900",
    "prompt": 'from typing import List\n\n\ndef mean_of(values: List[float]) -> float:\n    """ Mean of the values.\n'
    '    >>> mean_of([1.0, 2.0])\n    1.5\n    """\n',
    "canonical_solution": "    return sum(values) / len(values)\n",
    "test": "\n\ndef check(candidate):\n    assert candidate([1.0, 2.0]) == 1.5\n    for n in range(1, 3):\n"
    "        xs = [float(n)] * n\n        assert candidate(xs) == float(n)\n"
    "    assert abs(candidate([0.1, 0.2]) - 0.15) < 1e-6\n",
    "entry_point": "mean_of",
}

# the unrolled abs() case (index 3): v1.1 files expect the compared value 0.15, v1 files (Go, TypeScript,
# C#) the canonical output 0.15000000000000002 = (0.1 + 0.2) / 2
CASE_3 = {
    "java": """        List<Double> arg30 = Arrays.asList(0.1, 0.2);
        Double x3 = MeanOf.meanOf(Arrays.asList(0.1, 0.2));
        Double v3 = 0.15;
        if (!(compare(x3, v3))) {
            throw new java.lang.Exception("Exception -- test case 3 did not pass. x3 = " + x3);
        }
""",
    "javascript": """var arg30 = [0.1, 0.2];
var x3 = meanOf(arg30);
var v3 = 0.15;
if(!compare(x3, v3)){
    throw 'Error at 4th assert statement. Value = ' + JSON.stringify(x)\x20\x20
}
""",
    "kotlin": """    var arg30 : List<Double> = mutableListOf(0.1, 0.2)
    var x3 : Double = meanOf(arg30);
    var v3 : Double = 0.15;
    if (x3 != v3) {
        throw Exception("Exception -- test case 3 did not pass. x3 = " + x3)
    }
""",
    "perl": """my $arg30 = [0.1, 0.2];
my $x3 = mean_of($arg30);
my $v3 = 0.15;
unless(Compare($x3, $v3)) {
    die "Exception -- test case 3 did not pass.";
}
""",
    "php": """$arg30 = [0.1, 0.2];
$x3 = meanOf($arg30);
$v3 = 0.15;
if (!compare($x3, $v3)) {
    throw new Exception("Error at 4th assert statement.");
}
""",
    "ruby": """arg30 = [0.1, 0.2]
x3 = mean_of(arg30)
v3 = 0.15
if x3 != v3
    raise StandardError, "Error at test case 4"
end
""",
    "scala": """    var arg30 : List[Double] = List(0.1, 0.2)
    var x3 : Double = meanOf(arg30)
    var v3 : Double = 0.15
    assert(x3 == v3, "Exception -- test case 3 did not pass. x3 = " + x3)
""",
    "swift": """var arg30 : [Double] = [0.1, 0.2]
var x3 : Double = meanOf(values : arg30)
var v3 : Double = 0.15
assert(x3 == v3, "Exception -- test case 3 did not pass. x3 = ")
""",
    "go": """\tactual_4 := mean_of([]float64{0.1, 0.2})
\texpected_4 := 0.15000000000000002
\tdeepCompare(actual_4, expected_4, "Exception --- test case 3 failed to pass")
""",
    "typescript": """let actual_4 = mean_of([0.1, 0.2]);
let expected_4 = 0.15000000000000002;
assert.deepEqual(actual_4, expected_4, "Exception --- test case 3 failed to pass");
""",
    "csharp": """            var actual4 = MeanOf(new List<double> {0.1,0.2});
            var expected4 = 0.15000000000000002;
            var result4 = compareLogic.Compare(actual4, expected4);
            if (!result4.AreEqual) {throw new Exception("Exception --- test case 3 failed to pass");}
""",
}

KOTLIN_PROMPT = """/**
 * You are an expert Kotlin programmer, and here is your task.
 * Mean of the values.
 * >>> mean_of([1.0, 2.0])
 * 1.5
 *
 */
fun meanOf(values : List<Double>) : Double {
"""

GO_PROMPT = """package main

import (
\t"encoding/json"
\t"reflect"
)
// You're an expert Golang programmer
// Mean of the values.
// >>> mean_of([1.0, 2.0])
// 1.5
// \nfunc mean_of (values []float64) float64 {
"""


@pytest.fixture(scope="module")
def converted():
    return {lang: convert_humaneval_records([HE_REC], lang)[0] for lang in HE_TARGETS}


def test_capture_unrolls_the_loop_and_records_the_compared_values():
    (cap,) = capture_checks([(parse_python_problem(HE_REC, asserts=False), HE_REC["test"])])
    assert cap.error is None
    assert cap.inputs == [([1.0, 2.0],), ([1.0],), ([2.0, 2.0],), ([0.1, 0.2],)]
    assert cap.outputs == [1.5, 1.0, 2.0, (0.1 + 0.2) / 2]
    assert cap.compared == [1.5, 1.0, 2.0, 0.15]


@pytest.mark.parametrize("lang", sorted(HE_TARGETS))
def test_hand_written_problem_in_every_layout(converted, lang):
    rec = converted[lang]
    assert isinstance(rec, dict), rec
    assert rec["task_id"] == f"HumanEval_{lang}/900"
    assert rec["test"].count(CASE_MARKER[lang]) == 4
    assert CASE_3[lang] in rec["test"]


def test_hand_written_prompts(converted):
    assert converted["kotlin"]["prompt"] == KOTLIN_PROMPT
    assert converted["go"]["prompt"] == GO_PROMPT


def test_mutating_canonical_does_not_change_the_captured_arguments():
    rec = dict(
        HE_REC,
        canonical_solution="    values.append(0.0)\n    return float(len(values))\n",
        test="def check(candidate):\n    xs = [1.0, 2.0]\n    assert candidate(xs) == 3.0\n    assert xs == [1.0, 2.0]\n",
    )
    (cap,) = capture_checks([(parse_python_problem(rec, asserts=False), rec["test"])])
    assert cap.error is None
    assert cap.inputs == [([1.0, 2.0],)]
    assert cap.outputs == [3.0]


def test_hanging_or_raising_check_is_reported_per_task():
    hang = dict(HE_REC, task_id="HumanEval/901", test="def check(candidate):\n    while True:\n        pass\n")
    wrong = dict(HE_REC, task_id="HumanEval/902", test="def check(candidate):\n    assert candidate([1.0]) == 2.0\n")
    out = convert_humaneval_records([hang, wrong, HE_REC], "java", timeout=1)
    assert isinstance(out[0], str) and "HumanEval/901" in out[0] and "timed out" in out[0]
    assert isinstance(out[1], str) and "HumanEval/902" in out[1] and "AssertionError" in out[1]
    assert isinstance(out[2], dict) and out[2]["task_id"] == "HumanEval_java/900"


def test_tests_calling_prompt_helpers_are_dropped():
    rec = dict(HE_REC, prompt="def helper(x):\n    return x\n\n\n" + HE_REC["prompt"])
    rec["test"] = "def check(candidate):\n    assert candidate([helper(1.0)]) == 1.0\n"
    (out,) = convert_humaneval_records([rec], "kotlin")
    assert isinstance(out, str) and "helper" in out


# task ids whose converted prompt and test equal the release's in every language
RELEASED_IDS = ("0", "2", "4", "61", "107")


@pytest.fixture(scope="module")
def released_sources():
    root = require_shared_data("mbxp") / "multilingual_humaneval"
    records = [r for _, r in read_jsonl(root / "HumanEval.jsonl.gz") if r["task_id"].split("/")[1] in RELEASED_IDS]
    return root, records, humaneval_problems(records)


@pytest.mark.parametrize("lang", sorted(HE_TARGETS))
def test_converted_released_tasks_match_the_release(released_sources, lang):
    root, records, items = released_sources
    released = read_problems(next(root.glob(f"HumanEval_{lang}_v*.jsonl*")))
    for rec, item in zip(records, items, strict=True):
        assert not isinstance(item, str), item
        ours = convert_humaneval(*item, rec, lang)
        theirs = released[ours["task_id"]]
        assert same_text(ours["prompt"], theirs["prompt"]), ours["task_id"]
        assert same_text(ours["test"], theirs["test"]), ours["task_id"]
        assert ours["entry_point"] == theirs["entry_point"]


def test_convert_cli_picks_the_humaneval_layout(tmp_path):
    src = tmp_path / "he.jsonl"
    src.write_text(json.dumps(HE_REC) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "mbxp.cli_main", "mbxp-convert", "--source", str(src), "--language", "kotlin"]
    r = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["task_id"] == "HumanEval_kotlin/900" and row["prompt"] == KOTLIN_PROMPT
    r = subprocess.run([*cmd[:-1], "cpp", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no Multi-HumanEval layout" in r.stderr


def test_v11_files_keep_only_the_lines_the_release_captured():
    """v1.1 files (Java) hold no case for an assert whose call spans lines or has two spaces before ``==``
    (HumanEval/87, /98 as released); v1 files (Go) hold every call."""
    test = (
        "def check(candidate):\n    assert candidate([1.0,\n                      3.0]) == 2.0\n"
        "    assert candidate([4.0])  == 4.0\n    assert candidate([')', 5.0][1:]) == 5.0\n"
    )
    rec = dict(HE_REC, test=test)
    (java,) = convert_humaneval_records([rec], "java")
    (go,) = convert_humaneval_records([rec], "go")
    assert java["test"].count(CASE_MARKER["java"]) == 1 and "Arrays.asList(5.0)" in java["test"]
    assert go["test"].count(CASE_MARKER["go"]) == 3
