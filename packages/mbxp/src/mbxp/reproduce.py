"""``mbxp-reproduce``: the paper's released artefacts re-measured with our executors and converter.

Claims checked (README "Results" explains the verdict rules, fixed before measuring):

1. pass@1 of the released example samples per language (mxeval's rules) against the official README
   (Java 85.30, JavaScript 78.67, PHP 72.77, Ruby 58.90 must match exactly in full mode), plus our
   strict score (tests must run to the end; TypeScript's honest figure is 84.40%, brief section c);
2. pass rate of the released canonical solutions of MBXP, Multilingual HumanEval and MathQA-X, per
   language (the paper keeps a generated solution only if it passes, i.e. 100%; the brief's measured
   counts are in the details; sets that ship no canonical solutions are listed in the table);
3. the conversion framework: share of tasks whose converted prompt and test equal the released ones
   (whitespace-normalised), and released canonicals against our tests vs the released tests;
4. the Multi-HumanEval conversion (tests captured by running HumanEval's ``check``): the same match
   rate per language, and the share of tasks whose number of test cases equals the release's.

One strict execution per sample gives both example scores (each result records mxeval's verdict too).
A language that cannot run here (toolchain missing, self-check failed) gives "not run" claims with the
reason, never a 0% or a failed claim; executor errors are left out of the rates and counted.
Quick mode takes seeded random subsets (the example files are ordered passing-first) and judges a
figure reproduced when the published value lies in the 95% Wilson interval of our subset estimate.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mbxp.data import read_jsonl, read_problems
from mbxp.evaluate import EvalConfig, task_order
from mbxp.languages import LANGUAGES
from mbxp.reproduce_common import (
    OTHER_SETS,
    evaluate_rows,
    examples_file,
    problems_file,
    quick_size,
    subset,
    wilson,
)
from mbxp.reproduce_conversion import run_conversion, run_humaneval_conversion
from mbxp.sandbox import IsolationError, allow_weak_isolation, resolve_isolation
from orals23_shared.cli import UsageError
from orals23_shared.paths import shared_data_dir
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.threads import set_threads

TS_STRICT_BRIEF = 84.40  # 817/968: brief section c, swallowed tests counted as failures
# brief section d2, measured with mxeval's commands: (dataset, language) -> (passing, with canonical)
CANONICAL_BRIEF = {
    ("mbxp", "python"): (959, 974),
    ("mbxp", "java"): (863, 874),
    ("mbxp", "javascript"): (797, 938),
    ("mbxp", "typescript"): (866, 967),
    ("mbxp", "php"): (832, 950),
    ("mbxp", "ruby"): (780, 784),
    ("mbxp", "cpp"): (772, 773),
    ("mbxp", "csharp"): (694, 725),
    ("multi-humaneval", "python"): (164, 164),
    ("mathqa-x", "python"): (1863, 1883),  # the 20 failures call scipy.gcd/lcm, gone from SciPy 1.17
}
PARTS = ("examples", "canonical", "conversion", "humaneval-conversion")


def _verdict(ours_k: int, n: int, paper: float, full_set: bool, exact: bool) -> tuple[str, dict[str, Any]]:
    pct = 100 * ours_k / n
    lo, hi = wilson(ours_k, n)
    if full_set:
        if exact:
            v = "reproduced" if round(pct, 2) == round(paper, 2) else ("partly" if abs(pct - paper) <= 1 else "not")
        else:
            v = "reproduced" if abs(pct - paper) <= 1 else ("partly" if abs(pct - paper) <= 5 else "not")
    else:
        v = "reproduced" if lo <= paper <= hi else ("partly" if abs(pct - paper) <= 10 else "not")
    return v, {"n": n, "passed": ours_k, "ci95": [round(lo, 2), round(hi, 2)], "full_set": full_set}


def run_examples(
    root: Path,
    out: Path,
    quick: bool,
    seed: int,
    cfg: EvalConfig,
    claims: list[Claim],
    table: dict[str, Any],
    languages: set[str] | None = None,
) -> None:
    """Claim 1: pass@1 of the released example samples per language (mxeval's rules; strict beside it)."""
    for lang, spec in LANGUAGES.items():
        if spec.examples is None or (languages and lang not in languages):
            continue
        paper = spec.readme_pass1
        name = f"{lang}: pass@1 of the released example samples, mxeval rules (%)"
        samples = [s for _, s in read_jsonl(examples_file(root, lang))]
        sub = subset(samples, quick_size("examples", lang, quick), seed)
        rows, errors, why = evaluate_rows(sub, read_problems(problems_file(root, lang)), out / "examples" / lang, cfg)
        if why:
            claims.append(Claim.not_run(name, paper, reason=why, n=len(sub)))
            if lang == "typescript":
                claims.append(
                    Claim.not_run(
                        "typescript: strict pass@1 counts swallowed tests as failures", TS_STRICT_BRIEF, reason=why
                    )
                )
            table[lang] = {"readme": paper, "not_run": why}
            continue
        strict = sum(r["passed"] for r in rows)
        # one strict run gives both verdicts: each result also carries mxeval's (exit codes only, TypeScript
        # "tsc exit code == 2") for the same execution
        compat = sum(r["mxeval_passed"] for r in rows)
        n = len(rows)
        full = n == len(samples)
        v, det = _verdict(compat, n, paper, full, spec.exact or lang == "typescript")
        swallowed = sorted((r["task_id"] for r in rows if r["mxeval_passed"] and not r["passed"]), key=task_order)
        det.update(
            strict_pct=round(100 * strict / n, 2), passed_only_under_mxeval_rules=swallowed, executor_errors=errors
        )
        claims.append(Claim(name, paper, round(100 * compat / n, 2), v, det))
        table[lang] = {
            "readme": paper,
            "mxeval_rules": round(100 * compat / n, 2),
            "strict": round(100 * strict / n, 2),
            "n": n,
        }
        if lang == "typescript":
            v2, det2 = _verdict(strict, n, TS_STRICT_BRIEF, full, True)
            det2["swallowed"] = swallowed
            name2 = "typescript: strict pass@1 counts swallowed tests as failures (brief: 817/968)"
            claims.append(Claim(name2, TS_STRICT_BRIEF, round(100 * strict / n, 2), v2, det2))


def canonical_files(root: Path) -> list[tuple[str, str, Path]]:
    """(dataset, language, problem file) of every released problem set: MBXP, Multi-HumanEval, MathQA-X."""
    out = [("mbxp", lang, problems_file(root, lang)) for lang, spec in LANGUAGES.items() if spec.release]
    for dataset, folder in OTHER_SETS.items():
        meta = json.loads((root / folder / "metadata.json").read_text())
        for lang, name in meta.items():
            out += [(dataset, lang, p) for p in (root / folder).glob(Path(name).stem + ".jsonl*")]
    return out


def run_canonical_checks(
    root: Path,
    out: Path,
    quick: bool,
    seed: int,
    cfg: EvalConfig,
    claims: list[Claim],
    table: dict[str, Any],
    languages: set[str] | None = None,
) -> None:
    """Claim 2: released canonical solutions against their own tests, per dataset and language (the paper
    keeps a generated solution only if it passes, so the reference is 100%); sets without canonicals are
    listed in the table."""
    for dataset, lang, path in canonical_files(root):
        if languages and lang not in languages:
            continue
        key = lang if dataset == "mbxp" else f"{dataset}:{lang}"
        problems = read_problems(path)
        samples = [
            {"task_id": t, "completion": p["canonical_solution"], "language": lang}
            for t, p in problems.items()
            if isinstance(p.get("canonical_solution"), str)
        ]
        if not samples:
            table.setdefault(key, {})["canonical"] = f"none released ({len(problems)} problems)"
            continue
        prefix = lang if dataset == "mbxp" else f"{dataset} {lang}"
        name = f"{prefix}: released canonical solutions pass their tests (paper: kept only if passing)"
        sub = subset(samples, quick_size("canonical", lang, quick), seed)
        rows, errors, why = evaluate_rows(sub, problems, out / "canonical" / dataset / lang, cfg)
        if why:
            claims.append(Claim.not_run(name, 100.0, reason=why, dataset=dataset, file=path.name))
            table.setdefault(key, {})["canonical"] = f"not run: {why}"
            continue
        # TypeScript's released canonicals are judged by mxeval's rules (tsc exit code 2: the released
        # tests import 'assert' without @types/node), read off the same strict run
        verdict_of = "mxeval_passed" if lang == "typescript" else "passed"
        k, n = sum(r[verdict_of] for r in rows), len(rows)
        pct = 100 * k / n
        v = "reproduced" if pct >= 99 else ("partly" if pct >= 80 else "not")
        brief = CANONICAL_BRIEF.get((dataset, lang))
        det = {
            "dataset": dataset,
            "file": path.name,
            "n": n,
            "passed": k,
            "executor_errors": errors,
            "ci95": [round(x, 2) for x in wilson(k, n)],
            "full_set": n == len(samples),
            "brief_measured": f"{brief[0]}/{brief[1]}" if brief else None,
            "failing": sorted((r["task_id"] for r in rows if not r[verdict_of]), key=task_order)[:40],
        }
        claims.append(Claim(name, 100.0, round(pct, 2), v, det))
        table.setdefault(key, {})["canonical"] = round(pct, 2)


def plot(table: dict[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = [lang for lang in LANGUAGES if "mxeval_rules" in table.get(lang, {})]
    if not langs:
        return None
    x = range(len(langs))
    fig, ax = plt.subplots(figsize=(10, 4))
    w = 0.27
    ax.bar([i - w for i in x], [table[lang]["readme"] for lang in langs], w, label="official README")
    ax.bar(list(x), [table[lang]["mxeval_rules"] for lang in langs], w, label="ours, mxeval rules")
    ax.bar([i + w for i in x], [table[lang]["strict"] for lang in langs], w, label="ours, strict")
    ax.set_xticks(list(x), langs, rotation=30)
    ax.set_ylabel("pass@1 of example samples (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbxp-reproduce", description=__doc__.split("\n\n")[0])
    add_reproduce_args(parser, default_out="reports/mbxp")
    parser.add_argument("--data", type=Path, default=None, help="the mbxp data folder (default: shared data)")
    parser.add_argument("--workers", type=int, default=0, help="parallel programs (0: the --threads policy)")
    parser.add_argument("--timeout", type=float, default=15.0, help="run-step timeout, seconds (default: %(default)s)")
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts to run (default: %(default)s)")
    parser.add_argument(
        "--languages", default=None, help="comma-separated languages to run (default: all); e.g. python,cpp,go"
    )
    parser.add_argument(
        "--allow-weak-isolation", action="store_true", help="allow the weak fallback where bubblewrap does not work"
    )
    ns = parser.parse_args(argv)
    root = ns.data or shared_data_dir("mbxp")
    if root is None or not Path(root).is_dir():
        raise UsageError("mbxp data not found: pass --data DIR (mbxp-download --out DIR fetches it)")
    root = Path(root)
    languages = set(ns.languages.split(",")) if ns.languages else None
    if languages and languages - set(LANGUAGES):
        raise UsageError(f"unknown --languages {sorted(languages - set(LANGUAGES))} (known: {', '.join(LANGUAGES)})")
    parts = set(ns.parts.split(","))
    if parts - set(PARTS):
        raise UsageError(f"unknown --parts {sorted(parts - set(PARTS))} (known: {', '.join(PARTS)})")
    if ns.allow_weak_isolation:
        allow_weak_isolation()
    try:
        isolation = resolve_isolation(None, ns.allow_weak_isolation)
    except IsolationError as e:
        raise UsageError(str(e)) from None
    workers = ns.workers or set_threads(ns.threads)
    cfg = EvalConfig(
        k=[1], workers=workers, timeout=ns.timeout, quiet=True, allow_weak_isolation=ns.allow_weak_isolation
    )
    start = time.monotonic()
    out = Path(ns.out)
    claims: list[Claim] = []
    table: dict[str, Any] = {}
    if "examples" in parts:
        run_examples(root, out, ns.quick, ns.seed, cfg, claims, table, languages)
    if "canonical" in parts:
        run_canonical_checks(root, out, ns.quick, ns.seed, cfg, claims, table, languages)
    if "conversion" in parts:
        run_conversion(root, out, ns.quick, ns.seed, cfg, claims, table, languages)
    if "humaneval-conversion" in parts:
        run_humaneval_conversion(root, claims, table, languages)
    out.mkdir(parents=True, exist_ok=True)
    plots = [p for p in [plot(table, out / "examples_pass_at_1.png")] if p is not None]
    path = write_summary(
        out,
        "mbxp",
        claims,
        time.monotonic() - start,
        plots=plots,
        quick=ns.quick,
        table=table,
        isolation=isolation,
        workers=workers,
    )
    for c in claims:
        print(f"[{c.verdict:>10}] {c.claim}: paper {c.paper}, ours {c.ours}" + (f" ({c.reason})" if c.reason else ""))
    print(f"summary: {path}")
    return 0
