"""Every reproduce claim: the right model gets 'reproduced', a wrong one 'not' (verdicts from measurements)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from orals23_shared.reproduce import load_summary
from relreps.build import TrainConfig, build_model
from relreps.data import SampleData, load_digits
from relreps.metrics import mean_cosine
from relreps.projection import relative_projection
from relreps.reproduce import (
    _invariance,
    claim_absolute_stitching,
    claim_cross_domain,
    claim_equal_accuracy,
    claim_invariance,
    claim_reconstruction,
    claim_similarity,
    claim_stitching,
)
from relreps.stitching import score, stitch_outputs
from relreps.train import fit_model


@pytest.fixture(scope="module")
def frozen():
    """Digits pixels (A) and a rotated, rescaled copy (B) as frozen encoders; heads trained on A only."""
    d = load_digits()
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 64)))
    table_a = d.x.numpy()
    table_b = (2.0 * table_a @ q).astype(np.float32)

    def space(table):
        return SampleData(torch.arange(len(table)), d.y, d.split, "e", "embeddings", 10, table)

    cfg = TrainConfig(
        dataset="embeddings", data="a.npy", labels="y.npy", anchors=64, epochs=5, batch_size=64, lr=1e-2, quiet=True
    )
    a, b = space(table_a), space(table_b)
    ids = np.sort(np.random.default_rng(1).choice(d.split.train, 64, replace=False))
    torch.manual_seed(0)
    rel_a = fit_model(cfg, build_model(cfg, a, ids), a)
    acfg = TrainConfig(**{**cfg.__dict__, "head": "absolute"})
    abs_a = fit_model(acfg, build_model(acfg, a, None), a)
    return {"a": a, "b": b, "ids": ids, "rel_a": rel_a, "abs_a": abs_a, "cfg": cfg, "acfg": acfg}


def _encoder_only(cfg, data, ids):
    return build_model(cfg, data, ids)  # frozen lookup encoder: nothing to train for stitching


def test_stitching_claim_right_and_wrong_anchors(frozen):
    f = frozen
    native = score(stitch_outputs(f["rel_a"], f["rel_a"], f["a"]), f["a"])
    right = _encoder_only(f["cfg"], f["b"], f["ids"])
    wrong = _encoder_only(f["cfg"], f["b"], np.random.default_rng(2).permutation(f["ids"]))  # anchor i <-> other sample
    good = score(stitch_outputs(f["rel_a"], right, f["b"]), f["b"])
    bad = score(stitch_outputs(f["rel_a"], wrong, f["b"]), f["b"])
    assert native > 0.8
    assert claim_stitching("t", native, good).verdict == "reproduced"
    assert claim_stitching("t", native, bad).verdict == "not"


def test_absolute_stitching_claim(frozen):
    f = frozen
    other = _encoder_only(f["acfg"], f["b"], None)
    rotated = score(stitch_outputs(f["abs_a"], other, f["b"]), f["b"])
    same = score(stitch_outputs(f["abs_a"], _encoder_only(f["acfg"], f["a"], None), f["a"]), f["a"])
    assert claim_absolute_stitching("t", rotated, 0.1).verdict in ("reproduced", "partly")
    assert claim_absolute_stitching("t", same, 0.1).verdict == "not"  # a space that is not different stitches fine


def test_similarity_claim_right_and_wrong_anchors(frozen):
    f = frozen
    a, b = torch.as_tensor(f["a"].table), torch.as_tensor(f["b"].table)
    ids = torch.as_tensor(f["ids"])
    rel = mean_cosine(relative_projection(a, a[ids]), relative_projection(b, b[ids]))
    noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(0))  # an encoder that ignores its input
    wrong = mean_cosine(relative_projection(a, a[ids]), relative_projection(noise, noise[ids]))
    absolute = mean_cosine(a, b)
    assert claim_similarity("t", rel, absolute).verdict == "reproduced"
    assert claim_similarity("t", wrong, absolute).verdict == "not"
    assert claim_similarity("t", rel, absolute, None).verdict == "reproduced"
    assert claim_similarity("t", 0.3, 0.2, None).verdict == "not"


def test_equal_accuracy_claim_untrained_model_fails(frozen):
    f = frozen
    trained = score(stitch_outputs(f["rel_a"], f["rel_a"], f["a"]), f["a"])
    absolute = score(stitch_outputs(f["abs_a"], f["abs_a"], f["a"]), f["a"])
    torch.manual_seed(3)
    untrained = build_model(f["cfg"], f["a"], f["ids"])
    bad = score(stitch_outputs(untrained, untrained, f["a"]), f["a"])
    assert claim_equal_accuracy("t", absolute, absolute).verdict == "reproduced"
    assert claim_equal_accuracy("t", bad, absolute).verdict == "not"
    assert trained > bad + 0.3


def test_invariance_claim_rotation_passes_translation_fails(frozen):
    f = frozen
    max_diff, abs_cos = _invariance(f["rel_a"], f["a"], seed=0)
    assert claim_invariance(max_diff, abs_cos).verdict == "reproduced"
    z = torch.as_tensor(f["a"].table[:200])
    anchors = z[:20]
    shifted = float((relative_projection(z, anchors) - relative_projection(z + 1.0, anchors + 1.0)).abs().max())
    assert claim_invariance(shifted, abs_cos).verdict == "not"


def test_reconstruction_and_cross_domain_claims_from_numbers():
    assert claim_reconstruction(0.008, 0.012, 0.006, 0.19).verdict == "reproduced"
    assert claim_reconstruction(0.008, 0.02, 0.006, 0.19).verdict == "partly"
    assert claim_reconstruction(0.008, 0.30, 0.006, 0.19).verdict == "not"  # relative as bad as absolute
    assert claim_cross_domain(0.97, 0.94, 0.09).verdict == "reproduced"
    assert claim_cross_domain(0.97, 0.12, 0.09).verdict == "not"  # non-parallel anchors: chance


@pytest.mark.slow
def test_quick_reproduce_writes_a_valid_summary(tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-c", "from relreps.reproduce import entry; entry()", "--quick",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = load_summary(out / "summary.json")
    assert len(summary["claims"]) >= 9 and all((out / p).is_file() for p in summary["plots"])
    assert summary["plots"][0] == "stitching.png"
    json.dumps(summary)
