"""Lightning training of SMoE-Dropout, learned-router and dense transformers (Chen et al., ICLR 2023, Sec. 3).

Loop (official ``train.py`` + ``new_utils.py``): freeze the random router before building the optimiser,
then at every step set k = schedule(step) in every MoE layer, take a step of Adam (cosine learning rate to 0,
gradient clipping 0.25), and add the balance loss for a learned router. After training, evaluate at every
k of ``--eval-ks``: the self-slimming curve.

Run folder (``prepare_run_dir``): ``config.json``, ``model.json`` (architecture and vocabulary),
``metrics.jsonl``, ``summary.json``, ``checkpoints/ckpt-<step>.ckpt`` (atomic, the newest two kept).
``--resume`` continues from the newest checkpoint and ends where an uninterrupted run ends: the batches
come from ``resumable_loader`` (exact mid-epoch), k and the learning rate are functions of the step, and
dropout draws from a generator seeded by (seed, step, rank).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from orals23_shared.checkpoint import atomic_write_json, latest
from orals23_shared.cli import RunFields, UsageError
from orals23_shared.lightning import atomic_checkpointing, quiet_lightning, resumable_loader
from orals23_shared.paths import shared_data_dir
from orals23_shared.runfolder import FREE_FIELDS, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads
from smoe_dropout.data import (
    CharVocab,
    LMWindows,
    encode_sentences,
    load_digits_split,
    load_text,
    load_tsv,
    split_text,
)
from smoe_dropout.evaluate import default_ks, evaluate, load_run, metric_name
from smoe_dropout.model import (
    ModelConfig,
    Transformer,
    aux_loss,
    convert_dense_to_moe,
    flops_per_token,
    n_experts_of,
    n_params,
    set_top_k,
)
from smoe_dropout.schedule import KSchedule

__all__ = ["TrainConfig", "SMoEModule", "TaskData", "build_data", "evaluate", "default_ks", "train", "load_run"]

#: fields a resumed run may change: the run's horizon (``steps``) shapes k and the learning rate, so it is not free
RESUME_FREE = (FREE_FIELDS - {"steps"}) | {"stop_after", "eval_ks", "val_tokens"}


@dataclass
class TrainConfig(RunFields):
    """One training run (``smoe-dropout-train``)."""

    task: Literal["lm", "textcls", "digits"] = field(
        default="lm", metadata={"help": "lm: char-level LM on --data; textcls: --train-file/--val-file tsv; digits"}
    )
    data: Path | None = field(
        default=None, metadata={"help": "lm: a UTF-8 text file (default: the team's tiny Shakespeare when present)"}
    )
    train_file: Path | None = field(default=None, metadata={"help": "textcls: 'sentence<TAB>label' training file"})
    val_file: Path | None = field(default=None, metadata={"help": "textcls: validation file in the same format"})
    val_fraction: float = field(default=0.1, metadata={"help": "lm: the last fraction of the text for validation"})
    router: Literal["random", "learned", "dense"] = field(
        default="random", metadata={"help": "random: SMoE-Dropout (frozen); learned: trained + balance loss; dense FFN"}
    )
    n_experts: int = field(default=16, metadata={"help": "experts N per FFN (each has d_ff/N hidden units)"})
    d_model: int = field(default=64, metadata={"help": "model width"})
    n_heads: int = field(default=4, metadata={"help": "attention heads"})
    n_layers: int = field(default=2, metadata={"help": "transformer blocks (every FFN is an MoE layer)"})
    d_ff: int = field(default=512, metadata={"help": "FFN width D of the dense model (equal parameters)"})
    context: int = field(default=64, metadata={"help": "lm: characters per window; textcls: max sentence length"})
    dropout: float = field(default=0.1, metadata={"help": "dropout (residual branches and expert hidden units)"})
    k_schedule: Literal["linear", "constant"] = field(
        default="linear", metadata={"help": "linear: k grows from --k-start to --k-end; constant: --k throughout"}
    )
    k_start: int = field(default=0, metadata={"help": "linear schedule: first k (0 = N/2, the official script)"})
    k_end: int = field(default=0, metadata={"help": "linear schedule: last k (0 = N)"})
    k: int = field(default=2, metadata={"help": "constant schedule: k (2 = the learned-router baseline)"})
    balance_coef: float = field(default=0.01, metadata={"help": "weight of the balance loss (learned router only)"})
    steps: int = field(default=1000, metadata={"help": "training steps (the horizon of the k and LR schedules)"})
    batch_size: int = field(default=32, metadata={"help": "sequences per step (per device)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (cosine decay to 0 over --steps)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    clip: float = field(default=0.25, metadata={"help": "gradient-norm clipping (official 0.25; 0 = off)"})
    eval_every: int = field(default=0, metadata={"help": "validate at the scheduled k and at N every this many steps"})
    eval_ks: tuple[int, ...] = field(default=(), metadata={"help": "k values of the final curve (empty: 1,2,4..N)"})
    val_tokens: int = field(default=65536, metadata={"help": "lm: validation characters evaluated (0 = all)"})
    init_from: Path | None = field(
        default=None, metadata={"help": "run folder of a trained model: start from its weights (dense FFNs -> experts)"}
    )
    stop_after: int = field(default=0, metadata={"help": "stop after this many steps (0 = --steps); resume later"})
    checkpoint_every: int = field(default=100, metadata={"help": "steps between atomic checkpoints"})
    log_every: int = field(default=50, metadata={"help": "steps between training-loss records"})
    out: Path = field(default=Path("runs/smoe-dropout"), metadata={"help": "run folder"})

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 1, f"--steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.clip >= 0 and self.balance_coef >= 0, "--clip and --balance-coef must be >= 0"),
            (self.stop_after >= 0 and self.eval_every >= 0, "--stop-after and --eval-every must be >= 0"),
            (self.checkpoint_every >= 1 and self.log_every >= 1, "--checkpoint-every and --log-every must be >= 1"),
            (self.devices >= 1 and self.num_nodes >= 1, "--devices and --num-nodes must be >= 1"),
            (all(k >= 1 for k in self.eval_ks), f"--eval-ks must be >= 1, got {list(self.eval_ks)}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)
        if self.task == "textcls" and (self.train_file is None or self.val_file is None):
            raise UsageError("--task textcls needs --train-file and --val-file ('sentence<TAB>label' files)")
        self.eval_ks = tuple(int(k) for k in self.eval_ks)

    def schedule(self) -> KSchedule | None:
        """The k schedule (None for the dense model); bad values raise one line."""
        if self.router == "dense":
            return None
        n = self.n_experts
        if self.k_schedule == "constant":
            return KSchedule.constant(self.k, self.steps, n)
        return KSchedule("linear", self.k_start or max(1, n // 2), self.k_end or n, self.steps, n)


# -- data -----------------------------------------------------------------------------------------------------
@dataclass
class TaskData:
    train: Dataset
    val: Dataset
    test: Dataset | None
    vocab: CharVocab | None
    n_classes: int
    in_features: int


def _lm_path(cfg: TrainConfig) -> Path:
    if cfg.data is not None:
        return Path(cfg.data)
    found = shared_data_dir("tinyshakespeare")
    if found is None:
        raise UsageError("--data FILE is required (a UTF-8 text file; no tiny Shakespeare found beside the checkout)")
    return found / "input.txt"


def build_data(cfg: TrainConfig, vocab: CharVocab | None = None) -> TaskData:
    """The task's datasets; ``vocab`` (from an ``--init-from`` run) replaces the one built from the data."""
    if cfg.task == "digits":
        train, val, test = load_digits_split(cfg.seed)
        if cfg.context < 8:
            raise UsageError(f"digits are sequences of 8 rows: --context must be >= 8, got {cfg.context}")
        return TaskData(train, val, test, None, 10, 8)
    if cfg.task == "lm":
        text = load_text(_lm_path(cfg))
        vocab = vocab or CharVocab(text)
        train_ids, val_ids = split_text(vocab.encode(text), cfg.val_fraction, cfg.context)
        limit = max(1, cfg.val_tokens // cfg.context) if cfg.val_tokens else 0
        return TaskData(
            LMWindows(train_ids, cfg.context), LMWindows(val_ids, cfg.context, cfg.context, limit), None, vocab, 0, 0
        )
    s_tr, y_tr = load_tsv(cfg.train_file)  # type: ignore[arg-type]
    s_va, y_va = load_tsv(cfg.val_file)  # type: ignore[arg-type]
    n_classes = max(y_tr) + 1
    if max(y_va) >= n_classes:
        raise UsageError(f"{cfg.val_file}: label {max(y_va)} never occurs in the training file (0..{n_classes - 1})")
    if n_classes < 2:
        raise UsageError(f"{cfg.train_file}: needs at least two classes, found only label 0")
    vocab = vocab or CharVocab("".join(s_tr))
    return TaskData(
        encode_sentences(s_tr, y_tr, vocab, cfg.context),
        encode_sentences(s_va, y_va, vocab, cfg.context),
        None,
        vocab,
        n_classes,
        0,
    )


def model_config(cfg: TrainConfig, data: TaskData) -> ModelConfig:
    return ModelConfig(
        vocab_size=data.vocab.size if data.vocab else 0,
        in_features=data.in_features,
        n_classes=data.n_classes,
        context=cfg.context,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        n_layers=cfg.n_layers,
        d_ff=cfg.d_ff,
        n_experts=cfg.n_experts,
        router=cfg.router,
        dropout=cfg.dropout,
    )


# -- evaluation -----------------------------------------------------------------------------------------------
def _loss(model: Transformer, x: Tensor, y: Tensor) -> Tensor:
    logits = model(x)
    if model.cfg.is_lm:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return F.cross_entropy(logits, y)


# -- Lightning ------------------------------------------------------------------------------------------------
class SMoEModule(L.LightningModule):
    """The model, the k schedule and the optimiser; k is set from the global step before every batch."""

    def __init__(self, model_cfg: dict[str, Any], train_cfg: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = Transformer(ModelConfig(**model_cfg))
        self.cfg = TrainConfig(**{k: v for k, v in train_cfg.items() if k in TrainConfig.__dataclass_fields__})
        self.k_schedule = self.cfg.schedule() if self.model.cfg.router != "dense" else None
        self.last: dict[str, float] = {}

    def current_k(self, step: int) -> int | None:
        return self.k_schedule(step) if self.k_schedule is not None else None

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        step = self.global_step
        # dropout masks depend on (seed, step, rank) only, so a resumed run draws what an uninterrupted one drew
        # (torch.manual_seed would also queue CUDA/XPU seeding with a stack trace each step: too slow per step)
        seed = (self.cfg.seed * 1_000_003 + step) * 1009 + self.global_rank
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)
        k = self.current_k(step)
        if k is not None:
            set_top_k(self.model, k)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = _loss(self.model, x, y)
        aux = aux_loss(self.model)
        total = loss if aux is None else loss + self.cfg.balance_coef * aux
        self.last = {"loss": float(loss.detach()), **({"balance_loss": float(aux.detach())} if aux is not None else {})}
        return total

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]  # the frozen router is left out
        opt = torch.optim.Adam(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        steps = self.cfg.steps
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / steps))
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _RunLog(L.Callback):
    """Training loss, k and learning rate every ``log_every`` steps; validation every ``eval_every`` (rank 0)."""

    def __init__(self, log: RunLogger | None, val: Dataset, cfg: TrainConfig) -> None:
        self.run_log, self.val, self.cfg = log, val, cfg

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if self.run_log is None or not trainer.is_global_zero:
            return
        step = trainer.global_step  # steps done
        assert isinstance(module, SMoEModule)
        if step % self.cfg.log_every == 0 or step == 1:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            self.run_log.log(
                step, k=module.current_k(step - 1), lr=lr, **{f"train_{k}": v for k, v in module.last.items()}
            )
        if self.cfg.eval_every and step % self.cfg.eval_every == 0:
            name = metric_name(module.model)
            rec = {f"val_{name}": evaluate(module.model, self.val, module.current_k(step - 1))[name]}
            n = n_experts_of(module.model)
            if n:
                rec[f"val_{name}_k{n}"] = evaluate(module.model, self.val, n)[name]
            self.run_log.log(step, **rec)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """The config as JSON types (paths as strings): checkpoints then load with ``weights_only=True``."""
    return json.loads(json.dumps(config, default=str))


def _rank_zero() -> bool:
    """True unless this process is a non-zero rank started by a launcher (Lightning's DDP sets LOCAL_RANK)."""
    return all(int(os.environ.get(v, "0") or 0) == 0 for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _step_of(ckpt: Path | None) -> int | None:
    return None if ckpt is None else int(ckpt.stem.split("-")[-1])


def _resume_step(cfg: TrainConfig, ckpt: Path | None) -> int | None:
    """RunLogger's ``resume_step``: the checkpoint's step, -1 when a resumed folder had none (a restart)."""
    if not cfg.resume:
        return None
    step = _step_of(ckpt)
    return -1 if step is None else step


def _init_weights(module: SMoEModule, source: Path) -> dict[str, Any]:
    """Load an earlier run's weights; dense FFNs become experts (dense-to-SMoE); a new task keeps its own head."""
    src, meta, _ = load_run(source)
    target = module.model.cfg
    if bool(src.cfg.vocab_size) != bool(target.vocab_size):
        raise UsageError(f"--init-from {source}: its inputs (token ids or features) differ from this task's")
    if src.cfg.router == "dense" and target.router != "dense":
        convert_dense_to_moe(src, target.n_experts, target.router)
    elif src.cfg.router != "dense" and target.router == "dense":
        raise UsageError(f"--init-from {source}: cannot turn its {src.cfg.router}-router experts into a dense FFN")
    state = src.state_dict()
    own = module.model.state_dict()
    skipped = [k for k in state if k.startswith("head.") and (k not in own or own[k].shape != state[k].shape)]
    if src.cfg.is_lm != target.is_lm:
        skipped = [k for k in state if k.startswith("head.")]
    mismatch = [k for k in state if k not in skipped and (k not in own or own[k].shape != state[k].shape)]
    if mismatch:
        raise UsageError(f"--init-from {source}: shapes differ from this model's in {', '.join(mismatch[:3])}")
    module.model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return {"init_from": str(source), "head_reinitialised": bool(skipped), "source_router": meta["model"]["router"]}


def _arch_from(source: Path, cfg: TrainConfig) -> tuple[TrainConfig, CharVocab | None]:
    """``--init-from``: the architecture and vocabulary come from the source run."""
    meta_path = Path(source) / "model.json"
    if not meta_path.is_file():
        raise UsageError(f"--init-from {source}: not a smoe-dropout-train run (no model.json)")
    src = json.loads(meta_path.read_text())["model"]
    chars = json.loads(meta_path.read_text()).get("vocab")
    arch = {k: src[k] for k in ("d_model", "n_heads", "n_layers", "d_ff", "context")}
    new = TrainConfig(**{**asdict(cfg), **arch})
    return new, (CharVocab(chars) if chars else None)


@dataclass
class TrainResult:
    model: Transformer
    run_dir: Path
    summary: dict[str, Any]


def train(cfg: TrainConfig, data: TaskData | None = None) -> TrainResult:
    """Train one model into ``cfg.out`` (refused when used unless --resume/--overwrite) and evaluate its curve."""
    quiet_lightning()
    set_threads(cfg.threads)
    vocab = None
    if cfg.init_from is not None:
        cfg, vocab = _arch_from(cfg.init_from, cfg)
    schedule = cfg.schedule()  # validates k values before anything is written
    data = data or build_data(cfg, vocab)
    mcfg = model_config(cfg, data)
    n = cfg.n_experts if cfg.router != "dense" else 0
    ks = list(cfg.eval_ks) or (default_ks(n) if n else [])
    if n and max(ks) > n:
        raise UsageError(f"--eval-ks: k = {max(ks)} exceeds the number of experts N = {n}")
    run, main = Path(cfg.out), _rank_zero()
    if main:
        run, _ = prepare_run_dir(cfg.out, asdict(cfg), resume=cfg.resume, overwrite=cfg.overwrite, free=RESUME_FREE)
    ckpt_dir = run / "checkpoints"
    resume_from = latest(ckpt_dir, ".ckpt") if cfg.resume else None

    seed_everything(cfg.seed)
    module = SMoEModule(asdict(mcfg), _plain(asdict(cfg)))
    extra: dict[str, Any] = {}
    if cfg.init_from is not None and resume_from is None:
        extra = _init_weights(module, cfg.init_from)
    if main:
        meta = {"task": cfg.task, "model": asdict(mcfg), "vocab": data.vocab.chars if data.vocab else None, **extra}
        atomic_write_json(run / "model.json", meta)

    loader, resume_cb = resumable_loader(data.train, batch_size=cfg.batch_size, seed=cfg.seed, drop_last=True)
    plugin, ckpt_cb = atomic_checkpointing(ckpt_dir, every_n_train_steps=cfg.checkpoint_every)
    log = RunLogger(run, quiet=True, resume_step=_resume_step(cfg, resume_from)) if main else None
    max_steps = min(cfg.stop_after or cfg.steps, cfg.steps)
    t0, c0 = time.time(), time.process_time()
    try:
        trainer = L.Trainer(
            max_steps=max_steps,
            max_epochs=-1,
            accelerator=cfg.device,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            plugins=[plugin],
            callbacks=[ckpt_cb, resume_cb, _RunLog(log, data.val, cfg)],
            use_distributed_sampler=False,
            gradient_clip_val=cfg.clip or None,
            logger=False,
            enable_progress_bar=not cfg.quiet and sys.stderr.isatty(),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            default_root_dir=str(run),
        )
        trainer.fit(module, loader, ckpt_path=str(resume_from) if resume_from else None)
        if _step_of(latest(ckpt_dir, ".ckpt")) != trainer.global_step:
            trainer.save_checkpoint(ckpt_dir / f"ckpt-{trainer.global_step:08d}.ckpt")
        seconds = (time.time() - t0, time.process_time() - c0)
        model = module.model.cpu().eval()
        summary: dict[str, Any] = {
            "steps": trainer.global_step,
            "router": mcfg.router,
            "task": cfg.task,
            "world_size": trainer.world_size,
        }
        if trainer.is_global_zero and log is not None:
            summary.update(_final_eval(model, data, ks, schedule, mcfg, seconds))
            log.log(trainer.global_step, **{k: v for k, v in summary.items() if k.startswith("val_")})
            log.summary(**summary)
    finally:
        if log is not None:
            log.close()
    return TrainResult(model, run, summary)


def _final_eval(
    model: Transformer,
    data: TaskData,
    ks: list[int],
    schedule: KSchedule | None,
    mcfg: ModelConfig,
    seconds: tuple[float, float],
) -> dict[str, Any]:
    name = metric_name(model)
    out: dict[str, Any] = {
        "params": n_params(model),
        "trainable_params": n_params(model, trainable_only=True),
        "train_seconds": round(seconds[0], 2),  # wall time of this process's fit (this session only when resumed)
        "train_cpu_seconds": round(seconds[1], 2),
    }
    if schedule is None:
        out[f"val_{name}"] = evaluate(model, data.val)[name]
        out["flops_per_token"] = flops_per_token(mcfg)
        if data.test is not None:
            out[f"test_{name}"] = evaluate(model, data.test)[name]
        return out
    out["curve_k"] = ks
    out[f"val_{name}_curve"] = [evaluate(model, data.val, k)[name] for k in ks]
    out["flops_per_token_curve"] = [flops_per_token(mcfg, k) for k in ks]
    out[f"val_{name}"] = evaluate(model, data.val, mcfg.n_experts)[name]
    out["train_k_final"] = schedule(schedule.total_steps - 1)
    out["train_mean_k"] = round(schedule.mean_k(), 3)
    if data.test is not None:
        out[f"test_{name}_curve"] = [evaluate(model, data.test, k)[name] for k in ks]
    return out
