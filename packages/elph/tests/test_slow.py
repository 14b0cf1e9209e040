"""Long checks (``-m slow``): the quick reproduction and the bench on the shared data."""

from __future__ import annotations

import json

import pytest

from orals23_shared.paths import require_shared_data
from orals23_shared.reproduce import load_summary


@pytest.mark.slow
def test_reproduce_quick_writes_summary(tmp_path):
    require_shared_data("cora")
    require_shared_data("citeseer")
    from elph.reproduce import reproduce

    path = reproduce(tmp_path, quick=True, quiet=True)
    data = load_summary(path)
    assert data["package"] == "elph" and len(data["claims"]) == 14
    not_run = [c for c in data["claims"] if c["verdict"] == "not run"]
    assert all("--quick budget" in c["reason"] for c in not_run) and len(not_run) == 6
    assert data["plots"][0] == "hits100.png" and (tmp_path / "hits100.png").is_file()


@pytest.mark.slow
def test_bench_runs(tmp_path, capsys):
    require_shared_data("cora")
    from elph.bench import bench_main

    assert (
        bench_main(["--datasets", "cora", "--seal-links", "100", "--no-memory", "--out", str(tmp_path), "--quiet"]) == 0
    )
    rec = json.loads((tmp_path / "bench.json").read_text())
    row = rec["rows"][0]
    assert rec["package"] == "elph" and row["dataset"] == "cora" and row["seal_sample_links"] == 100
    assert row["preprocess_us_per_link"]["ratio"] > 0 and rec["load_before"]["cores"] >= 1
