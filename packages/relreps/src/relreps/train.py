"""Lightning training of a model with an absolute or a relative head (Moschella et al., ICLR 2023, Sec. 5).

Classification minimises cross-entropy, autoencoding the pixel MSE. For a relative head, every forward pass
re-embeds the anchors with the current encoder without gradient (``relreps.model``). Scaling out needs nothing
but flags (``--strategy ddp --devices N --num-nodes M``); exact resume comes from the shared helpers:

* ``atomic_checkpointing``: every ``checkpoint_every`` steps an atomic ``checkpoints/ckpt-<step>.ckpt``;
* ``resumable_loader``: epochs ordered by ``(seed, epoch)``, a resumed run skips the batches already seen;
* dropout masks are drawn from ``torch.manual_seed(f(seed, global step))`` before each step, so a killed and
  resumed run draws the same masks as an uninterrupted one;
* the running epoch loss is saved in the checkpoint, and ``RunLogger(resume_step=...)`` drops what a killed run
  logged after its last checkpoint: ``metrics.jsonl`` and ``summary.json`` equal an uninterrupted run's.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

from orals23_shared.checkpoint import atomic_save, atomic_write_json, checkpoint_path, latest
from orals23_shared.cli import UsageError
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.runfolder import is_worker_process, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads
from relreps.build import TrainConfig, build_data, build_model, choose_anchors, config_from_run, is_graph
from relreps.model import LatentModel, RelativeModel

__all__ = ["RelRepsModule", "TrainResult", "train", "fit_model", "evaluate", "load_run", "LoadedRun"]


class RelRepsModule(L.LightningModule):
    """The model, its loss and Adam; the running epoch loss travels in the checkpoint."""

    def __init__(self, model: LatentModel, task: str, lr: float, weight_decay: float, seed: int, graph: bool) -> None:
        super().__init__()
        self.model, self.task, self.lr, self.weight_decay = model, task, lr, weight_decay
        self.seed, self.graph = seed, graph
        # the running loss of the current epoch: {epoch, loss sum, samples, batches}; saved in checkpoints
        self.running = {"epoch": -1, "sum": 0.0, "count": 0, "batches": 0}

    def forward(self, inputs: Any) -> Tensor:
        return self.model(inputs)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        step_seed = (self.seed * 1_000_003 + self.global_step * 7919 + 17) % (2**62)
        torch.default_generator.manual_seed(step_seed)  # not torch.manual_seed: it records a stack trace per call
        if self.device.type == "cuda":
            torch.cuda.manual_seed(step_seed)

    def loss(self, batch: Any) -> tuple[Tensor, int]:
        if self.graph:
            out = self.model(batch)
            mask = batch.train_mask
            return F.cross_entropy(out[mask], batch.y[mask]), int(mask.sum())
        if self.task == "autoencode":
            (x,) = batch[:1]
            return F.mse_loss(self.model(x), x), len(x)
        x, y = batch
        return F.cross_entropy(self.model(x), y), len(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, n = self.loss(batch)
        if self.running["epoch"] != self.current_epoch:
            self.running = {"epoch": self.current_epoch, "sum": 0.0, "count": 0, "batches": 0}
        self.running["sum"] += float(loss.detach()) * n
        self.running["count"] += n
        self.running["batches"] += 1
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, foreach=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["relreps_running"] = dict(self.running)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.running = dict(checkpoint.get("relreps_running", self.running))


@torch.no_grad()
def evaluate(
    model: LatentModel, data: Any, part: str, task: str = "classify", batch_size: int = 2048
) -> dict[str, float]:
    """Accuracy and loss (classification) or MSE (autoencoding) on a split, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # during training the model may sit on a GPU, the data on the CPU
    try:
        if isinstance(data, tuple):  # (graph, split)
            graph, split = data
            graph = graph.to(device)
            idx = torch.as_tensor(getattr(split, part), device=device)
            out = model(graph)[idx]
            y = graph.y[idx]
            return {"acc": float((out.argmax(1) == y).double().mean()), "loss": float(F.cross_entropy(out, y))}
        idx = torch.as_tensor(getattr(data.split, part))
        x = data.x[idx].to(device)
        ctx = model.cached_anchors() if isinstance(model, RelativeModel) else _null()
        with ctx:
            out = torch.cat([model(x[s : s + batch_size]) for s in range(0, len(x), batch_size)])
        if task == "autoencode":
            return {"mse": float(F.mse_loss(out, x))}
        y = data.y[idx].to(device)
        return {"acc": float((out.argmax(1) == y).double().mean()), "loss": float(F.cross_entropy(out, y))}
    finally:
        model.train(was_training)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


class _EpochLog(L.Callback):
    """One ``metrics.jsonl`` record per epoch (rank 0): the running train loss and the validation metrics."""

    def __init__(self, logger: RunLogger | None, data: Any, task: str) -> None:
        self.logger, self.data, self.task = logger, data, task

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        module: RelRepsModule = pl_module  # type: ignore[assignment]
        run = module.running
        complete = run["epoch"] == trainer.current_epoch and run["batches"] >= int(trainer.num_training_batches)
        # a run stopped by --max-steps inside an epoch also ends here: that partial epoch is not logged
        if self.logger is not None and trainer.is_global_zero and complete:
            train_key = "train_mse" if self.task == "autoencode" else "train_loss"
            record = {train_key: run["sum"] / max(1, run["count"])}
            if len((self.data[1] if isinstance(self.data, tuple) else self.data.split).val):
                record.update({f"val_{k}": v for k, v in evaluate(module.model, self.data, "val", self.task).items()})
            self.logger.log(trainer.global_step, epoch=trainer.current_epoch, **record)


class _FinalCheckpoint(L.Callback):
    """The last step's checkpoint, written where the periodic ones are (after the batch, before any epoch-end
    hook), so that resuming a finished or ``--max-steps``-stopped run continues exactly."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        run = pl_module.running  # type: ignore[attr-defined]
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch >= trainer.max_epochs - 1
        end_of_epoch = run["epoch"] == trainer.current_epoch and run["batches"] >= int(trainer.num_training_batches)
        at_max_steps = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if at_max_steps or (last_epoch and end_of_epoch):
            trainer.save_checkpoint(checkpoint_path(self.folder, trainer.global_step, ".ckpt"))


def _first(batch: list) -> Any:
    return batch[0]


def _step_of(ckpt: Path) -> int:
    m = re.match(r"ckpt-(\d+)", ckpt.name)
    return int(m.group(1)) if m else -1


@dataclass
class TrainResult:
    model: LatentModel
    run: Path
    summary: dict[str, Any]
    data: Any


def _accelerator(device: str) -> str:
    return {"cuda": "gpu"}.get(device.split(":")[0], device)


def make_loader(cfg: TrainConfig, data: Any) -> tuple[Any, L.Callback]:
    """The training loader (epochs fixed by ``(seed, epoch)``) and its mid-epoch resume callback."""
    if isinstance(data, tuple):
        return resumable_loader([data[0]], batch_size=1, seed=cfg.seed, collate_fn=_first)
    tr = torch.as_tensor(data.split.train)
    tensors = (data.x[tr],) if cfg.task == "autoencode" else (data.x[tr], data.y[tr])
    return resumable_loader(TensorDataset(*tensors), batch_size=cfg.batch_size, seed=cfg.seed)


def make_trainer(cfg: TrainConfig, callbacks: list[L.Callback], plugins: list[Any] | None = None) -> L.Trainer:
    """A Trainer for ``cfg`` (accelerator, devices, nodes, strategy); validation is done by ``_EpochLog``."""
    return L.Trainer(
        max_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        accelerator=_accelerator(cfg.device),
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        plugins=plugins or [],
        callbacks=callbacks,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=any(isinstance(c, L.pytorch.callbacks.ModelCheckpoint) for c in callbacks),
        enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )


def fit_model(cfg: TrainConfig, model: LatentModel, data: Any) -> LatentModel:
    """Train ``model`` in memory (no run folder, no checkpoints): what reproduce and relreps-stitch use."""
    quiet_lightning()
    module = RelRepsModule(model, cfg.task, cfg.lr, cfg.weight_decay, cfg.seed, is_graph(cfg))  # type: ignore[arg-type]
    loader, resume_cb = make_loader(cfg, data)
    make_trainer(cfg, [resume_cb, _EpochLog(None, data, cfg.task)]).fit(module, loader)
    return module.model.cpu().eval()


def train(cfg: TrainConfig) -> TrainResult:
    """Train one model into the run folder ``cfg.out`` (see the module docstring for resume)."""
    quiet_lightning()
    set_threads(cfg.threads)
    worker = is_worker_process()
    if worker:
        run, resumed = Path(cfg.out), cfg.resume
    else:
        run, resumed = prepare_run_dir(cfg.out, asdict(cfg), resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)
    ckpt_dir = run / "checkpoints"
    ckpt = latest(ckpt_dir, ".ckpt") if resumed else None
    seed_everything(cfg.seed)
    data = build_data(cfg)
    anchor_ids = choose_anchors(cfg, data) if cfg.head == "relative" else None
    seed_everything(cfg.seed)  # the initialisation does not depend on how the anchors were drawn
    model = build_model(cfg, data, anchor_ids)
    graph = is_graph(cfg)
    module = RelRepsModule(model, cfg.task, cfg.lr, cfg.weight_decay, cfg.seed, graph)  # type: ignore[arg-type]
    loader, resume_cb = make_loader(cfg, data)
    plugin, ckpt_cb = atomic_checkpointing(ckpt_dir, every_n_train_steps=cfg.checkpoint_every, keep=2)
    logger = None
    if not worker:
        resume_step = (_step_of(ckpt) if ckpt is not None else -1) if resumed else None
        logger = RunLogger(run, quiet=cfg.quiet, resume_step=resume_step)
        atomic_write_json(run / "anchors.json", {"anchor_ids": None if anchor_ids is None else anchor_ids.tolist()})
    try:
        callbacks = [ckpt_cb, _FinalCheckpoint(ckpt_dir), resume_cb, _EpochLog(logger, data, cfg.task)]
        trainer = make_trainer(cfg, callbacks, [plugin])
        trainer.fit(module, loader, ckpt_path=str(ckpt) if ckpt is not None else None)
        summary: dict[str, Any] = {"steps": trainer.global_step, "epochs": trainer.current_epoch}
        summary["resumed_from_step"] = _step_of(ckpt) if ckpt is not None else None
        model = module.model.cpu()
        if graph:
            data = (data[0].cpu(), data[1])
        if trainer.is_global_zero and logger is not None:
            split = data[1] if graph else data.split
            for part in ("val", "test"):
                if len(getattr(split, part)):
                    summary.update({f"{part}_{k}": v for k, v in evaluate(model, data, part, cfg.task).items()})
            atomic_save(run / "model.pt", lambda f: torch.save(model.state_dict(), f))
            logger.summary(**summary)
    finally:
        if logger is not None:
            logger.close()
    return TrainResult(model, run, summary, data)


@dataclass
class LoadedRun:
    cfg: TrainConfig
    model: LatentModel
    data: Any
    anchor_ids: np.ndarray | None


def load_run(run: str | os.PathLike) -> LoadedRun:
    """Rebuild a finished ``relreps-train`` run: its config, data (re-read), anchors and final weights."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    cfg = config_from_run(run)
    weights = run / "model.pt"
    if not weights.is_file():
        raise UsageError(f"{run}: no model.pt (the run did not finish; continue it with relreps-train --resume)")
    data = build_data(cfg)
    anchor_ids = choose_anchors(cfg, data) if cfg.head == "relative" else None
    model = build_model(cfg, data, anchor_ids)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return LoadedRun(cfg, model, data, anchor_ids)
