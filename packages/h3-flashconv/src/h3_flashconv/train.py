"""Training with Lightning: char/byte LMs on any text file and the synthetic languages (H3 paper, Sections 3.1, 5.1).

Optimiser as in the official training code (``safari``): AdamW with three parameter groups -- weight matrices
(weight decay), biases / norms / embeddings / SSM ``C`` and ``D`` (no decay), and the SSM parameters
``dt, A, B`` which carry an ``_optim`` hint (``lr = min(ssm_lr, lr)``, no weight decay; paper Appendix, pitfall of
the S4 family). Linear warm-up then cosine decay to 0.1 lr, gradient clipping 1.0.

Checkpoints are written atomically (``AtomicCheckpointIO`` -> ``orals23_shared.checkpoint.atomic_save``) as
``<out>/checkpoints/ckpt-<step>.ckpt``; ``resume=True`` continues from the newest one (weights, optimiser, step).
A resumed run equals an uninterrupted one: the training batches come from ``resumable_loader`` (epoch order fixed
by ``(seed, epoch)``, mid-epoch resume skips the batches already trained on), the LM's windows do not depend on
``max_steps``, and the dropout generator is re-seeded from ``(seed, step, rank)`` before every step.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from h3_flashconv.data import (
    LMWindows,
    load_corpus,
    make_synthetic,
    make_tokenizer,
    split_corpus,
)
from h3_flashconv.model import LanguageModel, ModelConfig
from orals23_shared.checkpoint import checkpoint_path, latest
from orals23_shared.cli import RunFields, UsageError
from orals23_shared.lightning import AtomicCheckpointIO, resumable_loader
from orals23_shared.runfolder import is_worker_process, jsonable, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["TrainConfig", "LitLM", "fit", "param_groups", "model_config", "load_checkpoint", "AtomicCheckpointIO"]


HALF_TRUE = ("bf16-true", "16-true")  # Lightning casts the whole module (Lightning's "bf16" / "16" are the -mixed ones)


@dataclass
class TrainConfig(RunFields):
    """One training run: an LM on a text file or a synthetic language; every field is a CLI flag (the run-control
    fields ``out, resume, overwrite, seed, device, devices, num_nodes, strategy, threads, quiet`` come from
    ``orals23_shared.cli.RunFields``)."""

    out: Path = field(default=Path("runs/h3-flashconv"), metadata={"help": "run directory"})

    task: Literal["lm", "induction_head", "associative_recall"] = field(
        default="lm", metadata={"help": "lm (text file) or a synthetic language"}
    )
    corpus: Path | None = field(
        default=None, metadata={"help": "UTF-8 text file for --task lm (first 90%% train, last 10%% val)"}
    )
    tokenizer: Literal["char", "byte"] = field(default="char", metadata={"help": "character or UTF-8 byte ids"})
    model: Literal["h3", "hybrid", "transformer", "s4d"] = field(default="h3", metadata={"help": "model kind"})
    d_model: int = field(default=64, metadata={"help": "model width"})
    n_layer: int = field(default=2, metadata={"help": "number of blocks"})
    d_state: int = field(default=64, metadata={"help": "SSM state size N (N/2 complex modes for the diagonal SSM)"})
    head_dim: int = field(default=1, metadata={"help": "H3 head dimension d_h (H = d_model / d_h)"})
    n_head: int = field(default=4, metadata={"help": "attention heads (transformer / hybrid)"})
    attn_layer_idx: tuple[int, ...] = field(default=(1,), metadata={"help": "attention layers of the hybrid"})
    use_shift: bool = field(default=True, metadata={"help": "H3 shift SSM (--no-use-shift: ablation)"})
    max_len: int = field(default=8192, metadata={"help": "longest sequence without state passing"})
    chunk_size: int | None = field(default=None, metadata={"help": "state-passing chunk size (None: one shot)"})
    conv_impl: Literal["torch", "block", "cuda"] = field(default="torch", metadata={"help": "FFT conv implementation"})
    embed_dropout: float = field(default=0.1, metadata={"help": "embedding dropout"})
    block_size: int = field(default=128, metadata={"help": "LM context length"})
    batch_size: int = field(default=32, metadata={"help": "batch size per device"})
    max_steps: int = field(default=500, metadata={"help": "optimiser steps"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    ssm_lr: float = field(default=1e-3, metadata={"help": "learning rate cap of the SSM parameters (dt, A, B)"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay of weight matrices"})
    warmup_steps: int = field(default=10, metadata={"help": "linear warm-up steps"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clipping"})
    eval_every: int = field(default=100, metadata={"help": "steps between evaluations"})
    eval_batches: int = field(default=20, metadata={"help": "LM validation batches per evaluation"})
    ckpt_every: int = field(default=100, metadata={"help": "steps between checkpoints"})
    n_train: int = field(default=5000, metadata={"help": "synthetic training sequences"})
    n_test: int = field(default=500, metadata={"help": "synthetic test sequences"})
    loss_on: Literal["all", "last"] = field(
        default="all",
        metadata={
            "help": "synthetic tasks: train on every position (all, as safari) or only on the answer (last; "
            "learns in ~1k steps instead of the paper's ~62k)"
        },
    )
    precision: str = field(
        default="32-true",
        metadata={"help": "Lightning precision: 32-true, 64-true or bf16-mixed (half-precision weights are refused)"},
    )

    def __post_init__(self) -> None:
        for problem in self.run_problems():
            raise UsageError(problem)
        if self.precision in HALF_TRUE:
            raise UsageError(
                f"--precision {self.precision} would cast the complex SSM parameters to half precision; "
                "use bf16-mixed (weights stay fp32, matmuls in bf16) or 32-true"
            )
        for name in ("block_size", "batch_size", "max_steps", "eval_every", "ckpt_every", "n_train", "n_test"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.task == "lm" and self.corpus is None:
            raise UsageError("--task lm needs --corpus FILE (a UTF-8 text file)")
        if self.lr <= 0 or self.ssm_lr <= 0:
            raise UsageError("learning rates must be > 0")
        if self.loss_on not in ("all", "last"):
            raise UsageError(f"--loss-on must be all or last, got {self.loss_on!r}")
        if self.task == "lm" and self.loss_on != "all":
            raise UsageError("--loss-on last is for the synthetic tasks (an LM trains on every position)")


def model_config(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    names = {f.name for f in fields(ModelConfig)}
    kw = {k: v for k, v in asdict(cfg).items() if k in names and k != "vocab_size"}
    return ModelConfig(vocab_size=vocab_size, **kw)


def param_groups(model: torch.nn.Module, lr: float, weight_decay: float, ssm_lr: float) -> list[dict]:
    """AdamW groups: decayed weight matrices, the no-decay rest, and one group per optimiser hint that
    ``ssm.set_optim`` stored on a parameter (SSM dt, A, B: ``lr = min(hint lr or ssm_lr, lr)``, the hint's weight
    decay, 0 by default), as the official ``_optim`` hints are read."""
    decay, no_decay = [], []
    hinted: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        hint = getattr(p, "_optim", None)
        if hint is not None:
            hint_lr = hint.get("lr")
            key = (min(ssm_lr if hint_lr is None else hint_lr, lr), float(hint.get("weight_decay", 0.0)))
            hinted.setdefault(key, []).append(p)
        elif p.dim() >= 2 and "embed" not in name and "ssm" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups += [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in hinted.items()]
    return [g for g in groups if g["params"]]


class LitLM(L.LightningModule):
    """Next-token cross entropy (all positions, or the last with ``loss_on="last"``); validation loss and
    last-position accuracy."""

    def __init__(self, mcfg: ModelConfig, tcfg: TrainConfig, tokenizer_state: dict | None = None) -> None:
        super().__init__()
        self.mcfg, self.tcfg, self.tokenizer_state = mcfg, tcfg, tokenizer_state
        self.model = LanguageModel(mcfg)
        self.run_logger: RunLogger | None = None
        self._val: list[tuple[float, int, int, int]] = []
        self.last_eval: dict[str, float] = {}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross entropy over every position, or over the last (answer) position only."""
        logits = self.model(x)
        if self.tcfg.loss_on == "last":
            logits, y = logits[:, -1:], y[:, -1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Dropout masks depend on (seed, step, rank) only, so a resumed run draws the masks of an uninterrupted one."""
        torch.manual_seed((self.tcfg.seed * 1_000_003 + self.global_step) * 1009 + self.global_rank)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(*batch)
        self.log("train_loss", loss, prog_bar=True)
        step = self.global_step + 1
        if self.run_logger is not None and self.trainer.is_global_zero and (step % 10 == 0 or step == 1):
            self.run_logger.log(step, train_loss=loss.item(), lr=self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
        last_correct = (logits[:, -1].argmax(-1) == y[:, -1]).sum()
        self._val.append((float(loss), y.numel(), int(last_correct), y.shape[0]))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        tot = torch.tensor([sum(v[i] for v in self._val) for i in range(4)], dtype=torch.float64, device=self.device)
        self._val = []
        tot = self.all_gather(tot).reshape(-1, 4).sum(0) if self.trainer.world_size > 1 else tot
        metrics = {"val_loss": float(tot[0] / tot[1]), "val_last_acc": float(tot[2] / tot[3])}
        self.last_eval = metrics
        self.log_dict({k: v for k, v in metrics.items()}, prog_bar=True, sync_dist=False)
        if self.run_logger is not None and self.trainer.is_global_zero:
            self.run_logger.log(self.global_step, **metrics)

    def configure_optimizers(self) -> Any:
        t = self.tcfg
        opt = torch.optim.AdamW(param_groups(self.model, t.lr, t.weight_decay, t.ssm_lr), lr=t.lr)

        def factor(step: int) -> float:
            if step < t.warmup_steps:
                return (step + 1) / t.warmup_steps
            prog = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["h3_model_config"] = asdict(self.mcfg)
        checkpoint["h3_train_config"] = jsonable(self.tcfg)
        checkpoint["h3_tokenizer"] = self.tokenizer_state


def _loaders(cfg: TrainConfig) -> tuple[DataLoader, DataLoader, L.Callback, int, dict | None]:
    """Train loader (resumable mid-epoch), validation loader, the loader's resume callback, vocabulary, tokenizer."""
    if cfg.task == "lm":
        text = load_corpus(cfg.corpus)  # type: ignore[arg-type]
        tok = make_tokenizer(cfg.tokenizer, text)
        train, val = split_corpus(tok.encode(text), 0.1, cfg.block_size)
        # one epoch = as many random windows as the training text holds blocks (independent of max_steps)
        n_windows = max(cfg.batch_size, len(train) // cfg.block_size)
        train_ds = LMWindows(train, cfg.block_size, n_windows, seed=cfg.seed)
        val_ds = LMWindows(val, cfg.block_size, cfg.batch_size * cfg.eval_batches, random=False)
        train_dl, resume_cb = resumable_loader(train_ds, cfg.batch_size, seed=cfg.seed, drop_last=True)
        return train_dl, DataLoader(val_ds, batch_size=cfg.batch_size), resume_cb, tok.vocab_size, tok.state()
    task = make_synthetic(cfg.task, cfg.n_train, cfg.n_test, cfg.seed)
    tr, te = torch.from_numpy(task.train), torch.from_numpy(task.test)
    train_dl, resume_cb = resumable_loader(
        TensorDataset(tr[:, :-1], tr[:, 1:]), cfg.batch_size, seed=cfg.seed, drop_last=True
    )
    return train_dl, DataLoader(TensorDataset(te[:, :-1], te[:, 1:]), batch_size=256), resume_cb, task.vocab_size, None


class _FinalCheckpoint(L.Callback):
    """The last step's checkpoint, written inside the epoch like the periodic ones (one written after ``fit``
    records the epoch as finished, and a run extended with ``--resume --max-steps`` would restart the epoch)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= trainer.max_steps:
            trainer.save_checkpoint(checkpoint_path(self.folder, trainer.global_step, ".ckpt"))


def _accelerator(device: str) -> str:
    if device.startswith("cuda") or device == "gpu":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device} asked for but CUDA is not available")
        return "gpu"
    if device not in ("cpu", "auto"):
        raise UsageError(f"unknown --device {device!r} (cpu, cuda or auto)")
    return device


def fit(cfg: TrainConfig, run_dir: Path | None = None, callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train one model; returns the final evaluation (``val_loss``, ``val_last_acc``), parameters and time.

    ``callbacks`` are added to the trainer's (the resume test uses one to kill a run mid-way)."""
    t0 = time.time()
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    train_dl, val_dl, resume_cb, vocab, tok_state = _loaders(cfg)
    mcfg = model_config(cfg, vocab)
    out = Path(cfg.out if run_dir is None else run_dir)
    if is_worker_process():  # a DDP child: rank 0 prepared the folder
        run, resumed = out, cfg.resume
    else:
        run, resumed = prepare_run_dir(out, jsonable(cfg), resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)
    ckpt_dir = run / "checkpoints"
    resume_from = latest(ckpt_dir, ".ckpt") if resumed else None
    resume_step = None
    if resumed:  # records the killed run logged after its checkpoint are logged again
        resume_step = int(resume_from.stem.split("-")[-1]) if resume_from is not None else -1
    lit = LitLM(mcfg, cfg, tok_state)
    trainer = L.Trainer(
        accelerator=_accelerator(cfg.device),
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        max_steps=cfg.max_steps,
        max_epochs=-1,
        val_check_interval=cfg.eval_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.grad_clip,
        use_distributed_sampler=False,  # the resumable sampler takes this rank's share itself
        logger=False,
        enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(run),
        callbacks=[
            resume_cb,
            _FinalCheckpoint(ckpt_dir),
            *(callbacks or []),
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="ckpt-{step:08d}",
                auto_insert_metric_name=False,
                every_n_train_steps=cfg.ckpt_every,
                save_top_k=1,
                monitor=None,
            ),
        ],
    )
    with RunLogger(run, quiet=cfg.quiet, resume_step=resume_step) as log:
        lit.run_logger = log
        trainer.fit(lit, train_dl, val_dl, ckpt_path=str(resume_from) if resume_from else None)
        final = trainer.validate(lit, val_dl, verbose=False)[0] if trainer.global_step else {}
        lit.run_logger = None
        result = {
            "val_loss": final.get("val_loss"),
            "val_last_acc": final.get("val_last_acc"),
            "params": lit.model.num_params(),
            "steps": trainer.global_step,
            "seconds": round(time.time() - t0, 2),
            "run_dir": str(run),
            "model": cfg.model,
            "task": cfg.task,
        }
        if trainer.is_global_zero:
            log.summary(**result)
    return result


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[LanguageModel, dict | None, dict]:
    """Model (eval mode), tokenizer state and the raw checkpoint from a ``.ckpt`` file or a run folder."""
    path = Path(path)
    if path.is_dir():
        found = latest(path / "checkpoints", ".ckpt") or latest(path, ".ckpt")
        if found is None:
            raise UsageError(f"no checkpoint (ckpt-*.ckpt) in {path}")
        path = found
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise UsageError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if "h3_model_config" not in ckpt:
        raise UsageError(f"{path}: not an h3-flashconv checkpoint (no model config inside)")
    mc = dict(ckpt["h3_model_config"])
    mc["attn_layer_idx"] = tuple(mc["attn_layer_idx"])
    model = LanguageModel(ModelConfig(**mc))
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    return model.eval(), ckpt.get("h3_tokenizer"), ckpt
