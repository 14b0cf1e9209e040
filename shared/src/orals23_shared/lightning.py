"""Atomic Lightning checkpoints, exact mid-epoch resume, and quiet logs: what every Lightning package uses.

    plugin, ckpt = atomic_checkpointing(run / "checkpoints", every_n_train_steps=100)
    loader, resume_cb = resumable_loader(train_set, batch_size=64, seed=cfg.seed)
    trainer = L.Trainer(plugins=[plugin], callbacks=[ckpt, resume_cb], use_distributed_sampler=False, ...)
    trainer.fit(module, loader, ckpt_path=latest(run / "checkpoints", ".ckpt"))   # None: a fresh start

Every checkpoint Lightning writes goes through ``checkpoint.atomic_save`` (temp file, fsync, rename),
so a run killed mid-write keeps its previous checkpoint; names are ``ckpt-<step:08d>.ckpt`` so that
``checkpoint.latest`` finds the newest, and the ``keep`` newest are kept. Importing this module imports
lightning: only packages that train with Lightning import it (``import orals23_shared`` does not).

Lightning cannot resume a plain DataLoader mid-epoch (it restarts the epoch's batches from the first).
``resumable_loader`` orders each epoch by ``(seed, epoch)`` alone and, on resume, skips the batches the
checkpointed run had already trained on, so a killed and resumed run sees exactly the batches of an
uninterrupted one (one optimiser step per batch assumed; with DDP each rank takes every world-size-th
example, so pass ``use_distributed_sampler=False``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset, Sampler

from orals23_shared.checkpoint import atomic_save

__all__ = ["AtomicCheckpointIO", "EpochSampler", "atomic_checkpointing", "quiet_lightning", "resumable_loader"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, but written atomically."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_save(path, lambda f: torch.save(checkpoint, f))


def atomic_checkpointing(
    folder: str | os.PathLike,
    every_n_train_steps: int | None = None,
    every_n_epochs: int | None = None,
    keep: int = 2,
) -> tuple[AtomicCheckpointIO, ModelCheckpoint]:
    """The IO plugin and the callback: a checkpoint every N steps (or every N epochs), the newest ``keep`` kept."""
    if (every_n_train_steps is None) == (every_n_epochs is None):
        raise ValueError("give exactly one of every_n_train_steps and every_n_epochs")
    callback = ModelCheckpoint(
        dirpath=str(Path(folder)),
        filename="ckpt-{step:08d}",
        auto_insert_metric_name=False,
        every_n_train_steps=every_n_train_steps,
        every_n_epochs=every_n_epochs,
        monitor="step",
        mode="max",
        save_top_k=keep,
        save_last=False,
    )
    return AtomicCheckpointIO(), callback


class EpochSampler(Sampler[int]):
    """Indices in an order fixed by ``(seed, epoch)``; this rank's share; the first ``skip`` left out once."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.skip, self.rank, self.replicas = 0, 0, 0, 1

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at every epoch start
        self.epoch = epoch

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = -(-self.n // self.replicas)
        order += order[: per_rank * self.replicas - self.n]  # pad so every rank gets as many
        return order[self.rank :: self.replicas]

    def __len__(self) -> int:
        return -(-self.n // self.replicas)

    def __iter__(self):  # noqa: ANN204
        start, self.skip = self.skip, 0
        return iter(self._order()[start:])


class _ResumeMidEpoch(L.Callback):
    """Before training (after a checkpoint was restored) skip the batches this epoch already trained on."""

    def __init__(self, sampler: EpochSampler, batch_size: int) -> None:
        self.sampler, self.batch_size = sampler, batch_size

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.sampler.rank, self.sampler.replicas = trainer.global_rank, trainer.world_size

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.global_step - trainer.current_epoch * int(trainer.num_training_batches)
        self.sampler.skip = max(0, done) * self.batch_size


def resumable_loader(
    dataset: Dataset, batch_size: int, seed: int = 0, shuffle: bool = True, **loader_kwargs: Any
) -> tuple[DataLoader, L.Callback]:
    """A DataLoader whose epochs are fixed by ``(seed, epoch)``, and the callback that resumes it mid-epoch."""
    sampler = EpochSampler(len(dataset), seed=seed, shuffle=shuffle)  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, **loader_kwargs)
    return loader, _ResumeMidEpoch(sampler, batch_size)


def quiet_lightning() -> None:
    """Silence Lightning's banner lines and the warnings a small CPU run always triggers."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (
        ".*does not have many workers.*",
        ".*log_every_n_steps.*",
        ".*LeafSpec.*",
        ".*treespec.*",
        ".*dataloader is not resumable.*",
        ".*exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
