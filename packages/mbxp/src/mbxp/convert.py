"""The conversion framework: Python problems -> prompt and tests in another language (paper Sec. 3.1, Fig. 1A).

Not released upstream; written from the paper and validated against the released data
(``mbxp-reproduce`` reports the match rate per language). The steps, as in the paper:

1. parse the Python problem: entry point, parameter names, description, ``assert f(args) == expected``
   tests (``candidate`` stands for the entry point in the mxeval Python files);
2. **infer types by execution**: run the canonical solution on every test input, in a sandbox, with the
   inputs deep-copied before the call (the v1.1 fix for solutions that mutate their inputs); the
   parameter types come from the test inputs, the return type from the expected values and the
   outputs (the brief's table b1: int, float, bool, str, list/tuple -> list, dict, mixed);
3. rename per language convention (camelCase; PascalCase class; lower-cased JS/PHP parameters as in
   v1.2; snake case kept for Ruby/Perl);
4. render the signature, the docstring with the examples, the wrapper and the tests with the
   language's comparison.

Implemented targets: java, javascript, php, ruby, perl, kotlin, scala, cpp. Others (typescript, go,
csharp, swift) raise a clear error; see the README.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mbxp.data import read_jsonl
from orals23_shared.cli import UsageError, check

__all__ = [
    "PyProblem",
    "parse_python_problem",
    "infer_types",
    "convert",
    "convert_file",
    "TARGETS",
    "camel",
    "Type",
    "type_of",
]

TARGETS = ("java", "javascript", "php", "ruby", "perl", "kotlin", "scala", "cpp")
PREFIX = {
    "java": "MBJP",
    "javascript": "MBJSP",
    "php": "MBPHP",
    "ruby": "MBRBP",
    "perl": "MBPLP",
    "kotlin": "MBKP",
    "scala": "MBSCP",
    "cpp": "MBCPP",
}
LANG_WORD = {
    "java": "Java",
    "javascript": "JavaScript",
    "php": "PHP",
    "ruby": "Ruby",
    "perl": "Perl",
    "kotlin": "Kotlin",
    "scala": "Scala",
    "cpp": "c++",
}


# ----------------------------------------------------------------------------------------------- types
@dataclass(frozen=True)
class Type:
    """A value type: kind in int, float, bool, str, list, dict, any, unknown (empty containers)."""

    kind: str
    args: tuple[Type, ...] = ()


INT, FLOAT, BOOL, STR, ANY, UNKNOWN = (Type(k) for k in ("int", "float", "bool", "str", "any", "unknown"))


def unify(a: Type, b: Type) -> Type:
    """The common type of two observed values (int+float -> float; anything else mixed -> any)."""
    if a == b or b.kind == "unknown":
        return a
    if a.kind == "unknown":
        return b
    if {a.kind, b.kind} == {"int", "float"}:
        return FLOAT
    if a.kind == b.kind == "list":
        return Type("list", (unify(a.args[0], b.args[0]),))
    if a.kind == b.kind == "dict":
        return Type("dict", (unify(a.args[0], b.args[0]), unify(a.args[1], b.args[1])))
    return ANY


def type_of(v: Any) -> Type:
    """Type of one Python value (tuples become lists, as in MBXP)."""
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return INT
    if isinstance(v, float):
        return FLOAT
    if isinstance(v, str):
        return STR
    if isinstance(v, (list, tuple, set)):
        t = UNKNOWN
        for x in v:
            t = unify(t, type_of(x))
        return Type("list", (t,))
    if isinstance(v, dict):
        k, t = UNKNOWN, UNKNOWN
        for key, x in v.items():
            k, t = unify(k, type_of(key)), unify(t, type_of(x))
        return Type("dict", (k, t))
    return ANY


# ----------------------------------------------------------------------------------------------- parse
@dataclass
class PyProblem:
    """A Python problem reduced to what the converter needs."""

    task_id: str
    name: str
    params: list[str]
    description: str
    inputs: list[tuple[Any, ...]]  # argument values per test
    expected: list[Any]  # expected value per test
    canonical: str | None = None
    prompt: str = ""
    outputs: list[Any] = field(default_factory=list)  # canonical outputs (filled by infer_types)


def _literal(node: ast.AST, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise UsageError(f"{where}: test value is not a literal: {ast.unparse(node)[:80]}") from None


def parse_python_problem(rec: dict[str, Any]) -> PyProblem:
    """From an mxeval Python record (prompt, test with ``check(candidate)``, entry_point) or an MBPP
    record (text, code, test_list)."""
    tid = str(rec.get("task_id", "?"))
    if "test_list" in rec:  # original MBPP format
        code = rec.get("code", "")
        tests = "\n".join(rec["test_list"])
        tree = ast.parse(code)
        fn = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        check(len(fn) > 0, f"{tid}: no function in the code")
        name = fn[-1].name
        params = [a.arg for a in fn[-1].args.args]
        description = rec.get("text", "")
        canonical, prompt = code, ""
    else:
        for key in ("prompt", "test", "entry_point"):
            check(key in rec, f"{tid}: problem without '{key}'")
        name = rec["entry_point"]
        m = re.search(r"^\s*def\s+" + re.escape(name) + r"\s*\((.*?)\)\s*(->[^:]*)?:", rec["prompt"], re.M | re.S)
        check(m is not None, f"{tid}: prompt does not define {name}")
        sig = ast.parse(f"def f({m.group(1)}): pass").body[0]
        params = [a.arg for a in sig.args.args]  # type: ignore[attr-defined]
        description = rec.get("description") or ""
        tests, prompt = rec["test"], rec["prompt"]
        canonical = rec.get("canonical_solution")
    inputs, expected = [], []
    for node in ast.walk(ast.parse(tests)):
        if not isinstance(node, ast.Assert):
            continue
        t = node.test
        if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)):
            continue
        call = t.left
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in (name, "candidate")):
            continue
        if call.keywords:
            continue
        inputs.append(tuple(_literal(a, tid) for a in call.args))
        expected.append(_literal(t.comparators[0], tid))
    check(len(inputs) > 0, f"{tid}: no 'assert f(...) == value' tests to convert")
    return PyProblem(tid, name, params, description.strip(), inputs, expected, canonical, prompt)


_RUNNER = r"""
import ast, copy, json, sys
spec = json.loads(sys.stdin.read())
ns = {}
exec(spec["source"], ns)
fn = ns[spec["name"]]
out = []
for args in spec["inputs"]:
    args = ast.literal_eval(args)
    try:
        out.append(repr(fn(*copy.deepcopy(args))))
    except Exception as e:
        out.append("!" + type(e).__name__)
print(json.dumps(out))
"""


def run_canonical(p: PyProblem, timeout: float = 10.0) -> list[Any] | None:
    """Outputs of the canonical solution on deep copies of the test inputs (sandboxed)."""
    from mbxp.sandbox import Limits, Sandbox

    if not p.canonical:
        return None
    source = (p.prompt + p.canonical) if p.prompt else p.canonical
    spec = json.dumps({"source": source, "name": p.name, "inputs": [repr(a) for a in p.inputs]})
    with Sandbox() as box:
        box.write("runner.py", _RUNNER)
        box.write("spec.json", spec)
        out = box.run(
            [sys.executable, "-c", "import sys; sys.stdin = open('spec.json'); exec(open('runner.py').read())"],
            Limits(timeout=timeout),
        )
    if out.returncode != 0:
        return None
    try:
        reprs = json.loads(out.stdout.strip().splitlines()[-1])
        return [None if r.startswith("!") else ast.literal_eval(r) for r in reprs]
    except (ValueError, SyntaxError, IndexError):
        return None


def infer_types(p: PyProblem, run: bool = True, timeout: float = 10.0) -> tuple[list[Type], Type]:
    """Parameter types from the inputs; return type from the expected values and canonical outputs."""
    params = []
    for i in range(len(p.params)):
        t = UNKNOWN
        for args in p.inputs:
            if i < len(args):
                t = unify(t, type_of(args[i]))
        params.append(t)
    ret = UNKNOWN
    for v in p.expected:
        ret = unify(ret, type_of(copy.deepcopy(v)))
    if run:
        outs = run_canonical(p, timeout)
        if outs:
            p.outputs = outs
    return params, ret


# ----------------------------------------------------------------------------------------------- names
def camel(name: str) -> str:
    """``similar_elements`` -> ``similarElements``; ``differ_At_One_Bit_Pos`` -> ``differAtOneBitPos``."""
    parts = [x for x in name.split("_") if x]
    if not parts:
        return name
    return parts[0][0].lower() + parts[0][1:] + "".join(x[0].upper() + x[1:].lower() for x in parts[1:])


def pascal(name: str) -> str:
    c = camel(name)
    return c[0].upper() + c[1:]


def _retarget(description: str, language: str) -> str:
    return re.sub(r"\bpython\b", LANG_WORD[language], description, flags=re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- values
def _str_lit(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _num(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def render(v: Any, lang: str, t: Type | None = None, top: bool = True) -> str:
    """A value as a literal of ``lang`` (t: the declared type, for typed containers).

    Besides the languages, the docstring styles observed in the release: ``phpdoc``, ``rubydoc``,
    ``perldoc``, ``kotlindoc`` (JSON-like lists with the language's strings, booleans and maps).
    """
    t = t or type_of(v)
    base = {
        "phpdoc": "php",
        "rubydoc": "ruby",
        "perldoc": "perl",
        "kotlindoc": "kotlin",
        "cppval": "cpp",
        "scaladoc": "javascript",
    }.get(lang, lang)
    if isinstance(v, bool):
        return ("1" if v else "0") if base == "perl" else str(v).lower()
    if isinstance(v, (int, float)):
        if t.kind == "float" and base in ("java", "kotlin", "scala", "cpp"):
            return repr(float(v))
        return _num(v)
    if isinstance(v, str):
        if base in ("kotlin", "scala") and '"""' not in v and "$" not in v:
            return '"""' + v.replace("\n", "\\n") + '"""'
        if base == "kotlin":
            return _str_lit(v).replace("$", "\\$")
        if base == "cpp":
            return f"string({_str_lit(v)})"
        if lang in ("perl", "php"):
            return _str_lit(v).replace("$", "\\$").replace("@", "\\@" if lang == "perl" else "@")
        return _str_lit(v)
    if isinstance(v, (list, tuple, set)):
        et = t.args[0] if t.kind == "list" else ANY
        items = ", ".join(render(x, lang, et, top=False) for x in v)
        if lang == "java":
            return f"Arrays.asList({items})"
        if lang == "kotlin":
            return f"mutableListOf({items})"
        if lang in ("scala", "scaladoc"):
            return f"List({items})"
        if lang == "cpp":
            return f"{cpp_type(t)}{{{items}}}" if top else f"{{{items}}}"
        if lang == "cppval":
            return f"{{{items}}}"
        return f"[{items}]"
    if isinstance(v, dict):
        kt, vt = t.args if t.kind == "dict" else (ANY, ANY)
        pairs = [(render(k, lang, kt, top=False), render(x, lang, vt, top=False)) for k, x in v.items()]
        if lang == "java":
            return "new HashMap(){{" + "".join(f"put({k}, {x});" for k, x in pairs) + "}}"
        if lang == "kotlin":
            return "mutableMapOf(" + ", ".join(f"{k} to {x}" for k, x in pairs) + ")"
        if lang == "kotlindoc":
            return "{" + ", ".join(f"{k}={x}" for k, x in pairs) + "}"
        if lang in ("scala", "scaladoc"):
            return "Map(" + ", ".join(f"{k} -> {x}" for k, x in pairs) + ")"
        if lang in ("cpp", "cppval"):
            inner = "{" + ", ".join(f"{{{k}, {x}}}" for k, x in pairs) + "}"
            return f"{cpp_type(t)}{inner}" if (top and lang == "cpp") else inner
        if base == "ruby":
            return "{" + ", ".join(f"{k}=>{x}" for k, x in pairs) + "}"
        if base == "perl":
            return "{" + ", ".join(f"{k} => {x}" for k, x in pairs) + "}"
        if base == "php":
            return "[" + ", ".join(f"{k} => {x}" for k, x in pairs) + "]"
        return "{" + ", ".join(f"{k}: {x}" for k, x in pairs) + "}"
    if v is None:
        return {
            "java": "null",
            "kotlin": "null",
            "scala": "null",
            "cpp": "nullptr",
            "ruby": "nil",
            "perl": "undef",
            "php": "null",
        }.get(base, "null")
    raise UsageError(f"cannot render value {v!r} in {lang}")


def java_type(t: Type, boxed: bool = False) -> str:
    k = t.kind
    if k == "int":
        return "Integer" if boxed else "int"
    if k == "float":
        return "Double"
    if k == "bool":
        return "Boolean"
    if k == "str":
        return "String"
    if k == "list":
        return f"List<{java_type(t.args[0], True)}>"
    if k == "dict":
        return f"HashMap<{java_type(t.args[0], True)}, {java_type(t.args[1], True)}>"
    return "Object"


def kotlin_type(t: Type) -> str:
    k = t.kind
    base = {"int": "Int", "float": "Double", "bool": "Boolean", "str": "String"}
    if k in base:
        return base[k]
    if k == "list":
        return f"List<{kotlin_type(t.args[0])}>"
    if k == "dict":
        return f"Map<{kotlin_type(t.args[0])}, {kotlin_type(t.args[1])}>"
    return "Any"


def scala_type(t: Type) -> str:
    k = t.kind
    base = {"int": "Int", "float": "Double", "bool": "Boolean", "str": "String"}
    if k in base:
        return base[k]
    if k == "list":
        return f"List[{scala_type(t.args[0])}]"
    if k == "dict":
        return f"Map[{scala_type(t.args[0])}, {scala_type(t.args[1])}]"
    return "Any"


def cpp_type(t: Type) -> str:
    k = t.kind
    base = {"int": "int", "float": "double", "bool": "bool", "str": "string"}
    if k in base:
        return base[k]
    if k == "list":
        return f"vector<{cpp_type(t.args[0])}>"
    if k == "dict":
        return f"unordered_map<{cpp_type(t.args[0])}, {cpp_type(t.args[1])}>"
    raise UsageError("C++ has no type for mixed values (the task is dropped, as in MBXP)")


def _has(t: Type, kind: str) -> bool:
    return t.kind == kind or any(_has(a, kind) for a in t.args)


# --------------------------------------------------------------------------------------------- render
def _doc_lines(
    p: PyProblem, lang: str, name: str, params_t: list[Type], ret_t: Type, ret_lang: str | None = None
) -> list[tuple[str, str]]:
    out = []
    for args, exp in zip(p.inputs, p.expected, strict=True):
        call = f"{name}(" + ", ".join(render(a, lang, t) for a, t in zip(args, params_t, strict=False)) + ")"
        out.append((call, render(exp, ret_lang or lang, ret_t)))
    return out


def convert(rec: dict[str, Any], language: str, run: bool = True, timeout: float = 10.0) -> dict[str, Any]:
    """Convert one Python problem record into ``language``: an mxeval-format problem record."""
    check(language in TARGETS, f"conversion to {language!r} is not implemented (available: {', '.join(TARGETS)})")
    p = parse_python_problem(rec)
    params_t, ret_t = infer_types(p, run=run, timeout=timeout)
    check(len(params_t) == len(p.params), f"{p.task_id}: parameter count mismatch")
    if language == "cpp":
        for t in (*params_t, ret_t):
            check(
                not _has(t, "any") and not _has(t, "unknown"),
                f"{p.task_id}: mixed-type values cannot be typed in C++ (dropped, as in MBXP)",
            )
    desc = _retarget(p.description, language)
    num = p.task_id.split("/")[-1]
    task_id = f"{PREFIX[language]}/{num}"
    fn = {
        "java": _java,
        "javascript": _js,
        "php": _php,
        "ruby": _ruby,
        "perl": _perl,
        "kotlin": _kotlin,
        "scala": _scala,
        "cpp": _cpp,
    }[language]
    prompt, test, entry = fn(p, desc, params_t, ret_t)
    return {
        "task_id": task_id,
        "language": language,
        "prompt": prompt,
        "test": test,
        "entry_point": entry,
        "canonical_solution": None,
        "description": desc,
    }


def _java(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name, cls = camel(p.name), pascal(p.name)
    doc = "".join(f"     * > {c}\n     * {e}\n" for c, e in _doc_lines(p, "javascript", name, pt, rt))
    params = ", ".join(f"{java_type(t)} {camel(a)}" for a, t in zip(p.params, pt, strict=True))
    r = java_type(rt)
    prompt = (
        "import java.io.*;\nimport java.lang.*;\nimport java.util.*;\nimport java.math.*;\n\n\n"
        f"class {cls} {{\n    /**\n     * * {desc}\n     *\n{doc}     */\n"
        f"    public static {r} {name}({params}) {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"        {java_type(t)} arg{i}{j} = {render(a, 'java', t)};\n")
        call = ", ".join(render(a, "java", t) for a, t in zip(args, pt, strict=True))
        body.append(f"        {r} x{i} = {cls}.{name}({call});\n")
        body.append(f"        {r} v{i} = {render(exp, 'java', rt)};\n")
        body.append(
            f"        if (!(compare(x{i}, v{i}))) {{\n            throw new java.lang.Exception("
            f'"Exception -- test case {i} did not pass. x{i} = " + x{i});\n        }}\n\n'
        )
    test = (
        "\n\nclass Main {\n    public static boolean compare(Object obj1, Object obj2) {\n"
        "        if (obj1 == null && obj2 == null){\n            return true;\n"
        "        } else if (obj1 == null || obj2 == null){\n            return false;\n"
        "        } else {\n            return obj1.equals(obj2);\n        }\n    }\n    \n"
        "    public static void main(String[] args) throws Exception {\n" + "".join(body) + "\n}\n}\n"
    )
    return prompt, test, name


def _js(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * > {c}\n * {e}\n" for c, e in _doc_lines(p, "javascript", name, pt, rt))
    params = ", ".join(a.replace("_", "").lower() for a in p.params)
    prompt = f"/**\n * * {desc}\n *\n{doc} */\nfunction {name}({params}) {{\n"
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"var arg{i}{j} = {render(a, 'javascript', t)};\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"var x{i} = {name}({call});\nvar v{i} = {render(exp, 'javascript', rt)};\n")
        body.append(
            f"if(!compare(x{i}, v{i})){{\n    throw 'Error at {i + 1}th assert statement. Value = ' + "
            "JSON.stringify(x)  \n}\n\n"
        )
    test = (
        '\nconst _ = require("lodash")\n\nfunction compare(object1, object2){\n'
        "    return _.isEqual(object1, object2)\n}\n\n" + "".join(body) + "\n"
    )
    return prompt, test, name


def _php(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * php > {c}\n * {e}\n" for c, e in _doc_lines(p, "phpdoc", name, pt, rt))
    params = ", ".join("$" + a.replace("_", "").lower() for a in p.params)
    prompt = (
        f"<?php\n\n/**\n * You are an expert PHP programmer, and here is your task.\n * * {desc}\n *\n{doc}"
        f" */\nfunction {name}({params}){{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"$arg{i}{j} = {render(a, 'php', t)};\n")
        call = ", ".join(f"$arg{i}{j}" for j in range(len(args)))
        body.append(f"$x{i} = {name}({call});\n$v{i} = {render(exp, 'php', rt)};\n")
        body.append(
            f'if (!compare($x{i}, $v{i})) {{\n    throw new Exception("Error at {i + 1}th assert statement.");\n}}\n'
        )
    test = "\n\nfunction compare($x, $y) {\n    return $x == $y;\n}\n\n" + "".join(body) + "\n"
    return prompt, test, name


def _ruby(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = p.name.lower()
    doc = "".join(f"# irb> {c}\n# => {e}\n" for c, e in _doc_lines(p, "rubydoc", name, pt, rt))
    params = ", ".join(a.lower() for a in p.params)
    prompt = (
        f"\n##\n# You are an expert Ruby programmer, and here is your task.\n# # {desc}\n#\n{doc}def {name}({params})"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"arg{i}{j} = {render(a, 'ruby', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"x{i} = {name}({call})\nv{i} = {render(exp, 'ruby', rt)}\n")
        body.append(f'if x{i} != v{i}\n    raise StandardError, "Error at test case {i + 1}"\nend\n\n')
    return prompt, "\n\n" + "".join(body) + "\n", name


def _perl(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = p.name.lower()
    doc = "".join(f"# >>> {c}\n# {e}\n" for c, e in _doc_lines(p, "perldoc", name, pt, rt))
    params = ", ".join("$" + a.lower() for a in p.params)
    prompt = (
        f"\n# You are an expert Perl programmer, and here is your task.\n# # {desc}\n#\n{doc}"
        f"sub {name}\n{{\n  my ({params}) = @_;\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"my $arg{i}{j} = {render(a, 'perl', t)};\n")
        call = ", ".join(f"$arg{i}{j}" for j in range(len(args)))
        body.append(f"my $x{i} = {name}({call});\nmy $v{i} = {render(exp, 'perl', rt)};\n")
        body.append(f'unless(Compare($x{i}, $v{i})) {{\n    die "Exception -- test case {i} did not pass.";\n}}\n')
    return prompt, "\n\nuse Data::Compare;\n\n" + "".join(body) + "\n", name


def _kotlin(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * >>> {c}\n * {e}\n" for c, e in _doc_lines(p, "kotlindoc", name, pt, rt))
    params = ", ".join(f"{camel(a)} : {kotlin_type(t)}" for a, t in zip(p.params, pt, strict=True))
    r = kotlin_type(rt)
    prompt = (
        f"/**\n * You are an expert Kotlin programmer, and here is your task.\n * * {desc}\n *\n{doc} */\n"
        f"fun {name}({params}) : {r} {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"    var arg{i}{j} : {kotlin_type(t)} = {render(a, 'kotlin', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"    var x{i} : {r} = {name}({call});\n    var v{i} : {r} = {render(exp, 'kotlin', rt)};\n")
        body.append(
            f'    if (x{i} != v{i}) {{\n        throw Exception("Exception -- test case {i} did not pass. '
            f'x{i} = " + x{i})\n    }}\n\n'
        )
    return prompt, "\nfun main() {\n" + "".join(body) + "\n}\n", name


def _scala(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f"     * >>> {c}\n     * {e}\n" for c, e in _doc_lines(p, "scaladoc", name, pt, rt))
    params = ", ".join(f"{camel(a)} : {scala_type(t)}" for a, t in zip(p.params, pt, strict=True))
    r = scala_type(rt)
    prompt = (
        f"object Main extends App {{\n    /**\n     * You are an expert Scala programmer, and here is your task.\n"
        f"     * * {desc}\n     *\n{doc}     */\n    def {name}({params}) : {r} = {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"    var arg{i}{j} : {scala_type(t)} = {render(a, 'scala', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"    var x{i} : {r} = {name}({call})\n    var v{i} : {r} = {render(exp, 'scala', rt)}\n")
        body.append(f'    assert(x{i} == v{i}, "Exception -- test case {i} did not pass. x{i} = " + x{i})\n\n')
    return prompt, "\n\n" + "".join(body) + "\n}\n", name


def _cpp(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * > {c}\n * {e}\n" for c, e in _doc_lines(p, "cpp", name, pt, rt, "cppval"))
    params = ", ".join(f"{cpp_type(t)} {camel(a)}" for a, t in zip(p.params, pt, strict=True))
    r = cpp_type(rt)
    prompt = f"#include <bits/stdc++.h>\nusing namespace std;\n\n\n/**\n * {desc}\n{doc} */\n{r} {name}({params}) {{\n"
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        call = ", ".join(render(a, "cpp", t) for a, t in zip(args, pt, strict=True))
        body.append(
            f"    {r} x{i} = {name}({call});\n    if (!(compare(x{i}, {render(exp, 'cppval', rt)}))) {{\n"
            f'        throw runtime_error("Exception -- test case {i} did not pass.");\n    }}\n\n'
        )
    test = (
        "\ntemplate <typename T> bool compare(T a, T b){ \n    return a == b; \n}\n\n"
        "int main(int argc, char* argv[]) {\n" + "".join(body) + "    return 0;\n}"
    )
    return prompt, test, name


def convert_file(source: str | Path, language: str, out: str | Path, timeout: float = 10.0) -> tuple[int, int]:
    """Convert every problem of ``source``; problems that cannot be converted are skipped (reported)."""
    check(language in TARGETS, f"conversion to {language!r} is not implemented (available: {', '.join(TARGETS)})")
    rows, skipped = [], 0
    for i, rec in read_jsonl(source):
        try:
            rows.append(convert(rec, language, timeout=timeout))
        except UsageError as e:
            skipped += 1
            print(f"{source}: line {i}: skipped: {e}", file=sys.stderr)
        except SyntaxError as e:
            skipped += 1
            print(f"{source}: line {i}: skipped: Python syntax error ({e.msg})", file=sys.stderr)
    check(len(rows) > 0, f"{source}: nothing could be converted")
    tmp = Path(str(out) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    tmp.replace(out)
    return len(rows), skipped
