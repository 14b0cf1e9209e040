"""MBXP / Multilingual HumanEval (Athiwaratkun et al., ICLR 2023): conversion framework, sandboxed
multi-language execution and pass@k.

    from mbxp import read_problems, read_samples, evaluate, EvalConfig
    problems = read_problems("mbjp_release_v1.2.jsonl.gz")
    summary = evaluate(read_samples("samples.jsonl", problems), problems, "out/")
"""

from mbxp.convert import convert_file, convert_humaneval_records
from mbxp.data import read_jsonl, read_problems, read_samples
from mbxp.evaluate import EvalConfig, evaluate
from mbxp.execution import ExecConfig, check_program
from mbxp.generate import GenerateConfig, finish_completion, generate
from mbxp.languages import LANGUAGES
from mbxp.passk import estimate_pass_at_k, pass_at_k
from mbxp.sandbox import Limits, Sandbox, isolation_available
from mbxp.toolchains import toolchain_problem

__all__ = [
    "convert_file",
    "convert_humaneval_records",
    "read_jsonl",
    "read_problems",
    "read_samples",
    "EvalConfig",
    "evaluate",
    "ExecConfig",
    "check_program",
    "GenerateConfig",
    "finish_completion",
    "generate",
    "LANGUAGES",
    "toolchain_problem",
    "estimate_pass_at_k",
    "pass_at_k",
    "Limits",
    "Sandbox",
    "isolation_available",
]
