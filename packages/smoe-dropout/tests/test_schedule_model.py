"""The k schedule, the transformer blocks, dense-to-SMoE conversion and FLOP counting."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from orals23_shared.cli import UsageError
from smoe_dropout.model import (
    Block,
    ModelConfig,
    Transformer,
    convert_dense_to_moe,
    flops_per_token,
    moe_layers,
    n_params,
    set_top_k,
    use_top_k,
)
from smoe_dropout.schedule import KSchedule

torch.set_num_threads(1)


def test_linear_schedule_by_hand():
    s = KSchedule("linear", 8, 16, 5, 16)
    assert [s(t) for t in range(5)] == [8, 10, 12, 14, 16]
    s = KSchedule("linear", 2, 16, 8, 16)  # 14 t / 7 = 2 t
    assert [s(t) for t in range(8)] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert s(-3) == 2 and s(100) == 16
    assert KSchedule.constant(2, 100, 16)(57) == 2
    assert KSchedule("linear", 3, 9, 1, 16)(0) == 9  # a one-step run trains at k_end


@given(st.integers(1, 32), st.data())
def test_schedule_starts_at_k_start_reaches_n_at_the_last_step_and_never_decreases(n, data):
    k0 = data.draw(st.integers(1, n))
    steps = data.draw(st.integers(2, 500))
    s = KSchedule("linear", k0, n, steps, n)
    ks = [s(t) for t in range(steps)]
    assert ks[0] == k0 and ks[-1] == n
    assert all(a <= b for a, b in zip(ks, ks[1:]))
    assert all(k0 <= k <= n for k in ks)
    assert s.mean_k() == pytest.approx(sum(ks) / steps)


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (("linear", 12, 8, 10, 16), "ends at 8, below where it starts"),
        (("linear", 0, 8, 10, 16), "k_start must be >= 1"),
        (("linear", 2, 17, 10, 16), "exceeds the number of experts"),
        (("constant", 20, 20, 10, 16), "exceeds the number of experts"),
        (("linear", 2, 16, 0, 16), "at least one step"),
        (("cosine", 2, 16, 10, 16), "unknown k schedule"),
    ],
)
def test_bad_schedules(args, msg):
    with pytest.raises(UsageError, match=msg):
        KSchedule(*args)


def lm(router: str = "random", **kw) -> Transformer:
    return Transformer(
        ModelConfig(vocab_size=20, context=16, d_model=16, n_heads=2, d_ff=64, n_experts=8, router=router, **kw)
    )


def test_equal_parameters_dense_and_moe():
    torch.manual_seed(0)
    dense, moe = lm("dense"), lm("random")
    cfg = dense.cfg
    extra_per_layer = (cfg.n_experts - 1) * cfg.d_model + cfg.n_experts * (cfg.d_model + 1)  # b2 copies + router
    assert n_params(moe) - n_params(dense) == cfg.n_layers * extra_per_layer
    trainable = n_params(moe, trainable_only=True)
    assert n_params(moe) - trainable == cfg.n_layers * cfg.n_experts * (cfg.d_model + 1)


def test_decoder_is_causal_and_encoder_ignores_padding():
    torch.manual_seed(1)
    model = lm(dropout=0.0).eval()
    x = torch.randint(1, 20, (2, 16))
    y = x.clone()
    y[:, 10:] = torch.randint(1, 20, (2, 6))
    torch.testing.assert_close(model(x)[:, :10], model(y)[:, :10])
    cls = Transformer(ModelConfig(vocab_size=20, n_classes=3, context=16, d_model=16, n_heads=2, d_ff=64, n_experts=8))
    cls.eval()
    short = torch.tensor([[3, 4, 5, 6]])
    padded = torch.tensor([[3, 4, 5, 6, 0, 0, 0]])
    torch.testing.assert_close(cls(short), cls(padded), rtol=1e-5, atol=1e-6)


def test_dense_to_smoe_conversion_keeps_the_function_at_k_n_with_uniform_weights():
    torch.manual_seed(2)
    dense = lm("dense", dropout=0.0).eval()
    with torch.no_grad():
        for p in dense.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randint(1, 20, (3, 16))
    ref = dense(x)
    moe = convert_dense_to_moe(dense, 8, "random")
    assert moe.cfg.router == "random" and len(moe_layers(moe)) == 2
    assert all(not m.router.weight.requires_grad for m in moe_layers(moe))
    with use_top_k(moe, 8, uniform=True):
        torch.testing.assert_close(moe(x), ref, rtol=1e-4, atol=1e-5)
    with use_top_k(moe, 2):  # fewer experts: a different (slimmer) function
        assert not torch.allclose(moe(x), ref, atol=1e-3)
    with pytest.raises(UsageError, match="no dense FFN"):
        convert_dense_to_moe(moe, 8)


def test_dense_to_smoe_conversion_of_any_model_built_from_our_blocks():
    """A user's own stack of encoder blocks (no Transformer around it) converts too, to the same function."""
    torch.manual_seed(5)
    cfg = ModelConfig(in_features=3, n_classes=2, context=8, d_model=16, n_heads=2, d_ff=64, router="dense", dropout=0)
    stack = torch.nn.Sequential(torch.nn.Linear(3, 16), Block(cfg, causal=False), Block(cfg, causal=False)).eval()
    x = torch.randn(2, 8, 3)
    ref = stack(x)
    convert_dense_to_moe(stack, 4, "learned")
    assert len(moe_layers(stack)) == 2 and all(m.router_kind == "learned" for m in moe_layers(stack))
    with use_top_k(stack, 4, uniform=True):
        torch.testing.assert_close(stack(x), ref, rtol=1e-4, atol=1e-5)
    with use_top_k(stack, 1):
        assert not torch.allclose(stack(x), ref, atol=1e-3)


def test_use_top_k_restores_k_and_set_top_k_validates():
    model = lm()
    set_top_k(model, 3)
    with use_top_k(model, 8, uniform=True):
        assert all(m.k == 8 and m.uniform for m in moe_layers(model))
    assert all(m.k == 3 and not m.uniform for m in moe_layers(model))
    with pytest.raises(UsageError, match="between 1 and the number of experts 8"):
        set_top_k(model, 9)


def test_flops_grow_linearly_in_k():
    cfg = lm().cfg
    f = [flops_per_token(cfg, k) for k in range(1, 9)]
    steps = {b - a for a, b in zip(f, f[1:])}
    assert steps == {cfg.n_layers * 4 * cfg.d_model * (cfg.d_ff // cfg.n_experts)}
    dense = flops_per_token(lm("dense").cfg)
    assert flops_per_token(cfg, 8) - dense == cfg.n_layers * 2 * cfg.d_model * cfg.n_experts  # the routers


def counted_flops(model: Transformer, x: torch.Tensor) -> int:
    """Matmul FLOPs of one forward as torch's own FLOP counter sees them (2 per multiply-add).

    Attention runs through SDPA's math backend, whose matmuls the counter sees (it has no formula for the CPU
    flash kernel); the math backend computes all T x T scores, as the analytic count assumes.
    """
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


@pytest.mark.parametrize(
    ("router", "k", "n_classes"), [("dense", None, 0), ("random", 1, 0), ("random", 3, 0), ("learned", 5, 4)]
)
def test_flops_per_token_equals_torchs_flop_counter(router, k, n_classes):
    """The analytic count against torch.utils.flop_counter on the real forward (k < N goes through the dispatch)."""
    cfg = ModelConfig(vocab_size=20, n_classes=n_classes, context=16, d_model=16, n_heads=2, d_ff=64, n_experts=8)
    cfg.router = router
    model = Transformer(cfg).eval()
    if k is not None:
        set_top_k(model, k)
    batch, t = 3, 16
    x = torch.randint(1, 20, (batch, t))
    # the layer adds the routing-weighted output biases as one (T, N) @ (N, d) product: a bias term, which the
    # analytic count leaves out like every other bias
    bias = 0 if router == "dense" else cfg.n_layers * 2 * cfg.n_experts * cfg.d_model
    assert counted_flops(model, x) == (flops_per_token(cfg, k, seq_len=t) + bias) * batch * t


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"d_ff": 60}, "not divisible by --n-experts"),
        ({"router": "hash"}, "unknown router"),
        ({"d_model": 15}, "not divisible by --n-heads"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_model_configs(kw, msg):
    base = dict(vocab_size=20, context=16, d_model=16, n_heads=2, d_ff=64, n_experts=8)
    with pytest.raises(UsageError, match=msg):
        ModelConfig(**{**base, **kw})


def test_sequence_longer_than_context_is_refused():
    with pytest.raises(UsageError, match="longer than the model's context"):
        lm()(torch.randint(1, 20, (1, 17)))
