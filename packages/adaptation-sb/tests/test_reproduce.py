"""Reproduce verdicts follow from measurements: a right table gets "reproduced", a wrong model "not", per claim;
the quick pipeline runs end to end on a tiny plan and writes the shared summary format."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from adaptation_sb.reproduce import FULL, QUICK, VARIANTS, dominoes_claims, run_dominoes
from orals23_shared.reproduce import load_summary


def _report(test, rand, ece, corr=0.8, auroc=0.8, shift=0.0, dist=0.1):
    return {
        "test": {"acc": test, "ece_15": 0.05, "rms_calib": 0.05},
        "test_random": {"acc": rand + shift, "ece_15": ece - shift, "rms_calib": ece},
        "corruption": {"acc": corr},
        "anomaly": {"mean_auroc": auroc},
        "distortion": {"test": {"relative": dist}, "test_random": {"relative": dist + shift}},
    }


def _table(**over):
    """What the paper reports, as 3 seeds: LP+FT best OOD and safer; the probes better still."""
    base = {
        "lp": [_report(0.9, 0.35, 0.5, s * 0.01) for s in range(3)],
        "ft": [_report(0.92, 0.2, 0.6, 0.7, 0.7, s * 0.01, dist=0.3) for s in range(3)],
        "lp+ft": [_report(0.93, 0.4, 0.5, 0.85, 0.9, s * 0.01) for s in range(3)],
        **{f"{v}+ft": [_report(0.93, 0.45, 0.45, 0.85, 0.9, s * 0.01) for s in range(3)] for v in VARIANTS},
    }
    base.update(over)
    return base


def test_paper_like_table_is_reproduced():
    assert [c.verdict for c in dominoes_claims(_table())] == ["reproduced"] * 6


def test_a_wrong_model_gets_not_for_every_dominoes_claim():
    # a model without simplicity bias (random-bar accuracy = ID accuracy), LP+FT worse than FT out of distribution
    # and on safety, distorting the features more than FT, and "mitigating" probes that are plain LP (identical to
    # LP+FT)
    no_sb = [_report(0.9, 0.9, 0.05) for _ in range(3)]
    lpft = [_report(0.9, 0.9, 0.05, 0.6, 0.6, dist=0.4) for _ in range(3)]
    wrong = {"lp": no_sb, "ft": [_report(0.9, 0.95, 0.05, 0.9, 0.95) for _ in range(3)], "lp+ft": lpft}
    wrong.update({f"{v}+ft": copy.deepcopy(lpft) for v in VARIANTS})
    assert [c.verdict for c in dominoes_claims(wrong)] == ["not"] * 6


def test_one_lucky_seed_is_not_an_improvement():
    t = _table()
    for v in VARIANTS:  # better on the mean thanks to one seed, worse in the two others
        t[f"{v}+ft"] = [_report(0.93, r, 0.5) for r in (0.9, 0.39, 0.39)]
    acc_claim = dominoes_claims(t)[4]
    assert "accuracy over LP+FT" in acc_claim.claim and acc_claim.verdict == "not"


def test_distortion_claim_needs_every_seed():
    t = _table()
    t["lp+ft"][0] = _report(0.93, 0.4, 0.5, 0.85, 0.9, dist=0.5)  # one seed where LP+FT distorts more than FT
    claim = dominoes_claims(t)[2]
    assert "changes the pretrained features less" in claim.claim and claim.verdict == "partly"


@pytest.mark.slow
def test_dominoes_pipeline_smoke_on_a_tiny_plan():
    plan = replace(FULL, seeds=1, pretrain_epochs=1, ft_epochs=1, probe_epochs=2, soup_heads=4)
    table = run_dominoes(plan, seed=0, log=lambda *_: None)
    assert set(table) == {"lp", "ft", "lp+ft", "vat+ft", "udp+ft", "soup+ft"}
    assert all(len(rows) == 1 and 0 <= rows[0]["test_random"]["acc"] <= 1 for rows in table.values())


@pytest.mark.slow
def test_quick_reproduce_writes_the_shared_summary(tmp_path):
    from adaptation_sb.reproduce import main

    assert main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    data = load_summary(tmp_path / "summary.json")
    assert data["package"] == "adaptation-sb" and len(data["claims"]) == 8
    assert data["plots"][0] == "dominoes.png" and (tmp_path / "dominoes.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())["plan"]["seeds"] == QUICK.seeds
