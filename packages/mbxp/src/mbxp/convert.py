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

Implemented targets: java, javascript, php, ruby, perl, kotlin, scala, cpp, typescript, go, csharp,
swift. TypeScript, Go and C# (the v1/v1.1-style files) keep the Python text of the examples in the
docstring and hold the canonical solution's outputs as expected values (as released); Swift follows
the Kotlin/Scala style with labelled arguments and raw strings.

HumanEval's tests are code, not assert lists: :func:`capture_checks` runs each ``check(candidate)`` in the
same sandboxed batch runner with a recording candidate (arguments, canonical output, the value the output
was compared with), and :mod:`mbxp.convert_humaneval` renders the captured cases in the Multi-HumanEval
layouts with :func:`render_problem`.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import math
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
    "type_name",
    "run_canonicals",
    "capture_checks",
    "Capture",
    "canonical_outputs",
    "render_problem",
]

TARGETS = ("java", "javascript", "php", "ruby", "perl", "kotlin", "scala", "cpp", "typescript", "go", "csharp", "swift")
PREFIX = {
    "java": "MBJP",
    "javascript": "MBJSP",
    "php": "MBPHP",
    "ruby": "MBRBP",
    "perl": "MBPLP",
    "kotlin": "MBKP",
    "scala": "MBSCP",
    "cpp": "MBCPP",
    "typescript": "MBTSP",
    "go": "MBGP",
    "csharp": "MBCSP",
    "swift": "MBSWP",
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
    "typescript": "typescript",
    "go": "golang",
    "csharp": "c#",
    "swift": "Swift",
}


# ----------------------------------------------------------------------------------------------- types
@dataclass(frozen=True)
class Type:
    """A value type: kind in int, float, bool, str, list, dict, any, unknown (empty containers), number
    (ints and floats mixed: Java's ``Number`` in Multi-HumanEval; other languages' mixed type), nullable
    (Multi-HumanEval: ``args[0]`` or None)."""

    kind: str
    args: tuple[Type, ...] = ()


INT, FLOAT, BOOL, STR, ANY, UNKNOWN = (Type(k) for k in ("int", "float", "bool", "str", "any", "unknown"))


def unify(a: Type, b: Type, mix: Type | None = None) -> Type:
    """The common type of two observed values (int+float -> float, or ``mix`` when given: Multi-HumanEval's
    Java ``Number``; anything else mixed -> any)."""
    if a == b or b.kind == "unknown":
        return a
    if a.kind == "unknown":
        return b
    if {a.kind, b.kind} <= {"int", "float", "number"}:
        return mix or FLOAT
    if a.kind == b.kind == "list":
        return Type("list", (unify(a.args[0], b.args[0], mix),))
    if a.kind == b.kind == "dict":
        return Type("dict", (unify(a.args[0], b.args[0], mix), unify(a.args[1], b.args[1], mix)))
    return ANY


def type_of(v: Any, mix: Type | None = None) -> Type:
    """Type of one Python value (tuples become lists, as in MBXP; ``mix``: see :func:`unify`)."""
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
            t = unify(t, type_of(x, mix), mix)
        return Type("list", (t,))
    if isinstance(v, dict):
        k, t = UNKNOWN, UNKNOWN
        for key, x in v.items():
            k, t = unify(k, type_of(key, mix), mix), unify(t, type_of(x, mix), mix)
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
    examples: list[tuple[str, str]] = field(default_factory=list)  # Python text of (call, expected) per test


def _literal(node: ast.AST, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise UsageError(f"{where}: test value is not a literal: {ast.unparse(node)[:80]}") from None


def parse_python_problem(rec: dict[str, Any], asserts: bool = True) -> PyProblem:
    """From an mxeval Python record (prompt, test with ``check(candidate)``, entry_point) or an MBPP
    record (text, code, test_list). ``asserts=False``: the test cases are captured by running the test
    instead (:func:`capture_checks`), so the ``assert f(args) == value`` statements are not parsed."""
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
    inputs, expected, examples = [], [], []
    for node in ast.walk(ast.parse(tests)) if asserts else ():
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
        call_src = ast.get_source_segment(tests, call) or ast.unparse(call)
        cmp_src = ast.get_source_segment(tests, t) or ast.unparse(t)
        exp_src = cmp_src[len(call_src) :].strip().removeprefix("==").strip()  # keeps redundant parentheses
        examples.append((name + call_src[len(call.func.id) :], exp_src))
    check(len(inputs) > 0 or not asserts, f"{tid}: no 'assert f(...) == value' tests to convert")
    return PyProblem(tid, name, params, description.strip(), inputs, expected, canonical, prompt, examples=examples)


_RUNNER = r"""
import ast, collections, copy, json, random, signal, sys

def plain(x):
    # what the converter captured: a Counter in its repr order (most common first), other mappings as
    # dicts, sets in iteration order
    if isinstance(x, collections.Counter):
        return {k: plain(v) for k, v in x.most_common()}
    if isinstance(x, dict):
        return {plain(k): plain(v) for k, v in x.items()}
    if isinstance(x, (set, frozenset, list)):
        return [plain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(plain(v) for v in x)
    return x

class Timeout(BaseException):  # not an Exception: a solution's own "except Exception" cannot swallow it
    pass

def alarm(*_):
    raise Timeout()

def observed(value, case):
    # the output as an instance of a subclass of its own type whose ==, != and - note the other operand:
    # the right-hand side of "candidate(x) == value" or "abs(candidate(x) - value) < eps"
    base = type(value)
    if base not in (int, float, str, list, tuple, dict):
        return value

    def note(other):
        if "rhs" not in case:
            case["rhs"] = repr(plain(other))

    class Seen(base):
        __hash__ = base.__hash__

        def __eq__(self, other):
            note(other)
            return base.__eq__(self, other)

        def __ne__(self, other):
            note(other)
            return base.__ne__(self, other)

        if base in (int, float):
            def __sub__(self, other):
                note(other)
                return base.__sub__(self, other)

            def __rsub__(self, other):
                note(other)
                return base.__rsub__(self, other)

    return Seen(value)

def recorder(fn, cases):
    # the candidate that check() calls: runs the canonical solution on deep copies of the arguments
    # (the v1.1 fix) and records (arguments, output, compared-with value)
    def candidate(*args, **kwargs):
        if kwargs:
            raise TypeError("keyword arguments are not converted")
        case = {"args": repr(plain(copy.deepcopy(args)))}
        caller = sys._getframe(1)
        if caller.f_code.co_filename == "<check>":
            case["line"] = caller.f_lineno
        cases.append(case)
        try:
            out = fn(*copy.deepcopy(args))
        except Exception as e:
            case["out"] = "!" + type(e).__name__
            raise
        case["out"] = repr(plain(out))
        return observed(out, case)
    return candidate

signal.signal(signal.SIGALRM, alarm)
specs = json.loads(open("spec.json").read())
results = []
for spec in specs:
    out = []
    try:
        signal.alarm(spec["timeout"])
        ns = {}
        exec(spec["source"], ns)
        fn = ns[spec["name"]]
        if "check" in spec:  # capture mode: run the Python test itself with a recording candidate
            random.seed(0)  # a test drawing random inputs (HumanEval/53) gives the same cases every run
            out = {"cases": [], "error": None}
            try:
                exec(compile(spec["check"], "<check>", "exec"), ns)
                ns["check"](recorder(fn, out["cases"]))
            except Timeout:
                out["error"] = "timed out"
            except BaseException as e:
                out["error"] = f"check raised {type(e).__name__}: {str(e)[:100]}"
        for args in spec.get("inputs", []):
            args = ast.literal_eval(args)
            try:
                out.append(repr(plain(fn(*copy.deepcopy(args)))))
            except Exception as e:
                out.append("!" + type(e).__name__)
        signal.alarm(0)
    except BaseException as e:  # timeout, SystemExit, broken source: no outputs for this problem
        signal.alarm(0)
        out = None
        if "check" in spec:
            out = {"cases": [], "error": "timed out" if isinstance(e, Timeout) else type(e).__name__}
    results.append(out)
with open("out.json", "w") as f:
    json.dump(results, f)
"""


def _run_batch(specs: list[dict[str, Any]], timeout: float) -> list[Any]:
    """Run the runner script on ``specs`` in one sandboxed Python process (one entry per spec; None where
    the whole process died)."""
    from mbxp.sandbox import Limits, Sandbox

    if not specs:
        return []
    with Sandbox() as box:
        box.write("runner.py", _RUNNER)
        box.write("spec.json", json.dumps(specs))
        box.run([sys.executable, "runner.py"], Limits(timeout=10 + len(specs) * timeout))
        try:
            raw = json.loads((box.work / "out.json").read_text())
        except (OSError, ValueError):
            raw = [None] * len(specs)
    return raw


def _source(p: PyProblem) -> str:
    return (p.prompt + (p.canonical or "")) if p.prompt else (p.canonical or "")


def run_canonicals(problems: list[PyProblem], timeout: float = 10.0) -> list[list[Any] | None]:
    """Outputs of each canonical solution on deep copies of its test inputs (the upstream v1.1 fix).

    One sandboxed Python process runs the whole batch (a per-problem alarm bounds each solution), so
    converting a file costs one interpreter start, not one per task. None: no canonical, or it failed.
    """
    specs = [
        {
            "source": _source(p),
            "name": p.name,
            "inputs": [repr(a) for a in p.inputs],
            "timeout": max(1, math.ceil(timeout)),
        }
        for p in problems
        if p.canonical
    ]
    raw = _run_batch(specs, timeout)
    results: list[list[Any] | None] = []
    it = iter(raw)
    for p in problems:
        reprs = next(it) if p.canonical else None
        try:
            results.append(
                None if reprs is None else [None if r.startswith("!") else ast.literal_eval(r) for r in reprs]
            )
        except (ValueError, SyntaxError):
            results.append(None)
    return results


@dataclass
class Capture:
    """What a Python ``check(candidate)`` did with a recording candidate: one case per call."""

    inputs: list[tuple[Any, ...]]  # the arguments, copied before the call
    outputs: list[Any]  # the canonical solution's output
    compared: list[Any]  # the value the output was compared with (``==``, ``!=``, ``-``), else the output
    lines: list[int | None] = field(default_factory=list)  # line of the test code that made the call
    error: str | None = None  # the check raised or hung: the task cannot be converted


def _literal_or(text: str | None, default: Any) -> Any:
    if text is None or text.startswith("!"):
        return default
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return default


def capture_checks(problems: list[tuple[PyProblem, str]], timeout: float = 10.0) -> list[Capture]:
    """Run each problem's Python test code (``check(candidate)``) in one sandboxed batch with a recording
    candidate, as the conversion framework unrolls loops and helper variables into test cases."""
    specs = [
        {"source": _source(p), "name": p.name, "check": test, "timeout": max(1, math.ceil(timeout))}
        for p, test in problems
    ]
    captures = []
    for raw in _run_batch(specs, timeout):
        if raw is None:
            captures.append(Capture([], [], [], error="the test runner died"))
            continue
        cap = Capture([], [], [], error=raw["error"])
        for case in raw["cases"]:
            args = _literal_or(case.get("args"), None)
            if args is None or "out" not in case:
                cap.error = cap.error or "an argument cannot be written as a literal"
                continue
            out = _literal_or(case["out"], None)
            cap.inputs.append(tuple(args))
            cap.outputs.append(out)
            cap.compared.append(_literal_or(case.get("rhs"), out))
            cap.lines.append(case.get("line"))
        captures.append(cap)
    return captures


def run_canonical(p: PyProblem, timeout: float = 10.0) -> list[Any] | None:
    """Outputs of the canonical solution on deep copies of the test inputs (sandboxed)."""
    return run_canonicals([p], timeout)[0]


def infer_types(p: PyProblem, run: bool = True, timeout: float = 10.0) -> tuple[list[Type], Type]:
    """Parameter types from the inputs; return type from the expected values (TypeScript/Go/C#: from the
    canonical outputs, see :func:`convert`); ``run`` fills ``p.outputs``."""
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
    ``perldoc``, ``kotlindoc``, ``swiftdoc`` (JSON-like lists with the language's strings, booleans and
    maps). Go and C# literals carry their type at every level: a container in a mixed (``any``) slot
    is a list/map of ``interface{}``/``object`` all the way down, and maps list their keys sorted
    (as released).
    """
    t = t or type_of(v)
    if t.kind == "nullable":
        t = t.args[0]
    if lang in ("go", "csharp") and t.kind not in ("list", "dict"):
        if isinstance(v, (list, tuple, set)):
            t = Type("list", (ANY,))
        elif isinstance(v, dict):
            t = Type("dict", (ANY, ANY))
    base = {
        "phpdoc": "php",
        "rubydoc": "ruby",
        "perldoc": "perl",
        "kotlindoc": "kotlin",
        "cppval": "cpp",
        "scaladoc": "javascript",
        "swiftdoc": "swift",
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
        if lang == "swift":  # raw string, as released
            return '#"' + v.replace("\n", "\\n") + '"#'  # as released (a raw string keeps "\\n" literally)

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
        if lang == "go":
            return f"{type_name(t, 'go')}{{{items}}}"
        if lang == "csharp":  # released C# lists have no space after the commas
            return f"new {type_name(t, 'csharp')} {{" + ",".join(render(x, lang, et, top=False) for x in v) + "}"
        return f"[{items}]"
    if isinstance(v, dict):
        kt, vt = t.args if t.kind == "dict" else (ANY, ANY)
        if lang in ("go", "csharp"):
            with contextlib.suppress(TypeError):
                v = dict(sorted(v.items()))
        pairs = [(render(k, lang, kt, top=False), render(x, lang, vt, top=False)) for k, x in v.items()]
        if lang == "java":
            return "new HashMap(){{" + "".join(f"put({k}, {x});" for k, x in pairs) + "}}"
        if lang == "kotlin":
            return "mutableMapOf(" + ", ".join(f"{k} to {x}" for k, x in pairs) + ")"
        if lang == "typescript":
            return "new Map<any, any>([" + ", ".join(f"[{k}, {x}]" for k, x in pairs) + "])"
        if lang == "go":
            return f"{type_name(t, 'go')}{{ " + "".join(f"{k}: {x}, " for k, x in pairs) + " }"
        if lang == "csharp":
            return f"new {type_name(t, 'csharp')} {{" + ",".join(f"{{{k}, {x}}}" for k, x in pairs) + "}"
        if base == "swift":
            return "[" + (", ".join(f"{k} : {x}" for k, x in pairs) or ":") + "]"
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
            "perl": '"none"',  # as released: MBPLP/395, 431, 452, 546, 746, 755, 761, 954 expect the string "none"
            "php": "null",
            "go": "nil",
            "swift": "nil",
            "typescript": "undefined",
        }.get(base, "null")
    raise UsageError(f"cannot render value {v!r} in {lang}")


def java_type(t: Type, boxed: bool = False) -> str:
    k = t.kind
    if k == "number":  # an int/float mix (Multi-HumanEval; MBXP writes Double)
        return "Number"
    if k == "nullable":
        return java_type(t.args[0], True)
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


# per language: scalar names, list and dict patterns, the mixed-value type (None: not typeable); "number"
# (ints and floats mixed, Multi-HumanEval only) is Double/number where named, else the mixed type
_TYPE_NAMES: dict[str, tuple[dict[str, str], str, str, str | None]] = {
    "kotlin": ({"int": "Int", "float": "Double", "bool": "Boolean", "str": "String"}, "List<{}>", "Map<{}, {}>", "Any"),
    "scala": (
        {"int": "Int", "float": "Double", "bool": "Boolean", "str": "String", "number": "Double"},
        "List[{}]",
        "Map[{}, {}]",
        "Any",
    ),
    "cpp": (
        {"int": "int", "float": "double", "bool": "bool", "str": "string"},
        "vector<{}>",
        "unordered_map<{}, {}>",
        None,
    ),
    "typescript": (
        {"int": "number", "float": "number", "bool": "boolean", "str": "string", "number": "number"},
        "Array<{}>",
        "Map<{}, {}>",
        "any",
    ),
    "go": ({"int": "int", "float": "float64", "bool": "bool", "str": "string"}, "[]{}", "map[{}]{}", "interface{{}}"),
    "csharp": (
        {"int": "int", "float": "double", "bool": "bool", "str": "string"},
        "List<{}>",
        "Dictionary<{}, {}>",
        "object",
    ),
    "swift": (
        {"int": "Int", "float": "Double", "bool": "Bool", "str": "String", "number": "Double"},
        "[{}]",
        "[{}: {}]",
        "AnyHashable",
    ),
}


def type_name(t: Type, lang: str) -> str:
    """The declared type of ``t`` in ``lang`` (the brief's table b1; Java has its own, boxed, in java_type)."""
    scalars, list_pat, dict_pat, mixed = _TYPE_NAMES[lang]
    if t.kind == "nullable":  # Multi-HumanEval: a value that may be None (Kotlin "T?")
        return type_name(t.args[0], lang) + ("?" if lang == "kotlin" else "")
    if t.kind in scalars:
        return scalars[t.kind]
    if t.kind == "list":
        return list_pat.format(type_name(t.args[0], lang))
    if t.kind == "dict":
        return dict_pat.format(type_name(t.args[0], lang), type_name(t.args[1], lang))
    if mixed is None:
        raise UsageError(f"{lang} has no type for mixed values (the task is dropped, as in MBXP)")
    return mixed.format()


def kotlin_type(t: Type) -> str:
    return type_name(t, "kotlin")


def scala_type(t: Type) -> str:
    return type_name(t, "scala")


def cpp_type(t: Type) -> str:
    return type_name(t, "cpp")


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


def convert(
    rec: dict[str, Any],
    language: str,
    run: bool = True,
    timeout: float = 10.0,
    outputs: list[Any] | None = None,
) -> dict[str, Any]:
    """Convert one Python problem record into ``language``: an mxeval-format problem record.

    ``outputs``: the canonical solution's outputs when already computed (:func:`run_canonicals` on a
    whole file); otherwise they are computed here when ``run``.
    """
    check(language in TARGETS, f"conversion to {language!r} is not implemented (available: {', '.join(TARGETS)})")
    p = parse_python_problem(rec)
    params_t, ret_t = infer_types(p, run=run and outputs is None, timeout=timeout)
    if outputs is not None:
        p.outputs = outputs
    num = p.task_id.split("/")[-1]
    prompt, test, entry = render_problem(p, language, params_t, ret_t)
    desc = _retarget(p.description, language)
    return {
        "task_id": f"{PREFIX[language]}/{num}",
        "language": language,
        "prompt": prompt,
        "test": test,
        "entry_point": entry,
        "canonical_solution": None,
        "description": desc,
    }


def render_problem(
    p: PyProblem, language: str, params_t: list[Type], ret_t: Type, ret_from_outputs: bool = True
) -> tuple[str, str, str]:
    """(prompt, test, entry point) of a parsed problem with its types, in the MBXP layout of ``language``
    (the Multi-HumanEval layouts in :mod:`mbxp.convert_humaneval` reuse it and replace the docstring)."""
    check(len(params_t) == len(p.params), f"{p.task_id}: parameter count mismatch")
    if language == "cpp":
        for t in (*params_t, ret_t):
            check(
                not _has(t, "any") and not _has(t, "unknown"),
                f"{p.task_id}: mixed-type values cannot be typed in C++ (dropped, as in MBXP)",
            )
    outs_known = p.outputs and all(o is not None for o in p.outputs)
    if ret_from_outputs and language in ("typescript", "go", "csharp") and outs_known:
        ret_t = UNKNOWN  # these files type the return by what the canonical solution returned (240.0, not 240)
        for o in p.outputs:
            ret_t = unify(ret_t, type_of(o))
    desc = _retarget(p.description, language)
    fn = {
        "java": _java,
        "javascript": _js,
        "php": _php,
        "ruby": _ruby,
        "perl": _perl,
        "kotlin": _kotlin,
        "scala": _scala,
        "cpp": _cpp,
        "typescript": _ts,
        "go": _go,
        "csharp": _csharp,
        "swift": _swift,
    }[language]
    return fn(p, desc, params_t, ret_t)


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


# ------------------------------------------- TypeScript, Go, C#: Python-text examples, canonical outputs
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
_RESERVED = {
    "typescript": {"string", "number", "boolean", "function", "var", "let", "const", "new", "delete", "in", "class"},
    "go": {"string", "int", "len", "map", "range", "type", "func", "var", "select", "default", "chan", "go"},
    "csharp": {"string", "int", "object", "base", "params", "in", "out", "ref", "char", "decimal", "checked", "lock"},
}


def _param(name: str, lang: str) -> str:
    return name + "0" if name in _RESERVED[lang] else name


def _args(args: tuple[Any, ...], pt: list[Type], lang: str) -> str:
    return ",".join(render(a, lang, t) for a, t in zip(args, pt, strict=True))


def _uses_math(p: PyProblem) -> bool:
    return bool(re.search(r"^\s*(import c?math\b|from c?math import)", p.prompt + (p.canonical or ""), re.M))


def _ts(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
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


def _go(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
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


def _csharp(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
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


def _swift(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * >>> {c}\n * {e}\n" for c, e in _doc_lines(p, "swiftdoc", name, pt, rt))
    labels = [camel(a) for a in p.params]
    params = ", ".join(f"{a} : {type_name(t, 'swift')}" for a, t in zip(labels, pt, strict=True))
    r = type_name(rt, "swift")
    prompt = (
        f"/**\n * You are an expert Swift programmer, and here is your task.\n * * {desc}\n *\n{doc} */\n"
        f"func {name}({params}) -> {r} {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):  # v1: the assert's right-hand side
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"var arg{i}{j} : {type_name(t, 'swift')} = {render(a, 'swift', t)}\n")
        call = ", ".join(f"{lab} : arg{i}{j}" for j, lab in enumerate(labels[: len(args)]))
        body.append(f"var x{i} : {r} = {name}({call})\nvar v{i} : {r} = {render(exp, 'swift', rt)}\n")
        body.append(f'assert(x{i} == v{i}, "Exception -- test case {i} did not pass. x{i} = ")\n\n')
    return prompt, "\n\n" + "".join(body) + "\n", name


def canonical_outputs(records: list[dict[str, Any]], timeout: float = 10.0) -> list[list[Any] | None]:
    """Canonical outputs of many Python problem records in one sandboxed batch (None where unparsable)."""
    parsed: list[PyProblem | None] = []
    for rec in records:
        try:
            parsed.append(parse_python_problem(rec))
        except (UsageError, SyntaxError):
            parsed.append(None)
    ok = [p for p in parsed if p is not None]
    it = iter(run_canonicals(ok, timeout))
    return [next(it) if p is not None else None for p in parsed]


def convert_file(source: str | Path, language: str, out: str | Path, timeout: float = 10.0) -> tuple[int, int]:
    """Convert every problem of ``source``; problems that cannot be converted are skipped (reported).

    A HumanEval-style source (task ids ``HumanEval/<n>``) gets the Multi-HumanEval layout with tests
    captured by running its ``check`` (:mod:`mbxp.convert_humaneval`); anything else the MBXP layout."""
    from mbxp.convert_humaneval import convert_humaneval_records, is_humaneval

    records = list(read_jsonl(source))
    if is_humaneval([rec for _, rec in records]):
        converted = convert_humaneval_records([rec for _, rec in records], language, timeout)
    else:
        check(language in TARGETS, f"conversion to {language!r} is not implemented (available: {', '.join(TARGETS)})")
        outputs = canonical_outputs([rec for _, rec in records], timeout)
        converted = []
        for (_, rec), outs in zip(records, outputs, strict=True):
            try:
                converted.append(convert(rec, language, run=False, timeout=timeout, outputs=outs))
            except UsageError as e:
                converted.append(str(e))
            except SyntaxError as e:
                converted.append(f"Python syntax error ({e.msg})")
    rows = [r for r in converted if isinstance(r, dict)]
    for (i, _), r in zip(records, converted, strict=True):
        if isinstance(r, str):
            print(f"{source}: line {i}: skipped: {r}", file=sys.stderr)
    check(len(rows) > 0, f"{source}: nothing could be converted")
    tmp = Path(str(out) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    tmp.replace(out)
    return len(rows), len(converted) - len(rows)
