"""The backbone, its source-task autoencoder, and the classifier that adaptation trains (Trivedi et al., ICLR 2023).

The paper adapts hub backbones (MoCo-v2 ResNet-50, CLIP RN50); none can be downloaded here, so the package's
"pretrained" backbone is an MLP encoder trained by ``adaptation-sb-pretrain`` on a source task (reconstructing
unlabelled inputs: :class:`AutoEncoder`), or the user's checkpoint of the same architecture. Features are the
encoder's last ReLU layer; the head is one ``nn.Linear`` on top, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from orals23_shared.cli import UsageError

__all__ = ["AutoEncoder", "BackboneConfig", "Classifier", "MLPEncoder", "check_inputs", "make_head"]


@dataclass
class BackboneConfig:
    in_shape: tuple[int, ...] = (16, 8)  # one input's shape (digits-dominoes: 16x8)
    hidden: int = 256
    feat_dim: int = 64

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


class AutoEncoder(nn.Module):
    """The source task: reconstruct the input from the encoder's features (sigmoid output, inputs in [0, 1])."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.encoder = MLPEncoder(cfg)
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

    def __init__(self, backbone: MLPEncoder, head: nn.Linear) -> None:
        super().__init__()
        if head.in_features != backbone.feat_dim:
            raise ValueError(f"the head takes {head.in_features} features but the backbone gives {backbone.feat_dim}")
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def check_inputs(backbone: MLPEncoder, split: Any, name: str = "data") -> None:
    """One line naming the problem when a split's inputs do not fit the backbone."""
    shape = tuple(split.x.shape[1:])
    if int(torch.tensor(shape).prod()) != backbone.cfg.in_dim:
        raise UsageError(
            f"{name}: inputs of shape {shape} do not fit the backbone, which takes {tuple(backbone.cfg.in_shape)}"
        )
