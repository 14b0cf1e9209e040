"""Graph metrics against exact references: dense eigenvalues (numpy, networkx), closed forms, the official path."""

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ramanujan_pai import graph
from ramanujan_pai.graph import biadjacency, filter_zero_degree, imdb, layer_metrics, model_metrics, narc
from ramanujan_pai.official import official_layer_metrics


def _filtered_dense(m) -> np.ndarray:
    b = filter_zero_degree(biadjacency(m))
    return b.toarray() if sp.issparse(b) else np.asarray(b, dtype=np.float64)


def _third_abs_eig(b: np.ndarray) -> tuple[float, float]:
    """Largest and third-largest |eigenvalue| of the dense bipartite adjacency [[0, B], [B^T, 0]] (eigvalsh)."""
    n, m = b.shape
    a = np.zeros((n + m, n + m))
    a[:n, n:] = b
    a[n:, :n] = b.T
    ev = np.sort(np.abs(np.linalg.eigvalsh(a)))[::-1]
    return ev[0], ev[2]


def _mask(rng, out, inp, p):
    return (rng.random((out, inp)) < p).astype(np.float32)


@pytest.mark.parametrize(
    "shape,p,seed", [((30, 40), 0.3, 0), ((50, 20), 0.5, 1), ((64, 64), 0.15, 2), ((12, 90), 0.4, 3)]
)
def test_mu_hat_is_third_largest_abs_eigenvalue_of_adjacency(shape, p, seed):
    m = _mask(np.random.default_rng(seed), *shape, p)
    res = layer_metrics(m)
    assert not res["skipped"]
    b = _filtered_dense(m)
    lam1, mu = _third_abs_eig(b)
    assert res["mu_hat"] == pytest.approx(mu, rel=1e-9, abs=1e-9)
    assert res["lambda_1"] == pytest.approx(lam1, rel=1e-9)
    d_l, d_r = b.sum() / b.shape[0], b.sum() / b.shape[1]
    assert res["delta_r"] == pytest.approx(math.sqrt(d_l - 1) + math.sqrt(d_r - 1) - mu, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 25), st.integers(3, 25), st.floats(0.2, 0.9), st.integers(0, 10_000))
def test_mu_hat_matches_dense_svd(out, inp, p, seed):
    m = _mask(np.random.default_rng(seed), out, inp, p)
    res = layer_metrics(m)
    b = _filtered_dense(m)
    if res["skipped"]:
        assert res["mu_hat"] is None and (b.size == 0 or min(b.sum() / b.shape[0], b.sum() / b.shape[1]) < 3)
        return
    s = np.linalg.svd(b, compute_uv=False)
    assert res["mu_hat"] == pytest.approx(s[1] if len(s) > 1 else 0.0, abs=1e-7)


@pytest.mark.parametrize("a,b", [(4, 7), (10, 10), (25, 6)])
def test_complete_bipartite(a, b):
    """K_{a,b}: spectrum ±sqrt(ab) and zeros, so mu_hat = 0 and Delta_r = sqrt(b-1) + sqrt(a-1)."""
    g = nx.complete_bipartite_graph(a, b)
    spectrum = np.sort(np.abs(np.linalg.eigvalsh(nx.to_numpy_array(g))))[::-1]
    assert spectrum[0] == pytest.approx(math.sqrt(a * b)) and spectrum[2] == pytest.approx(0, abs=1e-9)
    res = layer_metrics(np.ones((b, a)))  # out x in: a left (input) nodes of degree b
    assert res["mu_hat"] == pytest.approx(0.0, abs=1e-6)
    assert res["lambda_1"] == pytest.approx(math.sqrt(a * b))
    assert res["delta_r"] == pytest.approx(math.sqrt(b - 1) + math.sqrt(a - 1), abs=1e-6)
    assert res["delta_r_norm"] == pytest.approx(1.0, abs=1e-6)
    # one degree group (all left nodes degree b): IMDB = Delta_r of the whole graph
    assert res["imdb"] == pytest.approx(res["delta_r"]) and res["imdb_groups"] == 1


def _regular_bipartite(n: int, d: int, rng) -> np.ndarray:
    """Union of d random perfect matchings without repeated edges (rejection)."""
    b = np.zeros((n, n))
    for _ in range(d):
        while True:
            perm = rng.permutation(n)
            if not b[np.arange(n), perm].any():
                b[np.arange(n), perm] = 1
                break
    return b


@pytest.mark.parametrize("n,d", [(256, 4), (256, 8), (512, 6)])
def test_random_regular_bipartite_is_near_ramanujan(n, d):
    """Friedman / Marcus-Spielman-Srivastava: random d-regular bipartite graphs are near-Ramanujan."""
    b = _regular_bipartite(n, d, np.random.default_rng(n + d))
    assert (b.sum(0) == d).all() and (b.sum(1) == d).all()
    res = layer_metrics(b.T)
    assert res["d_left"] == d and res["d_right"] == d
    _, mu = _third_abs_eig(b)
    assert res["mu_hat"] == pytest.approx(mu, rel=1e-8)
    assert res["delta_r"] == pytest.approx(2 * math.sqrt(d - 1) - mu, rel=1e-8)
    assert -0.02 <= res["delta_r_norm"] <= 0.05  # bound 2 sqrt(d-1); lambda_1 = d exactly
    assert res["lambda_1"] == pytest.approx(d)


@pytest.mark.parametrize("p", [0.1, 0.2, 0.4])
def test_erdos_renyi_normalised_gap(p):
    """A random mask: mu_hat ~ sqrt(p(1-p)) (sqrt(n_L) + sqrt(n_R)) gives Delta_r/ub ~ 1 - sqrt(1-p)."""
    res = layer_metrics(_mask(np.random.default_rng(7), 256, 1152, p))
    assert res["delta_r_norm"] == pytest.approx(1 - math.sqrt(1 - p), abs=0.02)
    assert res["imdb_norm"] == pytest.approx(1 - math.sqrt(1 - p), abs=0.02)


def test_left_regular_graph_imdb_equals_delta_r():
    rng = np.random.default_rng(3)
    b = np.zeros((40, 30))  # 40 left nodes of degree 6, irregular right side
    for i in range(40):
        b[i, rng.choice(30, 6, replace=False)] = 1
    res = layer_metrics(b.T)
    assert res["imdb_groups"] == 1
    assert res["imdb"] == pytest.approx(res["delta_r"], rel=1e-12)
    assert res["imdb_norm"] == pytest.approx(res["delta_r_norm"], rel=1e-12)


def test_imdb_groups_by_hand():
    """Two degree groups (degrees 4 and 8), a singleton degree ignored; IMDB = mean of the groups' gaps."""
    rng = np.random.default_rng(5)
    b = np.zeros((26, 16))
    for i in range(15):
        b[i, rng.choice(16, 4, replace=False)] = 1
    for i in range(15, 25):
        b[i, rng.choice(16, 8, replace=False)] = 1
    b[25, :2] = 1  # degree 2 held by one node: no group
    groups = [layer_metrics(b[:15].T), layer_metrics(b[15:25].T)]
    assert not any(g["skipped"] for g in groups)
    im, im_norm, n = imdb(biadjacency(b.T))
    assert n == 2
    assert im == pytest.approx(np.mean([g["delta_r"] for g in groups]))
    assert im_norm == pytest.approx(np.mean([g["delta_r_norm"] for g in groups]))


def test_narc_by_hand_both_conventions():
    """K_{3,4} inside a 5 x 6 layer (2 isolated inputs, 2 isolated outputs): mu_hat = 0, |E| = 12, d_L = 4."""
    w = np.zeros((6, 5))  # out x in
    w[:4, :3] = 1.0
    res = layer_metrics(w)
    assert (res["n_left"], res["n_right"], res["edges"]) == (3, 4, 12)
    # official: ((0/4 + 1) sqrt(12) - |2*12 - (4/6)*3*4|) / (5*6)
    assert res["narc_official"] == pytest.approx((math.sqrt(12) - 16) / 30, abs=1e-6)
    # corrected: ((0/4 + 1) sqrt(12) - |12 - (4/6)*3*4|) / (5*6)
    assert res["narc_corrected"] == pytest.approx((math.sqrt(12) - 4) / 30, abs=1e-6)
    assert res["narc"] == res["narc_official"]
    assert narc(2.0, 10, 5, 4, 6, 7, "corrected") == pytest.approx(
        ((1 + 1) * math.sqrt(20) - abs(10 - 2 / 7 * 20)) / 42
    )
    with pytest.raises(ValueError):
        narc(1.0, 1, 1, 1, 1, 1, "other")


def test_skipped_layers_and_zero_degree_filter():
    thin = np.zeros((10, 20))
    thin[0, :] = 1  # one output node: d_R = 20, but d_L = 1
    res = layer_metrics(thin)
    assert res["skipped"] and all(res[k] is None for k in ("mu_hat", "delta_r", "imdb", "imdb_norm", "narc"))
    assert (res["n_left"], res["n_right"], res["edges"]) == (20, 1, 20)
    empty = layer_metrics(np.zeros((4, 4)))
    assert empty["skipped"] and empty["edges"] == 0


def test_conv_mask_is_unrolled_like_the_official_code():
    rng = np.random.default_rng(0)
    w = (rng.random((8, 4, 3, 3)) < 0.5).astype(float)
    a, b = layer_metrics(w), layer_metrics(w.reshape(8, -1))
    assert a["dim_in"] == 36 and a["dim_out"] == 8
    assert {k: a[k] for k in ("mu_hat", "imdb", "narc")} == {k: b[k] for k in ("mu_hat", "imdb", "narc")}
    weights = rng.normal(size=(8, 36)) * w.reshape(8, -1)  # weights: their support is the mask
    assert layer_metrics(weights)["mu_hat"] == pytest.approx(b["mu_hat"])
    with pytest.raises(ValueError, match="2-D"):
        layer_metrics(np.ones((3, 3, 3)))


@pytest.mark.parametrize("shape,p", [((40, 90), 0.15), ((16, 4, 3, 3), 0.3), ((64, 32), 0.5)])
def test_equal_to_the_official_networkx_path(shape, p):
    m = (np.random.default_rng(11).random(shape) < p).astype(float)
    ours, ref = layer_metrics(m), official_layer_metrics(m)
    assert not ours["skipped"] and not ref["skipped"]
    for k in ("mu_hat", "lambda_1", "delta_r", "delta_r_norm", "imdb", "imdb_norm", "narc_official"):
        assert (ours[k] is None) == (ref[k] is None), k
        if ref[k] is not None:
            assert ours[k] == pytest.approx(ref[k], rel=2e-5, abs=2e-5), k
    assert ref["imdb"] is not None or shape == (64, 32)


def test_model_means_over_valid_layers():
    rng = np.random.default_rng(1)
    masks = {"a": _mask(rng, 30, 40, 0.3), "b": _mask(rng, 50, 20, 0.5), "thin": np.eye(5)}
    res = model_metrics(masks)
    valid = [res["layers"][n] for n in ("a", "b")]
    assert res["layers"]["thin"]["skipped"]
    assert res["model"]["skipped"] == 1 and res["model"]["delta_r_count"] == 2
    assert res["model"]["delta_r"] == pytest.approx(np.mean([v["delta_r"] for v in valid]))
    assert res["model"]["imdb_norm"] == pytest.approx(np.mean([v["imdb_norm"] for v in valid if v["imdb_norm"]]))


@pytest.mark.parametrize("shape,p", [((40, 90), 0.02), ((40, 90), 0.3), ((32, 16, 3, 3), 0.08), ((200, 30), 0.6)])
def test_dense_and_sparse_biadjacency_give_identical_metrics(shape, p, monkeypatch):
    """The dense float32 path (products of 0/1 counts, exact) and the sparse one agree bit for bit."""
    m = np.random.default_rng(13).random(shape) < p
    assert isinstance(biadjacency(m, sparse=False), np.ndarray) and sp.issparse(biadjacency(m, sparse=True))
    monkeypatch.setattr(graph, "DENSE_FROM", 0.0)
    dense = layer_metrics(m)
    monkeypatch.setattr(graph, "DENSE_FROM", 1.1)
    sparse = layer_metrics(m)
    assert dense == sparse
    im = [imdb(biadjacency(m, sparse=s)) for s in (False, True)]
    assert im[0] == im[1]
