"""The conversion framework: Python problems -> prompt and tests in another language (paper Sec. 3.1, Fig. 1A).

Split by concern: :mod:`~mbxp.convert.parse` (the Python problem), :mod:`~mbxp.convert.runner` (the
sandboxed Python runs: canonical outputs, captured HumanEval checks), :mod:`~mbxp.convert.types` (value
types and their names), :mod:`~mbxp.convert.values` (names and literals), :mod:`~mbxp.convert.layouts` /
:mod:`~mbxp.convert.layouts_v1` (one layout per language), :mod:`~mbxp.convert.problem` (MBXP),
:mod:`~mbxp.convert.humaneval` (Multi-HumanEval) and :mod:`~mbxp.convert.files` (whole files). The
per-language facts come from the one registry, :mod:`mbxp.languages`.
"""

from mbxp.convert.files import convert_file, convert_records
from mbxp.convert.humaneval import convert_humaneval, convert_humaneval_records, humaneval_problems, is_humaneval
from mbxp.convert.parse import PyProblem, parse_python_problem
from mbxp.convert.problem import convert, render_problem
from mbxp.convert.runner import Capture, canonical_outputs, capture_checks, infer_types, run_canonicals
from mbxp.convert.types import ANY, BOOL, FLOAT, INT, STR, UNKNOWN, Type, type_name, type_of, unify
from mbxp.convert.values import camel, pascal, render

__all__ = [
    "ANY",
    "BOOL",
    "FLOAT",
    "INT",
    "STR",
    "UNKNOWN",
    "Capture",
    "PyProblem",
    "Type",
    "camel",
    "canonical_outputs",
    "capture_checks",
    "convert",
    "convert_file",
    "convert_humaneval",
    "convert_humaneval_records",
    "convert_records",
    "humaneval_problems",
    "infer_types",
    "is_humaneval",
    "parse_python_problem",
    "pascal",
    "render",
    "render_problem",
    "run_canonicals",
    "type_name",
    "type_of",
    "unify",
]
