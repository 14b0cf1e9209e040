"""The configuration of one training run (``mr-vae-train mr|beta``), kept apart from the Lightning code so that
``--help`` and bad-flag errors answer without importing Lightning."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mr_vae.model import BetaRange
from orals23_shared.cli import RunFields, UsageError

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig(RunFields):
    """One training run (``mr-vae-train mr|beta``)."""

    mode: Literal["mr", "beta"] = field(default="mr", metadata={"help": "mr: MR-VAE; beta: plain beta-VAE"})
    beta: float = field(default=1.0, metadata={"help": "beta of a beta-VAE (mode beta)"})
    beta_min: float = field(default=0.01, metadata={"help": "lower end of the MR-VAE's beta range (official 0.01)"})
    beta_max: float = field(default=10.0, metadata={"help": "upper end of the MR-VAE's beta range (official 10)"})
    data: str = field(
        default="digits",
        metadata={
            "help": "'digits' (scikit-learn, offline; 'digits-raw': values 0..16), a folder of MNIST-style IDX "
            "files or of images, an IDX file, or a .npy/.npz array"
        },
    )
    test_fraction: float = field(default=0.2, metadata={"help": "held-out share when the data has no test split"})
    channels: Literal[1, 3] = field(default=1, metadata={"help": "image folders: 1 (grey) or 3 (RGB) channels"})
    arch: Literal["mlp", "conv", "linear"] = field(default="mlp", metadata={"help": "encoder/decoder architecture"})
    latent: int = field(default=16, metadata={"help": "latent dimensions (official binary-image models: 32)"})
    hidden: tuple[int, ...] = field(default=(256, 256), metadata={"help": "MLP hidden widths (conv: dense width)"})
    conv_channels: tuple[int, ...] = field(default=(32, 64), metadata={"help": "conv: channels of the stride-2 convs"})
    decoder: Literal["bernoulli", "gaussian"] = field(
        default="bernoulli", metadata={"help": "likelihood: bernoulli (data in [0,1]) or gaussian (fixed sigma2)"}
    )
    sigma2: float = field(default=0.5, metadata={"help": "gaussian decoder variance (0.5 = the official MSE-sum)"})
    binarize: bool = field(default=True, metadata={"help": "bernoulli: threshold the data at 0.5 (static)"})
    steps: int = field(default=3000, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size (per device)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    warmup: float = field(default=0.05, metadata={"help": "share of the steps spent in the linear warm-up"})
    min_lr: float = field(default=1e-6, metadata={"help": "learning rate at the end of the cosine decay"})
    eval_betas: int = field(default=11, metadata={"help": "log-spaced betas of the final R-D curve"})
    eval_samples: int = field(default=4, metadata={"help": "Monte-Carlo samples of the distortion per example"})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between atomic checkpoints"})
    log_every: int = field(default=50, metadata={"help": "steps between metrics.jsonl records"})
    out: Path = field(default=Path("runs/mr-vae"), metadata={"help": "run folder"})
    seed: int = field(default=0, metadata={"help": "random seed (weights, data split, betas, noise)"})

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.conv_channels = tuple(int(c) for c in self.conv_channels)
        self.out = Path(self.out)
        checks = [
            (
                self.beta_min > 0 and self.beta_max > 0,
                f"--beta-min and --beta-max must be positive, got {self.beta_min} and {self.beta_max}",
            ),
            (self.beta_min < self.beta_max, f"--beta-min ({self.beta_min}) must be below --beta-max ({self.beta_max})"),
            (self.beta > 0, f"--beta must be positive, got {self.beta}"),
            (0 < self.test_fraction < 1, f"--test-fraction must be in (0, 1), got {self.test_fraction}"),
            (self.latent >= 1, f"--latent must be >= 1, got {self.latent}"),
            (len(self.hidden) >= 1 and min(self.hidden) >= 1, f"--hidden needs positive widths, got {self.hidden}"),
            (
                len(self.conv_channels) >= 1 and min(self.conv_channels) >= 1,
                f"--conv-channels needs positive counts, got {self.conv_channels}",
            ),
            (self.sigma2 > 0, f"--sigma2 must be positive, got {self.sigma2}"),
            (self.steps >= 1, f"--steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (
                self.lr > 0 and self.min_lr >= 0,
                f"--lr must be positive and --min-lr >= 0, got {self.lr}, {self.min_lr}",
            ),
            (0 <= self.warmup < 1, f"--warmup is a share of the steps in [0, 1) so that it ends, got {self.warmup}"),
            (self.eval_betas >= 2, f"--eval-betas must be >= 2, got {self.eval_betas}"),
            (self.eval_samples >= 1, f"--eval-samples must be >= 1, got {self.eval_samples}"),
            (self.checkpoint_every >= 1 and self.log_every >= 1, "--checkpoint-every and --log-every must be >= 1"),
            (self.devices >= 1 and self.num_nodes >= 1, "--devices and --num-nodes must be >= 1"),
            (
                self.arch != "linear" or self.decoder == "gaussian",
                "--arch linear is the linear Gaussian VAE: pass --decoder gaussian",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)

    @property
    def beta_range(self) -> BetaRange:
        return BetaRange(self.beta_min, self.beta_max)
