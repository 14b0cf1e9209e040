"""Lightning training of Graphormer-GD and the baselines (Zhang et al., ICLR 2023, Sec. 5).

Optimiser as the official scripts: AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.01), gradient
clipping at norm 5, linear warm-up then linear (polynomial power 1) decay to ``end_lr`` over the whole
run (``epochs`` x batches per epoch, so stopping early with ``--max-steps`` and resuming does not change
the schedule). Checkpoints are atomic Lightning checkpoints every ``checkpoint_every`` steps (plus one at
the end) under ``RUN/checkpoints``; each carries the RNG states, and the training loader resumes mid-epoch
(``orals23_shared.lightning``), so a killed run continued with ``--resume`` ends with the same weights
and metrics as an uninterrupted one. ``--strategy ddp --devices N`` (or ``--num-nodes``) scales out.
"""

from __future__ import annotations

import json
import os
import random
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch_geometric.loader.dataloader import Collater

from gd_wl.data import biconnectivity_labels, load_pyg_list, load_zinc, synthetic_dataset
from gd_wl.distances import precompute
from gd_wl.graph import Graph
from gd_wl.model import GraphModel, ModelConfig, ModelKind
from gd_wl.tasks import TASKS, evaluate, heads_for, task_loss
from orals23_shared.checkpoint import atomic_write_json, checkpoint_path, latest
from orals23_shared.cli import RunFields, UsageError
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.runfolder import is_worker_process, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["TrainConfig", "GDModule", "Prepared", "prepare_data", "train", "load_run", "VAL_SEED", "TEST_SEED"]

VAL_SEED, TEST_SEED = 10_001, 20_002  # the synthetic validation/test sets are frozen (independent of --seed)
Task = Literal[
    "auto", "biconnectivity", "cut-vertex", "bridge", "graph-regression", "graph-classification", "node-classification"
]


@dataclass
class TrainConfig(RunFields):
    """One ``gd-wl-train`` run."""

    data: Literal["synthetic", "zinc", "pyg"] = field(
        default="synthetic", metadata={"help": "synthetic biconnectivity families | zinc (--data-path) | pyg list"}
    )
    data_path: Path | None = field(
        default=None, metadata={"help": "zinc: folder with {train,val,test}.pickle(+.index); pyg: torch.save'd list"}
    )
    zinc_subset: bool = field(default=True, metadata={"help": "zinc: the 12k subset (needs {split}.index files)"})
    task: Task = field(default="auto", metadata={"help": f"auto | {' | '.join(TASKS)}"})
    n_train: int = field(default=2000, metadata={"help": "synthetic: training graphs (drawn from --seed)"})
    n_val: int = field(default=200, metadata={"help": "synthetic: validation graphs (frozen)"})
    n_test: int = field(default=200, metadata={"help": "synthetic: test graphs (frozen)"})
    model: ModelKind = field(
        default="graphormer-gd", metadata={"help": "graphormer-gd | graphormer-gd-spd (no RD) | graphormer | gin"}
    )
    layers: int = field(default=4, metadata={"help": "transformer / GIN layers"})
    hidden: int = field(default=64, metadata={"help": "hidden width"})
    ffn: int = field(default=64, metadata={"help": "feed-forward width"})
    heads: int = field(default=4, metadata={"help": "attention heads"})
    kernels: int = field(default=32, metadata={"help": "Gaussian basis kernels K for RD"})
    dropout: float = field(default=0.0, metadata={"help": "dropout on residual branches"})
    attn_dropout: float = field(default=0.1, metadata={"help": "attention dropout"})
    act_dropout: float = field(default=0.1, metadata={"help": "dropout after the FFN activation"})
    max_hops: int = field(default=20, metadata={"help": "edge encoding: hops along the shortest path (edge features)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW)"})
    end_lr: float = field(default=1e-9, metadata={"help": "learning rate at the end of the linear decay"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    clip_norm: float = field(default=5.0, metadata={"help": "gradient clipping norm (0 = off)"})
    batch_size: int = field(default=32, metadata={"help": "graphs per batch (per device)"})
    epochs: int = field(default=30, metadata={"help": "training epochs (sets the learning-rate schedule)"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps (0 = all epochs)"})
    eval_every: int = field(default=1, metadata={"help": "validation metrics every N epochs (0 = only at the end)"})
    checkpoint_every: int = field(default=100, metadata={"help": "steps between checkpoints"})
    keep_checkpoints: int = field(default=2, metadata={"help": "newest checkpoints kept"})
    out: Path = field(default=Path("runs/gd-wl"), metadata={"help": "run folder"})
    seed: int = field(default=0, metadata={"help": "random seed (weights, batch order, synthetic training graphs)"})

    def __post_init__(self) -> None:
        checks = [
            (self.n_train >= 1 and self.n_val >= 1 and self.n_test >= 1, "--n-train/--n-val/--n-test must be >= 1"),
            (self.layers >= 1 and self.hidden >= 1 and self.heads >= 1, "--layers, --hidden, --heads must be >= 1"),
            (self.model == "gin" or self.hidden % self.heads == 0, f"--hidden {self.hidden} not divisible by --heads"),
            (self.kernels >= 1 and self.ffn >= 1, "--kernels and --ffn must be >= 1"),
            (self.lr > 0 and self.batch_size >= 1 and self.epochs >= 1, "--lr > 0, --batch-size >= 1, --epochs >= 1"),
            (self.max_steps >= 0 and self.checkpoint_every >= 1, "--max-steps >= 0 and --checkpoint-every >= 1"),
            (self.keep_checkpoints >= 1, "--keep-checkpoints must be >= 1"),
            (
                all(0 <= p < 1 for p in (self.dropout, self.attn_dropout, self.act_dropout)),
                "dropouts must be in [0, 1)",
            ),
            (self.data == "synthetic" or self.data_path is not None, f"--data {self.data} needs --data-path"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)


@dataclass
class Prepared:
    train: list
    val: list
    test: list
    task: str
    model_cfg: ModelConfig
    heads: dict[str, int]


def _resolve_task(cfg: TrainConfig) -> str:
    if cfg.task != "auto":
        return cfg.task
    if cfg.data == "synthetic":
        return "biconnectivity"
    if cfg.data == "zinc":
        return "graph-regression"
    raise UsageError("--data pyg needs --task (e.g. graph-regression, node-classification, biconnectivity)")


def _split(datas: list, seed: int) -> tuple[list, list, list]:
    order = np.random.default_rng(seed).permutation(len(datas))
    n_val = n_test = max(1, len(datas) // 10)
    if len(datas) < 3:
        raise UsageError(f"need at least 3 graphs to split into train/val/test, got {len(datas)}")
    pick = [datas[i] for i in order]
    return pick[n_val + n_test :], pick[:n_val], pick[n_val : n_val + n_test]


def _with_labels(datas: list) -> list:
    out = []
    for d in datas:
        if getattr(d, "y_cut", None) is None or getattr(d, "y_bridge", None) is None:
            d = d.clone()
            d.y_cut, d.y_bridge = biconnectivity_labels(Graph.from_pyg(d), d.edge_index.numpy())
        out.append(d)
    return out


def prepare_data(cfg: TrainConfig) -> Prepared:
    """Load or generate the splits, add labels and the pair distances the model needs."""
    task = _resolve_task(cfg)
    if cfg.data == "synthetic":
        if task not in ("biconnectivity", "cut-vertex", "bridge"):
            raise UsageError(f"the synthetic families carry biconnectivity labels, not --task {task}")
        splits = [
            synthetic_dataset(cfg.n_train, cfg.seed),
            synthetic_dataset(cfg.n_val, VAL_SEED),
            synthetic_dataset(cfg.n_test, TEST_SEED),
        ]
    elif cfg.data == "zinc":
        splits = [load_zinc(cfg.data_path, s, cfg.zinc_subset) for s in ("train", "val", "test")]
    else:
        splits = list(_split(load_pyg_list(cfg.data_path), cfg.seed))
    if task in ("biconnectivity", "cut-vertex", "bridge"):
        splits = [_with_labels(s) for s in splits]
    elif any(getattr(d, "y", None) is None for s in splits for d in s):
        raise UsageError(f"--task {task} needs a target y on every graph")
    x0 = splits[0][0].x
    mc = ModelConfig(
        kind=cfg.model, layers=cfg.layers, hidden=cfg.hidden, ffn=cfg.ffn, heads=cfg.heads, kernels=cfg.kernels,
        dropout=cfg.dropout, attn_dropout=cfg.attn_dropout, act_dropout=cfg.act_dropout, max_hops=cfg.max_hops,
    )  # fmt: skip
    if x0.is_floating_point():
        mc.float_features = int(x0.view(x0.shape[0], -1).shape[1])
    else:
        mc.atom_columns = int(x0.view(x0.shape[0], -1).shape[1])
        mc.num_atom_types = max(64, 1 + max(int(d.x.max()) for s in splits for d in s if d.x.numel()))
    attrs = [d.edge_attr for s in splits for d in s if getattr(d, "edge_attr", None) is not None]
    if attrs and cfg.model != "gin" and not attrs[0].is_floating_point():
        mc.num_edge_types = 1 + max(int(a.max()) for a in attrs if a.numel())
    if cfg.model != "gin":
        hops = cfg.max_hops if mc.num_edge_types else 0
        splits = [precompute(s, spd=True, rd=cfg.model == "graphormer-gd", path_edges=hops) for s in splits]
    return Prepared(*splits, task=task, model_cfg=mc, heads=heads_for(task, splits[0]))


class GDModule(L.LightningModule):
    """The model, its task loss and the optimiser; checkpoints carry the RNG states (exact resume)."""

    def __init__(self, model_cfg: dict, heads: dict, task: str, lr: float, end_lr: float, warmup_steps: int,
                 weight_decay: float, total_steps: int) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.model = GraphModel(ModelConfig(**model_cfg), **heads)
        self.task = task
        self.epoch_loss, self.epoch_graphs = 0.0, 0

    def forward(self, batch):  # noqa: ANN001, ANN201
        return self.model(batch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:  # noqa: ANN001
        loss = task_loss(self.model(batch), batch, self.task)
        self.epoch_loss += float(loss.detach()) * batch.num_graphs
        self.epoch_graphs += batch.num_graphs
        return loss

    def on_train_epoch_start(self) -> None:
        # the running epoch mean lives in the checkpoint, so a run resumed mid-epoch logs the same mean
        if self.trainer.global_step <= self.trainer.current_epoch * int(self.trainer.num_training_batches):
            self.epoch_loss, self.epoch_graphs = 0.0, 0

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=hp.weight_decay)
        total, warm = max(1, hp.total_steps), hp.warmup_steps

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            frac = min(1.0, (step - warm) / max(1, total - warm))
            return 1.0 - frac * (1.0 - hp.end_lr / hp.lr)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # tensors and plain ints only, so that Lightning's weights-only loading accepts them
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, state, py_gauss = random.getstate()
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": [int(version), torch.tensor(state, dtype=torch.int64), py_gauss],
        }
        checkpoint["epoch_loss"] = [self.epoch_loss, self.epoch_graphs]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.epoch_loss, self.epoch_graphs = checkpoint.get("epoch_loss", [0.0, 0])
        rng = checkpoint.get("rng")
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        keys, pos, has_gauss, gauss = rng["numpy"]
        np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, state, py_gauss = rng["python"]
        random.setstate((version, tuple(int(x) for x in state.tolist()), py_gauss))


class _EpochEval(L.Callback):
    """Per-epoch records in metrics.jsonl (rank 0): mean training loss, and validation metrics every ``every``
    epochs, computed without touching the RNG."""

    def __init__(self, log: RunLogger | None, val: list, task: str, every: int, batch_size: int) -> None:
        self.run_log, self.val, self.task, self.every, self.batch_size = log, val, task, every, batch_size

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if trainer.global_step < epoch * int(trainer.num_training_batches):
            return  # an epoch cut short by --max-steps: its mean loss would be partial
        sums = torch.tensor([pl_module.epoch_loss, float(pl_module.epoch_graphs)], dtype=torch.float64)
        sums = trainer.strategy.reduce(sums, reduce_op="sum") if trainer.world_size > 1 else sums
        if not trainer.is_global_zero:
            return
        record = {"epoch": epoch, "train_loss": float(sums[0] / sums[1].clamp(min=1))}
        if self.every and epoch % self.every == 0:
            with torch.random.fork_rng(devices=[]):
                record.update({f"val_{k}": v for k, v in evaluate(pl_module.model, self.val, self.task).items()})
        self.run_log.log(trainer.global_step, **record)


class _FinalStepCheckpoint(L.Callback):
    """A checkpoint inside the loop at ``--max-steps``: one written after ``fit`` returns marks the epoch as
    finished, so resuming from it mid-epoch would skip the rest of that epoch's batches."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            path = checkpoint_path(self.folder, trainer.global_step, ".ckpt")
            if not path.exists():
                trainer.save_checkpoint(path)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _ckpt_step(path: Path) -> int:
    return int(path.stem.split("-")[1])


def train(cfg: TrainConfig, prepared: Prepared | None = None) -> dict[str, Any]:
    """Train (or resume) one run; returns the summary (validation and test metrics)."""
    quiet_lightning()
    set_threads(cfg.threads)
    if is_worker_process():
        run, resumed = Path(cfg.out), cfg.resume
    else:
        run, resumed = prepare_run_dir(cfg.out, asdict(cfg), resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)
    ckpt_dir = run / "checkpoints"
    ckpt = latest(ckpt_dir, ".ckpt") if resumed else None
    seed_everything(cfg.seed)
    data = prepared if prepared is not None else prepare_data(cfg)
    world = cfg.devices * cfg.num_nodes if cfg.strategy.startswith("ddp") else 1
    per_epoch = _ceil(_ceil(len(data.train), world), cfg.batch_size)
    seed_everything(cfg.seed)  # the weights do not depend on how much randomness data preparation used
    module = GDModule(asdict(data.model_cfg), data.heads, data.task, cfg.lr, cfg.end_lr, cfg.warmup_steps,
                      cfg.weight_decay, per_epoch * cfg.epochs)  # fmt: skip
    loader, resume_cb = resumable_loader(
        data.train, cfg.batch_size, seed=cfg.seed, collate_fn=Collater(data.train), generator=torch.Generator()
    )
    plugin, ckpt_cb = atomic_checkpointing(
        ckpt_dir, every_n_train_steps=cfg.checkpoint_every, keep=cfg.keep_checkpoints
    )
    if not is_worker_process():
        atomic_write_json(run / "model.json", {"model": asdict(data.model_cfg), "heads": data.heads, "task": data.task})
    resume_step = (_ckpt_step(ckpt) if ckpt else -1) if resumed else None
    # DDP children must not touch metrics.jsonl: rewriting it on resume would orphan rank 0's open file
    logger = nullcontext() if is_worker_process() else RunLogger(run, quiet=cfg.quiet, resume_step=resume_step)
    with logger as log:
        trainer = L.Trainer(
            max_epochs=cfg.epochs,
            max_steps=cfg.max_steps or -1,
            accelerator=cfg.device,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            plugins=[plugin],
            callbacks=[
                ckpt_cb,
                _FinalStepCheckpoint(ckpt_dir),
                resume_cb,
                _EpochEval(log, data.val, data.task, cfg.eval_every, cfg.batch_size),
            ],
            use_distributed_sampler=False,
            logger=False,
            enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            gradient_clip_val=cfg.clip_norm or None,
            default_root_dir=str(run),
        )
        trainer.fit(module, loader, ckpt_path=str(ckpt) if ckpt else None)
        final = checkpoint_path(ckpt_dir, trainer.global_step, ".ckpt")
        if not final.exists():  # the callback's in-loop checkpoint of this step is the exact resume point
            trainer.save_checkpoint(final)
        summary: dict[str, Any] = {"steps": trainer.global_step, "epochs": trainer.current_epoch, "task": data.task}
        if trainer.is_global_zero:
            for old in sorted(ckpt_dir.glob("ckpt-*.ckpt"), key=_ckpt_step)[: -cfg.keep_checkpoints]:
                old.unlink(missing_ok=True)
            model = module.model.cpu()
            summary.update({f"val_{k}": v for k, v in evaluate(model, data.val, data.task).items()})
            summary.update({f"test_{k}": v for k, v in evaluate(model, data.test, data.task).items()})
            summary["params"] = sum(p.numel() for p in model.parameters())
            log.summary(**summary)
    return summary


def load_run(run: str | os.PathLike) -> tuple[TrainConfig, GDModule]:
    """The config and the trained module of a finished (or interrupted) ``gd-wl-train`` run."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    ckpt = latest(run / "checkpoints", ".ckpt")
    if ckpt is None or not (run / "model.json").is_file() or not (run / "config.json").is_file():
        raise UsageError(f"{run}: not a gd-wl-train run (no config.json, model.json or checkpoints/ckpt-*.ckpt)")
    saved = json.loads((run / "config.json").read_text())
    cfg = TrainConfig(**{k: (Path(v) if k in ("out", "data_path") and v is not None else v) for k, v in saved.items()})
    module = GDModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False)
    module.eval()
    return cfg, module
