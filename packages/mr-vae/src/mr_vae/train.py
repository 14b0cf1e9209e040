"""Lightning training of an MR-VAE (beta ~ log-uniform per example, gates on) or a beta-VAE (fixed beta, gates off).

One training step (paper Algorithm 1; official ``hyper_train.py``): ``u ~ U(-sqrt3, sqrt3)`` per example,
``beta = exp(m + u h / sqrt3)``, gates fed ``xi = u``, loss ``mean_b(D_b + beta_b R_b)`` without rescaling. A
beta-VAE runs the same code with the gates removed and ``beta`` fixed. Adam with a linear warm-up (from 1e-10 of
the learning rate, as ``LinearLR`` in the official code) over the first ``warmup`` fraction of the steps, then a
cosine decay to ``min_lr``; the warm-up always ends (the official defaults never left it, the brief's pitfall 5).

The randomness of step ``s`` (betas and reparameterisation noise) comes from a generator seeded by ``(seed, s,
rank)``, and batches from ``resumable_loader``, so a killed run resumed from its atomic checkpoint ends with exactly
the weights of an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import TensorDataset

from mr_vae.config import TrainConfig
from mr_vae.data import ImageData, check_range, load_data
from mr_vae.evaluate import beta_grid, plot_rd, rd_curve, weighted_loss, write_curve
from mr_vae.model import BetaRange, build_model
from orals23_shared.checkpoint import checkpoint_path, latest
from orals23_shared.cli import UsageError
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.runfolder import FREE_FIELDS, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["TrainConfig", "TrainResult", "VAEModule", "lr_factor", "load_run", "prepare_data", "train"]

WARMUP_START = 1e-10
RUN_FREE_FIELDS = FREE_FIELDS | {"eval_betas", "eval_samples"}


def lr_factor(step: int, steps: int, warmup: float, min_ratio: float) -> float:
    """Multiplier of the learning rate at ``step``: linear warm-up from 1e-10, then cosine to ``min_ratio``."""
    warm = int(math.floor(warmup * steps))  # < steps for warmup < 1: the warm-up always ends
    if step < warm:
        return WARMUP_START + (1 - WARMUP_START) * step / warm
    progress = min(1.0, (step - warm) / max(1, steps - 1 - warm))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def prepare_data(cfg: TrainConfig) -> ImageData:
    """The run's data, range-checked (and binarised) for its decoder."""
    return check_range(load_data(cfg.data, cfg.seed, cfg.test_fraction, cfg.channels), cfg.decoder, cfg.binarize)


class VAEModule(L.LightningModule):
    """The VAE and its training step; ``hparams`` rebuild it from a checkpoint."""

    def __init__(self, cfg: dict[str, Any], image_shape: list[int]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = cfg
        self.betas = BetaRange(cfg["beta_min"], cfg["beta_max"])
        self.mr = cfg["mode"] == "mr"
        self.model = build_model(
            cfg["arch"],
            image_shape,
            cfg["latent"],
            cfg["hidden"],
            cfg["conv_channels"],
            cfg["decoder"],
            cfg["sigma2"],
            gated=self.mr,
            beta_range=self.betas,
        )
        self.last: dict[str, float] = {}

    @property
    def beta_range(self) -> BetaRange | None:
        """The beta range of an MR-VAE; None for a beta-VAE (no gates)."""
        return self.betas if self.mr else None

    def _generator(self) -> torch.Generator:
        state = np.random.SeedSequence([int(self.cfg["seed"]), int(self.global_step), int(self.global_rank)])
        return torch.Generator().manual_seed(int(state.generate_state(1, dtype=np.uint64)[0] >> 1))

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x = batch[0]
        n, g = len(x), self._generator()
        if self.mr:
            beta, xi = self.betas.sample(n, g)
            xi = xi.to(x.device)
        else:
            beta, xi = torch.full((n,), float(self.cfg["beta"])), None
        eps = torch.randn(n, self.cfg["latent"], generator=g).to(x.device)
        dist, rate = self.model(x, xi, eps)
        loss = (dist + beta.to(x.device) * rate).mean()
        self.last = {
            "loss": float(loss.detach()),
            "distortion": float(dist.detach().mean()),
            "rate": float(rate.detach().mean()),
        }
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg["lr"])
        steps, warmup, ratio = int(self.cfg["steps"]), float(self.cfg["warmup"]), self.cfg["min_lr"] / self.cfg["lr"]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, warmup, ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _StepLog(L.Callback):
    """Training metrics to ``metrics.jsonl`` every ``every`` steps and at the last step (rank 0)."""

    def __init__(self, logger: RunLogger | None, every: int) -> None:
        self.logger, self.every = logger, every

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.logger is None or not trainer.is_global_zero:
            return
        if step % self.every == 0 or step == trainer.max_steps:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            self.logger.log(step, lr=lr, **pl_module.last)  # type: ignore[arg-type]


@dataclass
class TrainResult:
    module: VAEModule
    run_dir: Path
    summary: dict[str, Any]


def _is_launcher_child() -> bool:
    """A process Lightning's DDP launcher started (it re-runs the command with LOCAL_RANK / NODE_RANK set)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


def _ckpt_step(path: Path | None) -> int:
    m = re.search(r"ckpt-(\d+)", path.name) if path is not None else None
    return int(m.group(1)) if m else -1


def train(cfg: TrainConfig, data: ImageData | None = None, callbacks: Sequence[L.Callback] = ()) -> TrainResult:
    """Train one MR-VAE or beta-VAE into ``cfg.out``; evaluate its R-D curve on the test split at the end.

    ``data`` replaces the data ``cfg.data`` names; ``callbacks`` are added to the Lightning trainer's.
    A ``--resume`` with the same ``steps`` ends exactly where an uninterrupted run ends; a larger ``steps`` extends
    the run, with the learning-rate schedule of the new total from the resumed step on.
    """
    quiet_lightning()
    set_threads(cfg.threads)
    data = data if data is not None else prepare_data(cfg)
    per_device = len(data.train) // (cfg.devices * cfg.num_nodes)
    if per_device < 1:
        raise UsageError(f"{len(data.train)} training examples cannot feed {cfg.devices * cfg.num_nodes} devices")
    batch_size = min(cfg.batch_size, per_device)
    if batch_size < cfg.batch_size and not _is_launcher_child():
        print(
            f"mr-vae-train: note: {len(data.train)} training examples; batches of {batch_size} instead of "
            f"--batch-size {cfg.batch_size}",
            file=sys.stderr,
        )
    config = asdict(cfg)
    if _is_launcher_child():
        run, resumed = Path(cfg.out), cfg.resume
    else:
        run, resumed = prepare_run_dir(
            cfg.out, config, resume=cfg.resume, overwrite=cfg.overwrite, free=RUN_FREE_FIELDS, seed=cfg.seed
        )
    ckpt_dir = run / "checkpoints"
    ckpt = latest(ckpt_dir, ".ckpt") if resumed else None

    seed_everything(cfg.seed)
    hp = {k: (str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)) for k, v in config.items()}
    module = VAEModule(hp, list(data.shape))
    if cfg.arch == "linear":
        module.model.mean.copy_(data.train.flatten(1).mean(0))
    loader, resume_cb = resumable_loader(TensorDataset(data.train), batch_size, seed=cfg.seed, drop_last=True)
    plugin, ckpt_cb = atomic_checkpointing(ckpt_dir, every_n_train_steps=cfg.checkpoint_every)

    logger = (
        None
        if _is_launcher_child()
        else RunLogger(run, quiet=cfg.quiet, resume_step=_ckpt_step(ckpt) if resumed else None)
    )
    try:
        trainer = L.Trainer(
            max_steps=cfg.steps,
            max_epochs=-1,
            accelerator=cfg.device,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            plugins=[plugin],
            callbacks=[ckpt_cb, resume_cb, _StepLog(logger, cfg.log_every), *callbacks],
            use_distributed_sampler=False,
            logger=False,
            enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=str(run),
        )
        wall0, cpu0 = time.perf_counter(), time.process_time()
        trainer.fit(module, loader, ckpt_path=str(ckpt) if ckpt is not None else None)
        fit_wall, fit_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if _ckpt_step(latest(ckpt_dir, ".ckpt")) != trainer.global_step:
            trainer.save_checkpoint(checkpoint_path(ckpt_dir, trainer.global_step, ".ckpt"))
        summary: dict[str, Any] = {
            "mode": cfg.mode,
            "batch_size": batch_size,
            "steps": trainer.global_step,
            "data": data.source,
            "resumed_from": _ckpt_step(ckpt) if ckpt is not None else None,
            # the training alone (Lightning fit, this process), without data loading and the final evaluation:
            # what one MR-VAE run and one beta-VAE run of the same steps are compared on
            "fit_seconds": round(fit_wall, 3),
            "fit_cpu_seconds": round(fit_cpu, 3),
        }
        if trainer.is_global_zero and logger is not None:
            summary.update(evaluate_run(module, cfg, data, run))
            logger.summary(**summary)
    finally:
        if logger is not None:
            logger.close()
    return TrainResult(module, run, summary)


def evaluate_run(module: VAEModule, cfg: TrainConfig, data: ImageData, run: Path) -> dict[str, Any]:
    """The final R-D curve (MR-VAE) or point (beta-VAE) on the test split, written to ``curve.json`` + a plot."""
    model = module.model.cpu()
    if module.mr:
        betas = beta_grid(cfg.beta_min, cfg.beta_max, cfg.eval_betas)
        curve = rd_curve(model, data.test, betas, module.betas, cfg.eval_samples, seed=cfg.seed)
        write_curve(run / "curve.json", curve)
        plot_rd(run / "rd_curve.png", {"MR-VAE": curve}, title=f"MR-VAE, test set ({data.source})")
        return {"test_curve": curve}
    curve = rd_curve(model, data.test, [cfg.beta], None, cfg.eval_samples, seed=cfg.seed)
    write_curve(run / "curve.json", curve)
    r, d = curve["rate"][0], curve["distortion"][0]
    return {"test_rate": r, "test_distortion": d, "test_loss": weighted_loss(r, d, cfg.beta)}


def load_run(run: str | os.PathLike) -> tuple[VAEModule, TrainConfig]:
    """The trained module of a run folder (its newest checkpoint) and the run's config."""
    import json

    run = Path(run)
    if not run.is_dir() or not (run / "config.json").is_file():
        raise UsageError(f"{run}: not a run folder (no config.json)")
    ckpt = latest(run / "checkpoints", ".ckpt")
    if ckpt is None:
        raise UsageError(f"{run}: no checkpoint (checkpoints/ckpt-*.ckpt)")
    saved = json.loads((run / "config.json").read_text())
    try:
        cfg = TrainConfig(**saved)
    except TypeError as e:
        raise UsageError(f"{run}/config.json: not an mr-vae-train config ({e})") from e
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    module = VAEModule(state["hyper_parameters"]["cfg"], state["hyper_parameters"]["image_shape"])
    module.load_state_dict(state["state_dict"])
    module.eval()
    return module, cfg
