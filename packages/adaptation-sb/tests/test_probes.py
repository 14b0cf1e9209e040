"""The probes as the paper defines them: VAT's perturbation, UDP's entropy ascent, the soup's sparse init and average."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adaptation_sb.probes import (
    ProbeConfig,
    SoupHeads,
    _kl,
    entropy,
    greedy_soup,
    train_probe,
    udp_perturbation,
    vat_lds,
    vat_perturbation,
)
from orals23_shared.cli import UsageError


def _head(d=6, c=4, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Linear(d, c).to(dtype)


def test_vat_perturbation_has_the_requested_norm_and_raises_the_loss():
    head = _head()
    h = torch.randn(64, 6, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    r = vat_perturbation(head, h, xi=1e-3, eps=0.5, ip=1, generator=g)
    torch.testing.assert_close(r.norm(dim=1), torch.full((64,), 0.5, dtype=torch.float64))
    with torch.no_grad():
        p = F.softmax(head(h), 1)
        rand = torch.randn(h.shape, generator=g, dtype=h.dtype)
        rand = 0.5 * rand / rand.norm(dim=1, keepdim=True)
        kl_adv = (p * (p.log() - F.log_softmax(head(h + r), 1))).sum(1)
        kl_rand = (p * (p.log() - F.log_softmax(head(h + rand), 1))).sum(1)
    assert kl_adv.mean() > 1.5 * kl_rand.mean()
    lds = vat_lds(head, h, xi=1e-3, eps=0.5, generator=g)
    assert lds.item() >= 0 and lds.requires_grad  # differentiable in the head


def test_vat_power_iteration_finds_the_top_eigenvector_of_the_kl_hessian():
    """For one example and a linear head, KL's Hessian in the input is W^T (diag p - p p^T) W (exact reference)."""
    head = _head(seed=3)
    h = torch.randn(1, 6, dtype=torch.float64)
    r = vat_perturbation(head, h, xi=1e-4, eps=1.0, ip=200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = F.softmax(head(h), 1)[0]
        w = head.weight
        hess = w.T @ (torch.diag(p) - torch.outer(p, p)) @ w
        top = torch.linalg.eigh(hess).eigenvectors[:, -1]
    assert abs(float(r[0] @ top)) == pytest.approx(1.0, abs=1e-6)


def test_vat_lds_is_zero_for_a_constant_head():
    head = _head()
    with torch.no_grad():
        head.weight.zero_()
    h = torch.randn(32, 6, dtype=torch.float64)
    assert vat_lds(head, h, xi=10.0, eps=1.0).item() == pytest.approx(0.0, abs=1e-12)


def test_udp_raises_entropy_within_the_linf_ball():
    head = _head(seed=2)
    h = torch.randn(128, 6, dtype=torch.float64) * 3
    delta = udp_perturbation(head, h, eps=0.2, step=0.05, steps=10)
    assert delta.abs().max().item() <= 0.2 + 1e-12
    assert delta.abs().max().item() == pytest.approx(0.2)  # 10 steps of 0.05 reach the border
    with torch.no_grad():
        assert entropy(head(h + delta)) > entropy(head(h)) + 1e-3
    # a naive loop over examples gives the same perturbation (the batch mean does not mix examples' signs)
    one = udp_perturbation(head, h[:1], eps=0.2, step=0.05, steps=10)
    torch.testing.assert_close(one, delta[:1])


def test_soup_init_is_sparse_and_disjoint_and_the_soup_is_the_mean():
    soup = SoupHeads(feat_dim=10, n_classes=3, m=4, generator=torch.Generator().manual_seed(0))
    support = (soup.weight.detach().abs() > 0).any(dim=1)  # (m, d): dims each member uses
    assert support.sum(0).max() == 1  # no two members share a dimension
    assert support.sum(1).tolist() == [3, 3, 2, 2]  # blocks of np.array_split(10, 4)
    with torch.no_grad():
        soup.weight.normal_()
        soup.bias.normal_()
    lin = soup.uniform_soup()
    torch.testing.assert_close(lin.weight, soup.weight.mean(0))
    torch.testing.assert_close(lin.bias, soup.bias.mean(0))
    x = torch.randn(5, 10)
    # a linear soup's logits are the mean of its members' logits
    torch.testing.assert_close(lin(x), soup(x).mean(0), atol=1e-5, rtol=1e-5)


def test_greedy_soup_selects_on_validation_only():
    soup = SoupHeads(4, 2, 4, generator=torch.Generator().manual_seed(0))
    h_val = torch.randn(50, 4)
    y_val = (h_val[:, 0] > 0).long()
    head, chosen = greedy_soup(soup, h_val, y_val)
    best_member = max(float((soup.member(i)(h_val).argmax(1) == y_val).float().mean()) for i in range(4))
    assert float((head(h_val).argmax(1) == y_val).float().mean()) >= best_member
    assert len(chosen) >= 1
    with pytest.raises(UsageError, match="validation"):
        train_probe(h_val, y_val, 2, ProbeConfig(variant="soup", soup="greedy", epochs=1, soup_heads=2))


def test_probes_train_and_plain_lp_matches_logistic_regression():
    """Plain LP converges to the L2-regularised logistic regression of scikit-learn (the field's reference)."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    h = torch.randn(200, 5, generator=g)
    y = (h[:, 0] + 0.5 * h[:, 1] > 0).long() + (h[:, 2] > 1).long()
    wd = 1e-2
    cfg = ProbeConfig(epochs=300, batch_size=200, lr=0.5, final_lr=0.5, momentum=0.9, weight_decay=wd)
    head, rec = train_probe(h, y, 3, cfg)
    # SGD's weight decay wd on the weights and the bias = sklearn's C = 1 / (n * wd) with the intercept penalised
    ref = LogisticRegression(C=1.0 / (200 * wd), tol=1e-10, max_iter=10000, fit_intercept=False)
    ref.fit(torch.cat([h, torch.ones(200, 1)], 1).numpy(), y.numpy())
    ours = torch.cat([head.weight, head.bias[:, None]], 1).detach()
    theirs = torch.as_tensor(ref.coef_, dtype=torch.float32)
    # softmax logits are defined up to a shift per class: compare centred weights
    torch.testing.assert_close(ours - ours.mean(0), theirs - theirs.mean(0), atol=2e-3, rtol=2e-3)
    for variant in ("vat", "udp", "soup"):
        head, rec = train_probe(h, y, 3, ProbeConfig(variant=variant, epochs=20, soup_heads=5, udp_eps=0.1))
        assert isinstance(head, nn.Linear) and head.weight.shape == (3, 5) and rec["variant"] == variant
        assert math.isfinite(rec["final_ce"])


def test_undefined_probe_variant_is_refused():
    with pytest.raises(UsageError, match="not defined"):
        ProbeConfig(variant="fgsm")


def test_kl_is_zero_on_equal_distributions():
    logits = torch.randn(4, 3)
    assert _kl(F.softmax(logits, 1), logits).item() == pytest.approx(0.0, abs=1e-6)
