import pytest
import torch

from image2sphere.model import I2S, I2SConfig, ResNet, RotationGrid, SpatialS2Projector
from orals23_shared.cli import UsageError


def tiny_config(**kw):
    base = dict(
        encoder="small_cnn",
        in_channels=1,
        image_size=16,
        lmax=2,
        sphere_fdim=4,
        f_hidden=2,
        act_resolution=3,
        train_grid_rec=0,
        eval_grid_rec=1,
    )
    base.update(kw)
    return I2SConfig(**base)


def test_eval_is_deterministic_and_train_is_random():
    torch.manual_seed(0)
    model = I2S(tiny_config())
    img = torch.rand(3, 1, 16, 16)
    model.eval()
    assert torch.equal(model(img), model(img))
    p1, _ = model.probabilities(img)
    p2, _ = model.probabilities(img)
    assert torch.equal(p1, p2)
    assert torch.allclose(p1.sum(1), torch.ones(3), atol=1e-5)
    model.train()
    assert not torch.allclose(model(img), model(img))


def test_eval_projection_is_the_expectation_of_the_random_subset():
    torch.manual_seed(1)
    proj = SpatialS2Projector(3, 4, 2, lmax=2, n_subset=20)
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        f = torch.relu(torch.einsum("bchw,hwn->bcn", proj.conv1x1(x), proj.weight))
        exact = torch.einsum("ni,bcn->bci", proj.Y, f) * 20**0.5 / proj.n_pts
        proj.eval()
        assert torch.allclose(proj(x), exact, atol=1e-6)
        proj.train()
        samples = torch.stack([proj(x) for _ in range(1000)])
    # Monte Carlo mean over random subsets converges to the eval output: within 5 standard errors
    stderr = samples.std(0) / 1000**0.5
    assert bool(((samples.mean(0) - exact).abs() <= 5 * stderr + 1e-6).all())


def test_chunked_grid_logits_equal_cached():
    x = torch.randn(3, sum((2 * l + 1) ** 2 for l in range(3)))
    cached = RotationGrid(1, 2, cache_bytes=2**30)
    chunked = RotationGrid(1, 2, cache_bytes=0, chunk=100)
    assert chunked._wigner is None
    assert torch.allclose(cached.logits(x), chunked.logits(x), atol=1e-5)


def test_loss_targets_nearest_grid_rotation_and_backpropagates():
    torch.manual_seed(2)
    model = I2S(tiny_config())
    grid = model.grid(0).rotations
    img = torch.rand(4, 1, 16, 16)
    loss, err = model.loss(img, grid[:4])
    loss.backward()
    assert torch.isfinite(loss) and err.shape == (4,)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_wrong_image_shape_is_a_usage_error():
    model = I2S(tiny_config())
    with pytest.raises(UsageError, match="images must have shape"):
        model(torch.rand(2, 3, 16, 16))
    with pytest.raises(UsageError, match="images must have shape"):
        model(torch.rand(2, 1, 20, 20))


def test_resnet_trunk_and_weights_from_path(tmp_path):
    torch.manual_seed(3)
    net = ResNet(18)
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    state = {**net.state_dict(), "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}
    torch.save(state, tmp_path / "r18.pt")
    other = ResNet(18)
    other.load_weights(tmp_path / "r18.pt")
    assert torch.equal(other.conv1.weight, net.conv1.weight)
    with pytest.raises(UsageError, match="not found"):
        other.load_weights(tmp_path / "missing.pt")
    with pytest.raises(UsageError, match="matching ResNet"):
        ResNet(34).load_weights(tmp_path / "r18.pt")
    assert ResNet(50).out_channels == 2048


@pytest.mark.parametrize("encoder,size", [("small_cnn", 50), ("small_cnn", 48), ("resnet18", 48), ("resnet18", 40)])
def test_odd_image_sizes_run_a_forward_pass(encoder, size):
    """The feature-map side comes from a dummy forward, not image_size // stride (which crashed at 50 / 48 px)."""
    from image2sphere.model import feature_map_size

    cfg = I2SConfig(encoder=encoder, in_channels=1, image_size=size, lmax=2, sphere_fdim=4, act_resolution=4)
    model = I2S(cfg).eval()
    assert feature_map_size(cfg) == model.encoder(torch.zeros(1, 1, size, size)).shape[-1]
    assert model(torch.rand(2, 1, size, size)).shape == (2, 35)


def test_too_small_image_is_a_usage_error():
    with pytest.raises(UsageError, match="image_size"):
        I2S(I2SConfig(encoder="resnet18", in_channels=1, image_size=0, lmax=2, sphere_fdim=4))
