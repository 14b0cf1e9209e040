"""Conversion framework: hand-written problems against expected text, type inference, executability."""

from __future__ import annotations

import pytest

from mbxp.convert import ANY, FLOAT, INT, STR, Type, camel, convert, infer_types, parse_python_problem, type_of, unify
from mbxp.execution import ExecConfig, check_program
from mbxp.toolchains import toolchain_problem

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

TS_PROMPT = """/**
 * Write a typescript function to add k to each element.
 * \n * Examples:
 * >>> add_nums([1, 2], 3)
 * >>> [4, 5]
 * >>> add_nums([], 1)
 * >>> []
 */
const add_nums = function (first_list: Array<number>, k: number) : Array<number>  {
"""

TS_TEST_CASE_1 = """let actual_2 = add_nums([],1);
let expected_2 = [];
assert.deepEqual(actual_2, expected_2, "Exception --- test case 1 failed to pass");
"""

GO_PROMPT = """package main

import (
\t"encoding/json"
\t"reflect"
)
// Code should be written in Go/Golang
// Write a golang function to add k to each element.
// Examples:
// >>> add_nums([1, 2], 3)
// >>> [4, 5]
// >>> add_nums([], 1)
// >>> []
func add_nums (first_list []int, k int) []int {
"""

CSHARP_TEST_CASE_0 = """            var actual1 = AddNums(new List<int> {1,2},3);
            var expected1 = new List<int> {4,5};
            var result1 = compareLogic.Compare(actual1, expected1);
            if (!result1.AreEqual) {throw new Exception("Exception --- test case 0 failed to pass");}
"""

SWIFT_PROMPT = """/**
 * You are an expert Swift programmer, and here is your task.
 * * Write a Swift function to add k to each element.
 *
 * >>> addNums([1, 2], 3)
 * [4, 5]
 * >>> addNums([], 1)
 * []
 */
func addNums(firstList : [Int], k : Int) -> [Int] {
"""

SWIFT_TEST_CASE_1 = """var arg10 : [Int] = []
var arg11 : Int = 1
var x1 : [Int] = addNums(firstList : arg10, k : arg11)
var v1 : [Int] = []
assert(x1 == v1, "Exception -- test case 1 did not pass. x1 = ")
"""

SIGNATURES = {
    "java": "public static List<Integer> addNums(List<Integer> firstList, int k) {",
    "javascript": "function addNums(firstlist, k) {",
    "php": "function addNums($firstlist, $k){",
    "ruby": "def add_nums(first_list, k)",
    "perl": "sub add_nums\n{\n  my ($first_list, $k) = @_;",
    "kotlin": "fun addNums(firstList : List<Int>, k : Int) : List<Int> {",
    "scala": "def addNums(firstList : List[Int], k : Int) : List[Int] = {",
    "cpp": "vector<int> addNums(vector<int> firstList, int k) {",
    "typescript": "const add_nums = function (first_list: Array<number>, k: number) : Array<number>  {",
    "go": "func add_nums (first_list []int, k int) []int {",
    "csharp": "public static List<int> AddNums (List<int> first_list, int k) \n        {",
    "swift": "func addNums(firstList : [Int], k : Int) -> [Int] {",
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
    "typescript": "let actual_1 = add_nums([1, 2],3);",
    "go": "\texpected_2 := []int{}\n\tdeepCompare(actual_2, expected_2,",
    "csharp": "var expected2 = new List<int> {};",
    "swift": "var v0 : [Int] = [4, 5]",
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
    "typescript": "    return first_list.map(x => x + k);\n}\n",
    "go": "\tout := []int{}\n\tfor _, x := range first_list {\n\t\tout = append(out, x + k)\n\t}\n\treturn out\n}\n",
    "csharp": "            return first_list.Select(x => x + k).ToList();\n        }\n",
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


def test_expected_text_typescript_go_csharp_swift():
    ts = convert(REC, "typescript", run=False)
    assert ts["prompt"] == TS_PROMPT
    assert ts["test"].startswith("\nimport * as assert from 'assert'\n\nlet actual_1 = add_nums([1, 2],3);\n")
    assert TS_TEST_CASE_1 in ts["test"]
    go = convert(REC, "go", run=False)
    assert go["prompt"] == GO_PROMPT
    assert "func main() {\n\tactual_1 := add_nums([]int{1, 2},3)\n\texpected_1 := []int{4, 5}\n" in go["test"]
    assert go["test"].rstrip().endswith("}") and "reflect.DeepEqual(a2, b2)" in go["test"]
    cs = convert(REC, "csharp", run=False)
    assert cs["prompt"].startswith("using System;\n") and "        /// >>> AddNums([1, 2], 3)\n" in cs["prompt"]
    assert CSHARP_TEST_CASE_0 in cs["test"] and cs["test"].rstrip().endswith("}\n    }\n}")
    sw = convert(REC, "swift", run=False)
    assert sw["prompt"] == SWIFT_PROMPT and SWIFT_TEST_CASE_1 in sw["test"]
    assert (ts["entry_point"], go["entry_point"], cs["entry_point"], sw["entry_point"]) == (
        "add_nums",
        "add_nums",
        "AddNums",
        "addNums",
    )


def test_typescript_go_csharp_use_the_canonical_outputs_and_python_examples():
    """As released: expected values (and the return type) are what the Python canonical returned, the
    docstring keeps the Python text of the asserts (redundant parentheses included), Go/C# maps list
    their keys sorted, and parameters named like a type get a 0."""
    rec = {
        "task_id": "MBPP/9002",
        "prompt": "def half_counts(string, n):\n",
        "canonical_solution": "    return {c: string.count(c) / 2 for c in reversed(string)}\n",
        "test": "def check(candidate):\n    assert candidate('ab', 1)==({'a': 0.5, 'b': 0.5})\n",
        "entry_point": "half_counts",
        "description": "Count.",
    }
    go = convert(rec, "go", run=True)
    assert "// >>> half_counts('ab', 1)\n// >>> ({'a': 0.5, 'b': 0.5})\n" in go["prompt"]
    assert "func half_counts (string0 string, n int) map[string]float64 {" in go["prompt"]
    assert '\texpected_1 := map[string]float64{ "a": 0.5, "b": 0.5,  }\n' in go["test"]
    ts = convert(rec, "typescript", run=True)  # TypeScript keeps the canonical's insertion order
    assert 'let expected_1 = new Map<any, any>([["b", 0.5], ["a", 0.5]]);' in ts["test"]
    cs = convert(rec, "csharp", run=True)
    assert 'var expected1 = new Dictionary<string, double> {{"a", 0.5},{"b", 0.5}};' in cs["test"]
    assert "public static Dictionary<string, double> HalfCounts (string string0, int n)" in cs["prompt"]


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


def test_batched_canonical_runs_survive_hangs_and_exits():
    """One sandboxed process runs a whole file's canonicals: a solution that hangs (even one catching
    Exception) or exits loses only its own outputs."""
    from mbxp.convert import run_canonicals

    def problem(body: str):
        return parse_python_problem(dict(REC, canonical_solution=body))

    hang = "    try:\n        while True:\n            pass\n    except Exception:\n        return []\n"
    outs = run_canonicals(
        [problem(hang), problem(REC["canonical_solution"]), problem("    raise SystemExit(0)\n")], timeout=1
    )
    assert outs == [None, [[4, 5], []], None]
