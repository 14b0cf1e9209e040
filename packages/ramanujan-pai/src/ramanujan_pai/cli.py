"""Command-line entry points: ``ramanujan-pai-prune``, ``-metrics``, ``-train`` and ``-eval``.

Hoang et al., ICLR 2023: prune at initialization (``-prune`` writes a mask file), read the masks as
bipartite graphs (``-metrics``: mu_hat, Delta_r, IMDB, NaRC per layer), train the sparse network with
fixed masks (``-train``, a run folder with checkpoints and metrics.jsonl) and evaluate a trained run
(``-eval``). Bad input is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from orals23_shared.cli import (
    UsageError,
    add_dataclass_args,
    check,
    config_from_args,
    parse_run_config,
    run_cli,
)
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.threads import set_threads
from ramanujan_pai.graph import METRIC_KEYS
from ramanujan_pai.train import TrainConfig

__all__ = ["prune_main", "metrics_main", "train_main", "eval_main", "PruneConfig"]

_PRUNE_FIELDS = ("data", "model", "hidden", "method", "density", "scope", "iterations", "score_examples", "seed",
                 "threads")  # fmt: skip


@dataclass
class PruneConfig:
    """Prune a freshly initialised model and write its masks (the fields mean what they do in -train)."""

    data: str = field(default="digits", metadata={"help": "'digits' or a .npz with x, y (scoring data, shapes)"})
    model: Literal["mlp", "cnn", "resnet34", "vgg16"] = field(default="mlp", metadata={"help": "network to prune"})
    hidden: tuple[int, ...] = field(default=(512, 128), metadata={"help": "MLP hidden widths"})
    method: Literal["rand", "erk", "magnitude", "snip", "itersnip", "grasp", "synflow"] = field(
        default="snip", metadata={"help": "pruning method"}
    )
    density: float = field(default=0.1, metadata={"help": "fraction of weights kept, in (0, 1]"})
    scope: Literal["global", "local"] = field(default="global", metadata={"help": "global or per-layer threshold"})
    iterations: int = field(default=100, metadata={"help": "scoring rounds of itersnip / synflow"})
    score_examples: int = field(default=0, metadata={"help": "training examples used to score (0 = all)"})
    seed: int = field(default=0, metadata={"help": "random seed (init and masks)"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS or the usable cores)"})


def prune_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ramanujan-pai-prune",
        description="Prune a freshly initialised network at the target density and write the masks (.npz of "
        "bool arrays named by layer) with the layers' graph metrics.",
    )
    add_dataclass_args(parser, PruneConfig)
    parser.add_argument("--out", type=Path, default=Path("masks.npz"), help="mask file (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing mask file")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, PruneConfig, namespace=args)
    check(not args.out.exists() or args.overwrite, f"--out {args.out} exists; pass --overwrite to replace it")
    check(args.out.suffix == ".npz", f"--out must name a .npz file, got {args.out}")
    set_threads(cfg.threads)
    from ramanujan_pai.graph import model_metrics
    from ramanujan_pai.prune import mask_density
    from ramanujan_pai.train import build, make_masks, save_masks

    tcfg = TrainConfig(**{f: getattr(cfg, f) for f in _PRUNE_FIELDS})
    tcfg.validate()
    model, data = build(tcfg)
    masks = make_masks(tcfg, model, data)
    save_masks(args.out, masks, **asdict(cfg))
    metrics = _contract(model_metrics(masks))
    if args.json:
        print(json.dumps({"masks": str(args.out), "density": mask_density(masks.values()), **metrics}))
    else:
        print(f"{args.out}: {cfg.method} at density {mask_density(masks.values()):.4f} ({len(masks)} layers)")
        _print_table(metrics)
    return 0


def _contract(metrics: dict) -> dict:
    """The ``-metrics --json`` contract: per layer ``skipped`` + METRIC_KEYS, model means and counts."""
    layers = {n: {"skipped": v["skipped"], **{k: v[k] for k in METRIC_KEYS}, "dim_in": v["dim_in"],
                  "dim_out": v["dim_out"], "density": v["density"]} for n, v in metrics["layers"].items()}  # fmt: skip
    return {"layers": layers, "model": metrics["model"]}


def _fmt(v: object) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _print_table(metrics: dict) -> None:
    cols = ("density", *METRIC_KEYS)
    print(f"{'layer':<28} {'shape':>12} " + " ".join(f"{c:>12}" for c in cols))
    for n, v in metrics["layers"].items():
        shape = f"{v['dim_in']}x{v['dim_out']}"
        note = "  (skipped: d_L or d_R < 3)" if v["skipped"] else ""
        print(f"{n:<28} {shape:>12} " + " ".join(f"{_fmt(v[c]):>12}" for c in cols) + note)
    m = metrics["model"]
    print(f"{'model (mean of valid layers)':<41} {_fmt(m['density']):>12} "
          + " ".join(f"{_fmt(m[c]):>12}" for c in METRIC_KEYS))  # fmt: skip


def _read_any_masks(path: Path) -> dict:
    """Masks from a ``.npz`` (masks or weights), a ``-train`` run folder or one of its checkpoints."""
    import numpy as np

    from ramanujan_pai.train import load_masks

    if path.is_dir():
        path = path / "masks.npz"
    if path.suffix == ".pt":
        from ramanujan_pai.train import _load_ckpt

        state = _load_ckpt(path)
        check("masks" in state, f"{path}: a checkpoint without masks")
        return {n: m.numpy() for n, m in state["masks"].items()}
    masks = load_masks(path)
    for n, m in masks.items():
        check(np.isfinite(m.astype(np.float64)).all(), f"{path}: layer {n} holds NaN or infinite values")
    return masks


def metrics_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ramanujan-pai-metrics",
        description="Graph metrics of pruned layers: each mask (out x in, or out x in x kh x kw unrolled to "
        "out x in*kh*kw; nonzero = kept) as a bipartite graph; mu_hat, Delta_r (normalised), IMDB (normalised), "
        "NaRC per layer and their means over valid layers. Layers with average degree < 3 are skipped.",
    )
    parser.add_argument("masks", type=Path, help=".npz of named layer masks or weights, a -train run folder, or a .pt")
    parser.add_argument("--json", action="store_true", help="print JSON: {layers: {...}, model: {...}}")
    parser.add_argument("--narc", choices=["official", "corrected"], default="official",
                        help="NaRC edge count: the official code's 2|E| or the corrected |E| (default: %(default)s)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: 0 = all usable)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from ramanujan_pai.graph import model_metrics

    masks = _read_any_masks(args.masks)
    metrics = _contract(model_metrics(masks, args.narc))
    if args.json:
        print(json.dumps(metrics, allow_nan=False))
    else:
        _print_table(metrics)
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        TrainConfig,
        argv,
        prog="ramanujan-pai-train",
        description="Prune at initialization (or load --masks) and train the sparse network with fixed masks; "
        "reports the test accuracy at the best validation epoch and the masks' graph metrics.",
        default_out="runs/ramanujan-pai",
    )
    cfg.validate()
    set_threads(cfg.threads)
    from ramanujan_pai.train import save_masks, train

    run, _ = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    res = train(cfg, out=run, resume=args.resume, quiet=args.quiet)
    save_masks(run / "masks.npz", res["masks"], **{k: v for k, v in asdict(cfg).items() if k != "masks"})
    g = res["graph"]
    summary = {k: res[k] for k in ("test_acc", "best_val_acc", "best_epoch", "final_test_acc", "density")}
    summary.update({k: g[k] for k in METRIC_KEYS})
    if args.quiet:
        print(json.dumps({"run": str(run), **summary}))
    else:
        print(f"{run}: {cfg.method} density {res['density']:.4f}: test acc {res['test_acc']:.4f} at best-val epoch "
              f"{res['best_epoch']}; Delta_r_norm {_fmt(g['delta_r_norm'])}, IMDB_norm {_fmt(g['imdb_norm'])}, "
              f"NaRC {_fmt(g['narc'])} ({g['skipped']} of {g['layers']} layers skipped)")  # fmt: skip
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ramanujan-pai-eval",
        description="Evaluate a -train run: test accuracy of its newest checkpoint on its data (or --data, a .npz "
        "with the same input shape and classes) and the masks' graph metrics.",
    )
    parser.add_argument("run", type=Path, help="a -train run folder")
    parser.add_argument("--data", default=None, help="evaluate on this .npz instead (its test split)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: 0 = all usable)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from orals23_shared.checkpoint import latest
    from ramanujan_pai.graph import model_metrics
    from ramanujan_pai.prune import apply_masks, check_masks
    from ramanujan_pai.train import _load_ckpt, build, evaluate

    check((args.run / "config.json").is_file(), f"{args.run}: not a ramanujan-pai-train run folder (no config.json)")
    saved = json.loads((args.run / "config.json").read_text())
    known = {f.name for f in fields(TrainConfig)}
    try:
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    except TypeError as e:
        raise UsageError(f"{args.run}/config.json: {e}") from e
    cfg.hidden = tuple(cfg.hidden)
    cfg.masks = None
    if args.data is not None:
        cfg.data = args.data
    ckpt = latest(args.run / "checkpoints")
    check(ckpt is not None, f"{args.run}: no checkpoint to evaluate")
    state = _load_ckpt(ckpt)
    model, data = build(cfg)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise UsageError(
            f"--data {cfg.data}: its shape does not fit the trained model ({str(e).splitlines()[0]})"
        ) from e
    check_masks(model, state["masks"])
    apply_masks(model, state["masks"])
    loss, acc = evaluate(model, data.x_test, data.y_test)
    g = model_metrics(state["masks"], cfg.narc)["model"]
    out = {"run": str(args.run), "epoch": state["epoch"], "data": data.name, "test_loss": loss, "test_acc": acc,
           **{k: g[k] for k in METRIC_KEYS}}  # fmt: skip
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}))
    else:
        print(f"{args.run} (epoch {state['epoch']}) on {data.name}: test acc {acc:.4f}, loss {loss:.4f}; "
              f"IMDB_norm {_fmt(g['imdb_norm'])}, Delta_r_norm {_fmt(g['delta_r_norm'])}")  # fmt: skip
    return 0


def prune_entry() -> None:
    run_cli(prune_main)


def metrics_entry() -> None:
    run_cli(metrics_main)


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)
