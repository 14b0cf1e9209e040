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


def test_small_normal_and_intended_inits():
    torch.manual_seed(2)
    small = HyperbolicMLR(32, 4000, normal_init="small").normals  # default: official S-RYM config
    normal = HyperbolicMLR(32, 4000, normal_init="normal").normals
    intd = HyperbolicMLR(32, 4000, normal_init="intended").normals
    assert abs(small.mean().item() - 0.01 / math.sqrt(32)) < 0.006 and abs(small.std().item() - 1.0) < 0.01
    assert abs(normal.mean().item() - 1 / math.sqrt(32)) < 0.006 and abs(normal.std().item() - 1.0) < 0.01
    assert abs(intd.mean().item()) < 0.006 and abs(intd.std().item() - 1 / math.sqrt(32)) < 0.005
    assert ModelConfig().normal_init == "small" and HyperbolicMLR(4, 2).normals.std() > 0.3


def test_euclidean_sn_normalises_the_encoder_not_the_output_layer():
    torch.manual_seed(4)
    model = ActorCritic((4,), 2, ModelConfig(head="euclidean_sn"))
    assert not model.hyperbolic
    for layer in spectral_layers(model.encoder):
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(w, ord=2) <= 1 + 1e-3
    assert not hasattr(model.head, "parametrizations")  # the output layer stays plain (pre_final_sn)
    assert torch.linalg.matrix_norm(model.head.weight[-1:], ord=2) > 0.5


def test_impala_encoder_for_64x64_frames():
    from hyperbolic_rl.model import ImpalaStack

    torch.manual_seed(5)
    model = ActorCritic((3, 64, 64), 15, ModelConfig(head="srym", hidden=(), embed_dim=32))
    stacks = [m for m in model.encoder if isinstance(m, ImpalaStack)]
    assert [s[0].out_channels for s in stacks] == [16, 32, 32]
    # 64 -> 32 -> 16 -> 8 after three max-pools: the projection takes 32 * 8 * 8 features
    linear = spectral_layers(model.encoder)[-1]
    assert linear.in_features == 32 * 8 * 8 and linear.out_features == 32
    # spectral norm reaches the convs nested in the residual blocks (S-RYM: every layer)
    assert all(hasattr(m, "parametrizations") for m in spectral_layers(model.encoder))
    logits, value, info = model(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 15) and value.shape == (2,) and torch.isfinite(logits).all()


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
