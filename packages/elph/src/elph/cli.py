"""Command-line entry points: ``elph-train``, ``elph-eval``, ``elph-reproduce``, ``elph-bench``.

Link prediction with subgraph sketches (ELPH / BUDDY, Chamberlain et al., ICLR 2023). Options come from
the config dataclass (``TrainConfig``) and the shared bench and reproduce flags; bad input prints one line and
exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from orals23_shared.cli import UsageError, add_dataclass_args, check, config_from_args, run_cli
from orals23_shared.threads import add_threads_arg, set_threads

__all__ = [
    "train_main",
    "eval_main",
    "reproduce_main",
    "bench_main",
    "train_entry",
    "eval_entry",
    "reproduce_entry",
    "bench_entry",
]


def train_main(argv: Sequence[str] | None = None) -> int:
    """Train a link predictor (buddy | elph | gcn | sage | seal | heuristic) and write a run folder."""
    from elph.config import TrainConfig
    from elph.train import train

    parser = argparse.ArgumentParser(
        prog="elph-train", description=train_main.__doc__ + " Example: elph-train --dataset cora --out runs/cora-buddy"
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    set_threads(cfg.threads)
    summary = train(cfg)
    keys = [k for k in summary if k.startswith("test_")]
    print(json.dumps({k: round(summary[k], 4) for k in keys} | {"run": summary["run"]}))
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Evaluate a finished elph-train run on its test split: Hits@100, MRR, AUC (+ the dataset's K and any --k)."""
    from elph.config import selection_metric
    from elph.train import load_run

    parser = argparse.ArgumentParser(prog="elph-eval", description=eval_main.__doc__)
    parser.add_argument("run", type=Path, help="run folder written by elph-train --out")
    parser.add_argument("--json", action="store_true", help='print {"hits@100": ..., "mrr": ..., "auc": ...} as JSON')
    parser.add_argument("--k", default="", help="extra Hits@K cut-offs, comma separated (e.g. 20,50)")
    parser.add_argument("--split", default="test", choices=["test", "val"], help="split to evaluate (default: test)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    try:
        extra = [int(k) for k in args.k.replace(" ", ",").split(",") if k]
    except ValueError as e:
        raise UsageError(f"--k must be comma-separated integers, got {args.k!r}") from e
    check(all(k >= 1 for k in extra), "--k values must be >= 1")
    if not args.run.is_dir():
        raise UsageError(f"run folder not found: {args.run}")
    set_threads(args.threads)
    cfg, runner = load_run(args.run)
    metrics = runner.evaluate(args.split, tuple(sorted({100, selection_metric(cfg)[1], *extra})))
    if args.json:
        print(json.dumps(metrics))
    else:
        for k, v in metrics.items():
            print(f"{k:>10s}  {v:.4f}")
    return 0


def reproduce_main(argv: Sequence[str] | None = None) -> int:
    """Reproduce the paper's Planetoid claims: every model on Cora and CiteSeer (3 seeds), structure only,
    sketch accuracy, BUDDY vs SEAL speed (see elph.reproduce). --quick: what about 3 minutes of one thread
    affords; the rest is reported as not run."""
    from elph.reproduce import PARTS, reproduce
    from orals23_shared.reproduce import add_reproduce_args

    parser = argparse.ArgumentParser(prog="elph-reproduce", description=reproduce_main.__doc__)
    add_reproduce_args(parser, default_out="reproduce-elph")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per model, reported as mean ± std (default: 3)")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"parts to run, comma separated (default: all: {','.join(PARTS)})"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    only = tuple(p.strip() for p in args.only.split(",") if p.strip())
    path = reproduce(
        args.out, quick=args.quick, seed=args.seed, seeds=args.seeds, device=args.device, only=only, quiet=args.quiet
    )
    print(path)
    return 0


def bench_main(argv: Sequence[str] | None = None) -> int:
    """``elph-bench`` (see :mod:`elph.bench`)."""
    from elph.bench import bench_main as main

    return main(argv)


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)


def reproduce_entry() -> None:
    run_cli(reproduce_main)


def bench_entry() -> None:
    run_cli(bench_main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
