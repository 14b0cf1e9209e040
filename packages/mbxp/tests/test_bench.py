"""The reference runner executes as mxeval does (its verdicts), and mbxp-bench writes the shared bench.json."""

from __future__ import annotations

import json

import pytest

from mbxp.bench import main
from mbxp.reference import run_reference
from orals23_shared.paths import require_shared_data

PROBLEM = {
    "task_id": "T/0",
    "prompt": "def add_one(x):\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    "entry_point": "add_one",
}


def test_reference_runner_gives_mxevals_verdicts():
    samples = [
        {"task_id": "T/0", "language": "python", "completion": c}
        for c in ("    return x + 1\n", "    return x\n", "    import sys\n    sys.exit(0)\n", "    while True: pass\n")
    ]
    got = [r["passed"] for r in run_reference(samples, {"T/0": PROBLEM}, workers=2, timeout=5)]
    assert got == [True, False, True, False]  # mxeval: exit code 0 passes (the early exit too); a timeout fails


def test_bench_runs_both_side_by_side_and_compares_verdicts(tmp_path):
    require_shared_data("mbxp")
    args = ["--languages", "python", "--n", "5", "--repeats", "5", "--warmup", "0", "--out", str(tmp_path)]
    assert main(args) == 0
    bench = json.loads((tmp_path / "bench.json").read_text())
    (row,) = bench["rows"]
    assert row["samples"] == 5 and row["ours"]["n"] == 5 and row["reference"]["n"] == 5
    assert row["agreement_mxeval_rules"] == 1.0 and row["disagreements"] == []
    assert row["ratio_samples_per_s"] == pytest.approx(
        row["ours"]["samples_per_s"] / row["reference"]["samples_per_s"], rel=0.02
    )
    assert bench["evaluator_memory"]["peak_mib"] > 0 and bench["load_before"] is not None
