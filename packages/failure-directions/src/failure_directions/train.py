"""The classifier whose failures are distilled, and its retraining in the interventions.

Jain et al. (ICLR 2023) train ResNet-18s with FFCV; offline, on the 8x8 planted digits, the base model
is a small MLP trained full-batch with Adam (the brief's "logistic regression or small MLP"). Full-batch
steps make the run a deterministic function of (seed, data, weights), so a resumed run equals an
uninterrupted one exactly: checkpoints (model, optimizer, step) are written atomically every
``checkpoint_every`` steps and ``resume`` continues from the newest. Per-example loss ``weights``
implement the upweighting intervention (the official ``--loss-vec-file``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError

__all__ = ["ClassifierConfig", "make_mlp", "predict", "train_classifier"]


@dataclass
class ClassifierConfig:
    """MLP in-64-64-C, full-batch Adam (lr 1e-2, weight decay 1e-4), 300 steps."""

    hidden: tuple[int, ...] = field(default=(64, 64), metadata={"help": "hidden layer widths of the MLP classifier"})
    steps: int = field(default=300, metadata={"help": "full-batch Adam steps of each (re)training"})
    lr: float = field(default=1e-2, metadata={"help": "Adam learning rate of the classifier"})
    weight_decay: float = field(default=1e-4, metadata={"help": "L2 weight decay of the classifier"})
    checkpoint_every: int = field(default=100, metadata={"help": "steps between atomic checkpoints"})


def make_mlp(in_dim: int, n_classes: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, n_classes))
    return nn.Sequential(*layers)


def train_classifier(
    inputs: np.ndarray,
    labels: np.ndarray,
    config: ClassifierConfig | None = None,
    seed: int = 0,
    n_classes: int | None = None,
    weights: np.ndarray | None = None,
    ckpt_dir: str | os.PathLike | None = None,
    resume: bool = False,
) -> tuple[nn.Sequential, dict]:
    """Train from scratch (or from the newest checkpoint in ``ckpt_dir`` when ``resume``).

    Returns the model and ``{"steps_run", "resumed_from", "loss"}``; ``steps_run`` counts only the
    steps this call made (a resumed 2 + 2 makes 2).
    """
    cfg = config or ClassifierConfig()
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32)).reshape(len(inputs), -1)
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(x) != len(y):
        raise UsageError(f"{len(x)} inputs but {len(y)} labels")
    n_classes = int(n_classes if n_classes is not None else int(y.max()) + 1)
    w = torch.ones(len(y)) if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if w.shape != y.shape or (w < 0).any():
        raise UsageError("loss weights must be one non-negative number per training example")
    torch.manual_seed(seed)
    model = make_mlp(x.shape[1], n_classes, tuple(cfg.hidden))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume and ckpt_dir is not None and (ckpt := latest(ckpt_dir, ".pt")) is not None:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = int(state["step"])
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(start, cfg.steps):
        loss = (F.cross_entropy(model(x), y, reduction="none") * w).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = step + 1
        if ckpt_dir is not None and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            _checkpoint(ckpt_dir, model, opt, done)
    model.eval()
    return model, {"steps_run": cfg.steps - start if cfg.steps > start else 0, "resumed_from": start,
                   "loss": float(loss.detach())}  # fmt: skip


def _checkpoint(folder: str | os.PathLike, model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step}
    path = atomic_save(checkpoint_path(folder, step), lambda f: torch.save(state, f))
    for old in Path(folder).glob("ckpt-*.pt"):
        if old != path:
            old.unlink(missing_ok=True)


@torch.no_grad()
def predict(model: nn.Module, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and softmax probabilities (n, C)."""
    model.eval()
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32)).reshape(len(inputs), -1)
    p = F.softmax(model(x), dim=1).double().numpy()
    return p.argmax(1), p
