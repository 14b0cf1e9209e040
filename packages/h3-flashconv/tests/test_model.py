"""H3 layer and language models: conv mode == recurrence, state passing, causality, gradcheck, generation."""

import pytest
import torch

from h3_flashconv.model import H3, LanguageModel, ModelConfig, S4DLayer, generate, sample_next
from orals23_shared.cli import UsageError

TOL = {torch.float32: 1e-4, torch.float64: 1e-9}


def _layer_recurrent(layer, u):
    state = layer.default_state(u.shape[0])
    ys = []
    for t in range(u.shape[1]):
        y, state = layer.step(u[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("head_dim", [1, 2])
def test_h3_conv_mode_equals_step(dtype, head_dim):
    torch.manual_seed(0)
    layer = H3(8, d_state=16, head_dim=head_dim).to(dtype)
    u = torch.randn(2, 40, 8, dtype=dtype)
    with torch.no_grad():
        y_rec, (sk, ss) = _layer_recurrent(layer, u)
        y_conv, (sk2, ss2) = layer(u, return_state=True)
    torch.testing.assert_close(y_conv, y_rec, atol=TOL[dtype], rtol=TOL[dtype])
    torch.testing.assert_close(sk2, sk, atol=TOL[dtype], rtol=TOL[dtype])
    torch.testing.assert_close(ss2, ss, atol=TOL[dtype], rtol=TOL[dtype])


def test_h3_matches_algorithm_1_written_out():
    """head_dim 2: O_t = sum_i q_{t,i} (Diag(K~ V^T) + D K~ V^T)_{i,:} computed with explicit loops."""
    torch.manual_seed(3)
    d, dh, L = 4, 2, 6
    layer = H3(d, d_state=8, head_dim=dh).double()
    u = torch.randn(1, L, d, dtype=torch.float64)
    with torch.no_grad():
        q, k, v = layer.q_proj(u)[0], layer.k_proj(u)[0], layer.v_proj(u)[0]  # (L, d)
        Ks = layer.shift_ssm.kernel(L)
        kt = torch.stack([sum(Ks[:, j] * k[t - j] for j in range(t + 1)) for t in range(L)]) + layer.shift_D * k
        Kd = layer.diag_ssm.kernel(L)
        out = torch.zeros(L, d, dtype=torch.float64)
        for h in range(d // dh):
            sl = slice(h * dh, (h + 1) * dh)
            kv = torch.einsum("ti,tj->tij", kt[:, sl], v[:, sl])
            for t in range(L):
                s = sum(Kd[h, j] * kv[t - j] for j in range(t + 1)) + layer.D[h] * kv[t]
                out[t, sl] = q[t, sl] @ s
        expected = layer.output_linear(out)
        torch.testing.assert_close(layer(u)[0], expected, atol=1e-10, rtol=0)


def test_h3_state_passing_equals_one_shot():
    torch.manual_seed(0)
    one = H3(8, d_state=64)
    chunked = H3(8, d_state=64, chunk_size=128)
    chunked.load_state_dict(one.state_dict())
    u = torch.randn(1, 1000, 8)
    with torch.no_grad():
        torch.testing.assert_close(chunked(u), one(u), atol=1e-4, rtol=1e-4)


def test_sequence_longer_than_max_len_needs_state_passing():
    layer = H3(4, d_state=8, max_len=16)
    with pytest.raises(UsageError, match="state passing"):
        layer(torch.randn(1, 17, 4))
    layer.chunk_size = 16
    assert layer(torch.randn(1, 40, 4)).shape == (1, 40, 4)


@pytest.mark.parametrize("kind", ["h3", "hybrid", "transformer", "s4d"])
def test_no_future_leakage(kind):
    torch.manual_seed(0)
    lm = LanguageModel(ModelConfig(model=kind, vocab_size=13, d_model=16, n_layer=2, d_state=8, n_head=2)).eval()
    idx = torch.randint(0, 13, (2, 33))
    t = 20
    idx2 = idx.clone()
    idx2[:, t + 1 :] = (idx2[:, t + 1 :] + 1 + torch.randint(0, 11, idx2[:, t + 1 :].shape)) % 13
    with torch.no_grad():
        a, b = lm(idx), lm(idx2)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], atol=1e-5, rtol=0)
    assert (a[:, t + 1 :] - b[:, t + 1 :]).abs().max() > 1e-3


def test_gradcheck_tiny_h3_layer():
    torch.manual_seed(0)
    layer = H3(2, d_state=4, head_dim=1).double()
    u = torch.randn(1, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x), (u,), eps=1e-6, atol=1e-6, fast_mode=True)
    # gradients w.r.t. the SSM parameters too (dt, A, complex B, shift C, D)
    names = ["diag_ssm.log_dt", "diag_ssm.A_imag", "diag_ssm.B", "shift_ssm.C", "D"]
    params = dict(layer.named_parameters())
    inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in names)
    x = u.detach()

    def f(*ps):
        return torch.func.functional_call(layer, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("kind", ["h3", "hybrid", "transformer", "s4d"])
@pytest.mark.parametrize("head_dim", [1, 2])
def test_generation_state_equals_conv_forward(kind, head_dim):
    torch.manual_seed(1)
    cfg = ModelConfig(
        model=kind,
        vocab_size=11,
        d_model=8,
        n_layer=2,
        d_state=8,
        head_dim=head_dim,
        n_head=2,
        attn_layer_idx=(0,),
        embed_dropout=0.0,
    )
    lm = LanguageModel(cfg).double().eval()
    idx = torch.randint(0, 11, (2, 14))
    with torch.no_grad():
        full = lm(idx)
        logits, cache = lm.prefill(idx[:, :6])  # prompt in conv mode, state handed to the recurrence
        torch.testing.assert_close(logits, full[:, :6], atol=1e-9, rtol=0)
        for t in range(6, 14):
            step_logits, cache = lm.step(idx[:, t], cache)
            torch.testing.assert_close(step_logits, full[:, t], atol=1e-9, rtol=0)


def test_greedy_generate_matches_full_forward_argmax():
    torch.manual_seed(2)
    lm = LanguageModel(ModelConfig(model="hybrid", vocab_size=9, d_model=16, n_layer=2, d_state=8, n_head=2)).eval()
    prompt = torch.randint(0, 9, (3, 5))
    out = generate(lm, prompt, 6, temperature=0.0)
    assert out.shape == (3, 11) and torch.equal(out[:, :5], prompt)
    with torch.no_grad():
        for t in range(5, 11):
            assert torch.equal(lm(out[:, :t])[:, -1].argmax(-1), out[:, t])


def test_sampling_top_k_and_temperature():
    logits = torch.tensor([[0.0, 5.0, 4.0, -3.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_k=2, generator=g)) for _ in range(200)}
    assert draws == {1, 2}
    assert int(sample_next(logits, 0.0)) == 1
    with pytest.raises(UsageError):
        sample_next(logits, -1.0)


def test_s4d_layer_shapes_and_state():
    torch.manual_seed(0)
    layer = S4DLayer(6, d_state=8).double()
    u = torch.randn(2, 12, 6, dtype=torch.float64)
    with torch.no_grad():
        y_rec, st = _layer_recurrent(layer, u)
        y, st2 = layer(u, return_state=True)
    torch.testing.assert_close(y, y_rec, atol=1e-9, rtol=0)
    torch.testing.assert_close(st2, st, atol=1e-9, rtol=0)


def test_config_errors():
    with pytest.raises(UsageError, match="attn_layer_idx"):
        ModelConfig(model="hybrid", n_layer=2, attn_layer_idx=(5,))
    with pytest.raises(UsageError, match="head_dim"):
        H3(6, head_dim=4)
    lm = LanguageModel(ModelConfig(vocab_size=5, d_model=8, n_layer=1, d_state=4))
    with pytest.raises(UsageError, match="token ids"):
        lm(torch.tensor([[0, 7]]))


def test_vocab_padding_and_tied_head():
    lm = LanguageModel(ModelConfig(vocab_size=65, d_model=8, n_layer=1, d_state=4))
    assert lm.embed.weight.shape[0] == 72
    assert lm(torch.zeros(1, 3, dtype=torch.long)).shape == (1, 3, 65)


@pytest.mark.parametrize("kind", ["h3", "hybrid", "s4d"])
def test_chunked_prefill_and_generation_equal_unchunked(kind):
    """Chunked inference (state passing over 64-token chunks) gives the unchunked logits and the same generation
    states: prompt of 300 tokens read chunk by chunk, then 5 recurrent steps (fp32, 1e-5)."""
    torch.manual_seed(4)
    base = {"model": kind, "vocab_size": 13, "d_model": 16, "n_layer": 2, "d_state": 16, "n_head": 2}
    one = LanguageModel(ModelConfig(**base, embed_dropout=0.0)).eval()
    chunked = LanguageModel(ModelConfig(**base, embed_dropout=0.0, chunk_size=64)).eval()
    chunked.load_state_dict(one.state_dict())
    idx = torch.randint(0, 13, (2, 305))
    with torch.no_grad():
        full = one(idx)
        logits, cache = chunked.prefill(idx[:, :300])
        torch.testing.assert_close(logits, full[:, :300], atol=1e-5, rtol=1e-5)
        for t in range(300, 305):
            step_logits, cache = chunked.step(idx[:, t], cache)
            torch.testing.assert_close(step_logits, full[:, t], atol=1e-5, rtol=1e-5)
