"""``gd-wl-bench``: resistance distances vs networkx, GD-WL on a large graph, Graphormer-GD cost vs size.

1. Resistance distances of 1,000 random connected graphs of 20-60 nodes: ours (components of equal
   size inverted in one stacked call) vs networkx's ``resistance_distance`` pair by pair (timed on a
   sample of pairs, scaled to all pairs of every graph: a per-pair call costs the same on any pair of a
   graph) and vs networkx's all-pairs mode (``nodeA=None``); values compared on every timed pair/graph.
2. GD-WL refinement (1-WL, SPD-WL with its distances, RD-WL) on a 10,000-node sparse random graph.
3. Graphormer-GD forward and forward+backward time and peak memory (fresh process) against graph size,
   and per batch of 64 ZINC-sized graphs against GIN at equal width (the brief's anchor).

Ratios are measured side by side in one run; ``bench.json`` records the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import networkx as nx
import numpy as np

from gd_wl.distances import resistance_distances
from gd_wl.graph import Graph
from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import run_cli
from orals23_shared.threads import set_threads

__all__ = ["random_graphs", "bench_rd", "bench_wl", "bench_model", "forward_peak", "main", "entry"]


def random_graphs(count: int, lo: int, hi: int, seed: int) -> list[Graph]:
    """Connected Watts-Strogatz-like graphs (ring of degree 4, 30% rewired), sizes uniform in [lo, hi]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(lo, hi + 1))
        g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=int(rng.integers(2**31)))
        out.append(Graph.from_networkx(g))
    return out


def bench_rd(args: argparse.Namespace) -> list[dict]:
    graphs = random_graphs(args.rd_graphs, 20, 60, args.seed)
    ours = time_call(lambda: resistance_distances(graphs), repeats=args.repeats, warmup=args.warmup)
    values = resistance_distances(graphs)
    rng = np.random.default_rng(args.seed + 1)
    # networkx, pair by pair: a sample of pairs from the first graphs, timed, scaled to all pairs
    sample = []
    for gi in range(min(len(graphs), 5)):
        n = graphs[gi].n
        for _ in range(max(1, args.nx_pairs // 5)):
            u, v = rng.choice(n, 2, replace=False)
            sample.append((gi, int(u), int(v)))
    nxg = [g.to_networkx() for g in graphs]
    got: list[float] = []

    def nx_pairs() -> None:
        got.clear()
        for gi, u, v in sample:
            got.append(nx.resistance_distance(nxg[gi], u, v))

    pair_t = time_call(nx_pairs, repeats=args.repeats, warmup=0)
    pair_err = max(abs(a - values[gi][u, v]) for a, (gi, u, v) in zip(got, sample))
    per_pair = pair_t.median / len(sample)
    all_pairs = sum(g.n * (g.n - 1) // 2 for g in graphs)
    nx_pairwise_total = per_pair * all_pairs
    # networkx, all pairs of a graph at once (nodeA=None), on a subset of graphs
    subset = nxg[: args.nx_graphs]
    nx_all = time_call(lambda: [nx.resistance_distance(g) for g in subset], repeats=args.repeats, warmup=0)
    all_err = 0.0
    for gi, g in enumerate(subset):
        d = nx.resistance_distance(g)
        for u in range(g.number_of_nodes()):
            for v, r in d[u].items():
                all_err = max(all_err, abs(r - values[gi][u, v]))
    nx_all_total = nx_all.median / len(subset) * len(graphs)
    return [
        {"bench": "rd", "impl": "ours (batched per component size)", "graphs": len(graphs), **ours.as_dict()},
        {"bench": "rd", "impl": "networkx resistance_distance pair by pair", "timed_pairs": len(sample),
         "all_pairs": all_pairs, "seconds_per_pair": per_pair, "estimated_total": nx_pairwise_total,
         "speedup": nx_pairwise_total / ours.median, "max_abs_diff": pair_err},
        {"bench": "rd", "impl": "networkx resistance_distance all pairs (nodeA=None)", "timed_graphs": len(subset),
         "estimated_total": nx_all_total, "speedup": nx_all_total / ours.median, "max_abs_diff": all_err,
         **nx_all.as_dict()},
    ]  # fmt: skip


def refine_large(n: int, kind: str, seed: int) -> dict:
    """GD-WL on one sparse random graph of ``n`` nodes (average degree 6), distances included."""
    from gd_wl.wl import refine

    g = Graph.from_networkx(nx.gnm_random_graph(n, 3 * n, seed=seed))
    t0 = time.perf_counter()
    r = refine([g], kind, method="hash")  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - t0, "iterations": r.iterations, "colours": r.num_colours}


def bench_wl(args: argparse.Namespace) -> list[dict]:
    rows = []
    for kind, n in (("wl", args.wl_nodes), ("spd", args.wl_nodes), ("rd", args.rd_wl_nodes)):
        res = refine_large(n, kind, args.seed)
        t = time_call(lambda k=kind, m=n: refine_large(m, k, args.seed), repeats=args.repeats, warmup=0)
        mem = peak_rss("gd_wl.bench:refine_large", {"n": n, "kind": kind, "seed": args.seed})
        rows.append({"bench": "gd-wl", "kind": kind, "nodes": n, "iterations": res["iterations"],
                     "colours": res["colours"], **t.as_dict(), "peak_mib": mem["peak_mib"]})  # fmt: skip
    return rows


def _batch(n: int, graphs: int, seed: int, kind: str):  # noqa: ANN202
    from torch_geometric.data import Batch

    from gd_wl.data import to_data
    from gd_wl.distances import precompute

    datas = [to_data(g, labels=True) for g in random_graphs(graphs, n, n, seed)]
    return Batch.from_data_list(precompute(datas, rd=kind == "graphormer-gd", spd=kind != "gin"))


def _model(kind: str, hidden: int = 64, layers: int = 4, heads: int = 4, kernels: int = 32):  # noqa: ANN202
    import torch

    from gd_wl.model import GraphModel, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, hidden=hidden, ffn=hidden, layers=layers, heads=heads, kernels=kernels,
                      attn_dropout=0.0, act_dropout=0.0)  # fmt: skip
    return GraphModel(cfg, node_out=2, edge_out=2)


def forward_peak(n: int, graphs: int, kind: str, backward: bool) -> dict:
    """One forward (and backward) pass on ``graphs`` graphs of ``n`` nodes (target of ``peak_rss``)."""
    import torch

    batch = _batch(n, graphs, 0, kind)
    model = _model(kind)
    out = model(batch)
    if backward:
        (out["node"].sum() + out["edge"].sum()).backward()
    else:
        with torch.no_grad():
            model(batch)
    return {"nodes": n}


def bench_model(args: argparse.Namespace) -> list[dict]:
    import torch

    rows = []
    for n in args.sizes:
        batch = _batch(n, args.graphs_per_batch, args.seed, "graphormer-gd")
        model = _model("graphormer-gd")
        with torch.no_grad():
            fwd = time_call(lambda b=batch, m=model: m(b), repeats=args.repeats, warmup=args.warmup)

        def step(b=batch, m=model) -> None:
            out = m(b)
            (out["node"].sum() + out["edge"].sum()).backward()

        both = time_call(step, repeats=args.repeats, warmup=args.warmup)
        mem = peak_rss("gd_wl.bench:forward_peak", {"n": n, "graphs": args.graphs_per_batch,
                                                     "kind": "graphormer-gd", "backward": True})  # fmt: skip
        rows.append({"bench": "graphormer-gd", "nodes": n, "graphs": args.graphs_per_batch,
                     **fwd.as_dict("forward_"), **both.as_dict("fwd_bwd_"), "peak_mib": mem["peak_mib"],
                     "delta_mib": mem["delta_mib"]})  # fmt: skip
    for kind in ("graphormer-gd", "graphormer", "gin"):  # ZINC-sized: 64 graphs of 23 nodes
        batch = _batch(23, 64, args.seed, kind)
        model = _model(kind)

        def step(b=batch, m=model) -> None:
            out = m(b)
            (out["node"].sum() + out["edge"].sum()).backward()

        t = time_call(step, repeats=max(args.repeats, 20), warmup=args.warmup)
        rows.append({"bench": "zinc-sized batch", "model": kind, "graphs": 64, "nodes": 23, **t.as_dict("fwd_bwd_")})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gd-wl-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "gd-wl")
    parser.add_argument("--only", choices=["all", "rd", "wl", "model"], default="all", help="which benchmark")
    parser.add_argument("--rd-graphs", type=int, default=1000, help="graphs for the RD benchmark (default: 1000)")
    parser.add_argument("--nx-pairs", type=int, default=20, help="networkx pair-by-pair calls timed (default: 20)")
    parser.add_argument("--nx-graphs", type=int, default=50, help="graphs for networkx's all-pairs mode (default: 50)")
    parser.add_argument("--wl-nodes", type=int, default=10_000, help="nodes of the 1-WL/SPD-WL graph")
    parser.add_argument("--rd-wl-nodes", type=int, default=2000, help="nodes of the RD-WL graph (dense n x n inverse)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64, 128, 256],
                        help="graph sizes for the model benchmark (default: 16,32,64,128,256)")  # fmt: skip
    parser.add_argument("--graphs-per-batch", type=int, default=8, help="graphs per batch in the size sweep")
    args = parser.parse_args(argv)
    from orals23_shared.cli import UsageError

    if min(args.rd_graphs, args.nx_pairs, args.nx_graphs, args.wl_nodes, args.rd_wl_nodes, min(args.sizes)) < 1:
        raise UsageError("graph counts and sizes must be >= 1")
    threads = set_threads(args.threads)
    load = load_snapshot()
    rows: list[dict] = []
    if args.only in ("all", "rd"):
        rows += bench_rd(args)
    if args.only in ("all", "wl"):
        rows += bench_wl(args)
    if args.only in ("all", "model"):
        rows += bench_model(args)
    path = write_bench(args.out, "gd-wl", rows, config=vars(args), load_before=load, threads_used=threads)
    for r in rows:
        print({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {path}")
    return 0


def entry() -> None:
    run_cli(main)
