"""The relative projection (Moschella et al., ICLR 2023, Sec. 3, Eq. 1-2).

A sample's relative representation is its similarity to K anchor embeddings,
``r(x) = [sim(e_x, e_a1), ..., sim(e_x, e_aK)]`` with ``sim`` the cosine by default (Eq. 2). The options
are those of the official ``RelativeAttention`` (lucmos/relreps, ``src/rae/modules/attention.py``) with
``values_mode=similarities``:

* ``normalization``: ``"l2"`` (both sides L2-normalised first) or ``"none"``;
* ``similarity``: ``"inner"`` (inner product; without L2 the official code divides by sqrt(d)) or
  ``"basis_change"`` (least-squares coefficients of the sample in the anchor basis);
* ``quantization`` of the similarities: ``"none"``, ``"differentiable_round"`` (round to ``bin_size`` with a
  straight-through gradient) or ``"smooth_steps"`` (``s - sin(2 pi s) / (2 pi)``);
* ``output_norm`` applied to ``r(x)`` before the decoder: ``"none"``, ``"l2"``, ``"layernorm"``,
  ``"batchnorm"`` or ``"instancenorm"`` (the official one normalises over the *batch* axis, so a sample's
  output depends on its batch; see the README).

``inner`` + ``l2`` is the cosine of Eq. 2: invariant to any angle-preserving map of the latent space
(orthogonal maps and positive rescalings, Sec. 3.1) and not to translations. ``basis_change`` is invariant to
every invertible linear map when the anchors span the latent space (K >= d).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Similarity",
    "Normalization",
    "OutputNorm",
    "Quantization",
    "relative_projection",
    "RelativeProjection",
    "output_norm_layer",
    "check_anchor_count",
]

Similarity = Literal["inner", "basis_change"]
Normalization = Literal["l2", "none"]
OutputNorm = Literal["none", "l2", "layernorm", "batchnorm", "instancenorm"]
Quantization = Literal["none", "differentiable_round", "smooth_steps"]


def check_anchor_count(latent_dim: int, n_anchors: int, stacklevel: int = 2) -> bool:
    """Warn when the latent space has more dimensions than there are anchors (the paper's failure case).

    With K < d the K similarities cannot pin down a point of the d-dimensional space (Sec. 5: the one
    ImageNet decoder that stitches badly, rexnet_100, has 1280 dimensions for 768 anchors). Returns True when
    the warning was raised.
    """
    if latent_dim > n_anchors:
        warnings.warn(
            f"the latent space has {latent_dim} dimensions but there are only {n_anchors} anchors: "
            "relative representations lose information when anchors < latent dimensions (the paper's failure case)",
            stacklevel=stacklevel + 1,
        )
        return True
    return False


def relative_projection(
    x: Tensor,
    anchors: Tensor,
    similarity: Similarity = "inner",
    normalization: Normalization = "l2",
) -> Tensor:
    """``[B, d] x [K, d] -> [B, K]``: the similarities of each sample to each anchor (cosine by default)."""
    if x.dim() != 2 or anchors.dim() != 2:
        raise ValueError(f"expected x [B, d] and anchors [K, d], got {tuple(x.shape)} and {tuple(anchors.shape)}")
    if x.shape[-1] != anchors.shape[-1]:
        raise ValueError(
            f"anchors have {anchors.shape[-1]} dimensions but the samples have {x.shape[-1]}: "
            "anchors must be embedded by the same encoder as the samples"
        )
    if normalization == "l2":
        x = F.normalize(x, p=2, dim=-1)
        anchors = F.normalize(anchors, p=2, dim=-1)
    elif normalization != "none":
        raise ValueError(f"unknown normalization {normalization!r} (l2 | none)")
    if similarity == "inner":
        sims = x @ anchors.T
        if normalization == "none":
            sims = sims / math.sqrt(x.shape[-1])
    elif similarity == "basis_change":
        # coefficients c with anchors^T c = x (minimum-norm least squares), one column per sample
        sims = torch.linalg.lstsq(anchors.T, x.T).solution.T
    else:
        raise ValueError(f"unknown similarity {similarity!r} (inner | basis_change)")
    return sims


def _quantize(sims: Tensor, mode: Quantization, bin_size: float) -> Tensor:
    if mode == "none":
        return sims
    if mode == "differentiable_round":
        rounded = torch.round(sims / bin_size) * bin_size
        return sims + (rounded - sims).detach()  # straight-through gradient
    if mode == "smooth_steps":
        return sims - torch.sin(2 * math.pi * sims) / (2 * math.pi)
    raise ValueError(f"unknown quantization {mode!r}")


class _L2(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, p=2, dim=-1)


class _BatchAxisInstanceNorm(nn.Module):
    """The official ``InstanceNorm1d`` on ``r.T``: every anchor coordinate normalised over the batch."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(n, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.T).T


def output_norm_layer(mode: OutputNorm, n: int) -> nn.Module:
    """The normalisation between the relative projection and the decoder (official ``output_normalization_mode``)."""
    if mode == "none":
        return nn.Identity()
    if mode == "l2":
        return _L2()
    if mode == "layernorm":
        return nn.LayerNorm(n)
    if mode == "batchnorm":
        return nn.BatchNorm1d(n)
    if mode == "instancenorm":
        return _BatchAxisInstanceNorm(n)
    raise ValueError(f"unknown output norm {mode!r} (none | l2 | layernorm | batchnorm | instancenorm)")


class RelativeProjection(nn.Module):
    """The projection (parameter-free) followed by the output normalisation (which may have parameters).

    ``forward(x, anchors)`` returns the normalised relative representation the decoder reads;
    ``similarities(x, anchors)`` the raw ``r(x)`` (used for latent-space comparison).
    """

    def __init__(
        self,
        n_anchors: int,
        similarity: Similarity = "inner",
        normalization: Normalization = "l2",
        output_norm: OutputNorm = "layernorm",
        quantization: Quantization = "none",
        bin_size: float = 0.0,
    ) -> None:
        super().__init__()
        if n_anchors < 1:
            raise ValueError(f"need at least one anchor, got {n_anchors}")
        if quantization == "differentiable_round" and bin_size <= 0:
            raise ValueError("differentiable_round quantization needs a positive bin_size")
        self.n_anchors = n_anchors
        self.similarity, self.normalization = similarity, normalization
        self.quantization, self.bin_size = quantization, bin_size
        self.output_norm = output_norm
        self.norm = output_norm_layer(output_norm, n_anchors)
        relative_projection(torch.zeros(1, 1), torch.ones(1, 1), similarity, normalization)  # validate the modes

    def similarities(self, x: Tensor, anchors: Tensor) -> Tensor:
        if anchors.shape[0] != self.n_anchors:
            raise ValueError(f"expected {self.n_anchors} anchors, got {anchors.shape[0]}")
        sims = relative_projection(x, anchors, self.similarity, self.normalization)
        return _quantize(sims, self.quantization, self.bin_size)

    def forward(self, x: Tensor, anchors: Tensor) -> Tensor:
        return self.norm(self.similarities(x, anchors))

    def extra_repr(self) -> str:
        return (
            f"n_anchors={self.n_anchors}, similarity={self.similarity}, normalization={self.normalization}, "
            f"quantization={self.quantization}, output_norm={self.output_norm}"
        )
