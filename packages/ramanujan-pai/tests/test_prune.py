"""Each PaI method against a hand-computed reference; exact densities; SynFlow data-free; ERK budget."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from orals23_shared.cli import UsageError
from ramanujan_pai.model import MLP, SmallCNN, prunable_layers
from ramanujan_pai.prune import (
    METHODS,
    apply_masks,
    check_masks,
    erk_densities,
    exact_counts,
    mask_density,
    prune,
    scores,
    select_topk,
)


def _data(n=48, d=64, k=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, d, generator=g), torch.randint(0, k, (n,), generator=g))]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scope", ["global", "local"])
@pytest.mark.parametrize("density", [0.05, 0.3])
def test_density_is_exact(method, scope, density):
    torch.manual_seed(0)
    model = MLP(64, (32, 16), 10)
    masks = prune(model, method, density, _data(), (64,), scope=scope, iterations=3, seed=1)
    assert set(masks) == set(prunable_layers(model))
    n = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    if scope == "local" and method != "erk":
        for m in masks.values():
            assert abs(int(m.sum()) - density * m.numel()) <= 1
    else:
        assert abs(kept - density * n) <= 1
    assert all(m.dtype == torch.bool for m in masks.values())


def _linear_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))


def test_synflow_closed_form_and_data_free():
    """R = 1^T |W2| |W1| 1: score(W1_ij) = |W1_ij| sum_k |W2_ki|, score(W2_ki) = |W2_ki| sum_j |W1_ij|."""
    net = _linear_net()
    w1, w2 = net[0].weight.detach().abs().double(), net[2].weight.detach().abs().double()
    s = scores(net, "synflow", input_shape=(3,))
    assert torch.allclose(s["0"].double(), w1 * w2.sum(0)[:, None], rtol=1e-6)
    assert torch.allclose(s["2"].double(), w2 * w1.sum(1)[None, :], rtol=1e-6)
    assert (net[0].weight.detach() < 0).any()  # the model's own weights are untouched (signs kept)
    model = MLP(64, (32, 16), 10)
    a = prune(model, "synflow", 0.1, _data(seed=1), iterations=5)
    b = prune(model, "synflow", 0.1, _data(seed=2), iterations=5)
    c = prune(model, "synflow", 0.1, None, input_shape=(64,), iterations=5)
    assert all(torch.equal(a[n], b[n]) and torch.equal(a[n], c[n]) for n in a)


def test_snip_by_hand():
    """L = sum(y * f(x)) for a linear layer: dL/dW = y^T x, SNIP = |W * y^T x| / sum."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    s = scores(net, "snip", [(x[:2], y[:2]), (x[2:], y[2:])], loss_fn=lambda out, t: (out * t).sum())["0"]
    ref = (net[0].weight.detach() * (y.T @ x)).abs()
    assert torch.allclose(s, ref / ref.sum(), atol=1e-7)
    assert s.sum().item() == pytest.approx(1.0)


def test_grasp_against_finite_difference_hessian_vector_product():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    s = scores(net, "grasp", batches)
    ws = [net[0].weight, net[2].weight]

    def grad_at(shift: float, v: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            for w, d in zip(ws, v):
                w.add_(shift * d)
        loss = sum(nn.functional.cross_entropy(net(a) / 200.0, b) for a, b in batches)
        g = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, d in zip(ws, v):
                w.sub_(shift * d)
        return [t.detach() for t in g]

    g = grad_at(0.0, [torch.zeros_like(w) for w in ws])
    eps = 1e-4
    hg = [(p - m) / (2 * eps) for p, m in zip(grad_at(eps, g), grad_at(-eps, g))]
    raw = [h * w.detach() for h, w in zip(hg, ws)]
    norm = abs(sum(r.sum() for r in raw)) + 1e-10
    assert torch.allclose(s["0"], raw[0] / norm, rtol=1e-4, atol=1e-8)
    assert torch.allclose(s["2"], raw[1] / norm, rtol=1e-4, atol=1e-8)
    masks = prune(net, "grasp", 0.5, batches)  # largest scores kept
    flat = torch.cat([s["0"].flatten(), s["2"].flatten()])
    kept = torch.cat([masks["0"].flatten(), masks["2"].flatten()])
    assert flat[kept].min() >= flat[~kept].max()


def test_magnitude_keeps_largest_weights_globally():
    net = _linear_net(5)
    masks = prune(net, "magnitude", 0.25, None)
    w = torch.cat([net[0].weight.abs().flatten(), net[2].weight.abs().flatten()]).detach()
    kept = torch.cat([masks["0"].flatten(), masks["2"].flatten()])
    assert int(kept.sum()) == 5 and w[kept].min() >= w[~kept].max()


def test_rand_is_about_uniform_per_layer():
    model = MLP(64, (256, 128), 10)
    masks = prune(model, "rand", 0.2, None, seed=3)
    for m in masks.values():
        n = m.numel()
        assert abs(m.float().mean().item() - 0.2) <= 4 * math.sqrt(0.2 * 0.8 / n) + 1 / n


def test_itersnip_with_one_iteration_is_snip_and_iterations_shrink_masks():
    torch.manual_seed(0)
    model = MLP(64, (32, 16), 10)
    data = _data()
    a, b = prune(model, "snip", 0.2, data), prune(model, "itersnip", 0.2, data, iterations=1)
    assert all(torch.equal(a[n], b[n]) for n in a)
    c = prune(model, "itersnip", 0.2, data, iterations=10)
    assert mask_density(c.values()) == pytest.approx(mask_density(a.values()), abs=1e-3)
    assert any(not torch.equal(a[n], c[n]) for n in a)  # re-scoring changes the selection


def test_erk_by_hand_and_cap():
    shapes = [(10, 100), (10, 10)]
    # raw = 110/1000 and 20/100; eps = 550 / (0.11*1000 + 0.2*100) = 550/130
    d = erk_densities(shapes, 0.5)
    assert d == pytest.approx([0.11 * 550 / 130, 0.2 * 550 / 130])
    assert sum(di * n for di, n in zip(d, (1000, 100))) == pytest.approx(550)
    # density 0.9: the small layer would exceed 1 -> dense; eps = (900 - 10) / 110
    d = erk_densities(shapes, 0.9)
    assert d == pytest.approx([0.11 * 890 / 110, 1.0])
    assert sum(di * n for di, n in zip(d, (1000, 100))) == pytest.approx(990)
    conv = [(64, 3, 3, 3), (128, 64, 3, 3), (10, 128)]
    for dens in (0.01, 0.1, 0.5):
        ds = erk_densities(conv, dens)
        sizes = [math.prod(s) for s in conv]
        assert max(ds) <= 1.0 + 1e-12
        assert sum(a * b for a, b in zip(ds, sizes)) == pytest.approx(dens * sum(sizes))
    counts = exact_counts([0.5, 1.0, 0.25], [3, 4, 5], 7)
    assert sum(counts) == 7 and all(c <= n for c, n in zip(counts, [3, 4, 5]))


def test_conv_layers_and_first_last_included():
    model = SmallCNN(1, 8, (4, 8), 10)
    masks = prune(model, "snip", 0.3, [(torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,)))])
    assert list(masks) == ["conv1", "conv2", "fc"] and masks["conv2"].shape == (8, 4, 3, 3)


def test_select_topk_local_and_global():
    s = {"a": torch.tensor([[5.0, 1.0], [2.0, 0.0]]), "b": torch.tensor([[3.0, 4.0]])}
    g = select_topk(s, 0.5, "global")
    assert g["a"].tolist() == [[True, False], [False, False]] and g["b"].tolist() == [[True, True]]
    loc = select_topk(s, 0.5, "local")
    assert loc["a"].tolist() == [[True, False], [True, False]] and loc["b"].tolist() == [[False, True]]


def test_masks_applied_and_checked():
    model = MLP(8, (6,), 3)
    masks = prune(model, "rand", 0.5, None)
    apply_masks(model, masks)
    for n, m in prunable_layers(model).items():
        assert (m.weight[~masks[n]] == 0).all()
    with pytest.raises(UsageError, match="shape"):
        check_masks(model, {**masks, "out": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(UsageError, match="miss"):
        check_masks(model, {"out": masks["out"]})


@pytest.mark.parametrize("density", [0.0, -0.1, 1.5])
def test_bad_density(density):
    with pytest.raises(UsageError, match="density"):
        prune(MLP(8, (6,), 3), "rand", density, None)


@pytest.mark.parametrize("method", ["snip", "itersnip", "grasp"])
def test_data_methods_need_data(method):
    with pytest.raises(UsageError, match="needs data"):
        prune(MLP(8, (6,), 3), method, 0.5, None)
    with pytest.raises(UsageError, match="unknown method"):
        prune(MLP(8, (6,), 3), "nope", 0.5, None)


def test_same_seed_same_masks():
    model = MLP(64, (32, 16), 10)
    for method in ("rand", "erk"):
        a, b = prune(model, method, 0.1, None, seed=7), prune(model, method, 0.1, None, seed=7)
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert np.isclose(mask_density(a.values()), 0.1, atol=1e-3)


def test_cifar_models_prune_every_layer():
    from ramanujan_pai.model import build_model

    for name, n_layers in (("resnet34", 37), ("vgg16", 14)):
        model = build_model(name, (3, 32, 32), 10)
        masks = prune(model, "erk", 0.05, None)
        assert len(masks) == n_layers
        sizes = sum(m.numel() for m in masks.values())
        assert abs(sum(int(m.sum()) for m in masks.values()) - 0.05 * sizes) <= 1
        apply_masks(model.eval(), masks)
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_small_cnn_conv2_graph_is_defined_at_low_density():
    """The reproduce's CNN: conv2 (576 input units x 64) passes d >= 3 with IMDB groups at density 0.05;
    conv1 (9 input units) cannot at a uniform density, as d_R = 9 x 0.05 < 3."""
    from ramanujan_pai.graph import model_metrics
    from ramanujan_pai.model import build_model

    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    masks = prune(model, "rand", 0.05, None, seed=0)
    layers = model_metrics(masks)["layers"]
    assert (layers["conv2"]["dim_in"], layers["conv2"]["dim_out"]) == (576, 64)
    assert not layers["conv2"]["skipped"] and layers["conv2"]["imdb_groups"] >= 1
    assert layers["conv1"]["skipped"]
    assert build_model("cnn", (3, 9, 12), 4)(torch.rand(2, 3, 9, 12)).shape == (2, 4)
    with pytest.raises(ValueError, match="5 x 5"):
        build_model("cnn", (1, 4, 4), 10)
