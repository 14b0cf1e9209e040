"""Command-line entry points ``image2sphere-train`` and ``image2sphere-eval`` (Klee et al., ICLR 2023).

Options come from ``train.TrainConfig`` and ``EvalConfig``; bad input prints one line and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from image2sphere.data import PoseData, load_modelnet10, load_symsol, rendered_dataset
from image2sphere.evaluate import evaluate
from image2sphere.pascal import load_pascal3d
from image2sphere.plots import plot_so3_distribution
from image2sphere.render import make_shape
from image2sphere.train import TrainConfig, load_model, train
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli

__all__ = ["EvalConfig", "train_main", "eval_main", "train_entry", "eval_entry"]


@dataclass
class EvalConfig:
    checkpoint: Path = field(
        default=Path("runs/image2sphere"), metadata={"help": "checkpoint file or training run folder"}
    )
    dataset: str = field(default="rendered", metadata={"help": "rendered, symsol, modelnet10 or pascal3d"})
    shapes: tuple[str, ...] = field(
        default=("cube",), metadata={"help": "shapes to evaluate (rendered or SYMSOL names)"}
    )
    data_path: Path | None = field(
        default=None,
        metadata={
            "help": "SYMSOL root folder, ModelNet10-SO(3) test npz or test_20V.Rawjpg.lmdb folder, "
            "or PASCAL3D+_release1.1 folder (its official test split)"
        },
    )
    n_test: int = field(default=200, metadata={"help": "test images per shape"})
    grid_rec: int | None = field(default=None, metadata={"help": "eval grid HEALPix level (none: the model's)"})
    batch_size: int = field(default=16, metadata={"help": "images per forward pass"})
    n_plots: int = field(default=2, metadata={"help": "Mollweide plots per shape"})
    seed: int = field(default=12345, metadata={"help": "seed of the rendered test poses"})
    out: Path = field(default=Path("runs/image2sphere-eval"), metadata={"help": "output folder (metrics.json, plots)"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    quiet: bool = field(default=False, metadata={"help": "no progress output"})


def train_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="image2sphere-train",
        description="Train Image2Sphere (I2S) on rendered shapes, SYMSOL, ModelNet10-SO(3) or PASCAL3D+.",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    _, metrics, run = train(cfg)
    print(json.dumps(metrics, indent=1))
    print(f"run folder: {run}")
    return 0


def _eval_data(cfg: EvalConfig, model_channels: int, image_size: int) -> dict[str, PoseData]:
    if cfg.dataset == "rendered":
        return {s: rendered_dataset(s, cfg.n_test, image_size, cfg.seed + i) for i, s in enumerate(cfg.shapes)}
    if cfg.data_path is None:
        raise UsageError(f"--data-path is required for dataset {cfg.dataset}")
    if cfg.dataset == "symsol":
        return {s: load_symsol(cfg.data_path, "test", (s,), cfg.n_test, image_size) for s in cfg.shapes}
    if cfg.dataset == "modelnet10":
        return {"modelnet10": load_modelnet10(cfg.data_path, cfg.n_test)}
    if cfg.dataset == "pascal3d":
        return {"pascal3d": load_pascal3d(cfg.data_path, "test", cfg.n_test, image_size)}
    raise UsageError(f"unknown dataset {cfg.dataset!r}: use rendered, symsol, modelnet10 or pascal3d")


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="image2sphere-eval",
        description="Evaluate an I2S checkpoint: median error, Acc@15/30, log-likelihood, modes, Mollweide plots.",
    )
    add_dataclass_args(parser, EvalConfig)
    cfg = config_from_args(parser, EvalConfig, argv)
    model, _ = load_model(cfg.checkpoint, cfg.device)
    data = _eval_data(cfg, model.cfg.in_channels, model.cfg.image_size)
    results = {}
    cfg.out.mkdir(parents=True, exist_ok=True)
    for name, d in data.items():
        if cfg.dataset == "rendered":
            d.symmetries = torch.from_numpy(make_shape(name).symmetries).float()
        if d.images.shape[1] != model.cfg.in_channels:
            raise UsageError(
                f"{cfg.checkpoint} expects {model.cfg.in_channels}-channel images, "
                f"{cfg.dataset} {name} images have {d.images.shape[1]}"
            )
        model.check_images(d.images[:1])
        results[name] = evaluate(model, d, cfg.grid_rec, cfg.batch_size, device=cfg.device)
        for i in range(min(cfg.n_plots, len(d))):
            probs, grid = model.probabilities(d.images[i : i + 1].to(cfg.device), cfg.grid_rec)
            gts = d.rotations[i] if d.symmetries is None else d.rotations[i, :1] @ d.symmetries
            plot_so3_distribution(
                probs[0],
                grid.rotations,
                cfg.out / f"distribution_{name}_{i}.png",
                gts,
                d.images[i],
                title=f"{name} #{i}",
            )
    atomic_write_json(cfg.out / "metrics.json", results)
    if not cfg.quiet:
        print(json.dumps(results, indent=1))
    print(f"wrote {cfg.out / 'metrics.json'}")
    return 0


def _quiet_e3nn() -> None:
    warnings.filterwarnings("ignore", module="e3nn")
    warnings.filterwarnings("ignore", category=UserWarning, message=".*TorchScript.*")


def train_entry() -> None:
    _quiet_e3nn()
    run_cli(train_main)


def eval_entry() -> None:
    _quiet_e3nn()
    run_cli(eval_main)
