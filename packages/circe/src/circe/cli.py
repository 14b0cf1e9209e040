"""Command lines ``circe-train`` and ``circe-eval`` (Pogodin et al., ICLR 2023: CIRCE and its baselines).

circe-train --method circe --out runs/toy                                   # built-in linear-Gaussian task
circe-train --data dsprites --root DIR --out runs/dsprites                  # the paper's data, official samplers
circe-train --method circe --train tr.npz --val va.npz --out runs/mine      # arrays x (n,...), y (n,dy), z (n,dz)
circe-eval runs/mine --data test.npz --json                                 # {"mse": ..., "cond_dep": ...}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli

__all__ = ["train_main", "eval_main", "train_entry", "eval_entry", "EvalConfig"]


def train_main(argv: Sequence[str] | None = None) -> int:
    from circe.train import TrainConfig, train

    parser = argparse.ArgumentParser(
        prog="circe-train",
        description="Train a regressor with a conditional-independence penalty (CIRCE, HSIC, HSCIC, GCM or none). "
        "Targets and distractors are standardised, so --gamma means the same on any data scale. With --train/--val "
        "the files hold arrays x (n, ...), y (n, dy), z (n, dz); the held-out regression set (--heldout rows) is "
        "split off the training file. A used --out is refused unless --resume or --overwrite.",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    result = train(cfg)
    shown = {k: v for k, v in result.summary.items() if k.startswith("val_") or k in ("method", "gamma", "steps")}
    print(json.dumps({"run": str(result.run_dir), **shown}))
    return 0


@dataclass
class EvalConfig:
    """Evaluate a ``circe-train`` run on a data file."""

    data: Path | None = field(
        default=None, metadata={"help": "required: .npz with arrays x (n,...), y (n,dy), z (n,dz)"}
    )
    json: bool = field(default=False, metadata={"help": "print one JSON object"})
    out: Path | None = field(default=None, metadata={"help": "also write the metrics to this JSON file"})
    seed: int = field(default=0, metadata={"help": "seed of the split used by the conditional-dependence estimate"})
    device: str = field(default="cpu", metadata={"help": "torch device for the predictions"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS, else the usable cores)"})
    quiet: bool = field(default=False, metadata={"help": "no progress output"})


def eval_main(argv: Sequence[str] | None = None) -> int:
    from circe.data import load_npz
    from circe.evaluate import evaluate_model
    from circe.train import load_run
    from orals23_shared.threads import set_threads

    parser = argparse.ArgumentParser(
        prog="circe-eval",
        description="Prediction MSE and conditional dependence of a trained run on a data file. cond_dep is CIRCE of "
        "the predictions with a Z|Y regression re-fitted on a disjoint half of the file; partial_corr is the linear "
        "check (residual correlation of prediction and z given y).",
    )
    parser.add_argument("run", type=Path, help="run folder written by circe-train --out")
    add_dataclass_args(parser, EvalConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=ns)
    if cfg.data is None:
        raise UsageError("--data FILE.npz is required")
    set_threads(cfg.threads)
    module = load_run(ns.run)
    data = load_npz(cfg.data)
    meta = module.hparams
    if list(data.x.shape[1:]) != list(meta["x_shape"]):
        raise UsageError(
            f"{cfg.data}: x rows have shape {tuple(data.x.shape[1:])} but the run was trained on "
            f"{tuple(meta['x_shape'])}"
        )
    if data.y.shape[1] != meta["dy"] or data.z.shape[1] != meta["dz"]:
        raise UsageError(
            f"{cfg.data}: y/z have {data.y.shape[1]}/{data.z.shape[1]} columns, the run expects "
            f"{meta['dy']}/{meta['dz']}"
        )
    metrics = evaluate_model(module.model.to(cfg.device), data, seed=cfg.seed, device=cfg.device)
    if cfg.out is not None:
        atomic_write_json(cfg.out, metrics)
    if cfg.json:
        print(json.dumps(metrics))
    else:
        print(
            f"mse {metrics['mse']:.5f}  cond_dep {metrics['cond_dep']:.3e}  partial_corr {metrics['partial_corr']:.3f}"
            f"  (n={metrics['n']})"
        )
    return 0


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)
