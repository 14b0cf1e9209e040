"""``mbxp-bench``: our evaluator against a runner that executes as mxeval does, side by side in one run.

The same samples (by default the full released example files for Java, C++, TypeScript and Perl) go
through our evaluator (``--workers``, default the shared thread policy; bubblewrap isolation; strict mode,
which also records mxeval's verdict of each execution) and through :mod:`mbxp.reference` (mxeval's
commands, one process per sample, no isolation, mxeval's default ``cpu_count - 1`` workers). The samples
are split into ``--repeats`` (>= 5) equal chunks, run interleaved (ours then the reference on each chunk,
after an untimed warm-up of both), so that a change of the shared machine's load hits both alike; each
runner's chunk times are reported as ``orals23_shared.bench.Timing`` (median, min, max); throughput is
samples / total seconds, and the ratio is ours over the reference. (CPU seconds per runner are not recorded: ``RUSAGE_CHILDREN`` misses
the sandboxed processes, which our process never waits for, so it undercounted ours by ~100x.) The
verdicts of both are compared sample by sample (ours under mxeval's rules, and strict). ``peak_rss``: our evaluator's own memory on a few samples, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mbxp.data import read_jsonl, read_problems
from mbxp.evaluate import EvalConfig, evaluate
from mbxp.reference import MXEVAL_COMMANDS, mxeval_workers, run_reference
from mbxp.reproduce_common import examples_file, problems_file
from mbxp.toolchains import toolchain_problem
from orals23_shared.bench import Timing, add_bench_args, load_snapshot, peak_rss, write_bench
from orals23_shared.cli import UsageError, check
from orals23_shared.paths import shared_data_dir
from orals23_shared.threads import set_threads

DEFAULT_LANGUAGES = "java,cpp,typescript,perl"


def _ours(samples: list[dict[str, Any]], problems: dict[str, dict[str, Any]], workers: int, timeout: float) -> list:
    with tempfile.TemporaryDirectory(prefix="mbxp-bench-") as d:
        evaluate(samples, problems, d, EvalConfig(k=[1], workers=workers, timeout=timeout, quiet=True))
        return [json.loads(x) for x in (Path(d) / "results.jsonl").read_text().splitlines()]


def evaluator_memory(data: str, language: str, n: int, workers: int) -> int:
    """Run our evaluator on the first ``n`` example samples of ``language`` (for ``peak_rss``)."""
    root = Path(data)
    problems = read_problems(problems_file(root, language))
    samples = [s for _, s in read_jsonl(examples_file(root, language))][:n]
    return len(_ours(samples, problems, workers, 15.0))


def bench_language(
    root: Path, lang: str, n: int, repeats: int, warmup: int, workers: int, ref_workers: int, seed: int, timeout: float
) -> dict[str, Any]:
    """One language: chunk timings of both runners, throughput, ratio and the verdict comparison."""
    problems = read_problems(problems_file(root, lang))
    samples = [s for _, s in read_jsonl(examples_file(root, lang))]
    if n:
        samples = random.Random(seed).sample(samples, min(n, len(samples)))
    check(len(samples) >= repeats, f"{lang}: {len(samples)} samples cannot fill {repeats} chunks")
    chunks = [samples[i::repeats] for i in range(repeats)]
    load_before = load_snapshot()
    warm = samples[: max(1, warmup)]
    fns = {
        "ours": lambda s: _ours(s, problems, workers, timeout),
        "reference": lambda s: run_reference(s, problems, ref_workers, timeout),
    }
    results: dict[str, list[Any]] = {"ours": [], "reference": []}
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for _ in range(warmup):  # untimed: caches, JIT, our self-check and precompiled header
        for fn in fns.values():
            fn(warm)
    # interleaved, chunk by chunk (ours, then mxeval's way, on the same chunk): a change of the machine's
    # load during the run hits both runners alike, so the ratio survives it better than two blocks would
    for chunk in chunks:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results[name].append(fn(chunk))
            times[name].append(time.perf_counter() - t0)
    t_ours, t_ref = (Timing(statistics.median(t), min(t), max(t), len(t)) for t in (times["ours"], times["reference"]))
    spent = {name: sum(t) for name, t in times.items()}
    ours = {(r["task_id"], r["completion"]): r for chunk in results["ours"] for r in chunk}
    ref = [r for chunk in results["reference"] for r in chunk]
    flat = [s for chunk in chunks for s in chunk]
    pairs = [(ours[(s["task_id"], s["completion"])], r) for s, r in zip(flat, ref, strict=True)]
    differ = [
        {
            "task_id": o["task_id"],
            "reference": r["passed"],
            "ours_mxeval_rules": o.get("mxeval_passed"),
            "ours": o["result"],
        }
        for o, r in pairs
        if o.get("mxeval_passed") != r["passed"]
    ]
    rate_ours, rate_ref = len(flat) / spent["ours"], len(flat) / spent["reference"]
    return {
        "language": lang,
        "samples": len(flat),
        "ours": {
            **t_ours.as_dict(),
            "samples_per_s": round(rate_ours, 3),
            "workers": workers,
        },
        "reference": {
            **t_ref.as_dict(),
            "samples_per_s": round(rate_ref, 3),
            "workers": ref_workers,
        },
        "ratio_samples_per_s": round(rate_ours / rate_ref, 3),
        "ratio_median_chunk": round(t_ref.median / t_ours.median, 3),
        "total_s": {"ours": round(spent["ours"], 1), "reference": round(spent["reference"], 1)},
        "pass_rate": {
            "reference": round(100 * sum(r["passed"] for _, r in pairs) / len(pairs), 2),
            "ours_mxeval_rules": round(100 * sum(bool(o.get("mxeval_passed")) for o, _ in pairs) / len(pairs), 2),
            "ours_strict": round(100 * sum(o["passed"] for o, _ in pairs) / len(pairs), 2),
        },
        "agreement_mxeval_rules": round(1 - len(differ) / len(pairs), 4),
        "executor_errors": sum(o["status"] == "error" for o, _ in pairs),
        "load": {"before": load_before, "after": load_snapshot()},
        "disagreements": differ,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbxp-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "mbxp")
    parser.add_argument("--languages", default=DEFAULT_LANGUAGES, help="comma-separated (default: %(default)s)")
    parser.add_argument("--n", type=int, default=0, help="seeded subset per language (0: the full file)")
    parser.add_argument("--workers", type=int, default=0, help="our workers (0: the --threads policy)")
    parser.add_argument(
        "--reference-workers", type=int, default=0, help="the reference's workers (0: mxeval's cpu_count - 1)"
    )
    parser.add_argument("--timeout", type=float, default=15.0, help="run-step timeout, seconds (mxeval CLI: 15)")
    parser.add_argument("--data", type=Path, default=None, help="mbxp data folder (default: shared data)")
    ns = parser.parse_args(argv)
    root = ns.data or shared_data_dir("mbxp")
    if root is None:
        raise UsageError("mbxp data not found: pass --data DIR")
    root = Path(root)
    langs = ns.languages.split(",")
    for lang in langs:
        check(lang in MXEVAL_COMMANDS, f"unknown or unsupported language {lang!r} ({', '.join(MXEVAL_COMMANDS)})")
    check(ns.repeats >= 5, f"--repeats must be >= 5, got {ns.repeats}")
    workers = ns.workers or set_threads(ns.threads)
    ref_workers = ns.reference_workers or mxeval_workers()
    load_before = load_snapshot()
    rows, skipped = [], {}
    for lang in langs:
        reason = toolchain_problem(lang)
        if reason:
            skipped[lang] = reason
            print(f"{lang}: not run ({reason})")
            continue
        row = bench_language(root, lang, ns.n, ns.repeats, ns.warmup, workers, ref_workers, ns.seed, ns.timeout)
        rows.append(row)
        print(
            f"{lang}: {row['samples']} samples; ours {row['ours']['samples_per_s']}/s ({workers} workers, isolated), "
            f"mxeval's way {row['reference']['samples_per_s']}/s ({ref_workers} workers): x{row['ratio_samples_per_s']}; "
            f"verdicts agree {100 * row['agreement_mxeval_rules']:.2f}% (mxeval rules), "
            f"pass@1 ref {row['pass_rate']['reference']} / ours {row['pass_rate']['ours_mxeval_rules']} "
            f"(strict {row['pass_rate']['ours_strict']})"
        )
        # written after every language: a long full-file bench that is stopped keeps what it measured
        write_bench(ns.out, "mbxp", rows, config=vars(ns), load_before=load_before, skipped=skipped, partial=True)
    mem = None
    if rows:
        mem = peak_rss(
            "mbxp.bench:evaluator_memory",
            {"data": str(root), "language": rows[0]["language"], "n": 4, "workers": workers},
        )
    path = write_bench(
        ns.out,
        "mbxp",
        rows,
        config=vars(ns),
        load_before=load_before,
        skipped=skipped,
        evaluator_memory=mem,
        partial=False,
    )
    print(f"bench: {path}")
    return 0
