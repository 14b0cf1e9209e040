"""The relative projection against explicit references; invariances; anchors without gradient."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from relreps.model import MLPEncoder, RelativeModel, classifier_decoder
from relreps.projection import RelativeProjection, check_anchor_count, relative_projection


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _orthogonal(d, seed=1):
    q, _ = torch.linalg.qr(_rand(d, d, seed=seed))
    return q


def test_cosine_equals_an_explicit_loop():
    x, a = _rand(7, 5), _rand(4, 5, seed=3)
    r = relative_projection(x, a)
    for i in range(7):
        for k in range(4):
            cos = float(x[i] @ a[k]) / math.sqrt(float(x[i] @ x[i]) * float(a[k] @ a[k]))
            assert abs(float(r[i, k]) - cos) < 1e-12


def test_inner_without_l2_divides_by_sqrt_d_like_the_official_code():
    x, a = _rand(3, 9), _rand(2, 9, seed=2)
    torch.testing.assert_close(relative_projection(x, a, "inner", "none"), x @ a.T / 3.0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0), d=st.integers(2, 12))
def test_cosine_is_invariant_to_orthogonal_maps_and_positive_scaling(seed, scale, d):
    x, a, q = _rand(20, d, seed=seed), _rand(8, d, seed=seed + 1), _orthogonal(d, seed + 2)
    r1 = relative_projection(x, a)
    r2 = relative_projection(scale * x @ q, scale * a @ q)
    assert float((r1 - r2).abs().max()) < 1e-6


def test_translation_breaks_invariance_the_documented_limitation():
    x, a = _rand(20, 6), _rand(8, 6, seed=5)
    shift = torch.full((6,), 2.0, dtype=torch.float64)
    diff = float((relative_projection(x, a) - relative_projection(x + shift, a + shift)).abs().max())
    assert diff > 0.1


def test_inner_without_normalisation_is_not_scale_invariant():
    x, a = _rand(5, 4), _rand(3, 4, seed=2)
    torch.testing.assert_close(
        relative_projection(3 * x, 3 * a, "inner", "none"), 9 * relative_projection(x, a, "inner", "none")
    )


def test_basis_change_is_invariant_to_invertible_linear_maps_and_reconstructs_x():
    d, k = 5, 9
    x, a = _rand(6, d), _rand(k, d, seed=4)
    m = _rand(d, d, seed=9) + 3 * torch.eye(d, dtype=torch.float64)  # invertible, not orthogonal
    c1 = relative_projection(x, a, "basis_change", "none")
    c2 = relative_projection(x @ m, a @ m, "basis_change", "none")
    torch.testing.assert_close(c1, c2, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(c1 @ a, x, atol=1e-8, rtol=1e-8)  # x = sum_k c_k a_k (anchors span R^d)


def test_anchors_from_another_dimensionality_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="anchors have 4 dimensions but the samples have 3"):
        relative_projection(torch.zeros(2, 3), torch.zeros(5, 4))
    proj = RelativeProjection(5)
    with pytest.raises(ValueError, match="expected 5 anchors"):
        proj(torch.zeros(2, 3), torch.zeros(4, 3))


def test_more_latent_dims_than_anchors_warns():
    with pytest.warns(UserWarning, match="only 10 anchors"):
        assert check_anchor_count(32, 10)
    assert not check_anchor_count(10, 32)


def _model(k=6, seed=0):
    torch.manual_seed(seed)
    enc = MLPEncoder(4, [8], 3)
    return RelativeModel(enc, classifier_decoder(k, 2), RelativeProjection(k), torch.randn(k, 4))


def test_anchors_carry_no_gradient():
    model = _model()
    x = torch.randn(10, 4)
    assert not model.anchor_latents().requires_grad
    model(x).sum().backward()
    got = [p.grad.clone() for p in model.encoder.parameters()]
    # reference: anchors embedded by a frozen copy of the encoder, batch through the live one
    ref = _model()
    frozen = _model()
    anchors = frozen.encoder(frozen.anchor_inputs).detach()
    ref.decoder(ref.projection(ref.encoder(x), anchors)).sum().backward()
    for g, r in zip(got, (p.grad for p in ref.encoder.parameters())):
        torch.testing.assert_close(g, r)
    # and the gradient would differ if anchors were differentiated through
    live = _model()
    live.decoder(live.projection(live.encoder(x), live.encoder(live.anchor_inputs))).sum().backward()
    assert any(not torch.allclose(g, p.grad) for g, p in zip(got, live.encoder.parameters()))


def test_anchors_are_re_embedded_by_the_current_encoder_at_every_forward():
    model = _model()
    before = model.anchor_latents().clone()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.5)
    assert not torch.allclose(before, model.anchor_latents())
    with model.cached_anchors():
        cached = model.anchor_latents()
        with torch.no_grad():
            model.encoder[1].weight.add_(1.0)
        assert torch.equal(cached, model.anchor_latents())  # cached inside the context only
    assert not torch.equal(cached, model.anchor_latents())


def test_layernorm_head_does_not_depend_on_the_batch_but_the_official_instancenorm_does():
    x, a = torch.randn(16, 5), torch.randn(7, 5)
    ln, inorm = RelativeProjection(7, output_norm="layernorm"), RelativeProjection(7, output_norm="instancenorm")
    torch.testing.assert_close(ln(x, a)[:4], ln(x[:4], a))
    assert not torch.allclose(inorm(x, a)[:4], inorm(x[:4], a), atol=1e-3)


def test_output_norms_and_quantisation():
    x, a = torch.randn(6, 4), torch.randn(5, 4)
    l2 = RelativeProjection(5, output_norm="l2")(x, a)
    torch.testing.assert_close(l2.norm(dim=1), torch.ones(6))
    q = RelativeProjection(5, output_norm="none", quantization="differentiable_round", bin_size=0.25)
    xr = x.clone().requires_grad_(True)
    out = q(xr, a)
    assert np.allclose((out / 0.25).detach().numpy(), np.round((out / 0.25).detach().numpy()), atol=1e-5)
    out.sum().backward()
    assert xr.grad is not None and float(xr.grad.abs().sum()) > 0  # straight-through gradient
    with pytest.raises(ValueError):
        RelativeProjection(5, quantization="differentiable_round")
    with pytest.raises(ValueError):
        RelativeProjection(5, output_norm="bogus")  # type: ignore[arg-type]
