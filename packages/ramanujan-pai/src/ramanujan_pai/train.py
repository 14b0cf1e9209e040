"""Prune at initialization, then train the sparse network with its masks held fixed.

Hoang et al., ICLR 2023 (official ``main.py``): build the model, score and mask every Linear/Conv2d
at the target density, train with the masks fixed, and report the test accuracy at the best
validation epoch; the graph metrics are computed on the masks (the support of the trained weights).
Official training is SGD 0.1 / 250 epochs on CIFAR; the digits recipe here is the brief's Adam
1e-3 for 30 epochs, batch 64. A plain torch loop: atomic checkpoints after every epoch, minibatch order
a function of ``(seed, epoch)``, so ``--resume`` continues to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError, check
from orals23_shared.runs import RunLogger
from ramanujan_pai.data import Data, load_data
from ramanujan_pai.graph import model_metrics
from ramanujan_pai.model import MODELS, build_model
from ramanujan_pai.prune import apply_masks, check_masks, mask_density, prune

__all__ = ["TrainConfig", "train", "build", "load_masks", "save_masks", "evaluate"]

Method = Literal["rand", "erk", "magnitude", "snip", "itersnip", "grasp", "synflow", "dense"]


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainConfig:
    """One prune-at-init + train run."""

    data: str = field(
        default="digits", metadata=_h("'digits' (sklearn), a .npz with arrays x and y, or a CIFAR-10/100 python folder")
    )
    model: Literal["mlp", "cnn", "resnet34", "vgg16"] = field(default="mlp", metadata=_h("network to prune"))
    hidden: tuple[int, ...] = field(default=(512, 128), metadata=_h("MLP hidden widths (brief: 256,256; see README)"))
    method: Method = field(default="snip", metadata=_h("pruning method ('dense' = no pruning)"))
    density: float = field(default=0.1, metadata=_h("fraction of Linear/Conv2d weights kept, in (0, 1]"))
    scope: Literal["global", "local"] = field(
        default="global", metadata=_h("one threshold for all layers or per layer")
    )
    iterations: int = field(default=100, metadata=_h("scoring rounds of itersnip / synflow (official 100)"))
    score_examples: int = field(default=0, metadata=_h("training examples used to score (0 = all)"))
    masks: Path | None = field(default=None, metadata=_h("train with these masks (.npz from ramanujan-pai-prune)"))
    epochs: int = field(default=30, metadata=_h("training epochs"))
    lr: float = field(default=1e-3, metadata=_h("Adam learning rate"))
    weight_decay: float = field(default=0.0, metadata=_h("Adam weight decay"))
    batch_size: int = field(default=64, metadata=_h("minibatch size"))
    narc: Literal["official", "corrected"] = field(default="official", metadata=_h("NaRC edge count: 2|E| or |E|"))
    seed: int = field(default=0, metadata=_h("random seed (init, masks, batch order)"))
    device: str = field(default="cpu", metadata=_h("torch device"))
    threads: int = field(default=0, metadata=_h("CPU threads (0: $ORALS23_THREADS or the usable cores)"))

    def validate(self) -> None:
        check(0 < self.density <= 1, f"--density must be in (0, 1], got {self.density}")
        check(self.iterations >= 1, f"--iterations must be >= 1, got {self.iterations}")
        check(self.score_examples >= 0, f"--score-examples must be >= 0, got {self.score_examples}")
        check(self.epochs >= 0, f"--epochs must be >= 0, got {self.epochs}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        check(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        check(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")
        check(self.model in MODELS, f"unknown model {self.model!r}")
        check(
            len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden), f"--hidden widths must be >= 1: {self.hidden}"
        )


def save_masks(path: str | Path, masks: dict[str, torch.Tensor], **meta: Any) -> Path:
    """Masks as a ``.npz`` of bool arrays named by layer (plus ``__meta__`` JSON), written atomically."""
    import io
    import json

    arrays = {n: m.cpu().numpy().astype(bool) for n, m in masks.items()}
    arrays["__meta__"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_save(Path(path), lambda f: f.write(buf.getvalue()))


def load_masks(path: str | Path) -> dict[str, np.ndarray]:
    """Named layer masks (or weights: their support) from a ``.npz``; 2-D or 4-D arrays only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        z = np.load(path, allow_pickle=False)
        out = {n: np.asarray(z[n]) for n in z.files if n != "__meta__"}
    except Exception as e:
        raise UsageError(f"{path}: not a readable .npz of layer masks ({type(e).__name__})") from e
    check(len(out) > 0, f"{path}: holds no layer mask")
    for n, m in out.items():
        check(m.ndim in (2, 4), f"{path}: layer {n} has shape {m.shape}; a mask is out x in or out x in x kh x kw")
        check(np.issubdtype(m.dtype, np.number) or m.dtype == bool, f"{path}: layer {n} is not numeric")
    return out


def build(cfg: TrainConfig, data: Data | None = None) -> tuple[torch.nn.Module, Data]:
    data = data if data is not None else load_data(cfg.data, image=cfg.model != "mlp")
    torch.manual_seed(cfg.seed)
    try:
        model = build_model(cfg.model, data.input_shape, data.n_classes, cfg.hidden)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return model.to(cfg.device), data


def make_masks(cfg: TrainConfig, model: torch.nn.Module, data: Data) -> dict[str, torch.Tensor]:
    """The run's masks: loaded (``--masks``), all ones (``dense``) or from the pruning method."""
    if cfg.masks is not None:
        masks = {n: torch.from_numpy(m != 0) for n, m in load_masks(cfg.masks).items()}
        check_masks(model, masks)
        return masks
    if cfg.method == "dense":
        return {n: torch.ones_like(m.weight, dtype=torch.bool) for n, m in _layers(model).items()}
    n = len(data.y_train) if cfg.score_examples == 0 else min(cfg.score_examples, len(data.y_train))
    batches = [(data.x_train[i : i + 256], data.y_train[i : i + 256]) for i in range(0, n, 256)]
    return prune(model, cfg.method, cfg.density, batches, data.input_shape, cfg.scope, cfg.iterations, seed=cfg.seed)


def _layers(model: torch.nn.Module) -> dict:
    from ramanujan_pai.model import prunable_layers

    return prunable_layers(model)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    out = model(x)
    return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


def _load_ckpt(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise UsageError(f"{path}: not a readable ramanujan-pai checkpoint ({type(e).__name__})") from e
    check(isinstance(state, dict) and "model" in state and "epoch" in state, f"{path}: not a ramanujan-pai checkpoint")
    return state


def train(
    cfg: TrainConfig, out: str | Path | None = None, resume: bool = False, quiet: bool = True, data: Data | None = None
) -> dict[str, Any]:
    """Prune, train ``cfg.epochs`` with fixed masks; returns accuracies, graph metrics and the history."""
    cfg.validate()
    check(cfg.method != "dense" or cfg.masks is None, "--method dense and --masks exclude each other")
    t0 = time.perf_counter()
    model, data = build(cfg, data)
    ckpt_dir = Path(out) / "checkpoints" if out is not None else None
    found = latest(ckpt_dir) if (resume and ckpt_dir is not None) else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if found is not None:
        state = _load_ckpt(found)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        masks = {n: m.bool() for n, m in state["masks"].items()}
        start, history, best = int(state["epoch"]), list(state["history"]), dict(state["best"])
        prune_seconds = state["prune_seconds"]
    else:
        tp = time.perf_counter()
        masks = make_masks(cfg, model, data)
        prune_seconds = time.perf_counter() - tp
        start, history, best = 0, [], {"val_acc": -1.0, "test_acc": None, "epoch": None}
    apply_masks(model, masks)
    graph = model_metrics(masks, cfg.narc)
    log = RunLogger(out, quiet=quiet, resume_step=(start if found else (-1 if resume else None))) if out else None
    n = len(data.y_train)

    def save(epoch: int) -> None:
        if ckpt_dir is None:
            return
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "masks": masks, "epoch": epoch,
                 "history": history, "best": best, "prune_seconds": prune_seconds, "config": asdict(cfg)}  # fmt: skip
        atomic_save(checkpoint_path(ckpt_dir, epoch), lambda f: torch.save(state, f))
        for old in sorted(ckpt_dir.glob("ckpt-*.pt"))[:-2]:
            old.unlink(missing_ok=True)

    try:
        epochs = range(start, cfg.epochs)
        for epoch in log.progress(epochs, total=len(epochs), desc="train") if log else epochs:
            model.train()
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
            total = 0.0
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                apply_masks(model, masks)  # masks held fixed
                total += float(loss.detach()) * len(idx)
            val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
            test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
            rec = {"epoch": epoch + 1, "train/loss": total / n, "val/loss": val_loss, "val/acc": val_acc,
                   "test/loss": test_loss, "test/acc": test_acc}  # fmt: skip
            history.append(rec)
            if val_acc > best["val_acc"]:
                best = {"val_acc": val_acc, "test_acc": test_acc, "epoch": epoch + 1}
            if log is not None:
                log.log(epoch + 1, **rec)
            save(epoch + 1)
        if best["test_acc"] is None:  # no epoch trained: the pruned network at init
            _, acc = evaluate(model, data.x_test, data.y_test)
            best = {"val_acc": evaluate(model, data.x_val, data.y_val)[1], "test_acc": acc, "epoch": 0}
        result = {
            "test_acc": best["test_acc"],
            "best_val_acc": best["val_acc"],
            "best_epoch": best["epoch"],
            "final_test_acc": history[-1]["test/acc"] if history else best["test_acc"],
            "density": mask_density(masks.values()),
            "graph": graph["model"],
            "prune_seconds": prune_seconds,
            "epochs_run": max(0, cfg.epochs - start),
            "seconds": time.perf_counter() - t0,
        }
        if log is not None:
            log.summary(**{k: v for k, v in result.items() if k != "graph"}, **{f"graph/{k}": v for k, v in
                        graph["model"].items()})  # fmt: skip
        return {**result, "layers": graph["layers"], "history": history, "masks": masks, "model": model}
    finally:
        if log is not None:
            log.close()
