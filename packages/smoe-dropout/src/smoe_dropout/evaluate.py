"""Evaluation of a trained model at any number of activated experts k (self-slimming, SMoE-Dropout Sec. 3) and
loading a run folder written by ``smoe-dropout-train``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from orals23_shared.checkpoint import latest
from orals23_shared.cli import UsageError
from smoe_dropout.model import ModelConfig, Transformer, use_top_k

__all__ = ["default_ks", "evaluate", "load_run", "metric_name"]


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to N, and N."""
    ks = [2**i for i in range(n.bit_length()) if 2**i <= n]
    return ks if ks[-1] == n else [*ks, n]


@torch.no_grad()
def evaluate(
    model: Transformer, data: Dataset, k: int | None = None, uniform: bool = False, batch_size: int = 256
) -> dict[str, float]:
    """Validation metric at k experts (None: the model's current k): bits per char for an LM, else accuracy."""
    was_training = model.training
    model.eval()
    total, count, correct = 0.0, 0, 0
    try:
        with use_top_k(model, k, uniform):
            for x, y in DataLoader(data, batch_size=batch_size, shuffle=False):
                logits = model(x)
                if model.cfg.is_lm:
                    total += float(
                        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
                    )
                    count += y.numel()
                else:
                    total += float(F.cross_entropy(logits, y, reduction="sum"))
                    correct += int((logits.argmax(-1) == y).sum())
                    count += len(y)
    finally:
        model.train(was_training)
    if model.cfg.is_lm:
        return {"loss": total / count, "bpc": total / count / math.log(2), "tokens": count}
    return {"loss": total / count, "accuracy": correct / count, "n": count}


def metric_name(model: Transformer) -> str:
    return "bpc" if model.cfg.is_lm else "accuracy"


def load_run(run: str | Path) -> tuple[Transformer, dict[str, Any], dict[str, Any]]:
    """The trained model of ``run`` (newest checkpoint), its ``model.json`` and its ``config.json``."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    ckpt = latest(run / "checkpoints", ".ckpt")
    if ckpt is None or not (run / "model.json").is_file():
        raise UsageError(f"{run}: not a finished smoe-dropout-train run (no model.json or checkpoints/ckpt-*.ckpt)")
    meta = json.loads((run / "model.json").read_text())
    config = json.loads((run / "config.json").read_text())
    model = Transformer(ModelConfig(**meta["model"]))
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    model.eval()
    return model, meta, config
