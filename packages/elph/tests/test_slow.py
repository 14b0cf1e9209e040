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
    assert data["package"] == "elph" and len(data["claims"]) == 6
    assert (tmp_path / "hits100.png").is_file()


@pytest.mark.slow
def test_bench_runs(tmp_path):
    require_shared_data("cora")
    from elph.bench import BenchConfig, bench

    res = bench(BenchConfig(datasets=["cora"], repeats=1, max_links=200, out=tmp_path))
    assert res["results"][0]["preprocess_us_per_link"]["ratio"] > 0
    assert json.loads((tmp_path / "bench.json").read_text())["results"][0]["dataset"] == "cora"
