"""Lightning training of a regressor with a conditional-independence penalty (Pogodin et al., ICLR 2023, Eq. (9)).

Loss per minibatch: ``MSE(y_hat, y) + gamma * sum_{l in last L layers} D(phi_l)`` where ``D`` is

* ``circe`` - CIRCE with the held-out regression solved once before training (``circe.regression``),
* ``hsic``  - unconditional HSIC(phi, Z),
* ``hscic`` - per-batch HSCIC (ridge and Y bandwidth chosen once by LOO on the first batch, as the official code),
* ``gcm``   - the GCM statistic on the prediction (held-out linear Z|Y, previous-batch linear phi|Y),
* ``erm``   - nothing.

The held-out set (``heldout`` rows) is removed from the training data for every method, so all methods see the
same training rows. Checkpoints are written atomically every ``checkpoint_every`` epochs to
``RUN/checkpoints/ckpt-<step>.ckpt``; ``--resume`` continues from the newest one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from circe.data import Triples, linear_gaussian, load_npz, procedural_sprites, split_heldout
from circe.evaluate import evaluate_model
from circe.kernels import gaussian_kernel
from circe.losses import LinearFit, fit_linear, gcm_statistic, hscic_statistic, hsic_penalty
from circe.model import build_model
from circe.regression import HeldoutRegression, circe_statistic, fit_heldout_regression, select_loo
from circe.utils import limit_threads
from orals23_shared.checkpoint import atomic_write_json, checkpoint_path, latest
from orals23_shared.cli import UsageError
from orals23_shared.runs import RunLogger, make_run_dir
from orals23_shared.seed import seed_everything

__all__ = ["TrainConfig", "CirceModule", "TrainResult", "train", "load_run", "load_data"]

Method = Literal["erm", "circe", "hsic", "hscic", "gcm"]
HSCIC_LAMBDA_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass
class TrainConfig:
    """One training run (``circe-train``)."""

    method: Method = field(default="circe", metadata={"help": "penalty: erm | circe | hsic | hscic | gcm"})
    gamma: float = field(default=10.0, metadata={"help": "penalty weight (the official 'lamda')"})
    dataset: Literal["linear-gaussian", "sprites"] = field(
        default="linear-gaussian", metadata={"help": "built-in dataset, used when --train is not given"}
    )
    train: Path | None = field(default=None, metadata={"help": ".npz with arrays x (n,...), y (n,dy), z (n,dz)"})
    val: Path | None = field(default=None, metadata={"help": "validation .npz (same arrays); required with --train"})
    n_train: int = field(default=4000, metadata={"help": "built-in data: training rows (the held-out set is extra)"})
    n_val: int = field(default=1000, metadata={"help": "built-in data: validation rows"})
    heldout: int = field(default=500, metadata={"help": "rows split off the training data for the Z|Y regression (M)"})
    batch_size: int = field(default=256, metadata={"help": "minibatch size B"})
    epochs: int = field(default=40, metadata={"help": "training epochs"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (cosine schedule over the epochs)"})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay"})
    hidden: tuple[int, ...] = field(default=(64, 64), metadata={"help": "MLP hidden widths (tabular x)"})
    sigma2_phi: float | None = field(
        default=None, metadata={"help": "feature kernel bandwidth; none = median per batch"}
    )
    sigma2_z: float | None = field(default=None, metadata={"help": "Z kernel bandwidth; none = median on held-out Z"})
    sigma2_y: float = field(default=0.01, metadata={"help": "Y kernel bandwidth (replaced by LOO when --loo)"})
    ridge: float = field(default=0.1, metadata={"help": "held-out ridge lambda (replaced by LOO when --loo)"})
    loo: bool = field(default=True, metadata={"help": "choose sigma2_y and ridge by closed-form leave-one-out"})
    n_last_reg_layers: int = field(default=1, metadata={"help": "regularise the last L outputs (1 = the prediction)"})
    centred: bool = field(default=True, metadata={"help": "unbiased HSIC form of CIRCE (else uncentred U-statistic)"})
    max_seconds: float = field(default=0.0, metadata={"help": "stop training after this wall time (0 = no limit)"})
    patience: int = field(default=0, metadata={"help": "early stopping on validation loss (0 = off)"})
    checkpoint_every: int = field(default=5, metadata={"help": "epochs between checkpoints"})
    out: Path = field(default=Path("runs/circe"), metadata={"help": "run directory"})
    resume: bool = field(default=False, metadata={"help": "continue from the newest checkpoint in --out"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "accelerator: cpu | gpu | auto"})
    devices: int = field(default=1, metadata={"help": "devices per node (Lightning)"})
    num_nodes: int = field(default=1, metadata={"help": "nodes (Lightning)"})
    strategy: str = field(default="auto", metadata={"help": "Lightning strategy, e.g. ddp"})
    threads: int = field(default=0, metadata={"help": "CPU threads for torch/BLAS (0 = library default)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})

    def __post_init__(self) -> None:
        checks = [
            (self.gamma >= 0, f"--gamma must be >= 0, got {self.gamma}"),
            (
                self.batch_size >= 4,
                f"--batch-size must be >= 4 (the unbiased HSIC needs 4 points), got {self.batch_size}",
            ),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.heldout >= 4, f"--heldout must be >= 4, got {self.heldout}"),
            (self.n_train >= 8 and self.n_val >= 16, "--n-train must be >= 8 and --n-val >= 16"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.ridge > 0, f"--ridge must be positive, got {self.ridge}"),
            (self.sigma2_y > 0, f"--sigma2-y must be positive, got {self.sigma2_y}"),
            (self.n_last_reg_layers >= 1, "--n-last-reg-layers must be >= 1"),
            (self.checkpoint_every >= 1, "--checkpoint-every must be >= 1"),
            ((self.train is None) == (self.val is None), "--train and --val must be given together"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)
        self.hidden = tuple(int(h) for h in self.hidden)


def load_data(cfg: TrainConfig) -> tuple[Triples, Triples]:
    """Training and validation triples: the files named by ``--train/--val`` or the built-in generator."""
    if cfg.train is not None:
        train, val = load_npz(cfg.train), load_npz(cfg.val)  # type: ignore[arg-type]
        if (
            train.x.shape[1:] != val.x.shape[1:]
            or train.y.shape[1] != val.y.shape[1]
            or train.z.shape[1] != val.z.shape[1]
        ):
            raise UsageError(
                f"{cfg.val}: shapes x{tuple(val.x.shape[1:])}, y{tuple(val.y.shape[1:])}, "
                f"z{tuple(val.z.shape[1:])} differ from the training file's x{tuple(train.x.shape[1:])}, "
                f"y{tuple(train.y.shape[1:])}, z{tuple(train.z.shape[1:])}"
            )
        return train, val
    gen = linear_gaussian if cfg.dataset == "linear-gaussian" else procedural_sprites
    return gen(cfg.n_train + cfg.heldout, seed=cfg.seed), gen(cfg.n_val, seed=cfg.seed + 10_000)


class CirceModule(L.LightningModule):
    """Regressor + penalty. The held-out regression lives in buffers so checkpoints carry it."""

    def __init__(
        self, cfg: dict[str, Any], x_shape: list[int], dy: int, dz: int, m: int, reg_meta: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = cfg
        self.model = build_model(x_shape, dy, cfg.get("hidden", (64, 64)))
        self.register_buffer("y_h", torch.zeros(m, dy))
        self.register_buffer("z_h", torch.zeros(m, dz))
        self.register_buffer("w1", torch.zeros(m, m))
        self.register_buffer("w2", torch.zeros(m, m))
        self.register_buffer("gcm_coef", torch.zeros(dy, dz))
        self.register_buffer("gcm_intercept", torch.zeros(dz))
        self.reg_meta = dict(reg_meta or {})
        self._gcm_prev: dict[str, tuple[Tensor, Tensor] | None] = {}

    # -- the held-out regression -------------------------------------------------------------------
    def set_regression(self, reg: HeldoutRegression, extra: dict[str, Any]) -> None:
        for name, value in (("y_h", reg.y), ("z_h", reg.z), ("w1", reg.w1), ("w2", reg.w2)):
            getattr(self, name).copy_(value.to(torch.float32))
        lin = fit_linear(reg.y, reg.z)
        self.gcm_coef.copy_(lin.coef.to(torch.float32))
        self.gcm_intercept.copy_(lin.intercept.to(torch.float32))
        self.reg_meta = {
            "sigma2_y": reg.sigma2_y,
            "sigma2_z": reg.sigma2_z,
            "lam": reg.lam,
            "z_kernel": reg.z_kernel,
            **extra,
        }
        self.hparams["reg_meta"] = self.reg_meta

    @property
    def regression(self) -> HeldoutRegression:
        meta = self.reg_meta
        return HeldoutRegression(
            self.y_h,
            self.z_h,
            self.w1,
            self.w2,
            meta["sigma2_y"],
            meta["sigma2_z"],
            meta["lam"],
            meta.get("z_kernel", "gaussian"),
        )

    # -- forward and losses ------------------------------------------------------------------------
    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model(x)

    def penalty(self, feats: list[Tensor], y: Tensor, z: Tensor, stage: str) -> Tensor:
        method = self.cfg["method"]
        if method == "erm" or y.shape[0] < 4:
            return feats[-1].new_zeros(())
        s2_phi = self.cfg.get("sigma2_phi")
        meta = self.reg_meta
        if method == "gcm":
            fx = feats[-1]
            prev = self._gcm_prev.get(stage)
            y_prev, f_prev = prev if prev is not None else (y, fx.detach())
            fx_hat = fit_linear(y_prev, f_prev)(y).to(fx.dtype)
            z_hat = LinearFit(self.gcm_coef, self.gcm_intercept)(y)
            self._gcm_prev[stage] = (y.detach(), fx.detach())
            return gcm_statistic(fx, fx_hat, z, z_hat)
        layers = feats[-int(self.cfg.get("n_last_reg_layers", 1)) :]
        total = feats[-1].new_zeros(())
        for f in layers:
            f = f.reshape(f.shape[0], -1)
            if method == "circe":
                total = total + circe_statistic(f, y, z, self.regression, s2_phi, self.cfg.get("centred", True))
            elif method == "hsic":
                total = total + hsic_penalty(f, z, s2_phi, meta["sigma2_z"])
            elif method == "hscic":
                total = total + hscic_statistic(
                    f, z, y, meta["hscic_ridge"], s2_phi, meta["sigma2_z"], meta["hscic_sigma2_y"]
                )
            else:
                raise UsageError(f"unknown method {method!r}")
        return total

    def _step(self, batch: tuple[Tensor, Tensor, Tensor], stage: str) -> Tensor:
        x, y, z = batch
        feats = self(x)
        mse = F.mse_loss(feats[-1], y)
        pen = self.penalty(feats, y, z, stage)
        loss = mse + self.cfg["gamma"] * pen
        n = y.shape[0]
        self.log(f"{stage}_mse", mse, on_step=False, on_epoch=True, batch_size=n, sync_dist=stage == "val")
        self.log(f"{stage}_penalty", pen, on_step=False, on_epoch=True, batch_size=n, sync_dist=stage == "val")
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=stage == "val")
        return loss

    def on_train_epoch_start(self) -> None:
        self._gcm_prev["train"] = None

    def on_validation_epoch_start(self) -> None:
        self._gcm_prev["val"] = None

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(self.cfg["epochs"])))
        return {"optimizer": opt, "lr_scheduler": sched}


class _EpochLog(L.Callback):
    """Epoch metrics to ``metrics.jsonl`` through the shared RunLogger (rank 0 only)."""

    def __init__(self, logger: RunLogger) -> None:
        self.logger = logger

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            self.logger.log(trainer.global_step, epoch=trainer.current_epoch, **metrics)


class _AtomicCheckpoint(L.Callback):
    """Full Lightning checkpoint every ``every`` epochs: written to a temp file, fsynced, renamed (atomic)."""

    def __init__(self, folder: Path, every: int, keep: int = 2) -> None:
        self.folder, self.every, self.keep = folder, every, keep

    def save(self, trainer: L.Trainer) -> Path:
        path = checkpoint_path(self.folder, trainer.global_step, ".ckpt")
        tmp = self.folder / f".{path.name}.tmp"
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            old = sorted(self.folder.glob("ckpt-*.ckpt"))[: -self.keep]
            for p in old:
                p.unlink(missing_ok=True)
        return path

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every == 0 or epoch >= (trainer.max_epochs or epoch) or trainer.should_stop:
            self.save(trainer)


@dataclass
class TrainResult:
    module: CirceModule
    run_dir: Path
    summary: dict[str, Any]


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")


def _hscic_loo(train: Triples, batch: int, sigma2_z: float | None, seed: int) -> tuple[float, float]:
    """Official HSCIC: LOO over sigma2_Y x ridge once, on the first batch (a random batch here)."""
    idx = np.random.default_rng(seed).permutation(len(train))[:batch]
    y = train.y[idx].to(torch.float64)
    k_z = gaussian_kernel(train.z[idx].to(torch.float64), sigma2=sigma2_z).numpy()
    s2, lam, _ = select_loo(y, k_z, lambda_grid=HSCIC_LAMBDA_GRID)
    return s2, lam


def train(cfg: TrainConfig, data: tuple[Triples, Triples] | None = None, exact_out: bool = True) -> TrainResult:
    """Train one model; returns the module (last weights), the run folder and the summary."""
    _quiet_lightning()
    limit_threads(cfg.threads)
    seed_everything(cfg.seed)
    full_train, val = data if data is not None else load_data(cfg)
    train_set, held = split_heldout(full_train, cfg.heldout, seed=cfg.seed, min_train=cfg.batch_size)
    run = Path(cfg.out)
    ckpt_dir = run / "checkpoints"
    resume_from = latest(ckpt_dir, ".ckpt") if cfg.resume else None
    if cfg.resume and resume_from is None:
        raise UsageError(f"--resume: no checkpoint in {ckpt_dir}")
    if not cfg.resume and latest(ckpt_dir, ".ckpt") is not None:
        raise UsageError(f"{run} already holds checkpoints: pass --resume or choose another --out")
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    run = make_run_dir(run, "circe", config=config, seed=cfg.seed, exact=exact_out)

    reg = fit_heldout_regression(
        held.y.double(), held.z.double(), sigma2_y=cfg.sigma2_y, sigma2_z=cfg.sigma2_z, lam=cfg.ridge, loo=cfg.loo
    )
    extra: dict[str, Any] = {"heldout_rows": reg.size}
    if cfg.method == "hscic":
        extra["hscic_sigma2_y"], extra["hscic_ridge"] = _hscic_loo(train_set, cfg.batch_size, reg.sigma2_z, cfg.seed)
    x_shape = list(train_set.x.shape[1:])
    module = CirceModule(config, x_shape, train_set.y.shape[1], train_set.z.shape[1], reg.size)
    module.set_regression(reg, extra)
    atomic_write_json(
        run / "model.json",
        {
            "x_shape": x_shape,
            "dy": train_set.y.shape[1],
            "dz": train_set.z.shape[1],
            "m": reg.size,
            "reg_meta": module.reg_meta,
        },
    )

    g = torch.Generator().manual_seed(cfg.seed)
    train_dl = DataLoader(
        TensorDataset(train_set.x, train_set.y, train_set.z),
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=True,
        generator=g,
    )
    vb = min(len(val), max(cfg.batch_size, 1024))
    val_dl = DataLoader(
        TensorDataset(val.x, val.y, val.z), batch_size=vb, shuffle=False, drop_last=len(val) > vb and len(val) % vb < 4
    )

    with RunLogger(run, quiet=cfg.quiet) as log:
        callbacks: list[L.Callback] = [_EpochLog(log), _AtomicCheckpoint(ckpt_dir, cfg.checkpoint_every)]
        if cfg.patience > 0:
            callbacks.append(L.pytorch.callbacks.EarlyStopping("val_loss", patience=cfg.patience))
        trainer = L.Trainer(
            max_epochs=cfg.epochs,
            accelerator=cfg.device,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            logger=False,
            enable_checkpointing=False,
            callbacks=callbacks,
            enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
            default_root_dir=str(run),
            max_time={"seconds": cfg.max_seconds} if cfg.max_seconds > 0 else None,
        )
        trainer.fit(module, train_dl, val_dl, ckpt_path=str(resume_from) if resume_from else None)
        summary: dict[str, Any] = {
            "method": cfg.method,
            "gamma": cfg.gamma,
            "epochs_run": trainer.current_epoch,
            "steps": trainer.global_step,
            "reg": module.reg_meta,
        }
        if trainer.is_global_zero:
            ev = evaluate_model(module.model.cpu(), val, seed=cfg.seed)
            summary.update({f"val_{k}": v for k, v in ev.items()})
            log.summary(**summary)
    return TrainResult(module, run, summary)


def load_run(run: str | Path) -> CirceModule:
    """Rebuild the trained module of ``run`` from its newest checkpoint."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    ckpt = latest(run / "checkpoints", ".ckpt")
    meta_path = run / "model.json"
    if ckpt is None or not meta_path.is_file():
        raise UsageError(f"{run}: not a circe-train run (no checkpoints/ckpt-*.ckpt or model.json)")
    meta = json.loads(meta_path.read_text())
    config = json.loads((run / "config.json").read_text())
    module = CirceModule(config, meta["x_shape"], meta["dy"], meta["dz"], meta["m"], meta["reg_meta"])
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    module.eval()
    return module
