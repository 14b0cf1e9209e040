"""Reproduce claims (verdicts from measurements: a wrong model gets "not") and the one speed protocol."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from elph.reproduce import DATASETS, PAPER, claims_from, plan
from elph.speed import _sample, measure_speed
from orals23_shared.reproduce import overall_verdict


def _accuracy(scale: float) -> dict:
    """Per-seed test HR@100 at ``scale`` times the paper's numbers (AA = CN)."""
    out = {}
    for ds in DATASETS:
        p = PAPER[ds]
        out[ds] = {m: [scale * p[m] / 100] * 3 for m in p}
        out[ds]["aa"] = out[ds]["cn"]
    return out


def _speed_row(ratio: float, peak: float = 1000.0) -> dict:
    r = {"buddy": 1.0, "seal": ratio, "ratio": ratio}
    return {
        "preprocess_us_per_link": r,
        "inference_us_per_link": r,
        "end_to_end_us_per_link": r,
        "seal_sample_links": 10,
        "links": 100,
        "memory_mib": {"buddy": {"peak_mib": peak}},
    }


def _measured(good: bool) -> dict:
    acc = _accuracy(1.0)
    structure = {ds: {"buddy": [0.5] * 3, "ra": [0.4] * 3, "cn": [0.3] * 3, "gcn": [0.2] * 3} for ds in DATASETS}
    sketch = {"union_rel_err": 0.03, "(1,1)": {"pearson": 0.9}, "(2,2)": {"pearson": 0.99}}
    if not good:  # a wrong model: BUDDY/ELPH below everything, features ignored, sketches off, slow
        for ds in DATASETS:
            for m in ("buddy", "elph"):
                acc[ds][m] = [0.10] * 3
            structure[ds] = {"buddy": [0.1] * 3, "ra": [0.2] * 3, "cn": [0.2] * 3, "gcn": [0.3] * 3}
        sketch = {"union_rel_err": 0.5, "(1,1)": {"pearson": 0.1}, "(2,2)": {"pearson": 0.2}}
    ratio, peak = (50.0, 1000.0) if good else (0.5, 9000.0)
    return {
        "accuracy": acc,
        "structure": structure,
        "sketch": sketch,
        "speed": [_speed_row(ratio)],
        "scale": [_speed_row(ratio, peak)],
    }


def test_claims_reproduced_for_the_paper_and_not_for_a_wrong_model():
    good = claims_from(_measured(True), {})
    assert [c.verdict for c in good] == ["reproduced"] * len(good) and len(good) == 14
    bad = claims_from(_measured(False), {})
    assert [c.verdict for c in bad] == ["not"] * len(bad)
    assert overall_verdict(bad) == "not"


def test_partly_verdicts_and_not_run_reasons():
    m = _measured(True)
    m["accuracy"]["cora"]["buddy"] = [0.80] * 3  # 8 points below 88: partly; beats GCN by 13.2
    m["accuracy"]["cora"]["gcn"] = [0.75] * 3  # then BUDDY beats GCN by 5 only: partly
    del m["structure"]["citeseer"]
    del m["scale"]
    claims = {c.claim: c for c in claims_from(m, {"scale": "budget", "structure:citeseer:buddy": "quick"})}
    assert claims["cora: BUDDY test HR@100 within 5 points of the paper (partly: 10)"].verdict == "partly"
    assert claims["cora: BUDDY beats GCN by >= 10 points HR@100 (partly: beats it)"].verdict == "partly"
    not_run = [c for c in claims.values() if c.verdict == "not run"]
    assert {c.reason for c in not_run} == {"budget", "quick"} and len(not_run) == 2


def test_quick_plan_is_the_affordable_subset():
    quick = plan("accuracy", quick=True)
    assert set(quick["cora"]) == {"buddy", "gcn", "cn", "aa", "ra"} and quick["cora"]["buddy"]["epochs"] == 20
    assert quick["cora"]["buddy"]["hidden"] == 256 and quick["cora"]["buddy"]["feature_hops"] == 2
    full = plan("accuracy", quick=False)
    assert set(full["citeseer"]) == {"elph", "buddy", "seal", "gcn", "sage", "cn", "aa", "ra"}
    assert all(kw["structure_only"] for ds in plan("structure", False).values() for kw in ds.values())


def test_seal_sample_is_uniform_over_all_splits():
    from elph.data import Graph, _undirected, ring_lattice_edges, split_links

    g = Graph(num_nodes=80, edge_index=_undirected(ring_lattice_edges(80, 6, 0.1, seed=0), 80))
    splits = split_links(g, seed=0)
    every = _sample(splits, 0, np.random.default_rng(0))
    for k, sp in splits.items():
        assert torch.equal(every[k][0], sp.links()[0]) and torch.equal(every[k][1], sp.links()[1])
    s = _sample(splits, 50, np.random.default_rng(1))
    assert sum(len(v[1]) for v in s.values()) == 50
    for k, (links, _) in s.items():
        all_links = {tuple(x) for x in splits[k].links()[0].tolist()}
        assert {tuple(x) for x in links.tolist()} <= all_links
    only = _sample(splits, 20, np.random.default_rng(1), only="test")
    assert list(only) == ["test"] and len(only["test"][1]) == 20


def test_speed_protocol_row_on_a_small_graph():
    row = measure_speed({"kind": "synthetic", "nodes": 200, "edges": 800, "seed": 0}, seal_links=40, memory=False)
    assert row["links"] == 2 * row["edges"] and row["seal_sample_links"] == 40 and row["seal_extrapolated"]
    for phase in ("preprocess", "inference", "end_to_end"):
        r = row[f"{phase}_us_per_link"]
        assert r["buddy"] > 0 and r["seal"] > 0 and r["ratio"] == pytest.approx(r["seal"] / r["buddy"])
    sec = row["seconds"]
    assert sec["buddy_preprocess"]["n"] == 5  # orals23_shared.bench.time_call: median of >= 5
    want = sec["seal_adjacency"]["median"] + row["links"] * sec["seal_sample_extraction"]["median"] / 40
    assert sec["seal_preprocess_extrapolated"] == pytest.approx(want)
    json.dumps(row)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--datasets", "imagenet"], "unknown dataset 'imagenet'"),
        (["--repeats", "2"], "--repeats must be >= 5"),
        (["--datasets", ""], "nothing to measure"),
    ],
)
def test_bench_bad_input_one_line(args, message, capsys):
    from elph.cli import bench_main
    from orals23_shared.cli import run_cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(bench_main, args)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_full_run_reuses_finished_runs_and_resumes_killed_ones(tmp_path, edge_file, monkeypatch):
    import importlib

    from elph.config import TrainConfig

    rep = importlib.import_module("elph.reproduce")
    cfg = TrainConfig(model="buddy", edges=edge_file, epochs=2, hidden=8, quiet=True, out=tmp_path / "r")
    first = rep._cached_train(cfg)
    calls = []
    real = rep.train
    monkeypatch.setattr(rep, "train", lambda c: calls.append(c) or real(c))
    assert rep._cached_train(cfg)["test_hits@100"] == first["test_hits@100"] and not calls  # read back
    (tmp_path / "r" / "summary.json").unlink()  # as if killed after its last checkpoint
    assert rep._cached_train(cfg)["test_hits@100"] == first["test_hits@100"] and calls[-1].resume
    rep._cached_train(dataclasses.replace(cfg, hidden=4))  # another config: the folder is started over
    assert calls[-1].overwrite and json.loads((tmp_path / "r" / "config.json").read_text())["hidden"] == 4
