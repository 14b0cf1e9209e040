"""The backbone, its source-task autoencoder, and the classifier that adaptation trains (Trivedi et al., ICLR 2023).

The paper adapts hub backbones (MoCo-v2 ResNet-50, CLIP RN50); none can be downloaded here, so the package's
"pretrained" backbone is an encoder trained by ``adaptation-sb-pretrain`` on a source task (reconstructing
unlabelled inputs: :class:`AutoEncoder`), or the user's checkpoint of one of its architectures: an MLP
(:class:`MLPEncoder`) or a small convolutional network (:class:`ConvEncoder`, for images such as the paper's
MNIST-CIFAR dominoes). Features are the encoder's last ReLU layer; the head is one ``nn.Linear`` on top, as in
the paper.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from orals23_shared.cli import UsageError

__all__ = [
    "ARCHS",
    "AutoEncoder",
    "BackboneConfig",
    "Classifier",
    "ConvEncoder",
    "Encoder",
    "MLPEncoder",
    "check_inputs",
    "make_encoder",
    "make_head",
]

ARCHS = ("mlp", "conv")


@dataclass
class BackboneConfig:
    in_shape: tuple[int, ...] = (16, 8)  # one input's shape (digits-dominoes: 16x8; images (H, W) or (C, H, W))
    hidden: int = 256  # MLP: hidden width (also the decoder's)
    feat_dim: int = 64
    arch: str = "mlp"  # mlp | conv
    channels: int = 16  # conv: channels of the first layer (then 2x, 2x)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise UsageError(f"backbone architecture {self.arch!r} is not defined (choose from {', '.join(ARCHS)})")
        if self.arch == "conv" and len(self.in_shape) not in (2, 3):
            raise UsageError(f"a conv backbone takes images (H, W) or (C, H, W), got inputs of shape {self.in_shape}")

    @property
    def in_dim(self) -> int:
        return int(math.prod(self.in_shape))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["in_shape"] = list(self.in_shape)
        return d


class MLPEncoder(nn.Module):
    """x -> ReLU(W2 ReLU(W1 flatten(x))): the features f(x) every protocol adapts."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feat_dim = cfg.feat_dim
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(cfg.in_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.feat_dim), nn.ReLU()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvEncoder(nn.Module):
    """x -> ReLU(W flatten(conv3x3/s2(conv3x3/s2(conv3x3(x))))), every conv followed by ReLU; no BatchNorm.

    A small convolutional backbone for image inputs (n, H, W) (one channel) or (n, C, H, W): channels c, 2c, 2c;
    the two stride-2 layers reduce H and W by 4 (rounded up); a linear layer maps the flattened map to the features.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feat_dim = cfg.feat_dim
        shape = tuple(cfg.in_shape)
        self.in_channels = 1 if len(shape) == 2 else int(shape[0])
        h, w = shape[-2:]
        c = cfg.channels
        out_h, out_w = (h + 3) // 4, (w + 3) // 4  # two 3x3 convs with stride 2 and padding 1
        self.conv = nn.Sequential(
            nn.Conv2d(self.in_channels, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.proj = nn.Sequential(nn.Flatten(), nn.Linear(2 * c * out_h * out_w, cfg.feat_dim), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], self.in_channels, *x.shape[-2:])
        return self.proj(self.conv(x))


Encoder = MLPEncoder | ConvEncoder


def make_encoder(cfg: BackboneConfig) -> Encoder:
    """The encoder of ``cfg.arch``."""
    return ConvEncoder(cfg) if cfg.arch == "conv" else MLPEncoder(cfg)


class AutoEncoder(nn.Module):
    """The source task: reconstruct the input from the encoder's features (sigmoid output, inputs in [0, 1]).

    The decoder is an MLP (features -> hidden -> input) for both encoders.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.encoder = make_encoder(cfg)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.feat_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.in_dim), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x)).view_as(x)


def make_head(feat_dim: int, n_classes: int, seed: int | None = None) -> nn.Linear:
    """A fresh linear head (PyTorch's default init), drawn from its own generator when ``seed`` is given."""
    if seed is None:
        return nn.Linear(feat_dim, n_classes)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    head = nn.Linear(feat_dim, n_classes)
    torch.random.set_rng_state(state)
    return head


class Classifier(nn.Module):
    """backbone + linear head; refuses a head whose input size is not the backbone's feature size."""

    def __init__(self, backbone: Encoder, head: nn.Linear) -> None:
        super().__init__()
        if head.in_features != backbone.feat_dim:
            raise ValueError(f"the head takes {head.in_features} features but the backbone gives {backbone.feat_dim}")
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def check_inputs(backbone: Encoder, split: Any, name: str = "data") -> None:
    """One line naming the problem when a split's inputs do not fit the backbone."""
    shape = tuple(split.x.shape[1:])
    if int(torch.tensor(shape).prod()) != backbone.cfg.in_dim:
        raise UsageError(
            f"{name}: inputs of shape {shape} do not fit the backbone, which takes {tuple(backbone.cfg.in_shape)}"
        )
