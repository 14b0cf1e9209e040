"""Hyperbolic MLR gradients, spectral norms, Riemannian Adam and encoder input checks."""

import math

import pytest
import torch
from torch import nn

from hyperbolic_rl import ball
from hyperbolic_rl.model import ActorCritic, HyperbolicMLR, ModelConfig, make_encoder, spectral_layers
from hyperbolic_rl.optim import RiemannianAdam
from orals23_shared.cli import UsageError


def test_hyperbolic_mlr_gradients_match_finite_differences():
    torch.manual_seed(0)
    mlr = HyperbolicMLR(6, 4, c=0.8, normal_init="intended").double()
    with torch.no_grad():
        mlr.offsets.copy_(ball.expmap0(torch.randn(4, 6, dtype=torch.float64) * 0.3, 0.8))
    v = (torch.randn(5, 6, dtype=torch.float64) * 0.7).requires_grad_()

    def f(v, normals, offsets):
        params = {"normals": normals, "offsets": offsets}
        return torch.func.functional_call(mlr, params, (ball.expmap0(v, 0.8),))

    inputs = (v, mlr.normals.detach().clone().requires_grad_(), mlr.offsets.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


def test_hyperbolic_mlr_equals_the_formula_per_output():
    torch.manual_seed(1)
    c = 1.3
    mlr = HyperbolicMLR(3, 2, c=c).double()
    with torch.no_grad():
        mlr.offsets.copy_(ball.expmap0(torch.randn(2, 3, dtype=torch.float64) * 0.4, c))
    x = ball.expmap0(torch.randn(4, 3, dtype=torch.float64), c)
    out = mlr(x)
    for k in range(2):
        p, a = mlr.offsets[k], mlr.normals[k]
        cf = 1 - (p * p).sum()
        ak = a * cf
        z = ball.mobius_add(-p.expand_as(x), x, c)
        arg = 2 * math.sqrt(c) * (z * ak).sum(-1) / ((1 - c * (z * z).sum(-1)) * ak.norm())
        expected = ak.norm() / math.sqrt(c) * torch.asinh(arg) * 2 / cf * 0.5
        torch.testing.assert_close(out[:, k], expected.detach())


def test_official_and_intended_normal_inits():
    torch.manual_seed(2)
    off = HyperbolicMLR(32, 2000, normal_init="official").normals
    intd = HyperbolicMLR(32, 2000, normal_init="intended").normals
    assert abs(off.mean().item() - 1 / math.sqrt(32)) < 0.01 and abs(off.std().item() - 1.0) < 0.01
    assert abs(intd.mean().item()) < 0.01 and abs(intd.std().item() - 1 / math.sqrt(32)) < 0.005


@pytest.mark.parametrize("obs_shape", [(4,), (4, 84, 84), (6, 10, 10)])
def test_srym_spectral_norm_of_every_encoder_layer_at_most_one(obs_shape):
    torch.manual_seed(3)
    model = ActorCritic(obs_shape, 3, ModelConfig(head="srym"))
    layers = spectral_layers(model.encoder)
    assert len(layers) >= 3 and all(hasattr(m, "parametrizations") for m in layers)
    opt = RiemannianAdam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(5):  # a few updates move the weights; power iteration tracks them
        logits, value, _ = model(torch.randn(8, *obs_shape))
        (logits.pow(2).sum() + value.sum()).backward()
        opt.step()
        opt.zero_grad()
    model.train()
    with torch.no_grad():
        for _ in range(30):  # refresh the power-iteration vectors
            model(torch.randn(2, *obs_shape))
    for m in layers:
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(w, ord=2) <= 1 + 1e-3
    # without S-RYM the same layers are unconstrained (orthogonal init with gain sqrt(2))
    plain = ActorCritic(obs_shape, 3, ModelConfig(head="hyperbolic"))
    norms = [
        torch.linalg.matrix_norm(m.weight.detach().reshape(m.weight.shape[0], -1), ord=2)
        for m in spectral_layers(plain.encoder)
    ]
    assert max(norms) > 1.2


def test_srym_rescales_features_before_the_exp_map():
    torch.manual_seed(4)
    cfg = ModelConfig(head="srym", embed_dim=16, clip_norm=0.0, rescale_gain=1.0)
    model = ActorCritic((4,), 2, cfg).double().eval()
    obs = torch.randn(10, 4, dtype=torch.float64)
    z, x = model.features(obs)
    torch.testing.assert_close(x, ball.expmap0(z / 4.0))
    naive = ActorCritic((4,), 2, ModelConfig(head="hyperbolic", clip_norm=2.0)).double().eval()
    z, x = naive.features(obs * 100)
    clipped = z * torch.clamp(2.0 / z.norm(dim=-1, keepdim=True), max=1.0)
    torch.testing.assert_close(x, ball.expmap0(clipped))


def test_actor_critic_outputs_and_diagnostics():
    model = ActorCritic((4,), 2, ModelConfig(head="hyperbolic"))
    logits, value, info = model(torch.randn(7, 4))
    assert logits.shape == (7, 2) and value.shape == (7,)
    assert info["ball_norm"].shape == (7,) and (info["ball_norm"] < 1).all()
    logits, value, info = ActorCritic((4,), 2, ModelConfig(head="euclidean"))(torch.randn(7, 4))
    assert "ball_norm" not in info and logits.shape == (7, 2)


def test_riemannian_adam_matches_adam_on_euclidean_parameters():
    torch.manual_seed(5)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    oa, ob = torch.optim.Adam(a.parameters(), lr=1e-2, eps=1e-5), RiemannianAdam(b.parameters(), lr=1e-2, eps=1e-5)
    for _ in range(10):
        x = torch.randn(5, 3)
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    torch.testing.assert_close(a.weight, b.weight)
    torch.testing.assert_close(a.bias, b.bias)


def test_riemannian_adam_minimises_a_hyperbolic_distance_inside_the_ball():
    torch.manual_seed(6)
    c = 1.0
    target = ball.expmap0(torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64), c)  # far from 0
    p = nn.Parameter(torch.zeros(1, 3, dtype=torch.float64))
    p.ball_param = True
    opt = RiemannianAdam([p], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        ball.dist(p, target, c).sum().backward()
        opt.step()
        assert p.norm() < 1
    assert ball.dist(p, target, c).item() < 0.1


@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 3, 4), (3, 2, 2)])
def test_encoder_rejects_observations_it_cannot_take(shape):
    with pytest.raises(UsageError, match="observation|encoder"):
        make_encoder(shape, (8,), 4)


def test_model_rejects_bad_curvature_and_head():
    with pytest.raises(UsageError, match="curvature"):
        ActorCritic((4,), 2, ModelConfig(curvature=0.0))
    with pytest.raises(UsageError, match="head"):
        ActorCritic((4,), 2, ModelConfig(head="spherical"))  # type: ignore[arg-type]
