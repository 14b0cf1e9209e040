"""Actor-critic networks with a Euclidean, naive hyperbolic or S-RYM hyperbolic head.

Cetin et al., "Hyperbolic Deep Reinforcement Learning" (ICLR 2023):

* Sec. 3: the final representation of the encoder is mapped to the Poincaré ball with the
  exponential map at 0 and read out by hyperbolic multiclass logistic regression (Ganea et al.
  2018; the paper's Eq. 4), one hyperplane per action logit plus one for the value, exactly like the
  official ``PoincarePlaneDistance(32 -> n_actions + 1)`` shared head.
* Sec. 4 (S-RYM, spectrally-regularised hyperbolic mappings): spectral normalisation on every layer
  of the encoder (including the last projection) and the rescaling ``v = gain * x / sqrt(d)`` of the
  final Euclidean features before ``exp_0``.

Heads (``head=``):

``euclidean``   linear layer ``d -> n_actions + 1`` (the Euclidean PPO baseline);
``hyperbolic``  naive hyperbolic: ``exp_0`` + hyperbolic MLR, no spectral norm, no 1/sqrt(d);
``srym``        hyperbolic + S-RYM.

The official code also clips the Euclidean feature norm at 60 (``ClipNorm``) before the hyperbolic
layer; ``clip_norm`` keeps that for both hyperbolic heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from hyperbolic_rl.ball import check_curvature, dist2planes, expmap0

__all__ = ["HEADS", "ModelConfig", "HyperbolicMLR", "ActorCritic", "make_encoder", "spectral_layers"]

Head = Literal["euclidean", "hyperbolic", "srym"]
HEADS: tuple[str, ...] = ("euclidean", "hyperbolic", "srym")


@dataclass
class ModelConfig:
    """Network shape; the defaults are the small-experiment design (MLP 4-64-64-32)."""

    head: Head = "srym"
    hidden: tuple[int, ...] = (64, 64)
    embed_dim: int = 32
    curvature: float = 1.0
    rescale_gain: float = 1.0
    clip_norm: float = 60.0
    softmax_rescale: float = 0.5
    normal_init: Literal["official", "intended"] = "official"


class HyperbolicMLR(nn.Module):
    """Hyperbolic multiclass logistic regression on the Poincaré ball (Ganea et al. 2018, Eq. 25).

    ``out_k(x) = s * (2 / (1 - ||p_k||^2)) * f_{p_k, a_k (1 - ||p_k||^2)}(x)`` with ``f`` from
    ``ball.dist2plane`` (evaluated with ``ball.dist2planes``): the offsets ``p_k`` live on the ball (updated with Riemannian Adam, marked by
    ``ball_param``), the normals ``a_k`` are Euclidean. The conformal-factor reparametrisation and the
    logit multiplier ``s = 0.5`` are the official defaults (``rescale_normal_params``,
    ``effective_softmax_rescale``).

    ``normal_init="official"`` reproduces the official initialisation, which passes
    ``1/sqrt(d)`` as the *mean* of ``nn.init.normal_`` (normals ~ N(1/sqrt(d), 1));
    ``"intended"`` draws N(0, 1/d) as the class's own ``reset_parameters`` does.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        c: float = 1.0,
        softmax_rescale: float = 0.5,
        normal_init: str = "official",
    ) -> None:
        super().__init__()
        self.c = check_curvature(c)
        self.in_features = in_features
        self.out_features = out_features
        self.softmax_rescale = softmax_rescale
        self.normals = nn.Parameter(torch.empty(out_features, in_features))
        self.offsets = nn.Parameter(torch.zeros(out_features, in_features))
        self.offsets.ball_param = True  # type: ignore[attr-defined]
        self.offsets.curvature = self.c  # type: ignore[attr-defined]
        with torch.no_grad():
            if normal_init == "official":
                nn.init.normal_(self.normals, mean=1 / math.sqrt(in_features), std=1.0)
            elif normal_init == "intended":
                nn.init.normal_(self.normals, mean=0.0, std=1 / math.sqrt(in_features))
            else:
                raise ValueError(f"normal_init must be 'official' or 'intended', got {normal_init!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: points on the ball, shape (..., in_features) -> logits (..., out_features)."""
        conformal = 1 - (self.offsets * self.offsets).sum(-1)  # (out,)
        a = self.normals * conformal.unsqueeze(-1)
        lead = x.shape[:-1]
        out = dist2planes(x.reshape(-1, x.shape[-1]), self.offsets, a, self.c).reshape(*lead, -1)
        return out * 2 / conformal * self.softmax_rescale


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(start_dim=1)


def make_encoder(obs_shape: tuple[int, ...], hidden: tuple[int, ...], embed_dim: int) -> nn.Sequential:
    """Encoder ``obs -> R^embed_dim``: an MLP for vector observations, a CNN for (C, H, W) frames.

    Vector observations: Linear-ReLU blocks of widths ``hidden`` then Linear(-> embed_dim).
    Frames with H, W >= 36 (Atari, 84x84): the Nature-DQN convs 32x8/4, 64x4/2, 64x3/1.
    Smaller frames (MinAtar 10x10): one 16x3/1 conv. Then ReLU-Linear blocks and Linear(-> embed_dim);
    there is no non-linearity after the last projection (official ``pre_hyperbolic_relu: false``).
    Raises ``UsageError`` for observation shapes it cannot take.
    """
    from orals23_shared.cli import UsageError

    layers: list[nn.Module] = []
    if len(obs_shape) == 1:
        width = obs_shape[0]
    elif len(obs_shape) == 3:
        ch, h, w = obs_shape
        if min(h, w) >= 36:
            convs = [(ch, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]
        elif min(h, w) >= 3:
            convs = [(ch, 16, 3, 1)]
        else:
            raise UsageError(f"observation frames of shape {obs_shape} are too small for the CNN encoder")
        for cin, cout, k, s in convs:
            layers += [nn.Conv2d(cin, cout, k, s), nn.ReLU()]
        layers.append(_Flatten())
        with torch.no_grad():
            width = nn.Sequential(*layers)(torch.zeros(1, *obs_shape)).shape[-1]
    else:
        raise UsageError(f"the encoder takes vector observations (n,) or image frames (C, H, W); got shape {obs_shape}")
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, embed_dim))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def spectral_layers(module: nn.Module) -> list[nn.Module]:
    """The Linear/Conv2d layers of ``module`` (the ones S-RYM spectrally normalises)."""
    return [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


class ActorCritic(nn.Module):
    """Shared encoder and shared head: the first ``n_actions`` outputs are logits, the last the value.

    ``forward(obs)`` returns ``(logits, value, info)`` where ``info`` holds the diagnostics the paper
    tracks: the Euclidean feature norms and (hyperbolic heads) the points on the ball.
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, cfg: ModelConfig) -> None:
        super().__init__()
        from orals23_shared.cli import UsageError

        if cfg.head not in HEADS:
            raise UsageError(f"unknown head {cfg.head!r}; choose one of {', '.join(HEADS)}")
        if n_actions < 1:
            raise UsageError(f"need at least one action, got {n_actions}")
        self.cfg = cfg
        self.n_actions = n_actions
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.c = check_curvature(cfg.curvature)
        self.encoder = make_encoder(tuple(obs_shape), tuple(cfg.hidden), cfg.embed_dim)
        if cfg.head == "srym":
            for i, m in enumerate(self.encoder):
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    self.encoder[i] = spectral_norm(m)
        if cfg.head == "euclidean":
            self.head: nn.Module = nn.Linear(cfg.embed_dim, n_actions + 1)
            with torch.no_grad():  # CleanRL's convention: policy rows gain 0.01, value row gain 1
                nn.init.orthogonal_(self.head.weight[:n_actions], gain=0.01)
                nn.init.orthogonal_(self.head.weight[n_actions:], gain=1.0)
                nn.init.zeros_(self.head.bias)
        else:
            self.head = HyperbolicMLR(cfg.embed_dim, n_actions + 1, self.c, cfg.softmax_rescale, cfg.normal_init)

    @property
    def hyperbolic(self) -> bool:
        return self.cfg.head != "euclidean"

    def features(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Euclidean features and, for hyperbolic heads, their image on the ball."""
        z = self.encoder(obs)
        if not self.hyperbolic:
            return z, None
        v = z
        if self.cfg.clip_norm and self.cfg.clip_norm > 0:
            norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-15)
            v = v * torch.clamp(self.cfg.clip_norm / norm, max=1.0)
        if self.cfg.head == "srym":
            v = self.cfg.rescale_gain * v / math.sqrt(self.cfg.embed_dim)
        return z, expmap0(v, self.c)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        z, x = self.features(obs)
        out = self.head(z if x is None else x)
        info = {"feature_norm": z.detach().norm(dim=-1)}
        if x is not None:
            info["ball_norm"] = x.detach().norm(dim=-1) * self.c**0.5  # relative radius, 1 = edge
        return out[..., : self.n_actions], out[..., self.n_actions], info
