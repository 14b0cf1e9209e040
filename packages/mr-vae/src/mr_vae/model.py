"""Multi-Rate VAE models (Bae et al., ICLR 2023): a response hypernetwork of beta-gated pre-activations.

Every hidden layer keeps its weights; its pre-activation ``a = W h + b`` is scaled per unit (per channel for a
convolution) by a gate of the standardised log beta ``xi`` (paper Eq. 7 and Listing 1; official code
``src/hyper/layers.py`` at HEAD):

* encoder layers: ``a * sigmoid(w xi + c)``                 (gate in (0, 1); HEAD dropped the 2022 code's factor 2)
* decoder layers: ``a * sqrt(relu(1 - exp(w xi + c)))``     (gate in [0, 1); the linear-VAE optimum, Section 4)

with one ``(w, c)`` pair per gated unit, as an ``nn.Linear(1, units)`` per layer would give (here one
``nn.Linear(1, all gated units)``, :class:`Gates`), in its default initialisation: never zero-initialised, since a
zero decoder hyper-layer gives gate 0 with zero gradient, a dead decoder. Output heads (mean, log-variance, decoder output) are
not gated. ``xi = None`` (or a model built with ``gated=False``) is the plain beta-VAE with the same layers.

beta is sampled log-uniformly per example: ``u ~ U(-sqrt3, sqrt3)`` (zero mean, unit variance: the network input
``xi``), ``log beta = m + u h / sqrt3`` with ``m, h`` the centre and half-width of ``[log beta_min, log beta_max]``.

The loss of one example is ``D + beta R`` (Eq. 1, no rescaling): ``D = -log p(x|z)`` with one reparameterised
sample, ``R = KL(q(z|x) || N(0, I))`` in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SQRT3",
    "BetaRange",
    "Gates",
    "VAE",
    "LinearVAE",
    "build_model",
    "gaussian_kl",
    "apply_gate",
    "sigmoid_gate",
    "sqrt_gate",
]

SQRT3 = math.sqrt(3.0)
Likelihood = Literal["bernoulli", "gaussian"]


class BetaRange:
    """The log-uniform beta distribution on ``[lo, hi]`` and its standardisation ``xi`` (official ``base_model.py``)."""

    def __init__(self, lo: float, hi: float) -> None:
        if not (lo > 0 and hi > lo):
            raise ValueError(f"need 0 < beta_min < beta_max, got [{lo}, {hi}]")
        self.lo, self.hi = float(lo), float(hi)
        self.m = 0.5 * (math.log(lo) + math.log(hi))
        self.h = 0.5 * (math.log(hi) - math.log(lo))

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(beta, xi)`` for ``n`` examples: ``xi ~ U(-sqrt3, sqrt3)``, ``beta = exp(m + xi h / sqrt3)``."""
        xi = (torch.rand(n, generator=generator) * 2.0 - 1.0) * SQRT3
        return self.beta(xi), xi

    def beta(self, xi: Tensor) -> Tensor:
        return torch.exp(self.m + xi * (self.h / SQRT3))

    def xi(self, beta: Tensor | float, dtype: torch.dtype = torch.float32) -> Tensor:
        """The network input for a given beta: ``sqrt3 (log beta - m) / h`` (official ``fixed_forward``)."""
        beta = torch.as_tensor(beta, dtype=torch.float64)
        return (SQRT3 * (torch.log(beta) - self.m) / self.h).to(dtype)


def sigmoid_gate(t: Tensor) -> Tensor:
    """Encoder gate ``sigmoid(t)`` in (0, 1)."""
    return torch.sigmoid(t)


def sqrt_gate(t: Tensor) -> Tensor:
    """Decoder gate ``sqrt(relu(1 - exp(t)))`` in [0, 1), exactly the official form.

    Its derivative ``-exp(t) / (2 sqrt(1 - exp(t)))`` blows up as ``t -> 0-`` (the brief's pitfall 3), but computed as
    ``1 - exp(t)`` (not ``expm1``) in floating point the smallest positive ``1 - exp(t)`` is the machine epsilon, so the
    gradient stays below ``0.5 / sqrt(eps)`` (about 2e3 in float32), and at ``1 - exp(t) <= 0`` it is exactly 0.
    """
    return torch.sqrt(torch.relu(1.0 - torch.exp(t)))


def apply_gate(a: Tensor, g: Tensor) -> Tensor:
    """``a * g`` with the per-unit gate ``g (B, units)`` broadcast over any spatial dims of ``a (B, units, ...)``."""
    return a * g if a.dim() == 2 else a * g.reshape(*g.shape, *([1] * (a.dim() - 2)))


class Gates(nn.Module):
    """The response hypernetwork: one ``(w, c)`` pair per gated unit, all layers in one ``nn.Linear(1, units)``.

    ``nn.Linear(1, n)`` initialises every weight and bias from ``U(-1, 1)`` (fan_in = 1) whatever ``n`` is, so one
    layer for all units is the official per-layer ``nn.Linear(1, units)`` computed in a single matrix product.
    Encoder segments get the sigmoid gate, decoder segments the sqrt gate.
    """

    def __init__(self, encoder_units: Sequence[int], decoder_units: Sequence[int]) -> None:
        super().__init__()
        self.encoder_units = [int(u) for u in encoder_units]
        self.decoder_units = [int(u) for u in decoder_units]
        self.n_enc = sum(self.encoder_units)
        self.hyper = nn.Linear(1, self.n_enc + sum(self.decoder_units))

    def forward(self, xi: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per-layer gate values for per-example inputs ``xi (B,)``: encoder list, decoder list.

        Each layer's ``t = w xi + c`` is one ``addcmul`` of its slice of the hyper-parameters, so every gate is a
        contiguous ``(B, units)`` tensor: no ``(B, 1) x (1, N)`` matrix product and no column slices of one
        ``(B, N)`` tensor, whose backward allocates and zero-fills a ``(B, N)`` gradient per slice (the gates'
        forward + backward about 20 % cheaper in isolation; not measurable per step). Same values as :meth:`reference_forward` (tested).
        """
        w = self.hyper.weight.reshape(-1)
        c = self.hyper.bias
        x = xi.reshape(-1, 1).to(w.dtype)
        enc, dec, o = [], [], 0
        for u in self.encoder_units:
            enc.append(sigmoid_gate(torch.addcmul(c[o : o + u], x, w[o : o + u])))
            o += u
        for u in self.decoder_units:
            dec.append(sqrt_gate(torch.addcmul(c[o : o + u], x, w[o : o + u])))
            o += u
        return enc, dec

    def reference_forward(self, xi: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The plain formula (one ``nn.Linear(1, N)`` over all units, then split): the test reference."""
        t = self.hyper(xi.reshape(-1, 1).to(self.hyper.weight.dtype))
        enc = sigmoid_gate(t[:, : self.n_enc]).split(self.encoder_units, dim=1)
        dec = sqrt_gate(t[:, self.n_enc :]).split(self.decoder_units, dim=1)
        return list(enc), list(dec)


class Stack(nn.Module):
    """``layer -> gate -> ReLU`` blocks (the gate is the pre-activation scale; no gate when ``gates`` is None)."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, h: Tensor, gates: Sequence[Tensor] | None) -> Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if gates is not None:
                h = apply_gate(h, gates[i])
            h = F.relu(h)
        return h


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` per example: ``-1/2 sum(1 + logvar - mu^2 - exp(logvar))``."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


class VAE(nn.Module):
    """MLP or convolutional VAE with optional beta gates; Bernoulli (logits) or fixed-variance Gaussian decoder.

    * ``mlp``: ``d -> hidden... -> (mu, logvar)``; decoder ``latent -> reversed hidden... -> d``.
    * ``conv``: 3x3 stride-2 convolutions (``channels``), a dense layer of ``hidden[-1]`` units, the heads; decoder
      dense ``latent -> hidden[-1] -> lowest feature map``, 4x4 stride-2 transposed convolutions back, cropped to the
      image size (any height and width).
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent: int = 16,
        arch: Literal["mlp", "conv"] = "mlp",
        hidden: Sequence[int] = (256, 256),
        channels: Sequence[int] = (32, 64),
        likelihood: Likelihood = "bernoulli",
        sigma2: float = 0.5,
        gated: bool = True,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent, self.arch, self.likelihood, self.sigma2, self.gated = latent, arch, likelihood, sigma2, gated
        c, h, w = self.image_shape
        d = c * h * w
        hidden = [int(u) for u in hidden]
        if arch == "mlp":
            enc_units = hidden
            self.encoder = Stack([nn.Linear(i, o) for i, o in zip([d, *hidden[:-1]], hidden)])
            dec_units = hidden[::-1]
            self.decoder = Stack([nn.Linear(i, o) for i, o in zip([latent, *dec_units[:-1]], dec_units)])
            self.out: nn.Module = nn.Linear(dec_units[-1], d)
            self.deconvs = None
        elif arch == "conv":
            chans = [int(ch) for ch in channels]
            size = (h, w)
            for _ in chans:  # a 3x3 stride-2 conv with padding 1 maps a size to ceil(size / 2)
                size = (-(-size[0] // 2), -(-size[1] // 2))
            self.low = (chans[-1], *size)
            flat = chans[-1] * size[0] * size[1]
            convs = [nn.Conv2d(i, o, 3, stride=2, padding=1) for i, o in zip([c, *chans[:-1]], chans)]
            self.convs = Stack(convs)
            self.encoder = Stack([nn.Linear(flat, hidden[-1])])
            enc_units = [*chans, hidden[-1]]
            self.decoder = Stack([nn.Linear(latent, hidden[-1]), nn.Linear(hidden[-1], flat)])
            ups = chans[::-1]
            self.deconvs = Stack([nn.ConvTranspose2d(i, o, 4, stride=2, padding=1) for i, o in zip(ups[:-1], ups[1:])])
            dec_units = [hidden[-1], flat, *ups[1:]]
            self.out = nn.ConvTranspose2d(ups[-1], c, 4, stride=2, padding=1)
        else:
            raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
        self.gates = Gates(enc_units, dec_units) if gated else None
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)

    def gate_values(self, xi: Tensor | None) -> tuple[list[Tensor] | None, list[Tensor] | None]:
        """Encoder and decoder gates for ``xi``; ``(None, None)`` for an ungated model or ``xi=None`` (gates off)."""
        if self.gates is None or xi is None:
            return None, None
        return self.gates(xi)

    # -- encoder / decoder ---------------------------------------------------------------------------
    def encode(self, x: Tensor, xi: Tensor | None, gates: tuple | None = None) -> tuple[Tensor, Tensor]:
        enc, _ = gates if gates is not None else self.gate_values(xi)
        if self.arch == "mlp":
            h = self.encoder(x.flatten(1), enc)
        else:
            n = len(self.convs.layers)
            h = self.convs(x, None if enc is None else enc[:n]).flatten(1)
            h = self.encoder(h, None if enc is None else enc[n:])
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor, xi: Tensor | None, gates: tuple | None = None) -> Tensor:
        """Decoder output in the image's shape: Bernoulli logits or Gaussian means."""
        _, dec = gates if gates is not None else self.gate_values(xi)
        if self.arch == "mlp":
            return self.out(self.decoder(z, dec)).reshape(-1, *self.image_shape)
        h = self.decoder(z, None if dec is None else dec[:2]).reshape(-1, *self.low)
        h = self.deconvs(h, None if dec is None else dec[2:])  # type: ignore[misc]
        return self.out(h)[..., : self.image_shape[1], : self.image_shape[2]]

    def distortion(self, x: Tensor, out: Tensor) -> Tensor:
        """``-log p(x|z)`` per example (nats): BCE summed over pixels, or the full Gaussian NLL with fixed sigma2."""
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        d = x[0].numel()
        sq = (x - out).pow(2).flatten(1).sum(1)
        return sq / (2 * self.sigma2) + 0.5 * d * math.log(2 * math.pi * self.sigma2)

    def forward(self, x: Tensor, xi: Tensor | None, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Per-example distortion and rate with the reparameterised sample ``z = mu + exp(logvar / 2) eps``."""
        gates = self.gate_values(xi)
        mu, logvar = self.encode(x, xi, gates)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.distortion(x, self.decode(z, xi, gates)), gaussian_kl(mu, logvar)


class LinearVAE(nn.Module):
    """Linear Gaussian VAE (Section 4 of the paper; Lucas et al., 2019): ``q(z|x) = N(E x, diag s2)``, ``p(x|z) =
    N(W z, sigma2 I)`` on data centred by the training mean.

    The beta-optimum (per principal direction ``i`` with covariance eigenvalue ``lam_i``) is ``W_i = sqrt(lam_i -
    beta sigma2)_+ u_i``, ``E_i = sqrt(lam_i - beta sigma2)_+ / lam_i u_i^T``, ``s2_i = min(1, beta sigma2 / lam_i)``.
    With ``t_i = log beta + log sigma2 - log lam_i`` all three are one decoder gate ``g_i = sqrt(relu(1 - exp(t_i)))``:
    ``W(beta) = W0 diag(g)``, ``E(beta) = diag(g) E0``, ``s2 = 1 - g^2`` (= ``exp(min(0, t))``), and ``t_i`` is affine in
    ``xi``. So the gated model has one hyper-linear ``t = w xi + c`` per latent unit, which represents the response
    exactly. ``gated=False`` is the plain linear beta-VAE (free per-unit log-variance).

    The hyper-slope starts at ``h / sqrt3`` (``t`` moving one-for-one with log beta, the response's known slope; still
    trained) and the offsets at the default ``U(-1, 1)``: a unit whose ``t >= 0`` over the whole beta range is off with
    zero gradient and never recovers, which default slopes ``U(-1, 1)`` cause for about one unit in seven.
    """

    def __init__(
        self, dim: int, latent: int, sigma2: float, mean: Tensor | None = None, gated: bool = True, slope: float = 1.0
    ) -> None:
        super().__init__()
        self.dim, self.latent, self.sigma2, self.gated = dim, latent, float(sigma2), gated
        self.image_shape = (dim,)
        self.likelihood = "gaussian"
        self.register_buffer("mean", torch.zeros(dim) if mean is None else mean.reshape(dim).float().clone())
        self.enc = nn.Linear(dim, latent, bias=False)
        self.dec = nn.Linear(latent, dim, bias=False)
        if gated:
            self.hyper = nn.Linear(1, latent)
            with torch.no_grad():
                self.hyper.weight.fill_(slope)
        else:
            self.free_logvar = nn.Parameter(torch.zeros(latent))

    def gate_input(self, xi: Tensor) -> Tensor:
        return self.hyper(xi.reshape(-1, 1).to(self.hyper.weight.dtype))

    def encode(self, x: Tensor, xi: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.enc(x.flatten(1) - self.mean)
        if self.gated:
            t = self.gate_input(self._need(xi))
            return sqrt_gate(t) * h, -F.relu(-t)
        return h, self.free_logvar.expand_as(h)

    def _need(self, xi: Tensor | None) -> Tensor:
        if xi is None:
            raise ValueError("a gated linear VAE needs xi (its gates are its whole response)")
        return xi

    def decode(self, z: Tensor, xi: Tensor | None) -> Tensor:
        if self.gated:
            z = sqrt_gate(self.gate_input(self._need(xi))) * z
        return self.dec(z) + self.mean

    def distortion(self, x: Tensor, out: Tensor) -> Tensor:
        sq = (x.flatten(1) - out).pow(2).sum(1)
        return sq / (2 * self.sigma2) + 0.5 * self.dim * math.log(2 * math.pi * self.sigma2)

    def forward(self, x: Tensor, xi: Tensor | None, eps: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encode(x, xi)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.distortion(x, self.decode(z, xi)), gaussian_kl(mu, logvar)

    def expected(self, x: Tensor, xi: Tensor | None) -> tuple[Tensor, Tensor]:
        """Exact ``E_q[D]`` and ``R`` per example (no Monte-Carlo noise): the noise adds ``sum_i |W g|_i^2 s2_i``."""
        mu, logvar = self.encode(x, xi)
        g = sqrt_gate(self.gate_input(self._need(xi))) if self.gated else torch.ones_like(mu)
        w2 = self.dec.weight.pow(2).sum(0)  # |W_i|^2 per latent unit
        mean_out = self.dec(g * mu) + self.mean
        sq = (x.flatten(1) - mean_out).pow(2).sum(1) + (w2 * g.pow(2) * logvar.exp()).sum(1)
        d = sq / (2 * self.sigma2) + 0.5 * self.dim * math.log(2 * math.pi * self.sigma2)
        return d, gaussian_kl(mu, logvar)


def build_model(
    arch: str,
    image_shape: Sequence[int],
    latent: int,
    hidden: Sequence[int],
    channels: Sequence[int],
    likelihood: Likelihood,
    sigma2: float,
    gated: bool,
    beta_range: BetaRange | None = None,
    mean: Tensor | None = None,
) -> nn.Module:
    """The model a config names: ``mlp`` / ``conv`` (:class:`VAE`) or ``linear`` (:class:`LinearVAE`)."""
    if arch == "linear":
        dim = int(math.prod(image_shape))
        slope = beta_range.h / SQRT3 if beta_range is not None else 1.0
        return LinearVAE(dim, latent, sigma2, mean=mean, gated=gated, slope=slope)
    return VAE(image_shape, latent, arch, hidden, channels, likelihood, sigma2, gated)  # type: ignore[arg-type]
