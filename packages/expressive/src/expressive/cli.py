"""Command-line entry points: ``expressive-train``, ``-eval``, ``-patterns``, ``-synth``, ``-reproduce``, ``-bench``.

ExpressivE knowledge-graph embeddings (Pavlovic & Sallinger, ICLR 2023). Options come from config dataclasses or
argparse; bad input prints one line and exits with code 2 (``orals23_shared.cli.run_cli``).
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
    "bench_entry",
    "eval_entry",
    "eval_main",
    "patterns_entry",
    "patterns_main",
    "reproduce_entry",
    "reproduce_main",
    "synth_entry",
    "synth_main",
    "train_entry",
    "train_main",
]


def train_main(argv: Sequence[str] | None = None) -> int:
    """Train a KGE model (expressive | transe | distmult | rotate | boxe) on a triple folder; write a run folder."""
    from expressive.train import TrainConfig, train

    parser = argparse.ArgumentParser(
        prog="expressive-train",
        description=train_main.__doc__ + " Example: expressive-train --data kg/ --model expressive --out runs/kg",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    summary = train(cfg)
    keys = ("model", "epochs_trained", "best_epoch", f"valid_{cfg.select_metric}", "run")
    print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Filtered link-prediction metrics of a trained run on a split (both directions, realistic ranks)."""
    from expressive.train import evaluate_run

    parser = argparse.ArgumentParser(prog="expressive-eval", description=eval_main.__doc__)
    parser.add_argument("run", type=Path, help="run folder written by expressive-train --out")
    parser.add_argument("--data", type=Path, default=None, help="triple folder (default: the run's --data)")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"], help="split (default: test)")
    parser.add_argument("--json", action="store_true", help='print {"mrr", "hits@1", "hits@3", "hits@10"} as JSON')
    parser.add_argument(
        "--unseen",
        choices=["drop", "error"],
        default=None,
        help="triples naming an entity/relation the run never saw: drop them (PyKEEN) or refuse "
        "(default: drop when the run was trained with --unseen drop, else error)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="queries scored at once (default: 64)")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="torch.compile the scoring")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    check(args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}")
    set_threads(args.threads)
    if not args.run.is_dir():
        raise UsageError(f"run folder not found: {args.run}")
    data = args.data
    if data is None:
        cfg_path = args.run / "config.json"
        if not cfg_path.is_file():
            raise UsageError(f"{args.run} is not an expressive-train run folder (no config.json)")
        data = Path(json.loads(cfg_path.read_text())["data"])
    metrics = evaluate_run(
        args.run, data, args.split, args.unseen, batch_size=args.batch_size, compile=args.compile, device=args.device
    )
    if metrics["dropped_unseen"]:
        print(f"expressive-eval: dropped {metrics['dropped_unseen']} triple(s) with unseen entities", file=sys.stderr)
    if args.json:
        print(json.dumps({k: metrics[k] for k in ("mrr", "hits@1", "hits@3", "hits@10")}))
    else:
        for k, v in metrics.items():
            print(f"{k:>14s}  {v:.4f}" if isinstance(v, float) else f"{k:>14s}  {v}")
    return 0


def patterns_main(argv: Sequence[str] | None = None) -> int:
    """Which inference patterns the trained parallelograms capture (symmetry, inversion, hierarchy, intersection,
    composition), for the rules the training triples support."""
    from expressive.data import load_kg
    from expressive.patterns import analyse_patterns, format_report
    from expressive.train import load_run

    parser = argparse.ArgumentParser(prog="expressive-patterns", description=patterns_main.__doc__)
    parser.add_argument("run", type=Path, help="run folder of a Base ExpressivE model")
    parser.add_argument("--data", type=Path, default=None, help="triple folder (default: the run's --data)")
    parser.add_argument("--min-support", type=int, default=10, help="rule body count in train (default: 10)")
    parser.add_argument("--min-confidence", type=float, default=0.5, help="rule confidence in train (default: 0.5)")
    parser.add_argument("--samples", type=int, default=4096, help="Monte Carlo points per dimension (default: 4096)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    check(args.samples >= 16, f"--samples must be >= 16, got {args.samples}")
    check(0 <= args.min_confidence <= 1, f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    set_threads(args.threads)
    cfg, model, entities, relations = load_run(args.run)
    kg = load_kg(args.data or Path(cfg["data"]), cfg.get("unseen", "keep"))
    if kg.entities != entities or kg.relations != relations:
        raise UsageError(f"{args.data or cfg['data']} is not the data {args.run} was trained on (vocabularies differ)")
    try:
        report = analyse_patterns(model, kg.train, relations, args.min_support, args.min_confidence, args.samples)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def synth_main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic KG with planted composition (r3 = r1 o r2) and hierarchy (r4 => r5) as a triple folder."""
    from expressive.data import synthetic_kg, write_kg

    parser = argparse.ArgumentParser(prog="expressive-synth", description=synth_main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for train.txt, valid.txt, test.txt")
    parser.add_argument("--entities", type=int, default=300, help="number of entities (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        raise UsageError(f"--out {args.out} is not empty")
    syn = synthetic_kg(args.entities, seed=args.seed)
    write_kg(syn.kg, args.out)
    print(json.dumps({"out": str(args.out), **syn.kg.stats["counts"], "rules": syn.rules}))
    return 0


def reproduce_main(argv: Sequence[str] | None = None) -> int:
    """Reproduce the paper's claims at CPU scale: planted hierarchy/composition on a synthetic KG, WN18RR."""
    from expressive.reproduce import reproduce
    from orals23_shared.reproduce import add_reproduce_args

    parser = argparse.ArgumentParser(prog="expressive-reproduce", description=reproduce_main.__doc__)
    add_reproduce_args(parser, default_out="reproduce-expressive")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(reproduce(args.out, quick=args.quick, seed=args.seed, device=args.device, quiet=args.quiet))
    return 0


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Side by side with PyKEEN on WN18RR: TransE training (metrics, epoch time) and the filtered evaluation."""
    from expressive.bench import bench_main as run

    return run(argv)


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)


def patterns_entry() -> None:
    run_cli(patterns_main)


def synth_entry() -> None:
    run_cli(synth_main)


def reproduce_entry() -> None:
    run_cli(reproduce_main)


def bench_entry() -> None:
    run_cli(bench_main)
