"""Parse a Python problem (mxeval or MBPP record) into what the converter needs (paper Sec. 3.1, step 1)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from orals23_shared.cli import UsageError, check

__all__ = ["PyProblem", "parse_python_problem", "source_of"]


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


def source_of(p: PyProblem) -> str:
    """The Python source that defines the entry point: prompt + canonical solution (MBPP: the code)."""
    return (p.prompt + (p.canonical or "")) if p.prompt else (p.canonical or "")
