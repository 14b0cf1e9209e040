"""Command-line entry points: mbxp-evaluate, -validate, -convert, -generate, -reproduce, -bench, -download.

Bad input (unknown task ids or languages, malformed JSONL with its line number, problems without
tests, a missing toolchain, an isolation that cannot be had) is a ``UsageError``: one line on stderr,
exit code 2, and nothing written to the output folder. Run folders follow the shared policy
(``orals23_shared.runfolder``): a used ``--out`` is refused unless ``--resume`` or ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from mbxp.data import read_problems, read_samples
from mbxp.evaluate import EvalConfig, check_languages, evaluate
from mbxp.languages import LANGUAGES
from mbxp.sandbox import IsolationError, allow_weak_isolation, resolve_isolation
from orals23_shared.cli import UsageError, add_dataclass_args, check, config_from_args, run_cli
from orals23_shared.runfolder import FREE_FIELDS, prepare_run_dir

__all__ = ["evaluate_main", "validate_main", "convert_main", "generate_main", "reproduce_main", "bench_main"]


def _ks(cfg_k: list[int]) -> list[int]:
    check(all(k >= 1 for k in cfg_k), f"--k values must be >= 1, got {cfg_k}")
    return cfg_k


_FREE = FREE_FIELDS | {"workers", "k", "cache", "dedup", "allow_weak_isolation"}


def _prepare(out: Path, cfg: EvalConfig, extra: dict[str, str], languages: set[str]) -> None:
    """Refuse bad input before anything is written: languages, toolchains, isolation; then the run folder."""
    check_languages(languages)
    try:
        resolve_isolation(cfg.isolation, cfg.allow_weak_isolation)
    except IsolationError as e:
        raise UsageError(str(e)) from None
    prepare_run_dir(out, {**extra, **asdict(cfg)}, resume=cfg.resume, overwrite=cfg.overwrite, free=_FREE)


def _print_summary(summary: dict) -> None:
    mx = summary.get("pass@k (mxeval rules)", {})
    for lang, info in summary["languages"].items():
        if lang in summary.get("not_run", {}):
            continue
        table = summary["pass@k"].get(lang, {})
        line = f"{lang}: " + (", ".join(f"pass@{k} = {100 * v:.2f}%" for k, v in table.items()) or "no pass@k")
        if lang in mx:
            line += " (mxeval's rules on the same runs: "
            line += ", ".join(f"pass@{k} = {100 * v:.2f}%" for k, v in mx[lang].items()) + ")"
        line += f"; {info['n_ran']} samples ran, {info['n_errors']} executor errors"
        print(line)
    if summary.get("not_run") and len(summary["not_run"]) == len(summary["languages"]):
        raise UsageError("; ".join(summary["not_run"].values()))


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mbxp-evaluate",
        description="Execute samples {task_id, completion, language} against their problems' tests in a "
        "sandbox; write OUT/results.jsonl and OUT/summary.json (per-language pass@k). A used OUT is refused "
        "unless --resume (reuse its finished results) or --overwrite.",
    )
    parser.add_argument("samples", type=Path, help="samples JSONL (.gz accepted)")
    parser.add_argument("--problems", type=Path, required=True, help="problem file JSONL (.gz accepted)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (a run folder)")
    add_dataclass_args(parser, EvalConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=ns)
    _ks(cfg.k)
    check(cfg.timeout > 0, f"--timeout must be positive, got {cfg.timeout}")
    check(cfg.workers >= 0, f"--workers must be >= 0, got {cfg.workers}")
    problems = read_problems(ns.problems)
    samples = read_samples(ns.samples, problems, languages=LANGUAGES)
    files = {"samples": str(ns.samples.resolve()), "problems": str(ns.problems.resolve())}
    _prepare(ns.out, cfg, files, {s["language"] for s in samples})
    _print_summary(evaluate(samples, problems, ns.out, cfg))
    return 0


def validate_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mbxp-validate",
        description="Run every canonical solution of a problem file against its tests (the dataset's health).",
    )
    parser.add_argument("--problems", type=Path, required=True, help="problem file JSONL (.gz accepted)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temp folder)")
    add_dataclass_args(parser, EvalConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=ns)
    cfg.k = [1]
    problems = read_problems(ns.problems)
    samples = [
        {"task_id": t, "completion": p["canonical_solution"], "language": p["language"]}
        for t, p in problems.items()
        if isinstance(p.get("canonical_solution"), str)
    ]
    check(len(samples) > 0, f"{ns.problems}: no canonical solutions to validate")
    import tempfile

    out = ns.out or Path(tempfile.mkdtemp(prefix="mbxp-validate-"))
    _prepare(out, cfg, {"problems": str(ns.problems.resolve())}, {s["language"] for s in samples})
    summary = evaluate(samples, problems, out, cfg)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    failing = [r for r in rows if not r["passed"]]
    for lang, info in summary["languages"].items():
        if lang in summary["not_run"]:
            print(summary["not_run"][lang])
            continue
        print(
            f"{lang}: {info['n_passed']}/{info['n_ran']} canonical solutions pass "
            f"({len(problems) - len(samples)} problems have none; {info['n_errors']} executor errors)"
        )
    for r in failing[:50]:
        print(f"  {r['task_id']}: {r['result']}")
    if len(failing) > 50:
        print(f"  ... {len(failing) - 50} more in {out / 'results.jsonl'}")
    return 0


def convert_main(argv: Sequence[str] | None = None) -> int:
    from mbxp.convert import convert_file

    parser = argparse.ArgumentParser(
        prog="mbxp-convert",
        description="Convert MBPP/HumanEval-style Python problems (prompt or text, canonical solution, assert "
        "tests) into another language's prompt and tests (the paper's conversion framework). A source whose task "
        "ids are HumanEval/<n> gets the Multi-HumanEval layout, its tests captured by running check(candidate).",
    )
    parser.add_argument("--source", type=Path, required=True, help="Python problems JSONL (.gz accepted)")
    parser.add_argument("--language", required=True, help="target language")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per canonical-solution run (default: %(default)s)"
    )
    parser.add_argument(
        "--allow-weak-isolation",
        action="store_true",
        help="run the canonical solutions with rlimits only where bubblewrap does not work",
    )
    ns = parser.parse_args(argv)
    if ns.allow_weak_isolation:
        allow_weak_isolation()
    n_ok, n_skip = convert_file(ns.source, ns.language, ns.out, timeout=ns.timeout)
    print(f"converted {n_ok} problems to {ns.language} ({n_skip} skipped, see stderr) -> {ns.out}")
    return 0


def generate_main(argv: Sequence[str] | None = None) -> int:
    from mbxp.generate import GenerateConfig, generate

    parser = argparse.ArgumentParser(
        prog="mbxp-generate",
        description="Sample completions for a problem file with a local Hugging Face model or an "
        "OpenAI-compatible endpoint; writes samples JSONL for mbxp-evaluate.",
    )
    parser.add_argument("--problems", type=Path, required=True, help="problem file JSONL (.gz accepted)")
    parser.add_argument("--out", type=Path, required=True, help="output samples JSONL")
    add_dataclass_args(parser, GenerateConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, GenerateConfig, namespace=ns)
    problems = read_problems(ns.problems)
    n = generate(problems, ns.out, cfg)
    print(f"wrote {n} samples to {ns.out}")
    return 0


def reproduce_main(argv: Sequence[str] | None = None) -> int:
    from mbxp.reproduce import main

    return main(argv)


def bench_main(argv: Sequence[str] | None = None) -> int:
    from mbxp.bench import main

    return main(argv)


def download_main(argv: Sequence[str] | None = None) -> int:
    from mbxp.data import RELEASE_FILES, download

    parser = argparse.ArgumentParser(
        prog="mbxp-download",
        description="Download the official MBXP / Multilingual HumanEval / MathQA-X release files "
        "(amazon-science/mxeval, pinned commit) with checksums; files already present are kept.",
    )
    parser.add_argument("--out", type=Path, required=True, help="destination folder")
    parser.add_argument("--files", nargs="*", default=None, help=f"subset of: {', '.join(RELEASE_FILES)}")
    ns = parser.parse_args(argv)
    try:
        got = download(ns.out, ns.files)
    except OSError as e:
        raise UsageError(f"download failed: {e}") from None
    print(f"{len(got)} files in {ns.out}")
    return 0


def evaluate_entry() -> None:
    run_cli(evaluate_main)


def validate_entry() -> None:
    run_cli(validate_main)


def convert_entry() -> None:
    run_cli(convert_main)


def generate_entry() -> None:
    run_cli(generate_main)


def reproduce_entry() -> None:
    run_cli(reproduce_main)


def bench_entry() -> None:
    run_cli(bench_main)


def download_entry() -> None:
    run_cli(download_main)
