"""Linear probes on frozen features: plain LP and the paper's simplicity-bias-mitigating probes (Trivedi et al., Sec. 4).

All variants train a linear head on features computed once by the frozen backbone (the official
``lps_utils.py`` / ``train_simplicity_bias.py`` do the same), with SGD (momentum 0.9, Nesterov) and a cosine
learning rate. The paper's idea: a probe that is *harder to fit with the simple feature alone* gives fine-tuning a
head that already uses more features, so FT inherits less simplicity bias.

* ``lp``: cross-entropy.
* ``vat`` (LP(VAT)): CE + alpha * LDS (virtual adversarial training, Miyato et al. 2018, on the *features*):
  ``LDS = KL(p(h) || p(h + r_adv))``, ``r_adv = eps * g/||g||`` with ``g`` the gradient of
  ``KL(p(h) || p(h + xi d))`` w.r.t. ``d`` after ``ip`` power iterations from a random unit ``d``.
* ``udp`` (LP(UDP)): uncertainty-driven perturbations (Pagliardini et al. 2022), label-free: ``delta`` climbs the
  predictive entropy ``H(p(h + delta))`` by ``steps`` signed-gradient steps of size ``step``, clipped to
  ``||delta||_inf <= eps``; loss = CE(h) + weight * CE(h + delta).
* ``soup`` (LP(Soup)): ``heads`` linear heads, each initialised (Kaiming normal) on its own disjoint block of
  feature dimensions (zero elsewhere), trained jointly on the mean of their CEs; the probe is the uniform
  average of their weights and biases ("uniform soup"), or a greedy soup that adds heads by *validation*
  accuracy (the official greedy soup selects on the test loader; we never do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from orals23_shared.cli import UsageError

__all__ = [
    "PROBES",
    "ProbeConfig",
    "SoupHeads",
    "entropy",
    "extract_features",
    "greedy_soup",
    "train_probe",
    "udp_perturbation",
    "vat_lds",
    "vat_perturbation",
]

PROBES = ("lp", "vat", "udp", "soup")


@dataclass
class ProbeConfig:
    """One linear probe. Defaults: the official scripts' LP recipe and LP-variant argparse defaults."""

    variant: Literal["lp", "vat", "udp", "soup"] = "lp"
    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.03
    final_lr: float = 1e-5  # cosine from lr to final_lr over all steps (official LR_Scheduler, no warm-up)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    vat_alpha: float = 0.1  # weight of LDS
    vat_xi: float = 10.0  # finite-difference step of the power iteration
    vat_eps: float = 1.0  # L2 radius of r_adv (per example)
    vat_ip: int = 1  # power iterations
    udp_eps: float = 0.001  # L-inf radius of delta
    udp_step: float = 0.1  # signed-gradient step
    udp_steps: int = 10
    udp_weight: float = 0.01  # weight of CE(h + delta)
    soup_heads: int = 20
    soup: Literal["uniform", "greedy"] = "uniform"

    def __post_init__(self) -> None:
        if self.variant not in PROBES:
            raise UsageError(f"probe variant {self.variant!r} is not defined (choose from {', '.join(PROBES)})")
        checks = [
            (self.epochs >= 1 and self.batch_size >= 1, "probe epochs and batch size must be >= 1"),
            (self.lr > 0 and 0 <= self.final_lr <= self.lr, "probe lr must be > 0 and final lr in [0, lr]"),
            (self.vat_eps >= 0 and self.vat_xi > 0 and self.vat_ip >= 1, "VAT needs eps >= 0, xi > 0, ip >= 1"),
            (self.udp_eps >= 0 and self.udp_step > 0 and self.udp_steps >= 1, "UDP needs eps >= 0, step > 0"),
            (self.soup_heads >= 1, "--soup-heads must be >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)


def cosine_lr(step: int, total: int, lr: float, final_lr: float) -> float:
    """lr at ``step`` of ``total``: final + (lr - final) * (1 + cos(pi t / T)) / 2."""
    return final_lr + 0.5 * (lr - final_lr) * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


@torch.no_grad()
def extract_features(backbone: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Features of the frozen backbone in eval mode (computed once, as the official LP variants do)."""
    was = backbone.training
    backbone.eval()
    out = torch.cat([backbone(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    backbone.train(was)
    return out


def _unit(d: Tensor) -> Tensor:
    """Per-example unit L2 norm; a zero row stays zero (no epsilon: tiny gradients at small xi stay exact)."""
    norm = d.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1)))
    return torch.where(norm > 0, d / norm.clamp_min(torch.finfo(d.dtype).tiny), torch.zeros_like(d))


def _kl(p: Tensor, logits_q: Tensor) -> Tensor:
    """KL(p || softmax(logits_q)), mean over the batch (p fixed)."""
    return (p * (torch.log(p.clamp_min(1e-30)) - F.log_softmax(logits_q, dim=1))).sum(dim=1).mean()


def vat_perturbation(
    head: nn.Module, h: Tensor, xi: float, eps: float, ip: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """r_adv (per-example L2 norm ``eps``): the power-iteration estimate of the most sensitive direction."""
    with torch.no_grad():
        p = F.softmax(head(h), dim=1)
    d = _unit(torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device))
    for _ in range(ip):
        d = d.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_kl(p, head(h.detach() + xi * d)), d)
        d = _unit(g)
    return eps * d.detach()


def vat_lds(head: nn.Module, h: Tensor, xi: float, eps: float, ip: int = 1, generator=None) -> Tensor:  # noqa: ANN001
    """Local distributional smoothness: KL(p(h) || p(h + r_adv)) >= 0, differentiable in the head."""
    r = vat_perturbation(head, h, xi, eps, ip, generator)
    with torch.no_grad():
        p = F.softmax(head(h), dim=1)
    return _kl(p, head(h + r))


def entropy(logits: Tensor) -> Tensor:
    """Mean predictive entropy of softmax(logits)."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(dim=1).mean()


def udp_perturbation(head: nn.Module, h: Tensor, eps: float, step: float, steps: int) -> Tensor:
    """delta with ||delta||_inf <= eps that increases the predictive entropy (signed-gradient ascent from 0)."""
    delta = torch.zeros_like(h)
    for _ in range(steps):
        delta = delta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(entropy(head(h.detach() + delta)), delta)
        delta = (delta + step * g.sign()).clamp(-eps, eps)
    return delta.detach()


class SoupHeads(nn.Module):
    """``m`` linear heads, member i initialised on the i-th of m disjoint blocks of feature dimensions."""

    def __init__(self, feat_dim: int, n_classes: int, m: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if m > feat_dim:
            raise UsageError(f"--soup-heads {m} exceeds the feature size {feat_dim} (one block of dims per head)")
        self.blocks = [torch.as_tensor(b) for b in np.array_split(np.arange(feat_dim), m)]
        w = torch.zeros(m, n_classes, feat_dim)
        for i, block in enumerate(self.blocks):
            std = math.sqrt(2.0 / len(block))  # Kaiming normal with fan_in = the block's size
            w[i][:, block] = torch.randn(n_classes, len(block), generator=generator) * std
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(m, n_classes))

    def forward(self, h: Tensor) -> Tensor:
        return torch.einsum("nd,mcd->mnc", h, self.weight) + self.bias[:, None, :]

    def member(self, i: int) -> nn.Linear:
        return _linear(self.weight[i], self.bias[i])

    def uniform_soup(self, members: list[int] | None = None) -> nn.Linear:
        idx = list(range(self.weight.shape[0])) if members is None else members
        return _linear(self.weight[idx].mean(0), self.bias[idx].mean(0))


def _linear(w: Tensor, b: Tensor) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    return lin


@torch.no_grad()
def _acc(head: nn.Module, h: Tensor, y: Tensor) -> float:
    return float((head(h).argmax(1) == y).float().mean())


def greedy_soup(soup: SoupHeads, h_val: Tensor, y_val: Tensor) -> tuple[nn.Linear, list[int]]:
    """Greedy soup (Wortsman et al. 2022) on *validation* data: add heads best-first while accuracy does not drop."""
    order = sorted(range(soup.weight.shape[0]), key=lambda i: -_acc(soup.member(i), h_val, y_val))
    chosen = [order[0]]
    best = _acc(soup.uniform_soup(chosen), h_val, y_val)
    for i in order[1:]:
        acc = _acc(soup.uniform_soup([*chosen, i]), h_val, y_val)
        if acc >= best:
            chosen, best = [*chosen, i], acc
    return soup.uniform_soup(chosen), chosen


def train_probe(
    h: Tensor,
    y: Tensor,
    n_classes: int,
    cfg: ProbeConfig,
    seed: int = 0,
    val: tuple[Tensor, Tensor] | None = None,
) -> tuple[nn.Linear, dict]:
    """Train the probe ``cfg.variant`` on features ``h`` (n, d); returns the linear head and a record."""
    if h.dim() != 2 or h.shape[0] != y.shape[0]:
        raise UsageError(f"features must be (n, d) with n = {y.shape[0]}, got {tuple(h.shape)}")
    gen = torch.Generator().manual_seed(seed)
    d = h.shape[1]
    if cfg.variant == "soup":
        model: nn.Module = SoupHeads(d, n_classes, cfg.soup_heads, generator=gen)
    else:
        model = nn.Linear(d, n_classes)
        bound = 1.0 / math.sqrt(d)  # PyTorch's default Linear init, from the probe's own generator
        with torch.no_grad():
            model.weight.uniform_(-bound, bound, generator=gen)
            model.bias.uniform_(-bound, bound, generator=gen)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay
    )
    n = h.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total, step, last = cfg.epochs * steps_per_epoch, 0, {}
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            hb, yb = h[idx], y[idx]
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr, cfg.final_lr)
            if cfg.variant == "soup":
                logits = model(hb)
                loss = F.cross_entropy(logits.reshape(-1, n_classes), yb.repeat(logits.shape[0]))
                last = {"ce": float(loss.detach())}
            else:
                ce = F.cross_entropy(model(hb), yb)
                loss = ce
                last = {"ce": float(ce.detach())}
                if cfg.variant == "vat":
                    lds = vat_lds(model, hb, cfg.vat_xi, cfg.vat_eps, cfg.vat_ip, gen)
                    loss = ce + cfg.vat_alpha * lds
                    last["lds"] = float(lds.detach())
                elif cfg.variant == "udp":
                    delta = udp_perturbation(model, hb, cfg.udp_eps, cfg.udp_step, cfg.udp_steps)
                    adv = F.cross_entropy(model(hb + delta), yb)
                    loss = ce + cfg.udp_weight * adv
                    last["udp_ce"] = float(adv.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    record: dict = {"variant": cfg.variant, "steps": step, **{f"final_{k}": v for k, v in last.items()}}
    if isinstance(model, SoupHeads):
        if cfg.soup == "greedy":
            if val is None:
                raise UsageError("a greedy soup needs validation data (it never selects on test data)")
            head, chosen = greedy_soup(model, *val)
            record["soup_members"] = chosen
        else:
            head = model.uniform_soup()
        record["member_train_acc"] = [_acc(model.member(i), h, y) for i in range(model.weight.shape[0])]
        return head, record
    return model, record
