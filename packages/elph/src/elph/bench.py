"""``elph-bench``: BUDDY vs SEAL cost per link, side by side in one run (Chamberlain et al., ICLR 2023,
Sec. 6 "Runtime": sketch-based models are much faster than subgraph GNNs, whose cost is the per-link
subgraph extraction and labelling).

Phases, each the median of ``repeats`` runs after one warm-up, wall clock, ``torch.set_num_threads(2)``:

1. preprocessing of every link of the split (train + val + test): SEAL = k-hop enclosing subgraph with the
   target edge removed + DRNL labels; BUDDY = sketch propagation + subgraph features + ``ÂX``;
2. inference over the test links: SEAL = DGCNN on the test subgraphs (batches of 256); BUDDY = the link
   MLP on precomputed features (batches of 8192), both with untrained weights (timing only);

and the peak traced Python memory (``tracemalloc``) of each preprocessing. Ratios are SEAL / BUDDY.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import torch

from orals23_shared.cli import UsageError

__all__ = ["BenchConfig", "bench"]


@dataclass
class BenchConfig:
    datasets: list[str] = field(default_factory=lambda: ["cora", "citeseer"], metadata={"help": "Planetoid datasets"})
    root: Path | None = field(
        default=None, metadata={"help": "folder holding <dataset>/ind.<dataset>.* (default: shared data)"}
    )
    repeats: int = field(default=3, metadata={"help": "timed repeats per phase (median reported)"})
    max_links: int = field(default=0, metadata={"help": "limit the number of links per split (0: all)"})
    seed: int = field(default=0, metadata={"help": "split seed"})
    device: str = field(default="cpu", metadata={"help": "torch device (CPU timings)"})
    out: Path | None = field(default=None, metadata={"help": "write bench.json into this folder"})
    quiet: bool = field(default=False, metadata={"help": "unused (no progress bar)"})


def _median_time(fn, repeats: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_mb(fn) -> float:  # noqa: ANN001
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench_dataset(name: str, cfg: BenchConfig) -> dict:
    from elph.data import largest_connected_component, load_planetoid, split_links
    from elph.model import BUDDY, DGCNN, gcn_propagate
    from elph.seal import build_seal_data
    from elph.sketch import Sketcher, feature_labels
    from orals23_shared.paths import shared_data_dir

    root = cfg.root / name if cfg.root is not None else shared_data_dir(name)
    if root is None:
        raise UsageError(f"no data folder for {name}; pass --root")
    g = largest_connected_component(load_planetoid(root, name))
    splits = split_links(g, seed=cfg.seed)
    jobs = []
    for sp in splits.values():
        links, labels = sp.links()
        if cfg.max_links:
            links, labels = links[: cfg.max_links], labels[: cfg.max_links]
        jobs.append((sp.edge_index, links, labels))
    n_links = sum(len(j[1]) for j in jobs)

    def seal_pre():  # noqa: ANN202
        return [build_seal_data(ei, g.num_nodes, lk, lb, 2) for ei, lk, lb in jobs]

    def buddy_pre():  # noqa: ANN202
        sk = Sketcher(g.num_nodes)
        out = []
        for ei, lk, _ in jobs:
            out.append((sk.propagate(ei).subgraph_features(lk), gcn_propagate(g.x, ei, g.num_nodes)))
        return out

    seal_s = _median_time(seal_pre, cfg.repeats)
    buddy_s = _median_time(buddy_pre, cfg.repeats)
    seal_mb, buddy_mb = _peak_mb(seal_pre), _peak_mb(buddy_pre)
    seal_data, buddy_data = seal_pre(), buddy_pre()

    test_seal = seal_data[-1]
    sizes = sorted(len(s[2]) for s in seal_data[0].subgraphs)
    dgcnn = DGCNN(test_seal.max_z + 1, 32, 3, sizes[int(0.6 * (len(sizes) - 1))]).eval()
    sf, xt = buddy_data[-1]
    test_links = jobs[-1][1]
    buddy = BUDDY(g.x.size(1), len(feature_labels(2)), 256).eval()
    import numpy as np

    @torch.no_grad()
    def seal_inf():  # noqa: ANN202
        for s in range(0, len(test_seal), 256):
            x, ei, batch, center, _ = test_seal.batch(np.arange(s, min(s + 256, len(test_seal))))
            dgcnn(x, ei, batch, center)

    @torch.no_grad()
    def buddy_inf():  # noqa: ANN202
        for s in range(0, len(test_links), 8192):
            lk = test_links[s : s + 8192]
            buddy(sf[s : s + 8192], xt[lk[:, 0]], xt[lk[:, 1]])

    seal_inf_s = _median_time(seal_inf, cfg.repeats)
    buddy_inf_s = _median_time(buddy_inf, cfg.repeats)
    n_test = len(test_links)
    return {
        "dataset": name,
        "nodes": g.num_nodes,
        "links_preprocessed": n_links,
        "test_links": n_test,
        "mean_subgraph_nodes": float(np.mean(sizes)),
        "preprocess_us_per_link": {
            "seal": 1e6 * seal_s / n_links,
            "buddy": 1e6 * buddy_s / n_links,
            "ratio": seal_s / buddy_s,
        },
        "inference_us_per_link": {
            "seal": 1e6 * seal_inf_s / n_test,
            "buddy": 1e6 * buddy_inf_s / n_test,
            "ratio": seal_inf_s / buddy_inf_s,
        },
        "preprocess_peak_mb": {"seal": seal_mb, "buddy": buddy_mb, "ratio": seal_mb / max(buddy_mb, 1e-9)},
    }


def bench(cfg: BenchConfig) -> dict:
    """Run every dataset; write ``out/bench.json`` when ``cfg.out`` is set."""
    import json
    import platform

    from elph.data import PLANETOID

    for d in cfg.datasets:
        if d not in PLANETOID:
            raise UsageError(f"unknown dataset {d!r}; expected some of {', '.join(PLANETOID)}")
    if cfg.repeats < 1:
        raise UsageError("repeats must be >= 1")
    torch.set_num_threads(2)
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "repeats": cfg.repeats,
        "results": [bench_dataset(d, cfg) for d in cfg.datasets],
    }
    if cfg.out is not None:
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
