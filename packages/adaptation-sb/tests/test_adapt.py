"""The protocols: LP leaves the backbone untouched, LP+FT starts FT from the probe exactly, FT's first step is SGD's,
and a resumed FT run ends where an uninterrupted one ends."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adaptation_sb.adapt import build_model, run_protocol
from adaptation_sb.model import BackboneConfig, Classifier, MLPEncoder
from adaptation_sb.probes import ProbeConfig, extract_features, train_probe
from adaptation_sb.train import FitConfig, finetune
from orals23_shared.cli import UsageError

PROBE = ProbeConfig(epochs=10)


def _state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_lp_leaves_the_backbone_unchanged(splits, backbone):
    before = _state(backbone)
    for variant in ("lp", "vat", "udp", "soup"):
        res = run_protocol(backbone, splits.train, splits.val, "lp", ProbeConfig(variant=variant, epochs=3),
                           FitConfig(), 10)  # fmt: skip
        for k, v in res.model.backbone.state_dict().items():
            assert torch.equal(v, before[f"{k}"]), (variant, k)
        assert not any(p.requires_grad for p in res.model.backbone.parameters())
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k])


def test_lp_plus_ft_starts_from_the_probe_exactly(splits, backbone, tmp_path):
    model, lp_head, _ = build_model(backbone, splits.train, splits.val, "lp+ft", PROBE, 10, seed=5,
                                    lp_file=tmp_path / "lp_head.pt")  # fmt: skip
    h = extract_features(backbone, torch.as_tensor(splits.train.x))
    ref, _ = train_probe(h, torch.as_tensor(splits.train.y), 10, PROBE, seed=5)  # the probe, trained independently
    assert torch.equal(model.head.weight, ref.weight) and torch.equal(model.head.bias, ref.bias)
    assert torch.equal(lp_head.weight, ref.weight)
    # a resumed run reads the saved probe back bit for bit
    again, _, rec = build_model(backbone, splits.train, splits.val, "lp+ft", PROBE, 10, seed=99,
                                lp_file=tmp_path / "lp_head.pt")  # fmt: skip
    assert torch.equal(again.head.weight, ref.weight) and "probe_record" in rec
    # FT's head is fresh, and differs
    ft_model, none, _ = build_model(backbone, splits.train, splits.val, "ft", PROBE, 10, seed=5)
    assert none is None and not torch.equal(ft_model.head.weight, ref.weight)


def test_first_ft_step_is_nesterov_sgd_from_the_probe(splits, backbone):
    """One Lightning step of LP+FT equals w - lr (1 + m) g at the probe's weights, on the loader's first batch."""
    model, _, _ = build_model(backbone, splits.train, splits.val, "lp+ft", PROBE, 10, seed=1)
    start = copy.deepcopy(model).requires_grad_(True)
    x, y = torch.as_tensor(splits.train.x), torch.as_tensor(splits.train.y)
    cfg = FitConfig(epochs=1, batch_size=32, lr=0.05, seed=7, stop_after=1)
    finetune(model, x, y, cfg)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(7 * 1_000_003))
    idx = order[:32]
    loss = F.cross_entropy(start(x[idx]), y[idx])
    grads = torch.autograd.grad(loss, list(start.parameters()))
    for (name, p0), g, p1 in zip(start.named_parameters(), grads, model.parameters()):
        torch.testing.assert_close(p1.detach(), p0.detach() - 0.05 * 1.9 * g, atol=1e-6, rtol=1e-5, msg=name)


def test_resumed_ft_equals_an_uninterrupted_run(splits, backbone, tmp_path):
    x, y = torch.as_tensor(splits.train.x[:96]), torch.as_tensor(splits.train.y[:96])
    cfg = FitConfig(epochs=2, batch_size=32, lr=0.05, seed=3, checkpoint_every=1)  # 3 steps per epoch, 6 in all
    straight, _, _ = build_model(backbone, splits.train, splits.val, "ft", PROBE, 10, seed=2)
    halted = copy.deepcopy(straight)
    finetune(straight, x, y, cfg)
    run = tmp_path / "run"
    finetune(halted, x, y, FitConfig(**{**cfg.__dict__, "stop_after": 4}), run=run)  # stops mid-epoch 2
    resumed, _, _ = build_model(backbone, splits.train, splits.val, "ft", PROBE, 10, seed=2)  # a fresh process
    finetune(resumed, x, y, cfg, run=run, resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    fresh, _, _ = build_model(backbone, splits.train, splits.val, "ft", PROBE, 10, seed=2)
    finetune(fresh, x, y, FitConfig(**{**cfg.__dict__, "epochs": 1}))  # a restart without the checkpoint differs
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(straight.parameters(), fresh.parameters()))


def test_head_and_input_sizes_must_fit_the_backbone(splits, backbone):
    with pytest.raises(ValueError, match="takes 16 features but the backbone gives 32"):
        Classifier(backbone, nn.Linear(16, 10))
    other = MLPEncoder(BackboneConfig(in_shape=(8, 8), hidden=8, feat_dim=4))
    with pytest.raises(UsageError, match="do not fit the backbone"):
        build_model(other, splits.train, splits.val, "ft", PROBE, 10)
    with pytest.raises(UsageError, match="not defined"):
        build_model(backbone, splits.train, splits.val, "lp-ft", PROBE, 10)


def test_conv_backbone_shapes_and_lp_leaves_it_unchanged(splits):
    """The conv encoder takes (n, H, W) and (n, C, H, W) images; LP on it trains only the head."""
    from adaptation_sb.model import ConvEncoder, make_encoder

    enc = make_encoder(BackboneConfig(in_shape=(16, 8), feat_dim=12, arch="conv", channels=4))
    assert isinstance(enc, ConvEncoder)
    assert enc(torch.rand(5, 16, 8)).shape == (5, 12)
    rgb = make_encoder(BackboneConfig(in_shape=(3, 64, 32), feat_dim=7, arch="conv", channels=2))
    assert rgb(torch.rand(2, 3, 64, 32)).shape == (2, 7)
    # the features depend on every input channel (a reshape that mixed C into H would still run: check the map)
    x = torch.rand(1, 3, 64, 32)
    y = x.clone()
    y[:, 2] = 0.0
    assert not torch.equal(rgb(x), rgb(y))
    before = _state(enc)
    res = run_protocol(enc, splits.train, splits.val, "lp", ProbeConfig(epochs=2), FitConfig(), 10)
    for k, v in res.model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(UsageError, match="conv backbone takes images"):
        BackboneConfig(in_shape=(128,), arch="conv")
    with pytest.raises(UsageError, match="not defined"):
        BackboneConfig(arch="resnet")
