"""``mbxp-bench``: throughput of our engine vs mxeval's execution model, side by side in one run.

mxeval's model: one worker on a 2-core machine (``cpu_count - 1`` threads), every sample executed
(no de-duplication, no cache), no sandbox. Ours: ``--workers`` (default all cores), identical programs
run once, every program sandboxed. Samples: a seeded subset of the released example samples per
language, each repeated ``--repeat`` times (as when n samples per task contain duplicates, common at
low temperature). Reported: programs per second of each setting and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mbxp.data import read_jsonl, read_problems
from mbxp.evaluate import EvalConfig, evaluate
from mbxp.languages import toolchain_problem
from mbxp.reproduce import EXAMPLES
from orals23_shared.cli import UsageError
from orals23_shared.paths import shared_data_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbxp-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--languages", default="python,javascript,php,ruby,java,cpp", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument("--n", type=int, default=24, help="distinct samples per language (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=2, help="copies of each sample (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="our workers (0: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="mbxp data folder (default: shared data)")
    parser.add_argument("--out", type=Path, default=None, help="write bench.json here")
    ns = parser.parse_args(argv)
    root = ns.data or shared_data_dir("mbxp")
    if root is None:
        raise UsageError("mbxp data not found: pass --data DIR")
    root = Path(root)
    workers = ns.workers or os.cpu_count() or 1
    mxeval_workers = max(1, (os.cpu_count() or 2) - 1)
    report = {}
    for lang in ns.languages.split(","):
        if lang not in EXAMPLES:
            raise UsageError(f"unknown language {lang!r}")
        reason = toolchain_problem(lang)
        if reason:
            print(f"{lang}: skipped ({reason})")
            continue
        stem, pfile, _ = EXAMPLES[lang]
        problems = read_problems(next((root / "mbxp").glob(pfile + ".jsonl*")))
        samples = [s for _, s in read_jsonl(root / "mbxp" / "examples" / f"{stem}_samples.jsonl.gz")]
        samples = random.Random(ns.seed).sample(samples, min(ns.n, len(samples))) * ns.repeat
        settings = {
            "mxeval_model": EvalConfig(k=[1], workers=mxeval_workers, dedup=False, quiet=True, isolation="rlimits"),
            "ours_no_dedup": EvalConfig(k=[1], workers=workers, dedup=False, quiet=True),
            "ours": EvalConfig(k=[1], workers=workers, quiet=True),
        }
        row = {}
        for name, cfg in settings.items():
            with tempfile.TemporaryDirectory() as d:
                t = time.monotonic()
                summary = evaluate(samples, problems, d, cfg)
                sec = time.monotonic() - t
            row[name] = {
                "seconds": round(sec, 2),
                "programs_per_s": round(len(samples) / sec, 2),
                "pass@1": summary["pass@k"][lang].get("1"),
                "executed": summary["executed"],
            }
        row["speedup_ours_vs_mxeval_model"] = round(
            row["ours"]["programs_per_s"] / row["mxeval_model"]["programs_per_s"], 2
        )
        row["speedup_from_dedup"] = round(row["ours"]["programs_per_s"] / row["ours_no_dedup"]["programs_per_s"], 2)
        report[lang] = row
        print(
            f"{lang}: mxeval model {row['mxeval_model']['programs_per_s']}/s, ours without dedup "
            f"{row['ours_no_dedup']['programs_per_s']}/s, ours {row['ours']['programs_per_s']}/s "
            f"(x{row['speedup_ours_vs_mxeval_model']} overall, x{row['speedup_from_dedup']} from dedup)"
        )
    if ns.out:
        ns.out.mkdir(parents=True, exist_ok=True)
        (ns.out / "bench.json").write_text(
            json.dumps(
                {
                    "workers": workers,
                    "mxeval_workers": mxeval_workers,
                    "cpu_count": os.cpu_count(),
                    "languages": report,
                },
                indent=1,
            )
        )
    return 0
