"""The MoE FFN against exact references: a naive per-token loop, the dense FFN it was split from, permutations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from orals23_shared.cli import UsageError
from smoe_dropout.moe import DenseFFN, MoEFFN, balance_loss, dense_ffn_flops, moe_ffn_flops, route

torch.set_num_threads(1)


def naive(moe: MoEFFN, x: torch.Tensor) -> torch.Tensor:
    """Token by token: top-k of the router logits, softmax over the selected ones, weighted sum of experts."""
    flat = x.reshape(-1, moe.d_model)
    out = torch.zeros_like(flat)
    for t in range(flat.shape[0]):
        logits = flat[t] @ moe.router.weight.T + moe.router.bias
        vals, idx = torch.topk(logits, moe.k)
        w = torch.exp(vals - vals.max()) / torch.exp(vals - vals.max()).sum()
        for j in range(moe.k):
            e = int(idx[j])
            h = torch.relu(flat[t] @ moe.w1[e] + moe.b1[e])
            out[t] += w[j] * (h @ moe.w2[e] + moe.b2[e])
    return out.reshape(x.shape)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 8),
    h=st.integers(1, 5),
    d=st.integers(1, 6),
    tokens=st.integers(1, 12),
    data=st.data(),
)
def test_dispatch_equals_naive_loop(n, h, d, tokens, data):
    k = data.draw(st.integers(1, n))
    torch.manual_seed(data.draw(st.integers(0, 10_000)))
    moe = MoEFFN(d, h, n, router="learned", init_std=0.5).eval()
    with torch.no_grad():
        moe.b1.normal_()
        moe.b2.normal_()
        moe.router.bias.normal_()
    moe.set_k(k)
    x = torch.randn(tokens, d)
    torch.testing.assert_close(moe(x), naive(moe, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_dispatch_batches_and_full_path_agree(k):
    torch.manual_seed(0)
    moe = MoEFFN(6, 3, 8, init_std=0.5).eval()
    moe.set_k(k)
    x = torch.randn(2, 5, 6)
    torch.testing.assert_close(moe(x), naive(moe, x), rtol=1e-5, atol=1e-5)
    moe.fast_full = False  # k = N through the gather/scatter dispatch
    y_dispatch = moe(x)
    moe.fast_full = True
    torch.testing.assert_close(moe(x), y_dispatch, rtol=1e-5, atol=1e-6)


def test_k_equals_n_with_uniform_weights_is_the_dense_ffn_it_was_split_from():
    torch.manual_seed(1)
    dense = DenseFFN(12, 48).eval()
    with torch.no_grad():
        for p in dense.parameters():
            p.normal_()
    moe = MoEFFN.from_dense(dense, 6).eval()
    moe.uniform = True
    x = torch.randn(4, 7, 12)
    torch.testing.assert_close(moe(x), dense(x), rtol=1e-5, atol=1e-5)
    moe.fast_full = False
    torch.testing.assert_close(moe(x), dense(x), rtol=1e-5, atol=1e-5)
    # parameters: the dense FFN's (b2 is stored once per expert) plus the N x (d + 1) router
    experts = sum(p.numel() for n_, p in moe.named_parameters() if not n_.startswith("router"))
    dense_n = sum(p.numel() for p in dense.parameters())
    assert experts == dense_n + 5 * 12  # the N - 1 extra copies of b2
    assert sum(p.numel() for p in moe.router.parameters()) == 6 * 13


def test_k_equals_n_softmax_weights_all_experts_not_uniformly():
    torch.manual_seed(2)
    dense = DenseFFN(8, 32).eval()
    moe = MoEFFN.from_dense(dense, 4, init_std=1.0).eval()
    moe.set_k(4)
    x = torch.randn(10, 8)
    logits = moe.router(x)
    w = torch.softmax(logits, -1)
    ref = sum(w[:, e : e + 1] * moe.expert(e, x) for e in range(4))
    torch.testing.assert_close(moe(x), ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(moe(x), dense(x), atol=1e-4)  # pitfall 5: not the dense FFN unless uniform


def test_output_invariant_to_expert_permutation_with_the_router_permuted_alike():
    torch.manual_seed(3)
    moe = MoEFFN(5, 3, 6, init_std=0.7).eval()
    moe.set_k(2)
    perm = torch.randperm(6)
    other = MoEFFN(5, 3, 6, init_std=0.7).eval()
    other.set_k(2)
    with torch.no_grad():
        for name in ("w1", "b1", "w2", "b2"):
            getattr(other, name).copy_(getattr(moe, name)[perm])
        other.router.weight.copy_(moe.router.weight[perm])
        other.router.bias.copy_(moe.router.bias[perm])
    x = torch.randn(20, 5)
    torch.testing.assert_close(other(x), moe(x), rtol=1e-5, atol=1e-6)
    # permuting the experts alone changes the output
    with torch.no_grad():
        other.router.weight.copy_(moe.router.weight)
        other.router.bias.copy_(moe.router.bias)
    assert not torch.allclose(other(x), moe(x), atol=1e-4)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_route_weights_sum_to_one_over_exactly_k_distinct_experts(k):
    logits = torch.randn(30, 7)
    idx, w = route(logits, k)
    assert idx.shape == w.shape == (30, k)
    torch.testing.assert_close(w.sum(-1), torch.ones(30))
    assert all(len(set(row.tolist())) == k for row in idx)
    # softmax over the selected logits only, and those are the k largest
    sel = torch.gather(logits, 1, idx)
    torch.testing.assert_close(w, torch.softmax(sel, -1))
    assert torch.all(sel.min(-1).values >= torch.topk(logits, k).values.min(-1).values - 1e-7)


def test_balance_loss_matches_the_official_formula_and_is_minimal_at_uniform_load():
    torch.manual_seed(4)
    t, n, k = 50, 5, 2
    logits = torch.randn(t, n)
    idx, _ = route(logits, k)
    counts = torch.zeros(n)
    for e in idx.reshape(-1).tolist():
        counts[e] += 1
    prob = torch.softmax(logits, -1).sum(0)
    ref = n * ((counts / (t * k)) * (prob / (t * k))).sum()
    torch.testing.assert_close(balance_loss(logits, idx, n), ref)
    flat = torch.zeros(t, n)  # uniform probabilities and a perfectly balanced assignment
    idx_bal = torch.stack([torch.arange(t) % n, (torch.arange(t) + 1) % n], 1)
    torch.testing.assert_close(balance_loss(flat, idx_bal, n), torch.tensor(1.0 / k))


def test_learned_router_gets_gradient_random_router_is_frozen():
    x = torch.randn(16, 6)
    learned = MoEFFN(6, 2, 4, router="learned", k=2)
    out = learned(x).sum() + learned.aux_loss
    out.backward()
    assert learned.router.weight.grad is not None and learned.router.weight.grad.abs().sum() > 0
    frozen = MoEFFN(6, 2, 4, router="random", k=2)
    assert not any(p.requires_grad for p in frozen.router.parameters())
    frozen(x).sum().backward()
    assert frozen.router.weight.grad is None and frozen.aux_loss is None
    # every expert's parameters are in the graph even when no token chose it (DDP needs that)
    assert all(p.grad is not None for p in (frozen.w1, frozen.w2))


def test_bad_input():
    moe = MoEFFN(4, 2, 4)
    with pytest.raises(UsageError, match="between 1 and the number of experts 4"):
        moe.set_k(5)
    with pytest.raises(UsageError, match="between 1"):
        moe.set_k(0)
    with pytest.raises(UsageError, match="not divisible"):
        MoEFFN.from_dense(DenseFFN(4, 10), 4)
    with pytest.raises(UsageError, match="features of size 4"):
        moe(torch.randn(3, 5))
    with pytest.raises(UsageError, match="router"):
        MoEFFN(4, 2, 4, router="dense")


def test_flops_formulas():
    assert dense_ffn_flops(256, 8192) == 4 * 256 * 8192
    assert moe_ffn_flops(256, 8192, 16, 16) == dense_ffn_flops(256, 8192) + 2 * 256 * 16
    assert moe_ffn_flops(256, 8192, 16, 2) == 4 * 256 * 512 * 2 + 2 * 256 * 16
