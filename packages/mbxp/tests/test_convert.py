"""Conversion framework: hand-written problems against expected text, type inference, executability."""

from __future__ import annotations

import pytest

from mbxp.convert import ANY, FLOAT, INT, STR, Type, camel, convert, infer_types, parse_python_problem, type_of, unify
from mbxp.execution import ExecConfig, check_program
from mbxp.languages import toolchain_problem

REC = {
    "task_id": "MBPP/9001",
    "prompt": "def add_nums(first_list, k):\n",
    "canonical_solution": "    return [x + k for x in first_list]\n",
    "test": "def check(candidate):\n    assert candidate([1, 2], 3) == [4, 5]\n    assert candidate([], 1) == []\n",
    "entry_point": "add_nums",
    "description": "Write a python function to add k to each element.",
}

JAVA_PROMPT = """import java.io.*;
import java.lang.*;
import java.util.*;
import java.math.*;


class AddNums {
    /**
     * * Write a Java function to add k to each element.
     *
     * > addNums([1, 2], 3)
     * [4, 5]
     * > addNums([], 1)
     * []
     */
    public static List<Integer> addNums(List<Integer> firstList, int k) {
"""

JS_TEST_CASE_0 = """var arg00 = [1, 2];
var arg01 = 3;
var x0 = addNums(arg00, arg01);
var v0 = [4, 5];
if(!compare(x0, v0)){
    throw 'Error at 1th assert statement. Value = ' + JSON.stringify(x)\x20\x20
}
"""

RUBY_PROMPT = """
##
# You are an expert Ruby programmer, and here is your task.
# # Write a Ruby function to add k to each element.
#
# irb> add_nums([1, 2], 3)
# => [4, 5]
# irb> add_nums([], 1)
# => []
def add_nums(first_list, k)"""

SIGNATURES = {
    "java": "public static List<Integer> addNums(List<Integer> firstList, int k) {",
    "javascript": "function addNums(firstlist, k) {",
    "php": "function addNums($firstlist, $k){",
    "ruby": "def add_nums(first_list, k)",
    "perl": "sub add_nums\n{\n  my ($first_list, $k) = @_;",
    "kotlin": "fun addNums(firstList : List<Int>, k : Int) : List<Int> {",
    "scala": "def addNums(firstList : List[Int], k : Int) : List[Int] = {",
    "cpp": "vector<int> addNums(vector<int> firstList, int k) {",
}
TEST_LINES = {
    "java": "List<Integer> x0 = AddNums.addNums(Arrays.asList(1, 2), 3);",
    "javascript": "var x1 = addNums(arg10, arg11);",
    "php": "$v0 = [4, 5];",
    "ruby": "if x1 != v1",
    "perl": "unless(Compare($x0, $v0)) {",
    "kotlin": "var arg00 : List<Int> = mutableListOf(1, 2)",
    "scala": 'assert(x1 == v1, "Exception -- test case 1 did not pass. x1 = " + x1)',
    "cpp": "if (!(compare(x0, {4, 5}))) {",
}
GOOD = {
    "java": "        List<Integer> out = new ArrayList<>();\n        for (int x : firstList) out.add(x + k);\n        return out;\n    }\n}\n",
    "javascript": "    return firstlist.map(x => x + k);\n}\n",
    "php": "    return array_map(fn($x) => $x + $k, $firstlist);\n}\n",
    "ruby": "\n    first_list.map { |x| x + k }\nend\n",
    "perl": "  return [map { $_ + $k } @$first_list];\n}\n",
    "kotlin": "    return firstList.map { it + k }\n}\n",
    "scala": "        firstList.map(_ + k)\n    }\n",
    "cpp": "    vector<int> out;\n    for (int x : firstList) out.push_back(x + k);\n    return out;\n}\n",
}
BAD = {
    lang: c.replace("x + k", "x + k + 1")
    .replace("it + k", "it + k + 1")
    .replace("_ + k", "_ + k + 1")
    .replace("$_ + $k", "$_ + $k + 1")
    .replace("$x + $k", "$x + $k + 1")
    for lang, c in GOOD.items()
}
SLOW_COMPILERS = {"kotlin", "scala"}


def test_names_and_types():
    assert camel("similar_elements") == "similarElements"
    assert camel("differ_At_One_Bit_Pos") == "differAtOneBitPos"
    assert camel("count_With_Odd_SetBits") == "countWithOddSetbits"
    assert type_of((1, 2)) == Type("list", (INT,))
    assert type_of([1, "a"]) == Type("list", (ANY,))
    assert unify(INT, FLOAT) == FLOAT and unify(INT, STR) == ANY
    assert type_of({"a": [1.5]}) == Type("dict", (STR, Type("list", (FLOAT,))))


def test_parse_and_infer_by_running_the_canonical_on_copies_of_the_inputs():
    rec = dict(REC, canonical_solution="    first_list.append(99)\n    return [x + k for x in first_list[:-1]]\n")
    p = parse_python_problem(rec)
    assert p.name == "add_nums" and p.params == ["first_list", "k"]
    assert p.inputs == [([1, 2], 3), ([], 1)] and p.expected == [[4, 5], []]
    params, ret = infer_types(p, run=True)
    assert params == [Type("list", (INT,)), INT] and ret == Type("list", (INT,))
    assert p.outputs == [[4, 5], []]
    assert p.inputs[0][0] == [1, 2]  # the mutation happened on a copy (the upstream v1.1 fix)


def test_expected_text_java_javascript_ruby():
    assert convert(REC, "java")["prompt"] == JAVA_PROMPT
    assert JS_TEST_CASE_0 in convert(REC, "javascript")["test"]
    assert convert(REC, "ruby")["prompt"] == RUBY_PROMPT


@pytest.mark.parametrize("lang", sorted(SIGNATURES))
def test_signature_and_test_lines(lang):
    c = convert(REC, lang, run=False)
    assert c["prompt"].rstrip().endswith(SIGNATURES[lang])
    assert TEST_LINES[lang] in c["test"]
    assert c["task_id"].endswith("/9001") and c["language"] == lang


@pytest.mark.parametrize("lang", sorted(GOOD))
def test_converted_problem_runs_pass_and_fail(lang):
    reason = toolchain_problem(lang)
    if reason:
        pytest.skip(reason)
    problem = convert(REC, lang, run=False)
    cfg = ExecConfig(timeout=20)
    good = check_program(problem, GOOD[lang], lang, cfg)
    assert good["passed"], good
    if lang in SLOW_COMPILERS:
        return  # the failing case of the slow JVM compilers is in test_slow_compilers_fail
    bad = check_program(problem, BAD[lang], lang, cfg)
    assert not bad["passed"] and bad["result"].startswith("failed"), bad


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(SLOW_COMPILERS))
def test_slow_compilers_fail(lang):
    reason = toolchain_problem(lang)
    if reason:
        pytest.skip(reason)
    bad = check_program(convert(REC, lang, run=False), BAD[lang], lang, ExecConfig(timeout=20))
    assert not bad["passed"] and bad["result"].startswith("failed"), bad


def test_cpp_drops_mixed_types():
    from orals23_shared.cli import UsageError

    rec = dict(REC, test="def check(candidate):\n    assert candidate([1, 'a'], 3) == [4, 5]\n")
    with pytest.raises(UsageError, match="mixed"):
        convert(rec, "cpp", run=False)
