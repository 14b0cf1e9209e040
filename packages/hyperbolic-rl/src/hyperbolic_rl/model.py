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
``euclidean_sn``  Euclidean with spectral norm on every encoder layer, not on the output layer (the
                official ``ppo_sn`` config: "SN without hyperbolic space");
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

__all__ = [
    "HEADS",
    "NORMAL_INITS",
    "ENCODERS",
    "ModelConfig",
    "HyperbolicMLR",
    "ActorCritic",
    "ImpalaStack",
    "make_encoder",
    "resolve_encoder",
    "spectral_layers",
]

Head = Literal["euclidean", "euclidean_sn", "hyperbolic", "srym"]
HEADS: tuple[str, ...] = ("euclidean", "euclidean_sn", "hyperbolic", "srym")
NormalInit = Literal["small", "normal", "intended"]
NORMAL_INITS: tuple[str, ...] = ("small", "normal", "intended")
Encoder = Literal["auto", "mlp", "nature", "small", "impala"]
ENCODERS: tuple[str, ...] = ("auto", "mlp", "nature", "small", "impala")


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
    normal_init: NormalInit = "small"
    encoder: Encoder = "auto"


class HyperbolicMLR(nn.Module):
    """Hyperbolic multiclass logistic regression on the Poincaré ball (Ganea et al. 2018, Eq. 25).

    ``out_k(x) = s * (2 / (1 - ||p_k||^2)) * f_{p_k, a_k (1 - ||p_k||^2)}(x)`` with ``f`` from
    ``ball.dist2plane`` (evaluated with ``ball.dist2planes``): the offsets ``p_k`` live on the ball (updated with Riemannian Adam, marked by
    ``ball_param``), the normals ``a_k`` are Euclidean. The conformal-factor reparametrisation and the
    logit multiplier ``s = 0.5`` are the official defaults (``rescale_normal_params``,
    ``effective_softmax_rescale``).

    Normal initialisations (the official ``final_init`` options pass the scale as the *mean* of
    ``nn.init.normal_``, so the std stays 1):

    * ``"small"`` (default; the official S-RYM config ``final_init: 'small'``): N(0.01/sqrt(d), 1);
    * ``"normal"`` (official ``final_weight_init_hyp``): N(1/sqrt(d), 1);
    * ``"intended"``: N(0, 1/d), what the class's own ``reset_parameters`` draws.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        c: float = 1.0,
        softmax_rescale: float = 0.5,
        normal_init: str = "small",
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
            if normal_init == "small":
                nn.init.normal_(self.normals, mean=0.01 / math.sqrt(in_features), std=1.0)
            elif normal_init == "normal":
                nn.init.normal_(self.normals, mean=1 / math.sqrt(in_features), std=1.0)
            elif normal_init == "intended":
                nn.init.normal_(self.normals, mean=0.0, std=1 / math.sqrt(in_features))
            else:
                raise ValueError(f"normal_init must be one of {', '.join(NORMAL_INITS)}, got {normal_init!r}")

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


class _ResidualBlock(nn.Module):
    """IMPALA residual block: ``x + conv(relu(conv(relu(x))))`` (Espeholt et al. 2018)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaStack(nn.Sequential):
    """conv3x3 -> maxpool 3/2 -> 2 residual blocks (official ``ImpalaResidualStack``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.MaxPool2d(3, stride=2, padding=1),
            _ResidualBlock(cout),
            _ResidualBlock(cout),
        )


def resolve_encoder(obs_shape: tuple[int, ...], kind: str = "auto") -> str:
    """``auto``: MLP for vectors, IMPALA for 64x64 frames (Procgen), Nature CNN for H, W >= 36
    (Atari 84x84), one small conv for smaller frames (MinAtar 10x10, MiniGrid 7x7)."""
    from orals23_shared.cli import UsageError

    if kind not in ENCODERS:
        raise UsageError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
    if len(obs_shape) == 1:
        if kind not in ("auto", "mlp"):
            raise UsageError(f"encoder {kind!r} takes image frames (C, H, W); got vector observations {obs_shape}")
        return "mlp"
    if len(obs_shape) != 3:
        raise UsageError(f"the encoder takes vector observations (n,) or image frames (C, H, W); got shape {obs_shape}")
    h, w = obs_shape[1:]
    if kind == "mlp":
        raise UsageError(f"encoder 'mlp' takes vector observations; got frames of shape {obs_shape}")
    if kind == "auto":
        kind = "impala" if (h, w) == (64, 64) else "nature" if min(h, w) >= 36 else "small"
    need = {"impala": 8, "nature": 36, "small": 3}[kind]
    if min(h, w) < need:
        raise UsageError(f"observation frames of shape {obs_shape} are too small for the {kind} CNN encoder")
    return kind


def make_encoder(
    obs_shape: tuple[int, ...], hidden: tuple[int, ...], embed_dim: int, kind: str = "auto"
) -> nn.Sequential:
    """Encoder ``obs -> R^embed_dim``: an MLP for vector observations, a CNN for (C, H, W) frames.

    ``mlp``: Linear-ReLU blocks of widths ``hidden`` then Linear(-> embed_dim).
    ``impala``: the paper's IMPALA trunk (channels 16, 32, 32; each stack conv3x3, maxpool 3/2, two
    residual blocks), Flatten, ReLU (official ``make_impala_modules_hyp``).
    ``nature``: the Nature-DQN convs 32x8/4, 64x4/2, 64x3/1. ``small``: one 16x3/1 conv.
    Then ReLU-Linear blocks and Linear(-> embed_dim); there is no non-linearity after the last
    projection (official ``pre_hyperbolic_relu: false``). Linear layers: orthogonal init gain sqrt 2,
    zero bias; convs keep PyTorch's default init (as the official code, which does not recurse into the
    IMPALA stacks). Raises ``UsageError`` for observation shapes the encoder cannot take.
    """
    kind = resolve_encoder(tuple(obs_shape), kind)
    layers: list[nn.Module] = []
    if kind == "mlp":
        width = obs_shape[0]
    else:
        ch = obs_shape[0]
        if kind == "impala":
            for cout in (16, 32, 32):
                layers.append(ImpalaStack(ch, cout))
                ch = cout
            layers += [_Flatten(), nn.ReLU()]
        else:
            convs = [(ch, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)] if kind == "nature" else [(ch, 16, 3, 1)]
            for cin, cout, k, s in convs:
                layers += [nn.Conv2d(cin, cout, k, s), nn.ReLU()]
            layers.append(_Flatten())
        with torch.no_grad():
            width = nn.Sequential(*layers)(torch.zeros(1, *obs_shape)).shape[-1]
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
        self.encoder = make_encoder(tuple(obs_shape), tuple(cfg.hidden), cfg.embed_dim, cfg.encoder)
        if cfg.head in ("srym", "euclidean_sn"):  # every Linear/Conv2d of the encoder, nested ones too
            for m in spectral_layers(self.encoder):
                spectral_norm(m)
        if not self.hyperbolic:
            self.head: nn.Module = nn.Linear(cfg.embed_dim, n_actions + 1)
            with torch.no_grad():  # CleanRL's convention: policy rows gain 0.01, value row gain 1
                nn.init.orthogonal_(self.head.weight[:n_actions], gain=0.01)
                nn.init.orthogonal_(self.head.weight[n_actions:], gain=1.0)
                nn.init.zeros_(self.head.bias)
        else:
            self.head = HyperbolicMLR(cfg.embed_dim, n_actions + 1, self.c, cfg.softmax_rescale, cfg.normal_init)

    @property
    def hyperbolic(self) -> bool:
        return self.cfg.head in ("hyperbolic", "srym")

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
