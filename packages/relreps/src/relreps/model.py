"""Models with an absolute or a relative head (Moschella et al., ICLR 2023, Sec. 3 and 5).

A model is encoder -> (relative projection over anchors | nothing) -> decoder:

* absolute head: the decoder reads the latent ``z = E(x)`` (after ``abs_norm``, identity unless set);
* relative head: the decoder reads ``norm(r(x))`` where ``r`` are the similarities of ``E(x)`` to ``E(a_k)``.
  The anchors ``a_k`` are *inputs* kept in a buffer and re-embedded by the current encoder at every forward
  pass under ``torch.no_grad`` (official ``rel_ae.py`` / ``relresnet.py``): gradients flow through the batch
  path only.

Zero-shot stitching (Sec. 5) is ``model_a.decode_latent(z_b, anchors_b)``: the latents and the anchor latents
of model B, the (normalisation and) decoder of model A.

Encoders: ``MLPEncoder``, ``CNNEncoder`` (trained with the head), ``FrozenEncoder`` (any torch module the user
gives, e.g. a pretrained feature extractor, kept frozen) and ``EmbeddingEncoder`` (saved embeddings ``.npy``:
the input is a row index). Decoders: a linear classifier (optionally one hidden Tanh layer, as the official
vision head) and MLP / transposed-convolution reconstruction decoders for autoencoders.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from relreps.projection import RelativeProjection

__all__ = [
    "LatentModel",
    "RelativeModel",
    "MLPEncoder",
    "CNNEncoder",
    "FrozenEncoder",
    "EmbeddingEncoder",
    "classifier_decoder",
    "MLPDecoder",
    "CNNDecoder",
]


class MLPEncoder(nn.Sequential):
    """Flatten -> Linear -> ReLU (per hidden width) -> Linear(latent); the latent has no activation."""

    def __init__(self, in_dim: int, hidden: Sequence[int], latent_dim: int) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, latent_dim))
        super().__init__(*layers)
        self.latent_dim = latent_dim


class CNNEncoder(nn.Module):
    """Conv(3x3) -> ReLU -> Conv(3x3, stride 2) -> ReLU -> Linear(latent), for [B, C, H, W] images."""

    def __init__(self, in_shape: Sequence[int], latent_dim: int, channels: tuple[int, int] = (16, 32)) -> None:
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels[0], 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.out = nn.Linear(channels[1] * math.ceil(h / 2) * math.ceil(w / 2), latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


class FrozenEncoder(nn.Module):
    """A user's feature extractor, frozen: no parameter is trained, forward in eval mode without gradient."""

    def __init__(self, module: nn.Module, latent_dim: int | None = None) -> None:
        super().__init__()
        self.module = module
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.latent_dim = latent_dim

    def train(self, mode: bool = True) -> FrozenEncoder:  # the wrapped module stays in eval mode
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.module(x).reshape(x.shape[0], -1)


class EmbeddingEncoder(nn.Module):
    """Saved embeddings as an encoder: input = row indices, output = those rows (frozen)."""

    def __init__(self, table: np.ndarray | Tensor) -> None:
        super().__init__()
        t = torch.as_tensor(np.asarray(table) if not torch.is_tensor(table) else table, dtype=torch.float32)
        if t.dim() != 2:
            raise ValueError(f"embeddings must be a 2-D array [N, D], got shape {tuple(t.shape)}")
        self.register_buffer("table", t, persistent=False)  # rebuilt from the file, not checkpointed
        self.latent_dim = t.shape[1]

    def forward(self, idx: Tensor) -> Tensor:
        return self.table[idx.long()]


def classifier_decoder(in_dim: int, n_classes: int, hidden: int = 0) -> nn.Module:
    """Linear(in, C), or Linear(in, h) -> Tanh -> Linear(h, C) (the official vision head's shape, without its
    batch-axis InstanceNorm)."""
    if hidden <= 0:
        return nn.Linear(in_dim, n_classes)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, n_classes))


class MLPDecoder(nn.Module):
    """Linear -> ReLU -> Linear back to the flattened input, reshaped to ``out_shape``."""

    def __init__(self, in_dim: int, hidden: int, out_shape: Sequence[int]) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(self.out_shape)))

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h).reshape(h.shape[0], *self.out_shape)


class CNNDecoder(nn.Module):
    """Linear -> [32, H/2, W/2] -> ConvTranspose(stride 2) -> ReLU -> Conv(3x3) to [C, H, W]."""

    def __init__(self, in_dim: int, out_shape: Sequence[int], channels: tuple[int, int] = (16, 32)) -> None:
        super().__init__()
        c, h, w = out_shape
        self.out_shape = (c, h, w)
        self.h2, self.w2 = math.ceil(h / 2), math.ceil(w / 2)
        self.c2 = channels[1]
        self.inp = nn.Sequential(nn.Linear(in_dim, channels[1] * self.h2 * self.w2), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(channels[1], channels[0], 4, stride=2, padding=1), nn.ReLU())
        self.out = nn.Conv2d(channels[0], c, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        x = self.up(self.inp(z).reshape(z.shape[0], self.c2, self.h2, self.w2))
        return self.out(x[:, :, : self.out_shape[1], : self.out_shape[2]])


class LatentModel(nn.Module):
    """What every model offers: ``latents(inputs) -> (z, anchor latents | None)`` and
    ``decode_latent(z, anchor_latents)``; ``forward = decode_latent(*latents(inputs))``."""

    projection: RelativeProjection | None
    decoder: nn.Module
    abs_norm: nn.Module

    @property
    def is_relative(self) -> bool:
        return self.projection is not None

    def latents(self, inputs: object) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def represent(self, z: Tensor, anchor_latents: Tensor | None = None) -> Tensor:
        """What the decoder reads: ``norm(r(z))`` for a relative model, ``abs_norm(z)`` for an absolute one."""
        if self.projection is None:
            return self.abs_norm(z)
        if anchor_latents is None:
            raise ValueError("a relative model needs the anchor latents to decode")
        return self.projection(z, anchor_latents)

    def decode_latent(self, z: Tensor, anchor_latents: Tensor | None = None) -> Tensor:
        return self.decoder(self.represent(z, anchor_latents))

    def forward(self, inputs: object) -> Tensor:
        return self.decode_latent(*self.latents(inputs))

    def similarities(self, inputs: object) -> Tensor:
        """Raw relative representation r(x) (before the output normalisation), for comparing spaces."""
        if self.projection is None:
            raise ValueError("an absolute model has no relative representation")
        z, anchors = self.latents(inputs)
        return self.projection.similarities(z, anchors)


class RelativeModel(LatentModel):
    """Encoder + absolute or relative head + decoder; ``anchor_inputs`` (a buffer) makes the head relative."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        projection: RelativeProjection | None = None,
        anchor_inputs: Tensor | None = None,
        abs_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if (projection is None) != (anchor_inputs is None):
            raise ValueError("a relative head needs both a projection and anchor inputs")
        if projection is not None and len(anchor_inputs) != projection.n_anchors:  # type: ignore[arg-type]
            raise ValueError(f"{len(anchor_inputs)} anchor inputs for a projection over {projection.n_anchors}")  # type: ignore[arg-type]
        self.encoder, self.decoder, self.projection = encoder, decoder, projection
        self.abs_norm = abs_norm if abs_norm is not None else nn.Identity()
        if anchor_inputs is not None:
            self.register_buffer("anchor_inputs", anchor_inputs)
        else:
            self.anchor_inputs = None
        self._cached: Tensor | None = None

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def anchor_latents(self) -> Tensor | None:
        """The anchors embedded by the *current* encoder, without gradient (cached inside ``cached_anchors``)."""
        if self.anchor_inputs is None:
            return None
        if self._cached is not None:
            return self._cached
        with torch.no_grad():
            return self.encoder(self.anchor_inputs)

    @contextlib.contextmanager
    def cached_anchors(self) -> Iterator[None]:
        """Embed the anchors once for many forward passes (inference with a fixed encoder)."""
        self._cached = None
        self._cached = self.anchor_latents()
        try:
            yield
        finally:
            self._cached = None

    def latents(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.encode(x), self.anchor_latents()
