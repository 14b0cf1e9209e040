"""Similarity metrics against brute-force neighbour lists and hand computations."""

import numpy as np
import pytest
import torch

from relreps.anchors import ParallelAnchors, uniform_anchors
from relreps.metrics import (
    cka_from_grams,
    compare_spaces,
    cosine_topk,
    gram_linear,
    jaccard_at_k,
    linear_cka,
    mean_cosine,
    mrr_at_k,
    rbf_cka,
)


def _cos_neighbours(q, db, k):
    qn = q / np.linalg.norm(q)
    sims = [float(qn @ (r / np.linalg.norm(r))) for r in db]
    return [int(i) for i in np.argsort(sims)[::-1][:k]]


def _brute(a, b, k):
    jac, rr = [], []
    for i in range(len(b)):
        target = set(_cos_neighbours(b[i], b, k))
        retrieved = _cos_neighbours(a[i], b, k)
        jac.append(len(target & set(retrieved)) / len(target | set(retrieved)))
        rr.append(1.0 / (retrieved.index(i) + 1) if i in retrieved else 0.0)
    return float(np.mean(jac)), float(np.mean(rr))


def test_jaccard_and_mrr_match_brute_force_neighbour_lists():
    rng = np.random.default_rng(0)
    b = rng.normal(size=(50, 6))
    a = b + 0.7 * rng.normal(size=(50, 6))
    jac, mrr = _brute(a, b, 5)
    assert jaccard_at_k(a, b, 5) == pytest.approx(jac, abs=1e-12)
    assert mrr_at_k(a, b, 5) == pytest.approx(mrr, abs=1e-12)
    assert 0 < jac < 1 and 0 < mrr < 1
    q = np.array([3, 10, 41])
    assert cosine_topk(a[q], b, 5).tolist() == [_cos_neighbours(a[i], b, 5) for i in q]


def test_identical_spaces_score_one_and_hand_examples():
    x = np.random.default_rng(1).normal(size=(30, 4))
    assert jaccard_at_k(x, x, 5) == 1.0 and mrr_at_k(x, x, 5) == 1.0
    # hand example: 3 points on the unit circle, a_0 is closest to b_1: rank of 0 is 2, so rr = 1/2
    b = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    a = np.array([[0.1, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    assert mrr_at_k(a, b, 2) == pytest.approx((0.5 + 1 + 1) / 3)
    assert mean_cosine(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [2.0, 2.0]])) == pytest.approx(0.5)


def test_linear_cka_feature_and_kernel_forms_agree_and_invariances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(40, 8))
    ref = cka_from_grams(gram_linear(torch.as_tensor(a)), gram_linear(torch.as_tensor(b)))
    assert linear_cka(a, b) == pytest.approx(ref, abs=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert linear_cka(a, 3 * a @ q + 1.0) == pytest.approx(1.0, abs=1e-10)  # orthogonal, scale, shift
    assert linear_cka(a, b) < 0.6


def _numpy_rbf_cka(x, y, threshold=1.0):
    def gram(z):
        dot = z @ z.T
        sq = np.diag(dot)
        d = -2 * dot + sq[:, None] + sq[None, :]
        return np.exp(-d / (2 * threshold**2 * np.median(d)))

    def center(g):
        n = len(g)
        h = np.eye(n) - 1.0 / n
        return h @ g @ h

    kx, ky = center(gram(x)), center(gram(y))
    return float((kx * ky).sum() / (np.linalg.norm(kx) * np.linalg.norm(ky)))


def test_rbf_cka_matches_a_numpy_reference():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(31, 4)), rng.normal(size=(31, 6))  # odd n: numpy's median is the middle value
    assert rbf_cka(x, y) == pytest.approx(_numpy_rbf_cka(x, y), abs=1e-10)


def test_compare_spaces_contract_on_an_isometry_and_on_unrelated_spaces():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(300, 16)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    anchors = ParallelAnchors.same(uniform_anchors(300, 40, seed=0))
    out = compare_spaces(a, (2.5 * a @ q).astype(np.float32), anchors)
    assert set(out) == {"mean_cosine_relative", "mean_cosine_absolute", "jaccard@10", "mrr", "cka_linear"}
    assert out["mean_cosine_relative"] == pytest.approx(1.0, abs=1e-5)
    assert out["jaccard@10"] == 1.0 and out["mrr"] == 1.0 and out["cka_linear"] == pytest.approx(1.0, abs=1e-5)
    assert abs(out["mean_cosine_absolute"]) < 0.3
    other = compare_spaces(a, rng.normal(size=(300, 8)).astype(np.float32), anchors, extended=True)
    assert other["mean_cosine_absolute"] is None and other["jaccard@10_absolute"] is None
    assert other["jaccard@10"] < 0.2 and other["mean_cosine_relative"] < 0.3
    assert other["queries"] == 300


def test_compare_spaces_samples_queries_when_large_and_uses_each_spaces_own_anchor_ids():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(200, 8)).astype(np.float32)
    ids = uniform_anchors(200, 30, seed=1)
    same = compare_spaces(a, a.copy(), ParallelAnchors(ids, ids), max_queries=50, extended=True)
    assert same["queries"] == 50 and same["mean_cosine_relative"] == pytest.approx(1.0, abs=1e-6)
    shuffled = compare_spaces(a, a.copy(), ParallelAnchors(ids, rng.permutation(ids)))  # anchor i <-> another sample
    assert shuffled["mean_cosine_relative"] < 0.5
    with pytest.raises(ValueError, match="same samples"):
        compare_spaces(a, a[:10], ParallelAnchors(ids, ids))
