"""Feature extractors whose forward returns every regularisable layer (Pogodin et al., ICLR 2023, Sec. 5).

As the official ``model/regressor.py``, ``forward`` returns the list of intermediate features ending with the
prediction ``y_hat``; the CIRCE penalty is applied to the last ``n_last_reg_layers`` entries, so the default
``n_last_reg_layers=1`` regularises the prediction itself (the official configs' choice), not a hidden layer.

* ``MLP`` for tabular ``x`` (n, d): ``d -> hidden -> hidden -> dy`` with LeakyReLU (no official counterpart: the
  official code has only image models).
* ``SmallCNN`` for images (n, 1, H, W) or (n, H, W): the official dSprites regressor
  (``config/dsprites_linear/circe.yml``): featurizer conv3x3 s2 (1->16) -> conv3x3 s2 (->32) -> maxpool 2 ->
  conv3x3 s2 (->64) -> maxpool 2 (LeakyReLU after each conv), ``fc1`` = Linear(flat, 128) + LeakyReLU,
  ``fc2`` = Linear(128, 64) with no activation, ``target`` = Linear(64, dy); features
  ``[flat, fc1, fc2, y_hat]``. ``flat`` is 256 on 64x64 images, as the official ``in_features: 256``.
* ``ResNet18Regressor`` for images: the official Extended Yale-B regressor (``config/yaleb_cone/circe.yml``):
  featurizer = ResNet-18 without its classifier (512 features after global average pooling), then the same
  ``fc1`` (512 -> 128 + LeakyReLU), ``fc2`` (128 -> 64), ``target`` heads. The official code loads torchvision's
  ImageNet weights (a download, and torchvision does not import beside this torch), so ``ResNet18`` here is a plain
  re-implementation of He et al. (2016)'s 18-layer network, trained from scratch; it takes the image's own
  channels (the official code repeats the grey channel 3 times for the ImageNet stem, which only matters with
  pretrained weights).
* ``ScaledNet`` wraps any of them: it standardises the inputs and returns features in standardised target units,
  and ``predict`` maps the prediction back to the data's units (see ``circe.data.Scaling``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from orals23_shared.cli import UsageError

__all__ = ["MLP", "SmallCNN", "ResNet18", "ResNet18Regressor", "ScaledNet", "TRUNKS", "build_model"]

#: image trunks selectable with ``circe-train --trunk``
TRUNKS = ("small-cnn", "resnet18")


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        dims = [in_dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(dims[-1], out_dim)
        self.act = nn.LeakyReLU()

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        h = x.reshape(x.shape[0], -1)
        for layer in self.hidden:
            h = self.act(layer(h))
            feats.append(h)
        feats.append(self.head(h))
        return feats


class SmallCNN(nn.Module):
    """The official dSprites regressor (featurizer, fc1, fc2, target)."""

    def __init__(self, in_shape: Sequence[int], out_dim: int) -> None:
        super().__init__()
        channels = in_shape[0] if len(in_shape) == 3 else 1
        self.featurizer = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.LeakyReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2, 2),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.featurizer(torch.zeros(1, channels, *in_shape[-2:])).numel()
        self.fc1 = nn.Sequential(nn.Linear(flat, 128), nn.LeakyReLU())
        self.fc2 = nn.Linear(128, 64)
        self.target = nn.Linear(64, out_dim)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim == 3:
            x = x[:, None]
        enc = self.featurizer(x).flatten(1)
        fc1 = self.fc1(enc)
        fc2 = self.fc2(fc1)
        return [enc, fc1, fc2, self.target(fc2)]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut (He et al., 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem, max pool, four stages of two basic blocks (64, 128, 256, 512 channels), global
    average pooling; a ``num_classes`` classifier when given (11.69M parameters with 3 channels and 1000 classes,
    the standard ImageNet model), else the 512 pooled features."""

    def __init__(self, in_channels: int = 3, num_classes: int | None = None) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out)))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        h = self.pool(self.stages(self.stem(x))).flatten(1)
        return self.fc(h) if self.fc is not None else h


class ResNet18Regressor(nn.Module):
    """The official Yale-B regressor on a ResNet-18 trunk: features ``[trunk (512), fc1, fc2, y_hat]``."""

    def __init__(self, in_shape: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.featurizer = ResNet18(in_shape[0] if len(in_shape) == 3 else 1)
        self.fc1 = nn.Sequential(nn.Linear(512, 128), nn.LeakyReLU())
        self.fc2 = nn.Linear(128, 64)
        self.target = nn.Linear(64, out_dim)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim == 3:
            x = x[:, None]
        enc = self.featurizer(x)
        fc1 = self.fc1(enc)
        fc2 = self.fc2(fc1)
        return [enc, fc1, fc2, self.target(fc2)]


class ScaledNet(nn.Module):
    """``net`` on standardised inputs: ``forward`` gives features in standardised target units, ``predict`` data units.

    ``x_shift``/``x_scale`` broadcast against one row of ``x`` (per column for tabular data, one number for
    images); ``y_shift``/``y_scale`` per target column. Integer inputs (uint8 images) are converted to float here.
    """

    def __init__(self, net: nn.Module, x_shift: Tensor, x_scale: Tensor, y_shift: Tensor, y_scale: Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("x_shift", x_shift.float().clone())
        self.register_buffer("x_scale", x_scale.float().clone())
        self.register_buffer("y_shift", y_shift.float().clone())
        self.register_buffer("y_scale", y_scale.float().clone())

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net((x.float() - self.x_shift) / self.x_scale)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The prediction in the data's units."""
        return self(x)[-1] * self.y_scale + self.y_shift


def build_model(
    x_shape: Sequence[int], out_dim: int, hidden: Sequence[int] = (64, 64), trunk: str = "small-cnn"
) -> nn.Module:
    """MLP for tabular ``x`` (per-row shape of length 1); for images (length 2 or 3) the ``trunk``: the official
    small CNN (dSprites) or the ResNet-18 regressor (Yale-B)."""
    if len(x_shape) == 1:
        return MLP(int(x_shape[0]), out_dim, hidden)
    if trunk not in TRUNKS:
        raise UsageError(f"unknown trunk {trunk!r}: use one of {', '.join(TRUNKS)}")
    if min(x_shape[-2:]) < 32:
        raise UsageError(f"images of {x_shape[-2]}x{x_shape[-1]} are too small for the official CNN (at least 32x32)")
    if trunk == "resnet18":
        return ResNet18Regressor(list(x_shape), out_dim)
    return SmallCNN(list(x_shape), out_dim)
