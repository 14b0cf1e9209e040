"""``mbxp-reproduce``, conversion claims: our converter against the released MBXP and Multi-HumanEval files.

* MBXP (paper Sec. 3.1): share of tasks whose converted prompt and test equal the released ones
  (whitespace-normalised), and released canonicals (else the example samples) against our tests vs the
  released tests: equivalent tests give the same verdicts;
* Multi-HumanEval: the same match rate per language (tests captured by running HumanEval's ``check``),
  and the share of tasks whose number of test cases equals the release's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mbxp.convert import canonical_outputs, convert
from mbxp.convert.humaneval import CASE_MARKER, HE_TARGETS, convert_humaneval_records, humaneval_problems
from mbxp.data import read_jsonl, read_problems
from mbxp.evaluate import EvalConfig, task_order
from mbxp.languages import targets
from mbxp.reproduce_common import OTHER_SETS, evaluate_rows, examples_file, problems_file
from orals23_shared.cli import UsageError
from orals23_shared.reproduce import Claim

__all__ = ["same_text", "compare_converted", "run_conversion", "run_humaneval_conversion"]


def same_text(ours: str, released: str) -> bool:
    """Converted text equals the released text, whitespace-normalised (the conversion match rule)."""

    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s).strip()

    return norm(ours) == norm(released)


def compare_converted(ours: dict[str, dict[str, Any]], released: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per released task, whether our converted prompt and test equal the released ones (:func:`same_text`);
    a task we could not convert counts as different."""
    prompt = test = both = 0
    differ = []
    for tid, rel in released.items():
        conv = ours.get(tid)
        a = conv is not None and same_text(conv["prompt"], rel["prompt"])
        b = conv is not None and same_text(conv["test"], rel["test"])
        prompt, test, both = prompt + a, test + b, both + (a and b)
        if not (a and b):
            differ.append(tid)
    return {"prompt_match": prompt, "test_match": test, "both": both, "differ": sorted(differ, key=task_order)}


def _match_verdict(pct: float) -> str:
    return "reproduced" if pct >= 90 else ("partly" if pct >= 50 else "not")


def run_humaneval_conversion(
    root: Path, claims: list[Claim], table: dict[str, Any], languages: set[str] | None = None
) -> None:
    """Multi-HumanEval conversion: HumanEval's Python problems (tests captured by running ``check``) against
    the released files, per language: prompt and test equal (whitespace-normalised), and the number of
    test cases per task equal (the release ships canonical solutions for Python only, so this replaces
    the canonical check). The whole file is cheap (one sandboxed capture, ~2 s), so quick mode runs it all."""
    folder = root / OTHER_SETS["multi-humaneval"]
    records = [rec for _, rec in read_jsonl(folder / "HumanEval.jsonl.gz")]
    items = humaneval_problems(records)
    for lang in HE_TARGETS:
        if languages and lang not in languages:
            continue
        released = read_problems(next(folder.glob(f"HumanEval_{lang}_v*.jsonl*")))
        ours = {
            conv["task_id"]: conv
            for conv in convert_humaneval_records(records, lang, items=items)
            if isinstance(conv, dict)
        }
        n = len(released)
        match = compare_converted(ours, released)
        same_count = ours_cases = rel_cases = 0
        for tid, rel in released.items():
            k_rel = rel["test"].count(CASE_MARKER[lang])
            k = ours[tid]["test"].count(CASE_MARKER[lang]) if tid in ours else 0
            same_count += k == k_rel
            ours_cases, rel_cases = ours_cases + k, rel_cases + k_rel
        pct, pct_count = 100 * match["both"] / n, 100 * same_count / n
        det = {
            "file": f"HumanEval_{lang}_{HE_TARGETS[lang]}",
            "tasks": n,
            "prompt_match": match["prompt_match"],
            "test_match": match["test_match"],
            "converted": len(ours),
            "extra_tasks": sorted(set(ours) - set(released), key=task_order),
            "differ": match["differ"],
        }
        claims.append(
            Claim(
                f"multi-humaneval {lang}: converter output equals the released prompt and test (% of tasks)",
                "released data",
                round(pct, 2),
                _match_verdict(pct),
                det,
            )
        )
        claims.append(
            Claim(
                f"multi-humaneval {lang}: test cases per task equal the release's (% of tasks)",
                "released data",
                round(pct_count, 2),
                _match_verdict(pct_count),
                {"tasks": n, "same_count": same_count, "cases_ours": ours_cases, "cases_released": rel_cases},
            )
        )
        table.setdefault(f"multi-humaneval:{lang}", {}).update(
            conversion_match=round(pct, 2), cases_ours=ours_cases, cases_released=rel_cases
        )


def run_conversion(
    root: Path,
    out: Path,
    quick: bool,
    seed: int,
    cfg: EvalConfig,
    claims: list[Claim],
    table: dict[str, Any],
    languages: set[str] | None = None,
) -> None:
    """MBXP conversion claims (module docstring), one per converted language."""
    python = read_problems(root / "mbxp" / "mbpp_release_v1.jsonl.gz")
    # the canonical solutions' outputs (TypeScript/Go/C# hold them as expected values): one batch
    outputs = dict(zip(python, canonical_outputs(list(python.values())), strict=True))

    for lang in targets():
        if languages and lang not in languages:
            continue
        released = read_problems(problems_file(root, lang))
        sources = {tid: python.get("MBPP/" + tid.split("/")[1]) for tid in released}
        considered = {tid: rel for tid, rel in released.items() if sources[tid] is not None}
        n, failed = len(considered), 0
        ours: dict[str, dict[str, Any]] = {}
        for tid in considered:
            src = sources[tid]
            try:
                ours[tid] = convert(src, lang, run=False, outputs=outputs[src["task_id"]])
            except (UsageError, SyntaxError):
                failed += 1
        match = compare_converted(ours, considered)
        pct = 100 * match["both"] / n
        v = _match_verdict(pct)
        det: dict[str, Any] = {
            "tasks": n,
            "prompt_match": match["prompt_match"],
            "test_match": match["test_match"],
            "not_convertible": failed,
        }
        # released canonicals (else the released example samples: Go, Perl, Scala have no canonicals)
        # against our tests vs the released tests: equivalent tests give the same verdicts
        completions = {t: released[t]["canonical_solution"] for t in ours}
        completions = {t: c for t, c in completions.items() if isinstance(c, str)}
        source = "canonical"
        if not completions:
            completions = {
                s["task_id"]: s["completion"] for _, s in read_jsonl(examples_file(root, lang)) if s["task_id"] in ours
            }
            source = "example samples"
        if quick:
            det["check"] = "full mode only (the quick run's budget)"
        elif completions:
            sub = sorted(completions)
            samples = [{"task_id": t, "completion": completions[t], "language": lang} for t in sub]
            probs_ours = {t: dict(ours[t], task_id=t) for t in sub}
            rows_ours, _, why = evaluate_rows(samples, probs_ours, out / "conversion" / lang / "ours", cfg)
            rows_rel, _, why_rel = evaluate_rows(samples, released, out / "conversion" / lang / "released", cfg)
            if why or why_rel:
                det["check"] = f"not run: {why or why_rel}"
            else:
                det.update(
                    check_with=source,
                    check_tasks=len(sub),
                    check_ran=[len(rows_ours), len(rows_rel)],
                    check_pass_our_tests=sum(r["passed"] for r in rows_ours),
                    check_pass_released_tests=sum(r["passed"] for r in rows_rel),
                )
        claims.append(
            Claim(
                f"{lang}: converter output equals the released prompt and test (% of tasks)",
                "released data",
                round(pct, 2),
                v,
                det,
            )
        )
        table.setdefault(lang, {})["conversion_match"] = round(pct, 2)
