"""Helpers shared by the ``mbxp-reproduce`` parts: data files from the registry, seeded subsets, Wilson
intervals, and one evaluation that returns either the rows that ran or why the language could not run."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from mbxp.evaluate import EvalConfig, evaluate
from mbxp.languages import LANGUAGES
from mbxp.toolchains import toolchain_problem

__all__ = [
    "OTHER_SETS",
    "QUICK_SIZES",
    "evaluate_rows",
    "examples_file",
    "problems_file",
    "quick_size",
    "subset",
    "wilson",
]

# the other released problem sets: dataset -> folder holding metadata.json (language -> file)
OTHER_SETS = {"multi-humaneval": "multilingual_humaneval", "mathqa-x": "multilingual_mathqa"}
# quick-mode subset sizes per part and language cost class (registry ``cost``), for about 3 minutes of one
# thread: an interpreted sample costs ~0.15 s of CPU, a compiled one ~1.5 s (g++, tsc, javac), a JVM
# compiler's ~6 s (kotlinc, scalac); each language's self-check adds two programs. Quick mode runs the
# conversion part's execution check (our tests vs the released ones) not at all: full mode only.
QUICK_SIZES = {
    "examples": {"cheap": 30, "compiled": 6, "slow": 2},
    "canonical": {"cheap": 10, "compiled": 3, "slow": 1},
}


def problems_file(root: Path, language: str) -> Path:
    return next((root / "mbxp").glob(LANGUAGES[language].release + ".jsonl*"))


def examples_file(root: Path, language: str) -> Path:
    return root / "mbxp" / "examples" / f"{LANGUAGES[language].examples}_samples.jsonl.gz"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion, in percent."""
    if n == 0:
        return 0.0, 100.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return 100 * max(0.0, c - h), 100 * min(1.0, c + h)


def subset(items: list, n: int | None, seed: int) -> list:
    if n is None or n >= len(items):
        return items
    return random.Random(seed).sample(items, n)


def quick_size(part: str, language: str, quick: bool) -> int | None:
    """The subset size of ``part`` for ``language`` in quick mode; None: the whole file (full mode)."""
    return QUICK_SIZES[part][LANGUAGES[language].cost] if quick else None


def evaluate_rows(
    samples: list[dict[str, Any]], problems: dict[str, dict[str, Any]], folder: Path, cfg: EvalConfig
) -> tuple[list[dict[str, Any]], int, str | None]:
    """(rows that ran, executor errors, None) or ([], 0, why the language is not run here): a missing
    toolchain, a failed self-check, or every sample an executor error."""
    lang = samples[0]["language"]
    reason = toolchain_problem(lang)
    if reason:
        return [], 0, reason
    summary = evaluate(samples, problems, folder, cfg)
    if lang in summary["not_run"]:
        return [], 0, summary["not_run"][lang]
    rows = [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]
    ran = [r for r in rows if r["status"] != "error"]
    if not ran:
        return [], len(rows), f"{lang}: every sample hit an executor error ({rows[0]['result']})"
    return ran, len(rows) - len(ran), None
