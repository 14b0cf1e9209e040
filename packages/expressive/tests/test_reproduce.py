"""Every reproduce claim can fail: wrong models get "not"; an ideal outcome gets "reproduced"."""

from __future__ import annotations

import numpy as np
import torch

from expressive.model import ExpressivE, KGEModel
from expressive.reproduce import _claims, synthetic_experiment, wn18rr_experiment


class Oracle(KGEModel):
    """Scores 1 for every known true triple and 0 otherwise (a perfect ranker, as a strong 'baseline')."""

    name = "oracle"

    def __init__(self, kg) -> None:
        super().__init__(kg.num_entities, kg.num_relations, 1)
        n, r = kg.num_entities, kg.num_relations
        self.table = torch.zeros(2, r, n, n)
        for h, rr, t in kg.all_triples():
            self.table[0, rr, h, t] = 1.0  # tail side: [r, anchor=h, candidate=t]
            self.table[1, rr, t, h] = 1.0  # head side: [r, anchor=t, candidate=h]

    def entity_repr(self, idx=None):
        return torch.arange(self.num_entities)[:, None] if idx is None else idx[..., None]

    def side_repr(self, anchor, r, side):
        return anchor, torch.stack([r, torch.full_like(r, 0 if side == "tail" else 1)], -1)

    def tail_kernel(self, a, rr, cand):
        return self.table[rr[:, 1], rr[:, 0]][torch.arange(len(a)), a][:, cand[:, 0]]

    def score(self, h, r, t):
        h, r, t = torch.broadcast_tensors(h, r, t)
        return self.table[0, r, h, t]


def _degenerate_expressive(kg) -> ExpressivE:
    """Every entity at the same point, every relation the same zero-width parallelogram: all scores tie."""
    model = ExpressivE(kg.num_entities, kg.num_relations, 4)
    with torch.no_grad():
        model.entity.weight.zero_()
        model.relation.weight.zero_()
        model.relation.weight[:, 8:16] = 2.0  # centres tanh(2) = 0.96: far from the entities at 0
    return model


def _wrong_fit(cfg, kg, folder):
    return _degenerate_expressive(kg) if cfg.model == "expressive" else Oracle(kg)


def test_wrong_models_get_not(tmp_path, tiny_kg_dir):
    syn = synthetic_experiment(tmp_path, True, [0, 1, 2], fit=_wrong_fit, num_entities=60)
    wn = wn18rr_experiment(tmp_path, False, 0, fit=_wrong_fit, root=tiny_kg_dir)
    claims = _claims(syn, wn, quick=False)
    assert len(claims) == 7
    for c in claims:
        assert c.verdict == "not", (c.claim, c.ours)
    quick = _claims(syn, wn, quick=True)
    assert quick[-1].verdict == "not run" and quick[-1].reason


def test_ideal_outcome_is_reproduced():
    good = {"hierarchy": {"hits@10": 0.95, "mrr": 0.7}, "composition": {"mrr": 0.3, "hits@10": 0.5}}
    weak = {"hierarchy": {"hits@10": 0.5, "mrr": 0.2}, "composition": {"mrr": 0.05, "hits@10": 0.1}}
    syn = {
        "rows": {"expressive": [good] * 3, "transe": [weak] * 3, "distmult": [weak] * 3, "frequency": [weak] * 3},
        "geometry": [
            {"inside": {"all_coordinates": 0.95, "per_coordinate": 0.99}, "r4_in_r5": 0.9, "best_other_pair": 0.5}
        ]
        * 3,
        "epochs": 1,
    }
    res = {
        m: {"mrr": v, "hits@1": v, "hits@3": v, "hits@10": v}
        for m, v in (("expressive", 0.5), ("transe", 0.2), ("distmult", 0.3))
    }
    wn = {"results": res, "budget": {"dim": 500, "epochs": 1000}, "n_test": 3134}
    claims = _claims(syn, wn, quick=False)
    assert [c.verdict for c in claims] == ["reproduced"] * 7
    assert np.isclose(claims[0].ours, 0.95)
