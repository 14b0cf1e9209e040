"""The ResNet-18 trunk (the official Yale-B model, written here because torchvision does not import beside this
torch): the standard ImageNet network's parameter count and shapes, the official heads, and ``--trunk`` end to end."""

from __future__ import annotations

import pytest
import torch

from circe.evaluate import predict
from circe.model import ResNet18, ResNet18Regressor, build_model
from circe.train import TrainConfig, load_run, train
from orals23_shared.cli import UsageError


def test_resnet18_is_the_standard_network():
    net = ResNet18(3, num_classes=1000)
    # torchvision's resnet18(): 11,689,512 parameters (He et al., 2016, 1000 ImageNet classes)
    assert sum(p.numel() for p in net.parameters()) == 11_689_512
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20  # stem + 16 in the blocks + 3 projection shortcuts
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 20
    assert (convs[0].kernel_size, convs[0].stride, convs[0].padding) == ((7, 7), (2, 2), (3, 3))
    shapes = []
    hooks = [s.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for s in (net.stem, *net.stages)]
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert tuple(out.shape) == (2, 1000)
    assert shapes == [(2, 64, 56, 56), (2, 64, 56, 56), (2, 128, 28, 28), (2, 256, 14, 14), (2, 512, 7, 7)]
    trunk = ResNet18(1)
    assert trunk.fc is None and sum(p.numel() for p in trunk.parameters()) == 11_689_512 - 513_000 - 2 * 3136


def test_resnet18_regressor_heads():
    reg = ResNet18Regressor([1, 64, 64], 1)
    lin = [m for m in reg.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(512, 128), (128, 64), (64, 1)]  # official config
    reg.eval()
    feats = reg(torch.rand(4, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(4, 512), (4, 128), (4, 64), (4, 1)]
    assert isinstance(build_model([1, 32, 32], 1, trunk="resnet18"), ResNet18Regressor)
    with pytest.raises(UsageError, match="unknown trunk"):
        build_model([1, 32, 32], 1, trunk="vgg")


def test_train_with_the_resnet18_trunk(tmp_path):
    cfg = TrainConfig(
        method="circe", data="sprites", trunk="resnet18", n_train=128, n_val=32, n_eval=32, heldout=32,
        batch_size=32, epochs=1, quiet=True, threads=1, out=tmp_path / "r",
    )  # fmt: skip
    res = train(cfg)
    assert isinstance(res.module.model.net, ResNet18Regressor)
    assert all(torch.isfinite(torch.tensor(res.summary[k])) for k in ("val_mse", "test_ood_mse"))
    x = torch.rand(8, 32, 32)
    torch.testing.assert_close(predict(load_run(tmp_path / "r").model, x), predict(res.module.model, x))
