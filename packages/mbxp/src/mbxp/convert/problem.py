"""Convert one Python problem into the MBXP layout of a language (paper Sec. 3.1, Fig. 1A).

Not released upstream; written from the paper and validated against the released data
(``mbxp-reproduce`` reports the match rate per language). The steps, as in the paper:

1. parse the Python problem (:mod:`mbxp.convert.parse`): entry point, parameter names, description,
   ``assert f(args) == expected`` tests (``candidate`` stands for the entry point in the mxeval files);
2. **infer types by execution** (:mod:`mbxp.convert.runner`): the canonical solution runs on deep copies
   of every test input, in the sandbox; the parameter types come from the test inputs, the return type
   from the expected values and the outputs (the brief's table b1);
3. rename per language convention (:mod:`mbxp.convert.values`: camelCase, PascalCase class, lower-cased
   JS/PHP parameters as in v1.2, snake case kept for Ruby/Perl);
4. render the signature, the docstring with the examples, the wrapper and the tests with the
   language's comparison (:mod:`mbxp.convert.layouts`).
"""

from __future__ import annotations

from typing import Any

from mbxp.convert.layouts import LAYOUTS
from mbxp.convert.parse import PyProblem, parse_python_problem
from mbxp.convert.runner import infer_types
from mbxp.convert.types import UNKNOWN, Type, has_kind, type_of, unify
from mbxp.convert.values import retarget
from mbxp.languages import LANGUAGES, targets
from orals23_shared.cli import check

__all__ = ["convert", "render_problem", "check_target"]


def check_target(language: str) -> None:
    """A one-line error unless ``language`` is a conversion target."""
    available = targets()
    check(language in available, f"conversion to {language!r} is not implemented (available: {', '.join(available)})")


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
    check_target(language)
    p = parse_python_problem(rec)
    params_t, ret_t = infer_types(p, run=run and outputs is None, timeout=timeout)
    if outputs is not None:
        p.outputs = outputs
    num = p.task_id.split("/")[-1]
    prompt, test, entry = render_problem(p, language, params_t, ret_t)
    desc = retarget(p.description, language)
    return {
        "task_id": f"{LANGUAGES[language].prefix}/{num}",
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
    (the Multi-HumanEval layouts in :mod:`mbxp.convert.humaneval` reuse it and replace the docstring)."""
    check(len(params_t) == len(p.params), f"{p.task_id}: parameter count mismatch")
    spec = LANGUAGES[language]
    if spec.types is not None and spec.types.mixed is None:
        for t in (*params_t, ret_t):
            check(
                not has_kind(t, "any") and not has_kind(t, "unknown"),
                f"{p.task_id}: mixed-type values cannot be typed in C++ (dropped, as in MBXP)",
            )
    outs_known = p.outputs and all(o is not None for o in p.outputs)
    if ret_from_outputs and spec.from_outputs and outs_known:
        ret_t = UNKNOWN  # these files type the return by what the canonical solution returned (240.0, not 240)
        for o in p.outputs:
            ret_t = unify(ret_t, type_of(o))
    desc = retarget(p.description, language)
    return LAYOUTS[language](p, desc, params_t, ret_t)
