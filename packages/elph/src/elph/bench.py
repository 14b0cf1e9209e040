"""``elph-bench``: BUDDY vs SEAL cost per link, side by side in one run, through the package's one speed
protocol (:func:`elph.speed.measure_speed`, also used by ``elph-reproduce``), on Cora and CiteSeer and,
with ``--scale``, on a synthetic graph of 100,000 nodes and 1,000,000 edges (Chamberlain et al., ICLR 2023,
Sec. 6 "Runtime"). Writes ``bench.json`` with ``orals23_shared.bench.write_bench``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orals23_shared.bench import add_bench_args, load_snapshot, write_bench
from orals23_shared.cli import UsageError, check
from orals23_shared.threads import set_threads

__all__ = ["bench_main", "bench_sources"]


def bench_sources(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The sources the flags ask for (Planetoid datasets, then the synthetic scale graph)."""
    from elph.data import PLANETOID

    sources: list[dict[str, Any]] = []
    for name in args.datasets:
        check(name in PLANETOID, f"unknown dataset {name!r}; expected some of {', '.join(PLANETOID)}")
        root = str(args.root / name) if args.root is not None else None
        sources.append({"kind": "planetoid", "name": name, "root": root, "seed": args.seed})
    if args.scale:
        sources.append({"kind": "synthetic", "nodes": args.scale_nodes, "edges": args.scale_edges, "seed": args.seed})
    return sources


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Side-by-side cost per link: BUDDY (sketches) vs SEAL (subgraph extraction + DRNL + DGCNN)."""
    from elph.speed import measure_speed

    parser = argparse.ArgumentParser(prog="elph-bench", description=bench_main.__doc__)
    add_bench_args(parser, "elph")
    parser.add_argument(
        "--datasets",
        default="cora,citeseer",
        help="Planetoid datasets, comma separated ('' for none; default: %(default)s)",
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="folder holding <dataset>/ind.<dataset>.* (default: shared data)"
    )
    parser.add_argument(
        "--seal-links",
        type=int,
        default=2000,
        help="links SEAL's per-link cost is sampled on (0: all; default: %(default)s)",
    )
    parser.add_argument("--scale", action="store_true", help="add the synthetic scale row (100k nodes, 1M edges)")
    parser.add_argument("--scale-nodes", type=int, default=100_000, help="scale row: nodes (default: %(default)s)")
    parser.add_argument("--scale-edges", type=int, default=1_000_000, help="scale row: edges (default: %(default)s)")
    parser.add_argument(
        "--scale-seal-links", type=int, default=200, help="scale row: SEAL's sample of links (default: %(default)s)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-RSS measurements")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    args.datasets = [d.strip().lower() for d in args.datasets.split(",") if d.strip()]
    check(args.repeats >= 5, f"--repeats must be >= 5 (a median of fewer is noise), got {args.repeats}")
    check(args.warmup >= 0, "--warmup must be >= 0")
    check(args.seal_links >= 0 and args.scale_seal_links >= 1, "--seal-links must be >= 0, --scale-seal-links >= 1")
    check(
        args.scale_nodes >= 10 and args.scale_edges >= args.scale_nodes, "--scale-edges must be >= --scale-nodes >= 10"
    )
    sources = bench_sources(args)
    if not sources:
        raise UsageError("nothing to measure: give --datasets and/or --scale")
    threads = set_threads(args.threads)
    load_before = load_snapshot()
    rows = []
    for src in sources:
        links = args.scale_seal_links if src["kind"] == "synthetic" else args.seal_links
        row = measure_speed(
            src, seal_links=links, repeats=args.repeats, warmup=args.warmup, memory=not args.no_memory, quiet=args.quiet
        )
        rows.append(row)
        if not args.quiet:
            print(
                json.dumps({k: row[k] for k in row if k.endswith("per_link")} | {"dataset": row["dataset"]}), flush=True
            )
    config = {k: v for k, v in vars(args).items()} | {"threads_used": threads}
    path = write_bench(args.out, "elph", rows, config=config, load_before=load_before)
    print(path)
    return 0
