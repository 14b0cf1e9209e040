"""Reproduce verdicts: the claims on absolute bars can come out reproduced, partly and not."""

import numpy as np
import pytest

from hyperbolic_rl.diagnostics import delta_hyperbolicity, relative_delta
from hyperbolic_rl.reproduce import build_claims, summarise_run


def _run(final=400.0, edge=0.0, grad_spikes=0, kl_spikes=0, d_tr=0.2, d_init=0.3, nonfinite=0):
    return {
        "final_return": final,
        "nonfinite_updates": nonfinite,
        "nonfinite_metrics": 0,
        "ball_frac_edge": edge,
        "ball_norm_max": 0.99 if edge else 0.3,
        "grad_spikes": grad_spikes,
        "kl_spikes": kl_spikes,
        "grad_norm_max": 1.0,
        "approx_kl_max": 0.01,
        "delta_rel_trained": d_tr,
        "delta_rel_initial": d_init,
    }


def _by(naive, srym, euclid=None):
    return {"euclidean": euclid or [_run(), _run()], "hyperbolic": naive, "srym": srym}


def _verdicts(by):
    return [c.verdict for c in build_claims(by)]


def test_all_claims_reproduced_when_the_bars_are_met():
    by = _by(naive=[_run(edge=0.08, grad_spikes=2), _run(edge=0.06, kl_spikes=1)], srym=[_run(), _run()])
    assert _verdicts(by) == ["reproduced"] * 5


@pytest.mark.parametrize(
    "naive,srym,edge_verdict,spike_verdict",
    [
        # naive agents below the 5% edge bar, S-RYM inside: partly; naive spiky and S-RYM clean
        ([_run(edge=0.01, grad_spikes=1), _run(edge=0.02, grad_spikes=1)], [_run(), _run()], "partly", "reproduced"),
        # naive at the edge but S-RYM too; S-RYM spikes while naive does not
        ([_run(edge=0.2), _run(edge=0.3)], [_run(edge=0.01, grad_spikes=3), _run()], "partly", "not"),
        # nobody at the edge... and S-RYM also at it: edge claim "not"; only one of 3 naive runs spikes
        ([_run(edge=0.0, kl_spikes=1), _run(), _run()], [_run(edge=0.5), _run()], "not", "partly"),
    ],
)
def test_edge_and_spike_claims_can_fail(naive, srym, edge_verdict, spike_verdict):
    verdicts = _verdicts(_by(naive, srym))
    assert verdicts[2] == edge_verdict and verdicts[3] == spike_verdict


def test_return_and_delta_claims_can_fail():
    euclid = [_run(final=400, d_tr=0.4, d_init=0.3), _run(final=400, d_tr=0.4, d_init=0.3)]
    verdicts = _verdicts(_by([_run(edge=0.1)], [_run(final=320), _run(final=320)], euclid))
    assert verdicts[1] == "partly" and verdicts[4] == "not"  # 0.8x Euclidean; delta rose with training
    verdicts = _verdicts(_by([_run(edge=0.1)], [_run(final=100, nonfinite=1)], euclid))
    assert verdicts[0] == "not" and verdicts[1] == "not"


def test_summarise_run_counts_spikes_and_edge_fraction():
    hist = [
        {"grad_norm_max": g, "approx_kl_max": k, "ball_norm_max": 0.5, "ball_frac_edge": f, "feature_norm_max": 1.0}
        for g, k, f in [(1.0, 0.01, 0.0), (1.2, 0.2, 0.1), (50.0, 0.01, 0.2), (0.9, 0.01, 0.1)]
    ]
    s = summarise_run(
        {
            "history": hist,
            "final_return": 1.0,
            "auc": 1.0,
            "nonfinite": 0,
            "seconds": 1,
            "global_step": 4,
            "episodes": [],
        }
    )
    assert s["grad_spikes"] == 1 and s["kl_spikes"] == 1  # 50 > 10 x median 1.1; KL 0.2 > 0.05
    assert s["ball_frac_edge"] == pytest.approx(0.1) and s["ball_frac_edge_max"] == pytest.approx(0.2)


def test_relative_delta_averages_base_points_and_subsamples():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(30, 3))
    res = relative_delta(pts, n=12, seed=5, n_base=3, n_subsamples=4)
    # the same draws by hand: subsets, then base points, delta averaged, relative to each diameter
    rng = np.random.default_rng(5)
    rels = []
    for _ in range(4):
        sub = pts[rng.choice(30, 12, replace=False)]
        d = np.sqrt(((sub[:, None] - sub[None]) ** 2).sum(-1))
        bases = rng.choice(12, 3, replace=False)
        rels.append(2 * np.mean([delta_hyperbolicity(d, int(b)) for b in bases]) / d.max())
    assert res["delta_rel"] == pytest.approx(np.mean(rels)) and res["delta_rel_std"] == pytest.approx(np.std(rels))
