"""Command-line entry points: ``gd-wl-train``, ``gd-wl-eval``, ``gd-wl-test-iso``, ``gd-wl-biconnectivity``.

(``gd-wl-reproduce`` and ``gd-wl-bench`` live in ``reproduce.py`` and ``bench.py``.) Bad input prints one
line and exits with code 2. Edge-list files: one ``u v`` per line, nodes 0..n-1, ``#`` comments, a single
id declares an (isolated) node; see ``gd_wl.graph``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.threads import add_threads_arg, set_threads

__all__ = [
    "train_main",
    "eval_main",
    "test_iso_main",
    "biconnectivity_main",
    "train_entry",
    "eval_entry",
    "test_iso_entry",
    "biconnectivity_entry",
]


def train_main(argv: Sequence[str] | None = None) -> int:
    """Train Graphormer-GD (or GIN / Graphormer) on the synthetic biconnectivity families, ZINC or a PyG list."""
    from gd_wl.train import TrainConfig, train

    parser = argparse.ArgumentParser(
        prog="gd-wl-train",
        description=train_main.__doc__ + " Example: gd-wl-train --out runs/gd --epochs 30",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    summary = train(cfg)
    shown = {k: round(v, 4) for k, v in summary.items() if k.startswith("test_") and isinstance(v, float)}
    if shown:
        print(json.dumps(shown | {"run": str(cfg.out)}))
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Evaluate a gd-wl-train run on its validation or test split (accuracies, graph-level accuracies or MAE)."""
    parser = argparse.ArgumentParser(prog="gd-wl-eval", description=eval_main.__doc__)
    parser.add_argument("run", type=Path, help="run folder written by gd-wl-train --out")
    parser.add_argument("--split", choices=["test", "val"], default="test", help="split to evaluate (default: test)")
    parser.add_argument("--data-path", type=Path, default=None, help="evaluate on this ZINC folder / PyG list instead")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    import dataclasses

    from gd_wl.tasks import evaluate
    from gd_wl.train import load_run, prepare_data

    cfg, module = load_run(args.run)
    if args.data_path is not None:
        if cfg.data == "synthetic":
            raise UsageError("--data-path applies to runs trained on --data zinc or pyg")
        cfg = dataclasses.replace(cfg, data_path=args.data_path)
    prepared = prepare_data(cfg)
    try:
        metrics = evaluate(module.model, getattr(prepared, args.split), module.task)
    except ValueError as e:  # e.g. node features outside the trained embedding
        raise UsageError(f"{args.run}: cannot evaluate this data with the trained model: {e}") from None
    if args.json:
        print(json.dumps(metrics))
    else:
        for k, v in metrics.items():
            print(f"{k:>24s}  {v:.4f}")
    return 0


def test_iso_main(argv: Sequence[str] | None = None) -> int:
    """Is a pair of graphs distinguished by 1-WL, SPD-WL and RD-WL? (true = distinguished = not isomorphic)"""
    from gd_wl.graph import read_edge_list
    from gd_wl.wl import test_isomorphism

    parser = argparse.ArgumentParser(prog="gd-wl-test-iso", description=test_iso_main.__doc__)
    parser.add_argument("a", type=Path, help="first graph (edge-list file)")
    parser.add_argument("b", type=Path, help="second graph (edge-list file)")
    parser.add_argument("--json", action="store_true", help='print {"wl": bool, "spd": bool, "rd": bool}')
    parser.add_argument(
        "--method",
        choices=["auto", "exact", "hash"],
        default="auto",
        help="exact multisets or 64-bit hashing (auto: exact up to 400 nodes in total)",
    )
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    result = test_isomorphism(read_edge_list(args.a), read_edge_list(args.b), args.method)
    if args.json:
        print(json.dumps(result))
    else:
        for k, name in (("wl", "1-WL"), ("spd", "SPD-WL"), ("rd", "RD-WL")):
            print(f"{name:>7s}: {'distinguished' if result[k] else 'not distinguished'}")
    return 0


def biconnectivity_main(argv: Sequence[str] | None = None) -> int:
    """Cut vertices, bridges and blocks (biconnected components) of a graph, in linear time (Tarjan)."""
    from gd_wl.biconnectivity import biconnectivity
    from gd_wl.graph import read_edge_list

    parser = argparse.ArgumentParser(prog="gd-wl-biconnectivity", description=biconnectivity_main.__doc__)
    parser.add_argument("graph", type=Path, help="edge-list file")
    parser.add_argument(
        "--json", action="store_true", help='print {"cut_vertices": [...], "bridges": [...], "blocks": [...]}'
    )
    parser.add_argument(
        "--block-cut-tree", action="store_true", help='also give "block_cut_tree": [[block, cut vertex], ...]'
    )
    args = parser.parse_args(argv)
    b = biconnectivity(read_edge_list(args.graph))
    record = b.as_json()
    if args.block_cut_tree:
        record["block_cut_tree"] = [list(e) for e in b.block_cut_tree]
    if args.json:
        print(json.dumps(record))
    else:
        print(f"cut vertices ({len(b.cut_vertices)}): {' '.join(map(str, b.cut_vertices))}")
        print(f"bridges ({len(b.bridges)}): {', '.join(f'{u}-{v}' for u, v in b.bridges)}")
        print(f"blocks ({len(b.blocks)}):")
        for i, block in enumerate(b.blocks):
            print(f"  B{i}: {' '.join(map(str, block))}")
        if args.block_cut_tree:
            print("block-cut tree: " + ", ".join(f"B{i}-{v}" for i, v in b.block_cut_tree))
    return 0


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)


def test_iso_entry() -> None:
    run_cli(test_iso_main)


def biconnectivity_entry() -> None:
    run_cli(biconnectivity_main)
