"""Every reproduce claim says "not" for a wrong model or a wrong distance (and passes for the right one)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import gd_wl.reproduce as rep
import gd_wl.wl as wl
from gd_wl.data import synthetic_dataset
from gd_wl.distances import precompute, shortest_path_distance
from gd_wl.model import GraphModel, ModelConfig
from gd_wl.tasks import evaluate


def verdicts(claims):
    return [c.verdict for c in claims]


def test_wl_claims_hold_and_fail_with_a_blind_distance(monkeypatch):
    assert verdicts(rep.wl_claims(rep.wl_table())) == ["reproduced"] * 3
    real = wl.pair_codes

    def adjacency_only(graph, kind):  # "distance" that only says edge / no edge: GD-WL collapses to 1-WL
        codes = real(graph, "spd")
        codes.small = (codes.small == 1).astype(codes.small.dtype)
        return codes

    monkeypatch.setattr(wl, "pair_codes", adjacency_only)
    got = verdicts(rep.wl_claims(rep.wl_table()))
    assert got[1:] == ["not", "not"]


def test_rd_identity_claims_hold_and_fail_with_spd_in_place_of_rd(monkeypatch):
    assert verdicts(rep.rd_identity_claims(rep.rd_identities(n_graphs=20))) == ["reproduced"] * 2
    monkeypatch.setattr(rep, "resistance_distance", shortest_path_distance)
    assert verdicts(rep.rd_identity_claims(rep.rd_identities(n_graphs=20))) == ["not", "not"]


class Oracle(torch.nn.Module):
    """Reads the labels: a perfect (cheating) detector."""

    def forward(self, batch):
        return {"node": F.one_hot(batch.y_cut, 2).float(), "edge": F.one_hot(batch.y_bridge, 2).float()}


def results_for(model, test):
    return [{**{f"test_{k}": v for k, v in evaluate(model, test, "biconnectivity").items()},
             "pairs": rep.pair_accuracy(model)}]  # fmt: skip


def test_learned_claims_fail_for_untrained_models_and_pass_for_the_right_ones():
    test = precompute(synthetic_dataset(40, 7))
    torch.manual_seed(0)
    untrained = {k: GraphModel(ModelConfig(kind=k, hidden=16, ffn=16, kernels=8, layers=2), node_out=2, edge_out=2)
                 for k in rep.MODELS}  # fmt: skip
    bad = {k: results_for(m, test) for k, m in untrained.items()}
    claims = rep.learned_claims(bad)
    by = {c.claim.split(":")[0]: c.verdict for c in claims}
    assert by["Graphormer-GD detects cut vertices"] == "not" and by["Graphormer-GD detects bridges"] == "not"
    assert [c.verdict for c in claims if c.claim.startswith("Graphormer-GD solves every")] == ["not"]
    assert [c.verdict for c in claims if c.claim.startswith("SPD-only")] == ["not"]
    oracle = results_for(Oracle(), test)
    good = {"graphormer-gd": oracle, "graphormer-gd-spd": oracle, "graphormer": bad["graphormer"], "gin": bad["gin"]}
    by = {c.claim.split(":")[0]: c.verdict for c in rep.learned_claims(good)}
    assert by["Graphormer-GD detects cut vertices"] == by["Graphormer-GD detects bridges"] == "reproduced"
    # a "baseline" that is as good as the oracle breaks the baseline claims
    cheat = {**good, "gin": oracle, "graphormer": oracle}
    lower = [
        c.verdict for c in rep.learned_claims(cheat) if "clearly lower" in c.claim or c.claim.startswith("GIN solves")
    ]
    assert lower == ["not", "not", "not"]


def test_a_1wl_bounded_model_solves_no_counterexample_pair():
    torch.manual_seed(0)
    gin = GraphModel(ModelConfig(kind="gin", hidden=16, layers=3), node_out=2, edge_out=2)
    for p in gin.parameters():
        p.data.normal_(0, 0.5)
    pairs = rep.pair_accuracy(gin)
    assert pairs["cut"] == 0 and pairs["bridge"] == 0 and pairs["cut_pairs"] == 6 and pairs["bridge_pairs"] == 4
    assert rep.pair_accuracy(Oracle())["cut"] == 6
    assert np.isclose(sum(rep.pair_accuracy(Oracle())[k] for k in ("cut", "bridge")), 10)
