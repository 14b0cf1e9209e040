"""``ramanujan-pai-bench``: per-layer metric time, ours (sparse biadjacency) vs the official networkx path.

Hoang et al., ICLR 2023 compute the metrics with a networkx graph built by a Python loop over every
(input unit, output unit) pair and ARPACK ``eigsh`` (k=3) on the ``2n x 2n`` adjacency, per layer and
per IMDB degree group (``ramanujan_pai.official``). Ours builds the sparse biadjacency directly and takes
the top two singular values from its Gram matrix. Both compute mu_hat, Delta_r, IMDB and NaRC on the
same random masks of every distinct layer shape of a CIFAR ResNet-34, at densities 0.01 and 0.1; the
values are checked equal and the whole-model time is the sum over layers (a shape's time times its
count). Median of ``--repeats`` (>= 5) runs each, side by side in one process.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

import numpy as np

from orals23_shared.bench import add_bench_args, load_snapshot, time_call, write_bench
from orals23_shared.cli import check, run_cli
from orals23_shared.threads import set_threads

__all__ = ["main", "entry", "resnet34_shapes"]

KEYS = ("mu_hat", "delta_r", "imdb", "imdb_norm", "narc_official")


def resnet34_shapes() -> Counter:
    """Distinct weight shapes of the CIFAR ResNet-34 (every Conv2d and the fc) and how often each occurs."""
    from ramanujan_pai.model import prunable_layers, resnet34

    return Counter(tuple(m.weight.shape) for m in prunable_layers(resnet34(10)).values())


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ramanujan-pai-bench", description=__doc__.splitlines()[0])
    add_bench_args(parser, "ramanujan-pai")
    parser.add_argument("--densities", default="0.01,0.1", help="comma-separated mask densities (default: %(default)s)")
    parser.add_argument("--max-shapes", type=int, default=0, help="only the first N distinct shapes (0 = all)")
    args = parser.parse_args(argv)
    try:
        densities = [float(d) for d in args.densities.split(",") if d]
    except ValueError:
        check(False, f"--densities must be comma-separated numbers, got {args.densities!r}")
    check(densities and all(0 < d <= 1 for d in densities), f"--densities must lie in (0, 1], got {args.densities}")
    check(args.max_shapes >= 0, f"--max-shapes must be >= 0, got {args.max_shapes}")
    set_threads(args.threads)
    from ramanujan_pai.graph import layer_metrics
    from ramanujan_pai.official import official_layer_metrics

    before = load_snapshot()
    shapes = resnet34_shapes()
    items = list(shapes.items())[: args.max_shapes or None]
    rows, totals = [], {}
    for d in densities:
        tot_ours = tot_off = 0.0
        for shape, count in items:
            mask = np.random.default_rng(args.seed).random(shape) < d
            ours, ref = layer_metrics(mask), official_layer_metrics(mask)
            equal = ours["skipped"] == ref["skipped"] and (
                ours["skipped"] or all(_close(ours[k], ref[k]) for k in KEYS)
            )
            t_ours = time_call(lambda m=mask: layer_metrics(m), repeats=args.repeats, warmup=args.warmup)
            t_off = time_call(lambda m=mask: official_layer_metrics(m), repeats=args.repeats, warmup=args.warmup)
            tot_ours += t_ours.median * count
            tot_off += t_off.median * count
            rows.append({"density": d, "shape": list(shape), "count": count, "skipped": ours["skipped"],
                         "equal_values": bool(equal), "ours_ms": round(t_ours.median * 1e3, 3),
                         "official_ms": round(t_off.median * 1e3, 1), "speedup": round(t_off.ratio(t_ours), 1),
                         **t_ours.as_dict("ours_"), **t_off.as_dict("official_")})  # fmt: skip
            print(f"d={d} {str(shape):<18} x{count:<2} ours {rows[-1]['ours_ms']:9.3f} ms  official "
                  f"{rows[-1]['official_ms']:10.1f} ms  {rows[-1]['speedup']:8.1f}x  equal {equal}"
                  f"{'  (skipped: d < 3)' if ours['skipped'] else ''}")  # fmt: skip
        totals[str(d)] = {"ours_s": round(tot_ours, 3), "official_s": round(tot_off, 2),
                          "speedup": round(tot_off / tot_ours, 1)}  # fmt: skip
        print(f"d={d} whole ResNet-34: ours {tot_ours:.3f} s, official {tot_off:.1f} s, {tot_off / tot_ours:.0f}x")
    path = write_bench(args.out, "ramanujan-pai", rows, config=vars(args), load_before=before, totals=totals,
                       all_equal=all(r["equal_values"] for r in rows))  # fmt: skip
    print(path)
    return 0


def entry() -> None:
    run_cli(main)
