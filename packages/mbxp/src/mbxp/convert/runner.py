"""Run Python for the converter, in the sandbox: canonical outputs and captured HumanEval checks (paper Sec. 3.1).

**Type inference by execution** (step 2): the canonical solution runs on deep copies of every test input
(the upstream v1.1 fix for solutions that mutate their inputs); its outputs type the return value of the
TypeScript/Go/C# files. **Capture** (Multi-HumanEval): HumanEval's tests are code, so each ``check(candidate)``
runs with a recording candidate that notes the arguments, the canonical output and the value the output
was compared with. A whole file runs in one sandboxed Python process (a per-problem alarm bounds each
solution), with ``PYTHONHASHSEED=0`` so that set orders, and hence the converted text, are reproducible.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from mbxp.convert.parse import PyProblem, parse_python_problem, source_of
from mbxp.convert.types import UNKNOWN, Type, type_of, unify
from mbxp.sandbox import IsolationError, Limits, Sandbox
from mbxp.toolchains import launch
from orals23_shared.cli import UsageError

__all__ = ["run_canonicals", "run_canonical", "Capture", "capture_checks", "canonical_outputs", "infer_types"]


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
sys.__stdout__.flush()
sys.__stdout__.write("\n" + sys.argv[1] + json.dumps(results) + "\n")
sys.__stdout__.flush()
"""


def _run_batch(specs: list[dict[str, Any]], timeout: float) -> list[Any]:
    """Run the runner script on ``specs`` in one sandboxed Python process (one entry per spec; None where
    the whole process died). The results come back on stdout after a random marker (the sandbox's work
    folder is a private copy); a runner that cannot start is an error, never a file of missing outputs."""
    if not specs:
        return []
    mark = "MBXP-RESULTS-" + secrets.token_hex(8) + ":"
    try:
        with Sandbox() as box:
            box.write("runner.py", _RUNNER)
            box.write("spec.json", json.dumps(specs))
            cmd, binds, env = launch("python", box.isolation, box.as_root)
            limits = Limits(timeout=10 + len(specs) * timeout)
            out = box.run([cmd[0], "runner.py", mark], limits, {"PYTHONHASHSEED": "0", **dict(env)}, binds)
            if not out.started:
                raise UsageError(f"the Python runner could not start in the sandbox: {out.error}")
            text = out.stdout_path.read_text(encoding="utf-8", errors="replace") if out.stdout_path else ""
    except (IsolationError, PermissionError) as e:
        raise UsageError(str(e)) from None
    at = text.rfind("\n" + mark)
    try:
        raw = json.loads(text[at + 1 + len(mark) :]) if at >= 0 else None
    except ValueError:
        raw = None
    return raw if isinstance(raw, list) and len(raw) == len(specs) else [None] * len(specs)


def run_canonicals(problems: list[PyProblem], timeout: float = 10.0) -> list[list[Any] | None]:
    """Outputs of each canonical solution on deep copies of its test inputs (the upstream v1.1 fix).

    One sandboxed Python process runs the whole batch (a per-problem alarm bounds each solution), so
    converting a file costs one interpreter start, not one per task. None: no canonical, or it failed.
    """
    specs = [
        {
            "source": source_of(p),
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
        {"source": source_of(p), "name": p.name, "check": test, "timeout": max(1, math.ceil(timeout))}
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
