"""The Image2Sphere (I2S) model (Klee, Biza, Platt, Walters, ICLR 2023, Sec. 4, Fig. 2).

image --encoder--> feature map (C, h, w)
      --SpatialS2Projector--> S2 Fourier coefficients (sphere_fdim, (lmax+1)^2)   [Sec. 4.1, orthographic
                                                                                  projection onto a hemisphere]
      --S2 convolution, global filter (harmonic space)--> SO(3) coefficients (f_hidden, sum (2l+1)^2)   [Eq. 3]
      --SO3Activation (to grid, ReLU, back)-->                                                          [Sec. 4.2]
      --SO(3) convolution, local filter near the identity--> SO(3) coefficients (1, sum (2l+1)^2)      [Eq. 4]
logits on a rotation grid {R_k}: s_k = x . vec(sqrt(2l+1) D^l(R_k)); p = softmax(s)                    [Eq. 5-6]

Defaults follow the official code (dmklee/image2sphere, src/models.py and src/predictor.py); the reproduce
experiments use a smaller configuration, set from ``train.TrainConfig``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn

from image2sphere.so3 import (
    angles_to_matrix,
    flat_wigner,
    nearest_rotation,
    s2_healpix_grid,
    s2_irreps,
    so3_healpix_grid,
    so3_irreps,
    so3_near_identity_grid,
)
from orals23_shared.cli import UsageError

__all__ = [
    "I2SConfig",
    "I2S",
    "SmallCNN",
    "ResNet",
    "SpatialS2Projector",
    "S2Convolution",
    "SO3Convolution",
    "RotationGrid",
]


@dataclass
class I2SConfig:
    """Model hyper-parameters (official defaults in comments where the reproduce config differs)."""

    encoder: str = "small_cnn"  # official: resnet50 (ImageNet-pretrained)
    in_channels: int = 3
    image_size: int = 224
    encoder_weights: Path | None = None
    lmax: int = 6
    sphere_fdim: int = 512
    f_hidden: int = 8
    proj_rec_level: int = 2
    coverage: float = 0.9
    sigma: float = 0.2
    n_subset: int | None = 20
    taper_beta_deg: float = 75.0
    act_resolution: int = 10
    train_grid_rec: int = 3
    eval_grid_rec: int = 5


# --------------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """Four 3x3 conv + BatchNorm + ReLU layers (widths 32-64-64-128, strides 2-2-2-1): 64x64 -> 128x8x8."""

    def __init__(
        self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 64, 128), strides: tuple[int, ...] = (2, 2, 2, 1)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w, s in zip(widths, strides):
            layers += [nn.Conv2d(c, w, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.layers = nn.Sequential(*layers)
        self.out_channels = c
        self.stride = math.prod(strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


_RESNETS = {
    18: (_BasicBlock, (2, 2, 2, 2)),
    34: (_BasicBlock, (3, 4, 6, 3)),
    50: (_Bottleneck, (3, 4, 6, 3)),
    101: (_Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """ResNet-{18,34,50,101} trunk without avgpool/fc (He et al. 2016), parameter names as torchvision's.

    So a torchvision ``state_dict`` saved to a file loads with ``load_weights(path)`` (``fc.*`` keys
    are ignored). Nothing is downloaded: without a path the weights are random.
    """

    def __init__(self, depth: int = 50, in_channels: int = 3) -> None:
        super().__init__()
        if depth not in _RESNETS:
            raise UsageError(f"ResNet depth must be one of {sorted(_RESNETS)}, got {depth}")
        block, counts = _RESNETS[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (n, width) in enumerate(zip(counts, (64, 128, 256, 512))):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, width, 2 if (b == 0 and i > 0) else 1))
                cin = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = cin
        self.stride = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_weights(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"encoder weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UsageError(
                f"{path}: not a matching ResNet state_dict (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )


def feature_map_size(cfg: I2SConfig) -> int:
    """Side of the encoder's feature map, from a dummy forward pass on the meta device (no compute):
    padding and rounding make it differ from ``image_size // stride`` (ResNet at 48 px: 2, not 1)."""
    if cfg.image_size < 1 or cfg.in_channels < 1:
        raise UsageError(f"image_size and in_channels must be >= 1, got {cfg.image_size}, {cfg.in_channels}")
    with torch.device("meta"):
        probe = make_encoder(dataclasses.replace(cfg, encoder_weights=None)).eval()
        try:
            shape = probe(torch.empty(1, cfg.in_channels, cfg.image_size, cfg.image_size)).shape
        except RuntimeError as e:
            raise UsageError(f"image_size {cfg.image_size} too small for the {cfg.encoder} encoder ({e})") from None
    if shape[-1] < 1 or shape[-2] != shape[-1]:
        raise UsageError(f"image_size {cfg.image_size} gives a {tuple(shape[-2:])} feature map with {cfg.encoder}")
    return int(shape[-1])


def make_encoder(cfg: I2SConfig) -> nn.Module:
    if cfg.encoder == "small_cnn":
        if cfg.encoder_weights is not None:
            raise UsageError("--encoder-weights is only for resnet encoders")
        return SmallCNN(cfg.in_channels)
    if cfg.encoder.startswith("resnet") and cfg.encoder[6:].isdigit():
        enc = ResNet(int(cfg.encoder[6:]), cfg.in_channels)
        if cfg.encoder_weights is not None:
            enc.load_weights(cfg.encoder_weights)
        return enc
    raise UsageError(f"unknown encoder {cfg.encoder!r}: use small_cnn or resnet18/34/50/101")


# --------------------------------------------------------------------------------------------------
# Image -> sphere, S2 and SO(3) convolutions
# --------------------------------------------------------------------------------------------------


class SpatialS2Projector(nn.Module):
    """Orthographic projection of a feature map onto a HEALPix hemisphere, then S2 Fourier coefficients.

    A sphere point (x, y, z) (hemisphere centred on e3nn's +y axis, the viewing direction) reads the
    feature map at (row, col) = coverage * (z, x) / max_r in [-1, 1]^2 through a normalised Gaussian
    (sigma in those units; learnable, tapered to 0 between ``taper_beta`` and 90 degrees). After a ReLU,
    the harmonic transform is ``sum_n Y_lm(p_n) f(p_n) / sqrt(n)`` over the points used.

    Official behaviour: every forward uses a random subset of ``n_subset`` points, in eval mode too.
    Here the subset is random only in training; in eval mode the projection returns the *expectation*
    of that estimator over subsets, ``sqrt(n_subset) / n_pts * sum_n Y(p_n) f(p_n)``, so predictions are
    deterministic and on the scale seen in training.
    """

    def __init__(
        self,
        in_channels: int,
        fmap_size: int,
        sphere_fdim: int,
        lmax: int,
        rec_level: int = 2,
        coverage: float = 0.9,
        sigma: float = 0.2,
        n_subset: int | None = 20,
        taper_beta: float = math.radians(75),
        max_beta: float = math.pi / 2,
    ) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, sphere_fdim, 1)
        grid = s2_healpix_grid(rec_level, max_beta)  # (2, n) alpha, beta
        xyz = o3.angles_to_xyz(grid[0], grid[1])
        max_r = torch.linalg.norm(xyz[:, [0, 2]], dim=1).max()
        rows = coverage * xyz[:, 2] / max_r
        cols = coverage * xyz[:, 0] / max_r
        gr, gc = torch.meshgrid(2 * [torch.linspace(-1, 1, fmap_size, dtype=torch.float64)], indexing="ij")
        w = torch.exp(-((gr[..., None] - rows) ** 2 + (gc[..., None] - cols) ** 2) / (2 * sigma**2))
        w = w / w.sum((0, 1), keepdim=True)
        if taper_beta < max_beta:
            w = w * ((grid[1] - max_beta) / (taper_beta - max_beta)).clamp(max=1.0)
        self.weight = nn.Parameter(w.float())  # (h, w, n_pts)
        self.register_buffer(
            "Y",
            o3.spherical_harmonics_alpha_beta(
                list(range(lmax + 1)), grid[0], grid[1], normalization="component"
            ).float(),
        )  # (n_pts, (lmax+1)^2)
        self.n_pts = grid.shape[1]
        self.n_subset = n_subset if n_subset is not None and n_subset < self.n_pts else None
        self.fmap_size = fmap_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, sphere_fdim, (lmax+1)^2)."""
        x = self.conv1x1(x)
        f = torch.relu(torch.einsum("bchw,hwn->bcn", x, self.weight))
        if self.n_subset is None:
            return torch.einsum("ni,bcn->bci", self.Y, f) / self.n_pts**0.5
        if self.training:
            idx = torch.randperm(self.n_pts, device=x.device)[: self.n_subset]
            return torch.einsum("ni,bcn->bci", self.Y[idx], f[..., idx]) / self.n_subset**0.5
        return torch.einsum("ni,bcn->bci", self.Y, f) * (self.n_subset**0.5 / self.n_pts)


class S2Convolution(nn.Module):
    """S2 -> SO(3) group convolution with a global filter given in harmonic space (paper Eq. 3).

    ``(f * psi)(R) = sum_l f_l . D^l(R) psi_l``: an ``o3.Linear`` from one copy of each degree to
    (2l+1) copies, whose weights are the filter's coefficients (official HarmonicS2Features,
    kaiming-uniform initialisation, shape (f_in, f_out, (lmax+1)^2)).
    """

    def __init__(self, f_in: int, f_out: int, lmax: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(f_in, f_out, (lmax + 1) ** 2))
        nn.init.kaiming_uniform_(self.weight)
        self.lin = o3.Linear(s2_irreps(lmax), so3_irreps(lmax), f_in=f_in, f_out=f_out, internal_weights=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x, weight=self.weight)


class SO3Convolution(nn.Module):
    """SO(3) group convolution with a filter supported near the identity (paper Eq. 4).

    The filter is a learnable value at each of the 168 rotations of ``so3_near_identity_grid``,
    turned into Wigner coefficients ``psi = sum_n w_n flat_wigner(R_n) / sqrt(n)``.
    """

    def __init__(self, f_in: int, f_out: int, lmax: int) -> None:
        super().__init__()
        kernel = so3_near_identity_grid()
        self.register_buffer("D", flat_wigner(lmax, *kernel).float())  # (n, psi)
        self.w = nn.Parameter(torch.randn(f_in, f_out, kernel.shape[1]))
        self.lin = o3.Linear(so3_irreps(lmax), so3_irreps(lmax), f_in=f_in, f_out=f_out, internal_weights=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        psi = torch.einsum("ni,xyn->xyi", self.D, self.w) / self.D.shape[0] ** 0.5
        return self.lin(x, weight=psi)


class RotationGrid:
    """An SO(3) HEALPix grid with its rotation matrices and (cached or chunked) Wigner matrix.

    The Wigner matrix of a rec-5 grid with lmax 6 is 2.36M x 455 floats (4.3 GB): above
    ``cache_bytes`` it is never stored, but rebuilt chunk by chunk in ``logits``.
    """

    def __init__(self, rec_level: int, lmax: int, cache_bytes: int = 256 * 2**20, chunk: int = 65536) -> None:
        self.rec_level = rec_level
        self.lmax = lmax
        self.angles = so3_healpix_grid(rec_level)  # (3, N) float64
        self.rotations = angles_to_matrix(self.angles).float()  # (N, 3, 3)
        self.n = self.angles.shape[1]
        self.dim = sum((2 * l + 1) ** 2 for l in range(lmax + 1))
        self.chunk = chunk
        self._wigner: torch.Tensor | None = None
        if self.n * self.dim * 4 <= cache_bytes:
            self._wigner = flat_wigner(lmax, *self.angles).float()  # (N, dim)

    def wigner(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        stop = self.n if stop is None else stop
        if self._wigner is not None:
            return self._wigner[start:stop]
        return flat_wigner(self.lmax, *self.angles[:, start:stop]).float()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, dim) coefficients -> (B, N) signal values on the grid."""
        if self._wigner is not None:
            return x @ self._wigner.to(x.device).T
        out = []
        for s in range(0, self.n, self.chunk):
            out.append(x @ self.wigner(s, s + self.chunk).to(x.device).T)
        return torch.cat(out, dim=1)


class I2S(nn.Module):
    """Image2Sphere: encoder, spatial S2 projection, S2 conv, SO(3) activation, SO(3) conv."""

    def __init__(self, cfg: I2SConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.lmax < 1:
            raise UsageError(f"lmax must be >= 1, got {cfg.lmax}")
        self.encoder = make_encoder(cfg)
        fmap = feature_map_size(cfg)
        self.projector = SpatialS2Projector(
            self.encoder.out_channels,
            fmap,
            cfg.sphere_fdim,
            cfg.lmax,
            cfg.proj_rec_level,
            cfg.coverage,
            cfg.sigma,
            cfg.n_subset,
            math.radians(cfg.taper_beta_deg),
        )
        self.s2_conv = S2Convolution(cfg.sphere_fdim, cfg.f_hidden, cfg.lmax)
        self.so3_act = e3nn_nn.SO3Activation(cfg.lmax, cfg.lmax, torch.relu, cfg.act_resolution)
        self.so3_conv = SO3Convolution(cfg.f_hidden, 1, cfg.lmax)
        self._grids: dict[int, RotationGrid] = {}

    # -- model -----------------------------------------------------------------------------------
    def check_images(self, img: torch.Tensor) -> None:
        c, s = self.cfg.in_channels, self.cfg.image_size
        if img.ndim != 4 or img.shape[1] != c or img.shape[2] != s or img.shape[3] != s:
            raise UsageError(f"images must have shape (B, {c}, {s}, {s}), got {tuple(img.shape)}")

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, sum_l (2l+1)^2) SO(3) Fourier coefficients of the logit signal."""
        self.check_images(img)
        x = self.projector(self.encoder(img))
        x = self.s2_conv(x)
        x = self.so3_act(x)
        return self.so3_conv(x).squeeze(1)

    def head(self, s2_coeffs: torch.Tensor) -> torch.Tensor:
        """The equivariant part alone: S2 coefficients (B, sphere_fdim, (lmax+1)^2) -> SO(3) coefficients."""
        return self.so3_conv(self.so3_act(self.s2_conv(s2_coeffs))).squeeze(1)

    # -- grids, loss, prediction -------------------------------------------------------------------
    def grid(self, rec_level: int) -> RotationGrid:
        if rec_level not in self._grids:
            self._grids[rec_level] = RotationGrid(rec_level, self.cfg.lmax)
        return self._grids[rec_level]

    def loss(self, img: torch.Tensor, rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy to the train-grid rotation nearest each label; returns (loss, grid error in rad)."""
        grid = self.grid(self.cfg.train_grid_rec)
        logits = grid.logits(self(img))
        rots = grid.rotations.to(img.device)
        target = nearest_rotation(rot.to(rots.dtype), rots)
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            pred = rots[logits.argmax(dim=1)]
            tr = (pred * rot.to(pred.dtype)).sum((-1, -2))
            err = torch.arccos(torch.clamp((tr - 1) / 2, -1, 1))
        return loss, err

    @torch.no_grad()
    def probabilities(self, img: torch.Tensor, rec_level: int | None = None) -> tuple[torch.Tensor, RotationGrid]:
        """Softmax over the (eval) grid: (B, N) probabilities and the grid."""
        grid = self.grid(self.cfg.eval_grid_rec if rec_level is None else rec_level)
        return torch.softmax(grid.logits(self(img)), dim=1), grid

    @torch.no_grad()
    def predict(self, img: torch.Tensor, rec_level: int | None = None) -> torch.Tensor:
        """Mode of the distribution on the grid: (B, 3, 3) rotations."""
        grid = self.grid(self.cfg.eval_grid_rec if rec_level is None else rec_level)
        logits = grid.logits(self(img))
        return grid.rotations.to(img.device)[logits.argmax(dim=1)]
