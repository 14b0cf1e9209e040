"""Lightning training of a regressor with a conditional-independence penalty (Pogodin et al., ICLR 2023, Eq. (9)).

Loss per minibatch, in standardised units (``circe.data.Scaling``: Y and Z standardised with training
statistics, so the MSE is MSE/Var(Y) and ``gamma`` does not depend on the data's scale)::

    MSE(y_hat, y) / Var(Y) + gamma * sum_{l in last L layers} D(phi_l)

where ``D`` is

* ``circe`` - CIRCE with the held-out regression solved once before training (``circe.regression``),
* ``hsic``  - unconditional HSIC(phi, Z),
* ``hscic`` - per-batch HSCIC (ridge and Y bandwidth chosen once by LOO on one batch, as the official code),
* ``gcm``   - the GCM statistic on the prediction (held-out linear Z|Y, previous-batch linear phi|Y),
* ``erm``   - nothing.

The held-out set (``heldout`` rows) is removed from the training data for every method, so all methods see the
same training rows. Run folders follow ``orals23_shared.runfolder``; checkpoints are Lightning's, written
atomically (``orals23_shared.lightning.atomic_checkpointing``) every ``checkpoint_every`` epochs, and the
training order is fixed by ``(seed, epoch)`` (``resumable_loader``), so ``--resume`` continues to the same
weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor

from circe.data import SHORTCUT_TASKS, Scaling, Triples, load_npz, procedural_sprites, split_heldout
from circe.evaluate import evaluate_model
from circe.kernels import gaussian_kernel
from circe.module import CirceModule, Rows, as_batch
from circe.regression import fit_heldout_regression, select_loo
from orals23_shared.checkpoint import atomic_write_json, latest
from orals23_shared.cli import RunFields, UsageError
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.runfolder import FREE_FIELDS, is_worker_process, jsonable, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["DEFAULT_GAMMA", "TrainConfig", "CirceModule", "TrainResult", "train", "load_run", "load_data"]

Method = Literal["erm", "circe", "hsic", "hscic", "gcm"]
DataName = Literal["linear-gaussian", "nonlinear", "weak-shortcut", "sprites", "dsprites", "yaleb"]
HSCIC_LAMBDA_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: the default strength, in standardised units (see the README, "Scale-free gamma")
DEFAULT_GAMMA = 300.0
#: fields that may change between a run and its --resume (besides the shared ones)
CIRCE_FREE = FREE_FIELDS | {"max_seconds", "patience", "eval_dependence"}


@dataclass
class TrainConfig(RunFields):
    """One training run (``circe-train``); the run-control fields (out, resume, seed, device, threads, ...) are
    ``orals23_shared.cli.RunFields``."""

    method: Method = field(default="circe", metadata={"help": "penalty: erm | circe | hsic | hscic | gcm"})
    gamma: float = field(
        default=DEFAULT_GAMMA,
        metadata={"help": "penalty weight on the standardised loss MSE/Var(Y) + gamma * penalty (scale-free)"},
    )
    data: DataName = field(
        default="linear-gaussian",
        metadata={
            "help": "built-in task (linear-gaussian, nonlinear, weak-shortcut, sprites) or the paper's data "
            "(dsprites, yaleb: with --root); ignored when --train is given"
        },
    )
    root: Path | None = field(
        default=None, metadata={"help": "dsprites: folder (or file) of dsprites_ndarray_...64x64.npz; yaleb: folder "
        "of the Extended Yale-B subject folders yaleBxx/"}
    )  # fmt: skip
    dsprites_mode: Literal["linear", "tricky"] = field(default="linear", metadata={"help": "dSprites Y-Z sampler"})
    yaleb_mode: Literal["y-cone", "mod"] = field(default="y-cone", metadata={"help": "Extended Yale-B Y-Z sampler"})
    label_noise: float = field(
        default=2.0, metadata={"help": "dsprites/yaleb: the official noise (shift 2*N(0, noise) px / pose N(0, noise))"}
    )
    image_size: int = field(default=64, metadata={"help": "yaleb: images area-averaged to this size"})
    train: Path | None = field(default=None, metadata={"help": ".npz with arrays x (n,...), y (n,dy), z (n,dz)"})
    val: Path | None = field(default=None, metadata={"help": "validation .npz (same arrays); required with --train"})
    val_ood: Path | None = field(
        default=None, metadata={"help": "optional OOD-validation .npz (Z independent of Y), reported in summary.json"}
    )
    n_train: int = field(
        default=4000,
        metadata={"help": "training rows (the held-out set is extra); dsprites/yaleb: 0 = the official split size"},
    )
    n_val: int = field(default=1000, metadata={"help": "validation rows (ID and OOD-validation)"})
    n_eval: int = field(default=2000, metadata={"help": "rows of each test split evaluated at the end (0: none)"})
    eval_dependence: bool = field(
        default=True,
        metadata={"help": "measure the conditional dependence of the predictions on each split at the end"},
    )
    heldout: int = field(default=500, metadata={"help": "rows split off the training data for the Z|Y regression (M)"})
    batch_size: int = field(default=256, metadata={"help": "minibatch size B"})
    epochs: int = field(default=40, metadata={"help": "training epochs"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (cosine schedule over the epochs)"})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay"})
    hidden: tuple[int, ...] = field(default=(64, 64), metadata={"help": "MLP hidden widths (tabular x)"})
    trunk: Literal["small-cnn", "resnet18"] = field(
        default="small-cnn",
        metadata={"help": "image model: the official small CNN (dSprites) or ResNet-18 (Yale-B; from scratch)"},
    )
    standardize: bool = field(
        default=True, metadata={"help": "standardise y, z and tabular x with training statistics (scale-free gamma)"}
    )
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

    def __post_init__(self) -> None:
        checks = [
            (self.gamma >= 0, f"--gamma must be >= 0, got {self.gamma}"),
            (
                self.batch_size >= 4,
                f"--batch-size must be >= 4 (the unbiased HSIC needs 4 points), got {self.batch_size}",
            ),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.heldout >= 4, f"--heldout must be >= 4, got {self.heldout}"),
            (self.n_train >= 0 and self.n_val >= 16, "--n-train must be >= 0 and --n-val >= 16"),
            (self.n_eval == 0 or self.n_eval >= 16, "--n-eval must be 0 or >= 16"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.ridge > 0, f"--ridge must be positive, got {self.ridge}"),
            (self.sigma2_y > 0, f"--sigma2-y must be positive, got {self.sigma2_y}"),
            (self.n_last_reg_layers >= 1, "--n-last-reg-layers must be >= 1"),
            (self.checkpoint_every >= 1, "--checkpoint-every must be >= 1"),
            (self.image_size >= 32, f"--image-size must be >= 32 (the official CNN), got {self.image_size}"),
            ((self.train is None) == (self.val is None), "--train and --val must be given together"),
            (self.val_ood is None or self.train is not None, "--val-ood needs --train and --val"),
            (
                self.train is not None or self.data not in ("dsprites", "yaleb") or self.root is not None,
                f"--data {self.data} needs --root DIR (the folder holding the dataset's standard files)",
            ),
            (
                self.train is not None or self.data in ("dsprites", "yaleb") or self.n_train >= 8,
                "--n-train must be >= 8 for the built-in tasks",
            ),
        ]
        problems = [msg for ok, msg in checks if not ok] + self.run_problems()
        if problems:
            raise UsageError(problems[0])
        self.hidden = tuple(int(h) for h in self.hidden)


def load_data(cfg: TrainConfig) -> dict[str, Triples]:
    """``train`` (held-out rows included), ``val`` and, where the task has them, ``val_ood``, ``test``, ``test_ood``."""
    if cfg.train is not None:
        out = {"train": load_npz(cfg.train), "val": load_npz(cfg.val)}  # type: ignore[arg-type]
        if cfg.val_ood is not None:
            out["val_ood"] = load_npz(cfg.val_ood)
        tr = out["train"]
        for name, d in out.items():
            if d.x.shape[1:] != tr.x.shape[1:] or d.y.shape[1] != tr.y.shape[1] or d.z.shape[1] != tr.z.shape[1]:
                path = cfg.val if name == "val" else cfg.val_ood
                raise UsageError(
                    f"{path}: shapes x{tuple(d.x.shape[1:])}, y{tuple(d.y.shape[1:])}, z{tuple(d.z.shape[1:])} "
                    f"differ from the training file's x{tuple(tr.x.shape[1:])}, y{tuple(tr.y.shape[1:])}, "
                    f"z{tuple(tr.z.shape[1:])}"
                )
        return out
    if cfg.data in ("dsprites", "yaleb"):
        from circe.paper_data import load_dsprites, load_yaleb

        n = cfg.n_train + cfg.heldout if cfg.n_train else 0
        common = {"n_train": n, "n_val": cfg.n_val, "n_eval": cfg.n_eval, "noise": cfg.label_noise, "seed": cfg.seed}
        if cfg.data == "dsprites":
            return load_dsprites(cfg.root, mode=cfg.dsprites_mode, **common)  # type: ignore[arg-type]
        return load_yaleb(cfg.root, size=cfg.image_size, mode=cfg.yaleb_mode, **common)  # type: ignore[arg-type]
    gen = procedural_sprites if cfg.data == "sprites" else SHORTCUT_TASKS[cfg.data]
    s = cfg.seed
    out = {
        "train": gen(cfg.n_train + cfg.heldout, seed=s),
        "val": gen(cfg.n_val, seed=s + 10_000),
        "val_ood": gen(cfg.n_val, seed=s + 20_000, ood=True),
    }
    if cfg.n_eval:
        out["test"] = gen(cfg.n_eval, seed=s + 30_000)
        out["test_ood"] = gen(cfg.n_eval, seed=s + 40_000, ood=True)
    return out


class _EpochLog(L.Callback):
    """Epoch metrics to ``metrics.jsonl`` through the shared RunLogger (rank 0 only)."""

    def __init__(self, logger: RunLogger) -> None:
        self.logger = logger

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            metrics = {**pl_module.epoch_metrics("train"), **pl_module.val_metrics}  # type: ignore[operator]
            self.logger.log(trainer.global_step, epoch=trainer.current_epoch, **metrics)


@dataclass
class TrainResult:
    module: CirceModule
    run_dir: Path
    summary: dict[str, Any]


def _hscic_loo(y: Tensor, z: Tensor, batch: int, sigma2_z: float | None, seed: int) -> tuple[float, float]:
    """Official HSCIC: LOO over sigma2_Y x ridge once, on the first batch (a random batch here)."""
    idx = np.random.default_rng(seed).permutation(len(y))[:batch]
    k_z = gaussian_kernel(z[idx].to(torch.float64), sigma2=sigma2_z).numpy()
    s2, lam, _ = select_loo(y[idx].to(torch.float64), k_z, lambda_grid=HSCIC_LAMBDA_GRID)
    return s2, lam


def train(
    cfg: TrainConfig, data: dict[str, Triples] | None = None, callbacks: Sequence[L.Callback] = ()
) -> TrainResult:
    """Train one model; returns the module (last weights), the run folder and the summary.

    ``data``: splits as ``load_data`` returns them (``train`` with the held-out rows included, ``val``, optional
    ``val_ood``, ``test``, ``test_ood``); ``callbacks`` are added to the trainer's.
    """
    quiet_lightning()
    set_threads(cfg.threads)
    config = jsonable(cfg)
    worker = is_worker_process()  # a DDP child: rank 0 has prepared the run folder
    if worker:
        run, resumed = Path(cfg.out), cfg.resume and latest(Path(cfg.out) / "checkpoints", ".ckpt") is not None
    else:
        run, resumed = prepare_run_dir(
            cfg.out, cfg, resume=cfg.resume, overwrite=cfg.overwrite, free=CIRCE_FREE, seed=cfg.seed
        )
    seed_everything(cfg.seed)
    splits = data if data is not None else load_data(cfg)
    train_set, held = split_heldout(splits["train"], cfg.heldout, seed=cfg.seed, min_train=cfg.batch_size)
    scaling = Scaling.fit(train_set, cfg.standardize)
    ckpt_dir = run / "checkpoints"
    resume_from = latest(ckpt_dir, ".ckpt") if resumed else None

    reg = fit_heldout_regression(
        scaling.y(held.y.double()),
        scaling.z(held.z.double()),
        sigma2_y=cfg.sigma2_y,
        sigma2_z=cfg.sigma2_z,
        lam=cfg.ridge,
        loo=cfg.loo,
    )
    extra: dict[str, Any] = {"heldout_rows": reg.size}
    if cfg.method == "hscic":
        extra["hscic_sigma2_y"], extra["hscic_ridge"] = _hscic_loo(
            scaling.y(train_set.y), scaling.z(train_set.z), cfg.batch_size, reg.sigma2_z, cfg.seed
        )
    x_shape = list(train_set.x.shape[1:])
    steps_per_epoch = len(train_set) // cfg.batch_size
    module = CirceModule(
        config, x_shape, train_set.y.shape[1], train_set.z.shape[1], reg.size, steps_per_epoch=steps_per_epoch
    )
    module.set_scaling(scaling)
    module.set_regression(reg, extra)
    model_meta = {
        "x_shape": x_shape,
        "dy": train_set.y.shape[1],
        "dz": train_set.z.shape[1],
        "m": reg.size,
        "steps_per_epoch": steps_per_epoch,
        "reg_meta": module.reg_meta,
        "scaling": scaling.as_dict(),
    }
    if not worker:
        atomic_write_json(run / "model.json", model_meta)

    train_dl, resume_cb = resumable_loader(
        Rows(train_set), cfg.batch_size, seed=cfg.seed, drop_last=True, collate_fn=as_batch
    )
    val = splits["val"]
    # validation batches of the training size B: the penalties are B-dependent estimators (and HSCIC costs B^3)
    vb = min(len(val), cfg.batch_size)
    val_dl = torch.utils.data.DataLoader(
        Rows(val),
        batch_size=vb,
        shuffle=False,
        drop_last=len(val) > vb and len(val) % vb < 4,
        collate_fn=as_batch,
    )
    plugin, ckpt_cb = atomic_checkpointing(ckpt_dir, every_n_epochs=cfg.checkpoint_every)

    resume_step = -1 if resumed else None
    if resume_from is not None:
        resume_step = int(torch.load(resume_from, map_location="cpu", weights_only=False)["global_step"])
    logger = nullcontext(None) if worker else RunLogger(run, quiet=cfg.quiet, resume_step=resume_step)
    with logger as log:
        cbs: list[L.Callback] = [resume_cb, ckpt_cb, *callbacks] + ([_EpochLog(log)] if log is not None else [])
        if cfg.patience > 0:
            cbs.append(L.pytorch.callbacks.EarlyStopping("val_loss", patience=cfg.patience))
        trainer = L.Trainer(
            max_epochs=cfg.epochs,
            accelerator=cfg.device,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            plugins=[plugin],
            logger=False,
            callbacks=cbs,
            use_distributed_sampler=False,
            enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=str(run),
            max_time={"seconds": cfg.max_seconds} if cfg.max_seconds > 0 else None,
        )
        trainer.fit(module, train_dl, val_dl, ckpt_path=str(resume_from) if resume_from else None)
        newest = latest(ckpt_dir, ".ckpt")
        if trainer.is_global_zero and (newest is None or int(newest.stem.split("-")[-1]) < trainer.global_step):
            trainer.save_checkpoint(ckpt_dir / f"ckpt-{trainer.global_step:08d}.ckpt")  # the final weights
        summary: dict[str, Any] = {
            "method": cfg.method,
            "gamma": cfg.gamma,
            "epochs_run": trainer.current_epoch,
            "steps": trainer.global_step,
            "reg": module.reg_meta,
        }
        if trainer.is_global_zero and log is not None:
            model = module.model.cpu()
            for name in ("val", "val_ood", "test", "test_ood"):
                if name in splits:
                    ev = evaluate_model(model, splits[name], seed=cfg.seed, dependence=cfg.eval_dependence)
                    summary.update({f"{name}_{k}": v for k, v in ev.items()})
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
    module = CirceModule(
        config, meta["x_shape"], meta["dy"], meta["dz"], meta["m"], meta["reg_meta"], meta.get("steps_per_epoch", 1)
    )
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    module.eval()
    return module
