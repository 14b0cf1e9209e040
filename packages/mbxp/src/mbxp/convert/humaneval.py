"""Multilingual HumanEval: HumanEval's Python problems in the released Multi-HumanEval layouts (paper Sec. 3.1).

The conversion framework of :mod:`mbxp.convert`, applied to HumanEval. HumanEval's tests are Python
code (``def check(candidate):`` with loops, helper variables, ``abs(candidate(x) - y) < 1e-6``), not a
list of ``assert f(args) == value`` statements, so the test cases are **captured by execution**: the
Python ``check`` runs in the sandbox with a recording candidate (:func:`mbxp.convert.runner.capture_checks`)
that calls the canonical solution on deep copies of the arguments and records the arguments, the
output, and the value the output was compared with (the assert's right-hand side). Every call becomes
one test case, so loops are unrolled (HumanEval/53: 5 asserts + 100 random pairs -> 105 cases).

Layouts, read off the released files (``HumanEval_<lang>_v1.1`` / ``_v1``):

* the prompt is the MBXP prompt of the same language (:func:`mbxp.convert.problem.render_problem`: wrapper,
  signature, types from the captured values) with the docstring replaced by HumanEval's own docstring,
  Python-syntax examples included, behind a preamble ("You are an expert Kotlin programmer, and here is
  your task." / "You're an expert Golang programmer");
* v1.1 files (java, javascript, kotlin, perl, php, ruby, scala, swift) re-indent the docstring, write
  "python" as the language's name and "return None" with the language's none value, expect the value
  the output was compared with (0.33), and hold only the calls of the test lines their line-based
  capture understood (:func:`_line_captured`); v1 files (go, typescript, csharp) prefix every
  docstring line (C# renames the function in it), expect the canonical solution's output
  (0.33000000000000007) and hold every call;
* types as in MBXP, except that ints mixed with floats are a type of their own (Java ``Number``), an
  empty list beside full ones makes the element type mixed (v1.1) and None fits any type (v1.1);
* HumanEval/32, /38 and /50, whose tests call helper functions of the prompt, are dropped everywhere,
  and Go drops HumanEval/22 (a list mixing containers and scalars).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

from mbxp.convert.parse import PyProblem, parse_python_problem
from mbxp.convert.problem import render_problem
from mbxp.convert.runner import capture_checks
from mbxp.convert.types import ANY, Type, type_of, unify
from mbxp.languages import LANGUAGES, HumanEvalLayout
from orals23_shared.cli import UsageError, check

__all__ = [
    "HE_TARGETS",
    "CASE_MARKER",
    "Captured",
    "is_humaneval",
    "docstring",
    "humaneval_problems",
    "convert_humaneval",
    "convert_humaneval_records",
]

# language -> released file version, and the text occurring once per test case (to count test cases)
HE_TARGETS = {name: lang.humaneval.version for name, lang in LANGUAGES.items() if lang.humaneval is not None}
CASE_MARKER = {name: lang.humaneval.case_marker for name, lang in LANGUAGES.items() if lang.humaneval is not None}
DROPPED_NOTE = "dropped, as in Multi-HumanEval"
NUMBER = Type("number")
# a captured problem: the problem with every call's inputs and outputs, the values compared with, and
# whether each call's line is one the v1.1 release captured
Captured = tuple[PyProblem, list[Any], list[bool]]


def is_humaneval(records: list[dict[str, Any]]) -> bool:
    """A HumanEval-style source file: its task ids are ``HumanEval/<n>``."""
    return bool(records) and all(str(r.get("task_id", "")).startswith("HumanEval/") for r in records)


def docstring(rec: dict[str, Any]) -> str:
    """The raw source text of the entry point's docstring (escapes such as ``\\n`` kept as written)."""
    m = re.search(r"^\s*def\s+" + re.escape(rec["entry_point"]) + r"\s*\(", rec["prompt"], re.M)
    check(m is not None, f"{rec.get('task_id')}: prompt does not define {rec['entry_point']}")
    q = re.search(r"(\"\"\"|''')(.*?)\1", rec["prompt"][m.end() :], re.S)
    return q.group(2) if q else ""


def _layout(language: str) -> HumanEvalLayout:
    layout = LANGUAGES[language].humaneval
    assert layout is not None, language
    return layout


def _doc_text(rec: dict[str, Any], language: str, name: str) -> str:
    """The docstring as released: v1 files prefix every line, stripped, blank ones included (C# renames
    the function in it); v1.1 files write "python" as the language's name and "return None" with the
    language's none value, and replace each newline plus the 4-space indent by a newline plus the
    prefix (lines indented less keep their text as it is, unprefixed)."""
    raw = docstring(rec)
    layout = _layout(language)
    if layout.version == "v1":
        if language == "csharp":  # a plain text replacement, as released ("of" -> "oF" for HumanEval/106's f)
            raw = raw.replace(rec["entry_point"], name)
        return raw
    text = re.sub(r"\bpython\b", LANGUAGES[language].word, raw.lstrip(), flags=re.I)
    text = re.sub(r"\b([Rr]eturn) None\b", r"\1 " + layout.none_word, text)
    if raw.split("\n")[0].strip() == "":  # a docstring that starts on its own line: "* " as in MBXP
        text = ("# " if layout.doc_prefix == "# " else "* ") + text
    return text


def _prompt(rec: dict[str, Any], language: str, mbxp_prompt: str, name: str) -> str:
    """The MBXP prompt with its docstring block replaced by HumanEval's docstring."""
    layout = _layout(language)
    pattern, opening, preamble = layout.doc_block, layout.doc_open, layout.preamble
    prefix, closing = layout.doc_prefix, layout.doc_close
    text = _doc_text(rec, language, name)
    if layout.version == "v1":
        body = "".join(prefix + line.strip() + "\n" for line in [preamble, *text.split("\n")] if line is not None)
    else:
        body = (prefix + preamble + "\n" if preamble else "") + prefix + text.replace("\n    ", "\n" + prefix) + "\n"
        body = "\n".join(line.rstrip() for line in body.split("\n"))  # no trailing blanks, as released
    m = re.search(pattern, mbxp_prompt, re.S | re.M)
    check(m is not None, f"{rec.get('task_id')}: no docstring block in the {language} layout")
    return mbxp_prompt[: m.start()] + opening + body + closing + mbxp_prompt[m.end() :]


def _helper_calls(rec: dict[str, Any]) -> list[str]:
    """Functions of the prompt, other than the entry point, that the test calls (such tasks are dropped)."""
    defined = {n.name for n in ast.walk(ast.parse(rec["prompt"])) if isinstance(n, ast.FunctionDef)}
    called = {
        n.func.id for n in ast.walk(ast.parse(rec["test"])) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    return sorted((defined & called) - {rec["entry_point"]})


def _line_captured(test: str, line: int | None) -> bool:
    """Whether the v1.1 release captured a call made on this line of the Python test. Its capture is line
    based: a call whose arguments continue on the next line (HumanEval/87) or with more than one space
    before ``==`` (HumanEval/98, /121) yields no test case. Calls from elsewhere (helpers) are kept."""
    if line is None:
        return True
    text = re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"", '""', test.split("\n")[line - 1])  # strings
    if re.search(r"\)\s{2,}==", text):
        return False
    start = text.find("candidate(")
    if start < 0:
        return True
    depth = 0
    for ch in text[start + len("candidate") :]:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if depth == 0:
            return True
    return False


def humaneval_problems(records: list[dict[str, Any]], timeout: float = 10.0) -> list[Captured | str]:
    """Parse and capture a whole HumanEval file in one sandboxed batch: per record the problem with its
    captured cases (``inputs``, ``outputs``), the values the outputs were compared with, and whether
    each case's line is one the v1.1 release captured; or why it cannot be converted."""
    parsed: list[PyProblem | str] = []
    for rec in records:
        try:
            p = parse_python_problem(rec, asserts=False)
            helpers = _helper_calls(rec)
            check(not helpers, f"{p.task_id}: the test calls the prompt's {', '.join(helpers)} ({DROPPED_NOTE})")
            parsed.append(p)
        except (UsageError, SyntaxError) as e:
            parsed.append(str(e))
    ok = [(p, rec["test"]) for p, rec in zip(parsed, records, strict=True) if isinstance(p, PyProblem)]
    captures = iter(capture_checks(ok, timeout))
    out: list[Captured | str] = []
    for p, rec in zip(parsed, records, strict=True):
        if isinstance(p, str):
            out.append(p)
            continue
        cap = next(captures)
        if cap.error or not cap.inputs:
            out.append(f"{p.task_id}: the Python test could not be captured ({cap.error or 'no candidate calls'})")
            continue
        p.inputs, p.outputs = cap.inputs, cap.outputs
        out.append((p, cap.compared, [_line_captured(rec["test"], line) for line in cap.lines]))
    return out


def _containers_among_scalars(v: Any) -> bool:
    """A list such as ``[4, {}, [], 'a']`` (HumanEval/22), which the Go release leaves out."""
    if not isinstance(v, (list, tuple)):
        return False
    nested = [isinstance(x, (list, tuple, dict, set)) for x in v]
    return (any(nested) and not all(nested)) or any(_containers_among_scalars(x) for x in v)


def _none_as_string(v: Any) -> Any:
    """None written as the string "none" (the Scala and Swift releases, like Perl's)."""
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return type(v)(_none_as_string(x) for x in v)
    if isinstance(v, dict):
        return {k: _none_as_string(x) for k, x in v.items()}
    return v


def _empty_is_mixed(t: Type) -> Type:
    return ANY if t.kind == "unknown" else Type(t.kind, tuple(_empty_is_mixed(a) for a in t.args))


def _unify_all(values: Any, language: str) -> Type:
    """The common type of captured values, as released: unlike MBXP, in v1.1 files an empty container seen
    beside full ones makes the element type mixed (``List<Object>`` for a ``List[int]`` parameter that is once
    ``[]``); ints mixed with floats are Java's ``Number``, Kotlin/Go/C#'s mixed type, Scala/Swift's
    ``Double`` with the ints written as ints; v1.1 files let None fit any type, v1 files and Scala count it as mixed."""
    t, has_none = Type("unknown"), False
    mix = NUMBER  # its name per language: mbxp.convert.types.type_name; its values are written as they are
    for v in values:
        if v is None and HE_TARGETS[language] == "v1.1" and language != "scala":
            has_none = True
            continue
        vt = type_of(v, mix)
        t = unify(t, _empty_is_mixed(vt) if HE_TARGETS[language] == "v1.1" else vt, mix)
    if has_none and t.kind not in ("any", "unknown"):
        t = Type("nullable", (t,))  # Java boxes it (Integer), Kotlin writes "Int?"
    return t


def convert_humaneval(
    p: PyProblem, compared: list[Any], line_ok: list[bool], rec: dict[str, Any], language: str
) -> dict[str, Any]:
    """One captured HumanEval problem in the Multi-HumanEval layout of ``language``."""
    check(language in HE_TARGETS, f"{language!r} has no Multi-HumanEval layout (available: {', '.join(HE_TARGETS)})")
    # v1.1 files: only the cases of lines the release captured, and the value the output was compared
    # with; v1 files (Go, TypeScript, C#): every call, and the canonical output
    keep = line_ok if HE_TARGETS[language] == "v1.1" else [True] * len(p.inputs)
    inputs = [x for x, k in zip(p.inputs, keep, strict=True) if k]
    outputs = [x for x, k in zip(p.outputs, keep, strict=True) if k]
    expected = [x for x, k in zip(compared, keep, strict=True) if k] if HE_TARGETS[language] == "v1.1" else outputs
    check(len(inputs) > 0, f"{p.task_id}: no test case left to convert")
    if language == "swift":  # None is typed as the string "none" it is written as (Scala: as mixed)
        inputs, expected = _none_as_string(inputs), _none_as_string(expected)
    params_t = [_unify_all((a[i] for a in inputs if i < len(a)), language) for i in range(len(p.params))]
    ret_t = _unify_all(expected, language)
    none_as_string = _layout(language).none_as_string
    if none_as_string:
        inputs, expected = _none_as_string(inputs), _none_as_string(expected)
    p = dataclasses.replace(p, inputs=inputs, outputs=outputs, expected=expected)
    if language == "go":
        check(
            not any(_containers_among_scalars(a) for args in p.inputs for a in args),
            f"{p.task_id}: a list mixing containers and scalars ({DROPPED_NOTE} for Go)",
        )
    if "_" not in p.name and HE_TARGETS[language] == "v1.1":
        p = dataclasses.replace(p, name=p.name.lower())  # one-word names are lower-cased (digitSum -> digitsum)
    mbxp_prompt, test, entry = render_problem(p, language, params_t, ret_t, ret_from_outputs=False)
    if none_as_string:  # the string None became is written "none", not as a raw string
        test = test.replace(none_as_string, '"none"')
    return {
        "task_id": f"HumanEval_{language}/{p.task_id.split('/')[-1]}",
        "language": language,
        "prompt": _prompt(rec, language, mbxp_prompt, entry),
        "test": test,
        "entry_point": entry,
        "canonical_solution": None,
        "description": "\n".join(line.strip() for line in _doc_text(rec, language, entry).split("\n")).strip(),
    }


def convert_humaneval_records(
    records: list[dict[str, Any]],
    language: str,
    timeout: float = 10.0,
    items: list[Captured | str] | None = None,
) -> list[dict[str, Any] | str]:
    """Every record of a HumanEval file in ``language``: the converted record, or why it was skipped.
    ``items``: the file's :func:`humaneval_problems` when already captured (one capture, many languages)."""
    check(language in HE_TARGETS, f"{language!r} has no Multi-HumanEval layout (available: {', '.join(HE_TARGETS)})")
    if items is None:
        items = humaneval_problems(records, timeout)
    out: list[dict[str, Any] | str] = []
    for rec, item in zip(records, items, strict=True):
        if isinstance(item, str):
            out.append(item)
            continue
        try:
            out.append(convert_humaneval(*item, rec, language))
        except UsageError as e:
            out.append(str(e))
    return out
