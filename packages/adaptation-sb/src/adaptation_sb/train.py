"""Pretraining the backbone and the adaptation protocols LP, FT and LP+FT (Trivedi et al., ICLR 2023, Sec. 3-4).

* ``pretrain``: the source task (hub weights cannot be downloaded): an autoencoder on unlabelled inputs
  (digits-dominoes' ``pretrain`` split, whose bars are random, or the user's ``.npz``); the encoder is the backbone.
* ``adapt``: LP = a probe (``lp``/``vat``/``udp``/``soup``, see ``probes.py``) on frozen features; FT = every
  parameter trained from a fresh head; LP+FT = FT initialised with the probe's head (exactly its weights).
  FT is SGD (momentum 0.9, Nesterov) with a cosine learning rate to ``final_lr``, run by Lightning so that
  ``--strategy ddp --devices N`` scales it out and ``--resume`` continues from the newest atomic checkpoint.

Run folders (``prepare_run_dir``): pretrain writes ``backbone.pt``; adapt writes ``lp_head.pt`` (the probe, so a
resumed run skips it), ``checkpoints/ckpt-<step>.ckpt``, ``model.pt``, ``metrics.jsonl`` and ``summary.json``.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from adaptation_sb.model import AutoEncoder, Classifier, Encoder
from adaptation_sb.probes import cosine_lr
from orals23_shared.checkpoint import atomic_save, latest
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.runs import RunLogger

__all__ = [
    "FitConfig",
    "LitModule",
    "finetune",
    "fit",
    "freeze",
    "plain",
    "pretrain_autoencoder",
    "rank_zero",
    "save_torch",
]


@dataclass
class FitConfig:
    """One Lightning fit (pretraining or fine-tuning)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.01
    final_lr: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"  # sgd (fine-tuning, the paper's) | adam (the autoencoder's source task)
    seed: int = 0
    stop_after: int = 0
    checkpoint_every: int = 50
    log_every: int = 10
    device: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    quiet: bool = True


class LitModule(L.LightningModule):
    """A model and its loss: ``ce`` (a classifier) or ``recon`` (the autoencoder, MSE on [0, 1] inputs)."""

    def __init__(self, model: nn.Module, loss: str, cfg: FitConfig, total_steps: int) -> None:
        super().__init__()
        self.model, self.loss_kind, self.cfg, self.total_steps = model, loss, cfg, total_steps
        self.last: dict[str, float] = {}

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if self.loss_kind == "recon":
            loss = F.mse_loss(self.model(x), x)
        else:
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            self.last["train_acc"] = float((logits.argmax(1) == y).float().mean())
        self.last["train_loss"] = float(loss.detach())
        return loss

    def configure_optimizers(self) -> Any:
        c = self.cfg
        params = [p for p in self.model.parameters() if p.requires_grad]
        if c.optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=c.lr, momentum=c.momentum, nesterov=c.momentum > 0, weight_decay=c.weight_decay
            )
        total = self.total_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, total, c.lr, c.final_lr) / c.lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _Log(L.Callback):
    def __init__(self, log: RunLogger | None, every: int, prefix: str) -> None:
        self.run_log, self.every, self.prefix = log, every, prefix

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self.run_log is not None and trainer.is_global_zero and (step % self.every == 0 or step == 1):
            assert isinstance(module, LitModule)
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            self.run_log.log(step, stage=self.prefix, lr=lr, **module.last)


def rank_zero() -> bool:
    """True unless this process is a non-zero rank started by a launcher (Lightning's DDP sets LOCAL_RANK)."""
    return all(int(os.environ.get(v, "0") or 0) == 0 for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def save_torch(path: Path, obj: Any) -> Path:
    return atomic_save(path, lambda f: torch.save(obj, f))


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss: str,
    cfg: FitConfig,
    run: Path | None = None,
    log: RunLogger | None = None,
    resume: bool = False,
    stage: str = "ft",
) -> int:
    """Train ``model`` in place for ``cfg.epochs`` epochs; checkpoints under ``run/checkpoints`` when given.

    Returns the number of optimiser steps taken (all sessions together).
    """
    quiet_lightning()
    data = TensorDataset(x, y)
    world = cfg.devices * cfg.num_nodes  # each rank takes every world-th example (resumable_loader's sampler)
    per_rank = math.ceil(len(data) / world)
    steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    module = LitModule(model, loss, cfg, total)
    loader, resume_cb = resumable_loader(data, batch_size=cfg.batch_size, seed=cfg.seed)
    callbacks: list[L.Callback] = [resume_cb, _Log(log, cfg.log_every, stage)]
    plugins: list[Any] = []
    ckpt_dir = run / "checkpoints" if run is not None else None
    if ckpt_dir is not None:
        plugin, ckpt_cb = atomic_checkpointing(ckpt_dir, every_n_train_steps=cfg.checkpoint_every)
        plugins.append(plugin)
        callbacks.append(ckpt_cb)
    resume_from = latest(ckpt_dir, ".ckpt") if (resume and ckpt_dir is not None) else None
    max_steps = min(cfg.stop_after or total, total)
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator=cfg.device,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        plugins=plugins or None,
        callbacks=callbacks,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=ckpt_dir is not None,
        enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=str(run) if run is not None else None,
    )
    trainer.fit(module, loader, ckpt_path=str(resume_from) if resume_from else None)
    if ckpt_dir is not None:  # every rank calls it (a collective under DDP); rank 0 writes
        newest = latest(ckpt_dir, ".ckpt")
        if newest is None or int(newest.stem.split("-")[-1]) != trainer.global_step:
            trainer.save_checkpoint(ckpt_dir / f"ckpt-{trainer.global_step:08d}.ckpt")
    return int(trainer.global_step)


def pretrain_autoencoder(ae: AutoEncoder, x: Tensor, cfg: FitConfig, **kw: Any) -> int:
    """The source task: reconstruct unlabelled inputs (labels unused)."""
    return fit(ae, x, torch.zeros(x.shape[0], dtype=torch.long), "recon", cfg, stage="pretrain", **kw)


def finetune(model: Classifier, x: Tensor, y: Tensor, cfg: FitConfig, **kw: Any) -> int:
    """FT: every parameter of backbone + head, cross-entropy."""
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    return fit(model, x, y, "ce", cfg, stage="ft", **kw)


def freeze(backbone: Encoder) -> Encoder:
    for p in backbone.parameters():
        p.requires_grad_(False)
    return backbone.eval()


def plain(d: Any) -> Any:
    """A dataclass or dict as JSON-able values."""
    import json

    return json.loads(json.dumps(asdict(d) if hasattr(d, "__dataclass_fields__") else d, default=str))
