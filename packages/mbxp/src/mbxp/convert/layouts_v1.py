"""TypeScript, Go and C# layouts (the v1/v1.1-style MBXP files): the docstring keeps the Python text of the
examples and the tests expect the canonical solution's outputs (as released); parameters named like a
keyword or type get a "0" (the registry's ``reserved``)."""

from __future__ import annotations

import re
from typing import Any

from mbxp.convert.parse import PyProblem
from mbxp.convert.types import Type, type_name
from mbxp.convert.values import pascal, render
from mbxp.languages import LANGUAGES

__all__ = ["typescript", "go", "csharp"]


def _cases(p: PyProblem) -> list[tuple[int, tuple[Any, ...], Any]]:
    """(index, arguments, expected) per test. The TypeScript/Go/C# files hold what the Python canonical
    solution returned (e.g. the key order of a merged dict), so its outputs are used when every test
    produced one; else the assert's right-hand side."""
    expected = p.outputs if p.outputs and all(o is not None for o in p.outputs) else p.expected
    return [(i, args, exp) for i, (args, exp) in enumerate(zip(p.inputs, expected, strict=True))]


def _python_examples(p: PyProblem, prefix: str, name: str) -> str:
    """Docstring examples in the Python syntax (``>>> call`` / ``>>> result``), as in the TS/Go/C# files."""
    return "".join(f"{prefix}>>> {name}{call[len(p.name) :]}\n{prefix}>>> {exp}\n" for call, exp in p.examples)


# parameter names that would clash with a keyword or type name get a "0" (string -> string0, as released)
def _param(name: str, lang: str) -> str:
    return name + "0" if name in LANGUAGES[lang].reserved else name


def _args(args: tuple[Any, ...], pt: list[Type], lang: str) -> str:
    return ",".join(render(a, lang, t) for a, t in zip(args, pt, strict=True))


def _uses_math(p: PyProblem) -> bool:
    return bool(re.search(r"^\s*(import c?math\b|from c?math import)", p.prompt + (p.canonical or ""), re.M))


def typescript(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    params = ", ".join(
        f"{_param(a, 'typescript')}: {type_name(t, 'typescript')}" for a, t in zip(p.params, pt, strict=True)
    )
    head = "import * as math from 'mathjs'\n\n" if _uses_math(p) else ""
    if re.search(r"^\s*(import heapq|from heapq import)", p.prompt + (p.canonical or ""), re.M):
        head = "import {Heap} from 'heap-js'\n\n" + head
    prompt = (
        f"{head}/**\n * {desc}\n * \n * Examples:\n{_python_examples(p, ' * ', p.name)} */\n"
        f"const {p.name} = function ({params}) : {type_name(rt, 'typescript')}  {{\n"
    )
    body = [
        f"let actual_{i + 1} = {p.name}({_args(args, pt, 'typescript')});\n"
        f"let expected_{i + 1} = {render(exp, 'typescript', rt)};\n"
        f'assert.deepEqual(actual_{i + 1}, expected_{i + 1}, "Exception --- test case {i} failed to pass");\n\n'
        for i, args, exp in _cases(p)
    ]
    return prompt, "\nimport * as assert from 'assert'\n\n" + "".join(body) + "\n", p.name


_GO_COMPARE = """
func deepCompare(a interface{}, b interface{}, msg string) bool {
	aJSON, err := json.Marshal(a)
	if err != nil {
		panic(msg)
	}
	bJSON, err := json.Marshal(b)
	if err != nil {
		panic(msg)
	}
	var a2 interface{}
	var b2 interface{}
	err = json.Unmarshal(aJSON, &a2)
	if err != nil {
		panic(msg)
	}
	err = json.Unmarshal(bJSON, &b2)
	if err != nil {
		panic(msg)
	}
	result := reflect.DeepEqual(a2, b2)
	if result {
		return true
	} else {
		panic(msg)
	}
}
"""


def go(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    # the import block is fixed per task (a completion cannot add imports): math when the Python
    # source imports it, sort when the task talks about sorting (read off the release)
    imports = (['"math"'] if _uses_math(p) else []) + (['"sort"'] if "sort" in desc.lower() else [])
    imports += ['"encoding/json"', '"reflect"']
    params = ", ".join(f"{_param(a, 'go')} {type_name(t, 'go')}" for a, t in zip(p.params, pt, strict=True))
    prompt = (
        "package main\n\nimport (\n" + "".join(f"\t{m}\n" for m in imports) + ")\n"
        f"// Code should be written in Go/Golang\n// {desc}\n// Examples:\n{_python_examples(p, '// ', p.name)}"
        f"func {p.name} ({params}) {type_name(rt, 'go')} {{\n"
    )
    body = [
        f"\tactual_{i + 1} := {p.name}({_args(args, pt, 'go')})\n\texpected_{i + 1} := {render(exp, 'go', rt)}\n"
        f'\tdeepCompare(actual_{i + 1}, expected_{i + 1}, "Exception --- test case {i} failed to pass")\n\n'
        for i, args, exp in _cases(p)
    ]
    return prompt, "\n" + _GO_COMPARE + "\nfunc main() {\n" + "".join(body) + "}\n", p.name


def csharp(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = pascal(p.name)
    params = ", ".join(f"{type_name(t, 'csharp')} {_param(a, 'csharp')}" for a, t in zip(p.params, pt, strict=True))
    usings = ("System", "System.Collections.Generic", "System.Linq", "System.Text.RegularExpressions")
    prompt = (
        "".join(f"using {u};\n" for u in (*usings, "KellermanSoftware.CompareNetObjects"))
        + "\nnamespace Solution\n{\n    public class Program\n    {\n        /// <summary> \n"
        f"        /// {desc}\n        /// \n        /// Examples:\n{_python_examples(p, '        /// ', name)}"
        f"        /// </summary>\n        public static {type_name(rt, 'csharp')} {name} ({params}) \n        {{\n"
    )
    body = [
        f"            var actual{i + 1} = {name}({_args(args, pt, 'csharp')});\n"
        f"            var expected{i + 1} = {render(exp, 'csharp', rt)};\n"
        f"            var result{i + 1} = compareLogic.Compare(actual{i + 1}, expected{i + 1});\n"
        f'            if (!result{i + 1}.AreEqual) {{throw new Exception("Exception --- test case {i} failed to pass");}}\n\n'
        for i, args, exp in _cases(p)
    ]
    test = (
        "\n\n        public static void Main(string[] args)\n        {\n"
        "            CompareLogic compareLogic = new CompareLogic();\n" + "".join(body) + "        }\n    }\n}\n"
    )
    return prompt, test, name
