"""Convert a whole file of Python problems (``mbxp-convert``): MBXP layouts for MBPP-style sources, the
Multi-HumanEval layouts for HumanEval sources (task ids ``HumanEval/<n>``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mbxp.convert.humaneval import Captured, convert_humaneval_records, is_humaneval
from mbxp.convert.problem import check_target, convert
from mbxp.convert.runner import canonical_outputs
from mbxp.data import read_jsonl
from orals23_shared.cli import UsageError, check

__all__ = ["convert_records", "convert_file"]


def convert_records(
    records: list[dict[str, Any]],
    language: str,
    timeout: float = 10.0,
    outputs: list[list[Any] | None] | None = None,
    items: list[Captured | str] | None = None,
) -> list[dict[str, Any] | str]:
    """Every record in ``language``: the converted record, or why it was skipped. ``outputs`` (MBXP: the
    canonical outputs of :func:`canonical_outputs`) and ``items`` (HumanEval: the captured checks) let one
    sandboxed run of the Python side serve many languages."""
    if is_humaneval(records):
        return convert_humaneval_records(records, language, timeout, items=items)
    check_target(language)
    if outputs is None:
        outputs = canonical_outputs(records, timeout)
    converted: list[dict[str, Any] | str] = []
    for rec, outs in zip(records, outputs, strict=True):
        try:
            converted.append(convert(rec, language, run=False, timeout=timeout, outputs=outs))
        except UsageError as e:
            converted.append(str(e))
        except SyntaxError as e:
            converted.append(f"Python syntax error ({e.msg})")
    return converted


def convert_file(
    source: str | os.PathLike, language: str, out: str | os.PathLike, timeout: float = 10.0
) -> tuple[int, int]:
    """Convert every problem of ``source`` into ``out`` (written atomically); problems that cannot be
    converted are skipped and reported on stderr with their line. Returns (converted, skipped)."""
    numbered = list(read_jsonl(source))
    converted = convert_records([rec for _, rec in numbered], language, timeout)
    rows = [r for r in converted if isinstance(r, dict)]
    for (i, _), r in zip(numbered, converted, strict=True):
        if isinstance(r, str):
            print(f"{source}: line {i}: skipped: {r}", file=sys.stderr)
    check(len(rows) > 0, f"{source}: nothing could be converted")
    tmp = Path(str(out) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    tmp.replace(out)
    return len(rows), len(converted) - len(rows)
