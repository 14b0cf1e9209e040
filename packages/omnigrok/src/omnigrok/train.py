"""Training: AdamW with weight decay (grokking) or on the fixed-norm sphere (constrained).

Omnigrok (Liu, Michaud, Tegmark, ICLR 2023). Each run initialises a model with PyTorch's default
init, multiplies every parameter by ``alpha`` (``w = alpha * w0``), then trains with AdamW
(decoupled weight decay: ``theta <- theta * (1 - lr * wd)`` per step, which shrinks the norm on the
time scale ``1 / (lr * wd)``; Sec. 3). With ``constrained`` the weights are rescaled to
``alpha * w0`` after every optimizer step (Sec. 2's reduced landscape, Sec. 5's de-grokking).

A plain PyTorch loop (not Lightning): runs are full-batch or tiny-batch steps on a model of <1M
parameters, where a Trainer's per-step overhead would dominate, and the projection after each step
is one line here. Checkpoints are atomic; ``--resume`` reproduces an uninterrupted run exactly
(minibatch order is a function of ``(seed, epoch)``, the optimizer state is saved).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from omnigrok.data import Split, load_digits_split, load_mnist, modular_addition, teacher_student
from omnigrok.grokking import eval_schedule, grokking_metrics
from omnigrok.model import MLP, Transformer, project_norm, scale_init, weight_norm
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError, check
from orals23_shared.runs import RunLogger

__all__ = ["TrainConfig", "TASK_DEFAULTS", "resolve", "build", "train", "load_checkpoint"]

Task = Literal["digits", "mnist", "modadd", "teacher"]

#: Per-task defaults: the official notebooks' for mnist, modadd (p=113, d_model 128) and teacher;
#: digits (our offline stand-in for MNIST) takes the CPU recipe of ``omnigrok-reproduce`` (README).
#: A config field left at None takes the value here.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": dict(n_train=200, alpha=8.0, weight_decay=0.07, lr=3e-3, beta2=0.999, steps=10000, batch_size=0,
                   loss="mse", dtype="float32", hidden=(200, 200), activation="relu"),
    "mnist": dict(n_train=1000, alpha=8.0, weight_decay=0.01, lr=1e-3, beta2=0.999, steps=100000, batch_size=200,
                  loss="mse", dtype="float64", hidden=(200, 200), activation="relu"),
    "modadd": dict(n_train=0, alpha=1.0, weight_decay=1.0, lr=1e-3, beta2=0.98, steps=15000, batch_size=0,
                   loss="ce", dtype="float64", hidden=(), activation="relu"),
    "teacher": dict(n_train=100, alpha=2.0, weight_decay=0.05, lr=3e-4, beta2=0.999, steps=100000, batch_size=0,
                    loss="mse", dtype="float64", hidden=(100, 100), activation="tanh"),
}  # fmt: skip


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainConfig:
    """One Omnigrok run. Fields left at None take the task's default (``TASK_DEFAULTS``)."""

    task: Task = field(
        default="digits", metadata=_h("digits (sklearn, offline) | mnist (IDX files) | modadd | teacher")
    )
    data_dir: Path | None = field(default=None, metadata=_h("folder with the MNIST IDX files (task mnist)"))
    n_train: int | None = field(default=None, metadata=_h("training examples (digits 200, mnist 1000, teacher 100)"))
    n_val: int = field(
        default=0, metadata=_h("digits: validation images (> 0 also fixes the test set to half the images)")
    )
    holdout: Literal["test", "val"] = field(
        default="test", metadata=_h("held-out set evaluated as test_*: test, or val for tuning (digits, --n-val)")
    )
    p: int = field(default=113, metadata=_h("modulus of the modular-addition task (a prime; official 113)"))
    train_frac: float = field(default=0.3, metadata=_h("fraction of the p^2 pairs used for training (modadd)"))
    alpha: float | None = field(default=None, metadata=_h("init scale: every parameter times alpha, w = alpha*w0"))
    weight_decay: float | None = field(default=None, metadata=_h("AdamW weight decay (0 when --constrained)"))
    constrained: bool = field(default=False, metadata=_h("rescale the weights to alpha*w0 after every step"))
    lr: float | None = field(default=None, metadata=_h("AdamW learning rate (1e-3; digits 3e-3; teacher 3e-4)"))
    beta2: float | None = field(default=None, metadata=_h("AdamW beta2 (0.999; modadd 0.98)"))
    steps: int | None = field(default=None, metadata=_h("optimizer steps"))
    batch_size: int | None = field(default=None, metadata=_h("minibatch size, 0 = full batch"))
    loss: Literal["mse", "ce"] | None = field(default=None, metadata=_h("mse on one-hot (official) or ce"))
    dtype: Literal["float32", "float64"] | None = field(
        default=None, metadata=_h("float64 as the official code (digits: float32)")
    )
    hidden: tuple[int, ...] | None = field(default=None, metadata=_h("MLP hidden widths, e.g. 200,200"))
    activation: Literal["relu", "tanh", "leaky_relu"] | None = field(default=None, metadata=_h("MLP activation"))
    d_model: int = field(default=128, metadata=_h("transformer width (modadd)"))
    n_heads: int = field(default=4, metadata=_h("attention heads (modadd)"))
    d_head: int = field(default=32, metadata=_h("head width (modadd)"))
    d_mlp: int = field(default=512, metadata=_h("transformer MLP width (modadd)"))
    n_evals: int = field(default=150, metadata=_h("evaluations, log-spaced over the run"))
    checkpoint_every: int = field(default=1000, metadata=_h("steps between atomic checkpoints"))
    seed: int = field(default=0, metadata=_h("random seed (init, data split, batch order)"))
    device: str = field(default="cpu", metadata=_h("torch device"))
    threads: int = field(default=0, metadata=_h("CPU threads (0: $ORALS23_THREADS or the usable cores)"))

    def validate(self) -> None:
        check(
            self.alpha is None or (self.alpha > 0 and math.isfinite(self.alpha)),
            f"--alpha must be > 0, got {self.alpha}",
        )
        check(
            self.weight_decay is None or self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"
        )
        check(self.lr is None or self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.beta2 is None or 0 <= self.beta2 < 1, f"--beta2 must be in [0, 1), got {self.beta2}")
        check(self.steps is None or self.steps >= 0, f"--steps must be >= 0, got {self.steps}")
        check(self.batch_size is None or self.batch_size >= 0, f"--batch-size must be >= 0, got {self.batch_size}")
        check(self.n_train is None or self.n_train >= 0, f"--n-train must be >= 0, got {self.n_train}")
        check(self.hidden is None or all(h > 0 for h in self.hidden), f"--hidden widths must be > 0, got {self.hidden}")
        check(self.n_evals >= 2, f"--n-evals must be >= 2, got {self.n_evals}")
        check(self.checkpoint_every >= 1, f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        check(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")
        for name in ("d_model", "n_heads", "d_head", "d_mlp"):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1")
        check(self.n_val >= 0, f"--n-val must be >= 0, got {self.n_val}")
        check(
            (self.n_val == 0 and self.holdout == "test") or self.task == "digits",
            "--n-val and --holdout val apply to --task digits only",
        )
        check(self.task != "mnist" or self.data_dir is not None, "--task mnist needs --data-dir (the IDX files)")


def resolve(cfg: TrainConfig) -> TrainConfig:
    """The config with every None replaced by the task default (weight decay 0 when constrained)."""
    cfg.validate()
    defaults = dict(TASK_DEFAULTS[cfg.task])
    if cfg.constrained:
        defaults["weight_decay"] = 0.0
    values = {k: (v if getattr(cfg, k) is None else getattr(cfg, k)) for k, v in defaults.items()}
    values["hidden"] = tuple(values["hidden"])
    return replace(cfg, **values)


@dataclass
class Built:
    model: torch.nn.Module
    data: Split
    n_out: int


def build(cfg: TrainConfig) -> Built:
    """Data and model of a resolved config; the model has its default init (not yet alpha-scaled)."""
    dtype = getattr(torch, cfg.dtype)
    if cfg.task == "digits":
        data, n_in, n_out = load_digits_split(cfg.n_train, cfg.seed, cfg.n_val, cfg.holdout), 64, 10
    elif cfg.task == "mnist":
        data, n_in, n_out = load_mnist(cfg.data_dir, cfg.n_train), 784, 10
    elif cfg.task == "teacher":
        check(cfg.n_train >= 1, "--n-train must be >= 1")
        data, n_in, n_out = teacher_student(cfg.n_train, 100, seed=cfg.seed), 5, 5
    else:
        data = modular_addition(cfg.p, cfg.train_frac, seed=cfg.seed)
    data = Split(*(t.to(dtype) if t.is_floating_point() else t for t in (data.x_train, data.y_train, data.x_test,
                                                                        data.y_test)))  # fmt: skip
    torch.manual_seed(cfg.seed)
    if cfg.task == "modadd":
        n_out = cfg.p + 1
        model = Transformer(cfg.p + 1, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp)
    else:
        model = MLP(n_in, cfg.hidden, n_out, cfg.activation)
    return Built(model.to(dtype), data.to(cfg.device), n_out)


def _loss_and_acc(
    cfg: TrainConfig, out: torch.Tensor, y: torch.Tensor, n_out: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if cfg.task == "teacher":  # accuracy: share of samples with per-sample MSE < 1e-3 (official)
        per = ((out - y) ** 2).mean(dim=1)
        return per.mean(), (per < 1e-3).to(out.dtype).mean()
    acc = (out.argmax(dim=1) == y).to(out.dtype).mean()
    if cfg.loss == "ce":
        return F.cross_entropy(out, y), acc
    return F.mse_loss(out, F.one_hot(y, n_out).to(out.dtype)), acc


@torch.no_grad()
def evaluate(cfg: TrainConfig, built: Built) -> dict[str, float]:
    """Full train and test loss and accuracy, and the weight norm."""
    m, d = built.model, built.data
    tr_loss, tr_acc = _loss_and_acc(cfg, m(d.x_train), d.y_train, built.n_out)
    te_loss, te_acc = _loss_and_acc(cfg, m(d.x_test), d.y_test, built.n_out)
    return {
        "train_loss": float(tr_loss),
        "train_acc": float(tr_acc),
        "test_loss": float(te_loss),
        "test_acc": float(te_acc),
        "norm": weight_norm(m),
    }


def _batch(cfg: TrainConfig, n: int, step: int) -> torch.Tensor | None:
    """Indices of the minibatch for ``step`` (0-based): epochs permuted by ``(seed, epoch)``; None = full batch."""
    if cfg.batch_size == 0 or cfg.batch_size >= n:
        return None
    per_epoch = math.ceil(n / cfg.batch_size)
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
    return perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a damaged file: one line, not a pickle traceback
        raise UsageError(f"{path}: not a readable omnigrok checkpoint ({type(e).__name__})") from e
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise UsageError(f"{path}: not an omnigrok checkpoint")
    return state


def train(cfg: TrainConfig, out: str | Path | None = None, resume: bool = False, quiet: bool = True) -> dict[str, Any]:
    """Train one run; log to ``out`` (metrics.jsonl, checkpoints/) when given. Returns history and metrics.

    ``cfg`` must be resolved (``resolve``). With ``resume`` the newest checkpoint in ``out`` is loaded
    and training continues to ``cfg.steps``; the result equals an uninterrupted run's.
    """
    built = build(cfg)
    model, data = built.model, built.data
    w0 = scale_init(model, cfg.alpha)
    w_target = cfg.alpha * w0
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay)
    ckpt_dir = Path(out) / "checkpoints" if out is not None else None
    start, history = 0, []
    found = latest(ckpt_dir) if (resume and ckpt_dir is not None) else None
    if found is not None:
        state = load_checkpoint(found)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["history"])
    schedule = set(eval_schedule(cfg.steps, cfg.n_evals))
    log = RunLogger(out, quiet=quiet, resume_step=(start if found else (-1 if resume else None))) if out else None
    t0 = time.perf_counter()

    def record(step: int) -> None:
        rec = {"step": step, **evaluate(cfg, built)}
        history.append(rec)
        if log is not None:
            log.log(**rec)

    def save(step: int) -> None:
        if ckpt_dir is None:
            return
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "history": history,
                 "w0": w0, "w_target": w_target, "config": asdict(cfg)}  # fmt: skip
        atomic_save(checkpoint_path(ckpt_dir, step), lambda f: torch.save(state, f))
        for old in sorted(ckpt_dir.glob("ckpt-*.pt"))[:-2]:
            old.unlink(missing_ok=True)

    try:
        if start == 0 and not history:
            record(0)
        steps = range(start, cfg.steps)
        for step in log.progress(steps, total=len(steps), desc="train") if log else steps:
            idx = _batch(cfg, len(data.y_train), step)
            x, y = (data.x_train, data.y_train) if idx is None else (data.x_train[idx], data.y_train[idx])
            loss, _ = _loss_and_acc(cfg, model(x), y, built.n_out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.constrained:
                project_norm(model, w_target)
            done = step + 1
            if done in schedule:
                record(done)
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save(done)
        metrics = grokking_metrics(history)
        result = {"history": history, "metrics": metrics, "w0": w0, "w_target": w_target,
                  "steps_run": max(0, cfg.steps - start), "seconds": time.perf_counter() - t0}  # fmt: skip
        if log is not None:
            log.summary(
                **metrics, w0=w0, w_target=w_target, steps=cfg.steps, resumed_from=start, steps_run=result["steps_run"]
            )
        return result
    finally:
        if log is not None:
            log.close()
