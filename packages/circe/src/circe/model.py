"""Feature extractors whose forward returns every regularisable layer (Pogodin et al., ICLR 2023, Sec. 5).

As the official ``model/regressor.py``, ``forward`` returns the list of intermediate features ending with the
prediction ``y_hat``; the CIRCE penalty is applied to the last ``n_last_reg_layers`` entries, so the default
``n_last_reg_layers=1`` regularises the prediction itself (the official configs' choice), not a hidden layer.

* ``MLP`` for tabular ``x`` (n, d): ``d -> hidden -> hidden -> dy`` with LeakyReLU.
* ``SmallCNN`` for images (n, 1, H, W) or (n, H, W): the official dSprites regressor, conv3x3 s2 (1->16) ->
  conv3x3 s2 (->32) -> maxpool -> conv3x3 s2 (->64) -> maxpool -> 256 -> 128 -> 64 -> dy, LeakyReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["MLP", "SmallCNN", "build_model"]


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
    def __init__(self, in_shape: Sequence[int], out_dim: int) -> None:
        super().__init__()
        channels = in_shape[0] if len(in_shape) == 3 else 1
        self.act = nn.LeakyReLU()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.LeakyReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2, ceil_mode=True),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, channels, *in_shape[-2:])).numel()
        self.fc = nn.ModuleList([nn.Linear(flat, 256), nn.Linear(256, 128), nn.Linear(128, 64)])
        self.head = nn.Linear(64, out_dim)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim == 3:
            x = x[:, None]
        h = self.conv(x).flatten(1)
        feats = [h]
        for layer in self.fc:
            h = self.act(layer(h))
            feats.append(h)
        feats.append(self.head(h))
        return feats


def build_model(x_shape: Sequence[int], out_dim: int, hidden: Sequence[int] = (64, 64)) -> nn.Module:
    """MLP for tabular ``x`` (per-row shape of length 1), the small CNN for images (length 2 or 3)."""
    if len(x_shape) == 1:
        return MLP(int(x_shape[0]), out_dim, hidden)
    return SmallCNN(list(x_shape), out_dim)
