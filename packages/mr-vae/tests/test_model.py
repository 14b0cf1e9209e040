"""Gates, beta sampling, the KL term, likelihoods and the MR-VAE <-> beta-VAE relation (paper Eq. 7, Listing 1)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mr_vae.model as M
from mr_vae.model import SQRT3, VAE, BetaRange, Gates, apply_gate, gaussian_kl, sigmoid_gate, sqrt_gate


@given(st.floats(-30, 30, allow_nan=False))
@settings(max_examples=200, deadline=None)
def test_gates_have_the_official_forms_and_ranges(t):
    x = torch.tensor([t], dtype=torch.float64)
    enc, dec = sigmoid_gate(x).item(), sqrt_gate(x).item()
    assert enc == pytest.approx(1 / (1 + math.exp(-t)), rel=1e-12, abs=1e-300)
    assert dec == pytest.approx(math.sqrt(max(0.0, 1 - math.exp(t))), rel=1e-12, abs=1e-300)
    assert 0 <= enc <= 1 and 0 <= dec < 1
    if t >= 0:
        assert dec == 0.0  # the unit is off for this beta


@pytest.mark.parametrize("t", [-5.0, -1e-3, -1e-7, -1e-30, 0.0, 1e-7, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sqrt_gate_gradient_is_finite_at_and_near_the_boundary(t, dtype):
    x = torch.tensor([t], dtype=dtype, requires_grad=True)
    sqrt_gate(x).sum().backward()
    g = x.grad.item()
    assert math.isfinite(g)
    if t >= 0:
        assert g == 0.0
    if t < -1e-3:  # away from the boundary the gradient is the analytic one
        assert g == pytest.approx(-math.exp(t) / (2 * math.sqrt(1 - math.exp(t))), rel=1e-4)


def test_hyper_layer_keeps_default_init_not_zero():
    gates = Gates([300, 200], [200, 300])
    w, b = gates.hyper.weight.detach(), gates.hyper.bias.detach()
    assert w.shape == (1000, 1) and b.shape == (1000,)
    for p in (w, b):  # U(-1, 1): the default nn.Linear(1, n) initialisation, as the official code keeps it
        assert (
            p.abs().max() <= 1 and p.abs().mean() > 0.4 and float(p.std()) == pytest.approx(1 / math.sqrt(3), rel=0.1)
        )


def test_fast_gates_equal_the_reference_formula_in_values_and_gradients():
    """The per-layer ``addcmul`` gating (the fast path) is the same function as one ``nn.Linear(1, N)`` then split,
    including the gradients of the hyper-parameters, on units that straddle the sqrt gate's dead zone."""
    torch.manual_seed(3)
    gates = Gates([7, 5], [5, 9, 3])
    with torch.no_grad():  # push some decoder units past t = 0 for some xi: gate 0, gradient 0
        gates.hyper.bias[gates.n_enc :] += 0.8
    xi = torch.linspace(-SQRT3, SQRT3, 33)
    weights = [torch.randn(33, u) for u in gates.encoder_units + gates.decoder_units]
    results = []
    for forward in (gates.forward, gates.reference_forward):
        gates.zero_grad()
        enc, dec = forward(xi)
        assert [g.shape[1] for g in enc] == gates.encoder_units and [g.shape[1] for g in dec] == gates.decoder_units
        sum((g * w).sum() for g, w in zip([*enc, *dec], weights)).backward()
        results.append(([g.detach() for g in (*enc, *dec)], gates.hyper.weight.grad.clone(), gates.hyper.bias.grad))
    (fast, gw, gc), (ref, rw, rc) = results
    assert any((g == 0).any() for g in fast[2:]) and any((g > 0).any() for g in fast[2:])
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gc, rc, rtol=1e-5, atol=1e-6)


def test_fast_gates_give_the_reference_model_loss_and_gradients():
    """A whole conv MR-VAE step with the fast gates equals the same step with the reference gating."""
    torch.manual_seed(4)
    model = VAE((1, 9, 7), 4, "conv", hidden=(16,), channels=(4, 6))
    x, eps = torch.rand(5, 1, 9, 7).round(), torch.randn(5, 4)
    xi = torch.linspace(-1.7, 1.7, 5)
    grads = []
    for forward in (model.gates.forward, model.gates.reference_forward):
        model.zero_grad()
        gates = forward(xi)
        mu, logvar = model.encode(x, xi, gates)
        z = mu + torch.exp(0.5 * logvar) * eps
        loss = (model.distortion(x, model.decode(z, xi, gates)) + gaussian_kl(mu, logvar)).sum()
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_zero_initialised_decoder_gates_would_kill_the_decoder():
    """The brief's pitfall 3: w = c = 0 gives gate sqrt(relu(0)) = 0 with zero gradient, so nothing recovers."""
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 4, "mlp", hidden=(16, 16))
    with torch.no_grad():
        model.gates.hyper.weight.zero_()
        model.gates.hyper.bias.zero_()
    x = (torch.rand(8, 1, 8, 8) > 0.5).float()
    dist, rate = model(x, torch.zeros(8), torch.randn(8, 4))
    (dist + rate).sum().backward()
    dec_w = model.decoder.layers[0].weight.grad
    assert dec_w.abs().max() == 0  # the decoder's first layer gets no gradient at all
    assert model.gates.hyper.weight.grad[model.gates.n_enc :].abs().max() == 0


def test_beta_sampler_is_standardised_log_uniform_and_inverted_exactly():
    rng = BetaRange(0.01, 10.0)
    beta, xi = rng.sample(200_000, torch.Generator().manual_seed(0))
    assert xi.mean().abs() < 0.01 and xi.var() == pytest.approx(1.0, abs=0.01)
    assert beta.min() >= 0.01 * (1 - 1e-6) and beta.max() <= 10.0 * (1 + 1e-6)
    # log beta uniform on [log a, log b]: each decade holds a third of the mass
    decades = torch.histc(torch.log10(beta), bins=3, min=-2, max=1) / len(beta)
    assert torch.allclose(decades, torch.full((3,), 1 / 3), atol=0.01)
    torch.testing.assert_close(rng.xi(beta), xi, rtol=0, atol=1e-5)
    assert rng.xi(0.01).item() == pytest.approx(-math.sqrt(3)) and rng.xi(10.0).item() == pytest.approx(math.sqrt(3))
    with pytest.raises(ValueError):
        BetaRange(1.0, 1.0)
    with pytest.raises(ValueError):
        BetaRange(0.0, 1.0)


def test_gates_broadcast_over_channels_and_space():
    a = torch.randn(3, 4, 5, 6)
    g = torch.rand(3, 4)
    out = apply_gate(a, g)
    for b in range(3):
        for c in range(4):
            torch.testing.assert_close(out[b, c], a[b, c] * g[b, c])


@pytest.mark.parametrize("arch,shape", [("mlp", (1, 8, 8)), ("conv", (1, 8, 8)), ("conv", (3, 7, 9))])
def test_per_row_xi_equals_running_rows_separately(arch, shape):
    torch.manual_seed(0)
    model = VAE(shape, 5, arch, hidden=(24, 16), channels=(4, 6))
    x = torch.rand(6, *shape).round()
    xi = torch.linspace(-1.7, 1.7, 6)
    eps = torch.randn(6, 5)
    dist, rate = model(x, xi, eps)
    for i in range(6):
        d1, r1 = model(x[i : i + 1], xi[i : i + 1], eps[i : i + 1])
        torch.testing.assert_close(d1, dist[i : i + 1], rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(r1, rate[i : i + 1], rtol=1e-5, atol=1e-5)
    assert model.decode(torch.randn(2, 5), xi[:2]).shape == (2, *shape)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_gates_fixed_to_one_reduce_to_the_plain_beta_vae(arch, monkeypatch):
    torch.manual_seed(0)
    gated = VAE((1, 8, 8), 4, arch, hidden=(16, 12), channels=(3, 5), gated=True)
    plain = VAE((1, 8, 8), 4, arch, hidden=(16, 12), channels=(3, 5), gated=False)
    missing = plain.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("gates.")})
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.rand(5, 1, 8, 8).round()
    eps = torch.randn(5, 4)
    xi = torch.rand(5) * 3 - 1.5
    d_gated, r_gated = gated(x, xi, eps)
    assert not torch.allclose(d_gated, plain(x, None, eps)[0])  # real gates change the model
    monkeypatch.setattr(M, "sigmoid_gate", torch.ones_like)
    monkeypatch.setattr(M, "sqrt_gate", torch.ones_like)
    for got, want in zip(gated(x, xi, eps), plain(x, None, eps)):
        torch.testing.assert_close(got, want)
    # and xi=None switches the gates off in a gated model
    for got, want in zip(gated(x, None, eps), plain(x, None, eps)):
        torch.testing.assert_close(got, want)


def test_kl_matches_the_analytic_gaussian_kl_and_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 3), torch.randn(7, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(mc, gaussian_kl(mu, logvar), rtol=0.02, atol=0.02)


def test_distortions_are_the_negative_log_likelihoods():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 3, 3).round()
    logits = torch.randn(4, 1, 3, 3)
    bern = VAE((1, 3, 3), 2, "mlp", hidden=(4,), likelihood="bernoulli")
    want = -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bern.distortion(x, logits), want)
    gauss = VAE((1, 3, 3), 2, "mlp", hidden=(4,), likelihood="gaussian", sigma2=0.3)
    xg = torch.randn(4, 1, 3, 3)
    want = -torch.distributions.Normal(logits, math.sqrt(0.3)).log_prob(xg).flatten(1).sum(1)
    torch.testing.assert_close(gauss.distortion(xg, logits), want)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("xi", [-math.sqrt(3), 0.0, math.sqrt(3), None])
def test_reparameterisation_gradients_are_finite_and_match_finite_differences(arch, xi):
    torch.manual_seed(1)
    model = VAE((1, 8, 8), 3, arch, hidden=(10, 8), channels=(2, 3)).double()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64).round()
    eps = torch.randn(4, 3, dtype=torch.float64)
    xis = None if xi is None else torch.full((4,), xi, dtype=torch.float64)

    def loss() -> torch.Tensor:
        d, r = model(x, xis, eps)
        return (d + 0.5 * r).sum()

    model.zero_grad()
    loss().backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    # one encoder weight through the reparameterised sample: autograd equals a central difference
    w = model.mu.weight
    g = w.grad[0, 0].item()
    with torch.no_grad():
        w[0, 0] += 1e-6
        up = loss().item()
        w[0, 0] -= 2e-6
        down = loss().item()
        w[0, 0] += 1e-6
    assert g == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-6)


def test_conv_vae_handles_any_image_size():
    for shape in [(1, 28, 28), (3, 5, 11), (1, 1, 1)]:
        model = VAE(shape, 4, "conv", hidden=(8,), channels=(2, 3))
        out = model.decode(torch.randn(2, 4), torch.zeros(2))
        assert out.shape == (2, *shape)
