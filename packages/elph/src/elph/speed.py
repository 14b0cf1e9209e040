"""The one speed protocol of the package: BUDDY vs SEAL cost per link, side by side, used by ``elph-bench``
and ``elph-reproduce`` alike (Chamberlain et al., ICLR 2023, Sec. 6 "Runtime" and Table 3: sketch models
are much faster than subgraph GNNs, whose cost is the per-link subgraph extraction and labelling).

Per link, each phase timed with ``orals23_shared.bench.time_call`` (warm-up, median of >= 5 with min/max):

* **preprocessing**, over every train + validation + test link: BUDDY = what ``elph-train`` runs before
  training (building :class:`~elph.runners.BuddyRunner`: hashes, sketch propagation on each split's graph,
  subgraph features of every link, ``ÂX``); SEAL = one adjacency per split graph plus, per link, the
  enclosing subgraph with the target edge removed and its DRNL labels. SEAL's per-link part is timed on a
  uniform sample of links and extrapolated (it is a loop of independent links); with ``seal_links=0`` every
  link is extracted and nothing is extrapolated.
* **inference**, on precomputed inputs: BUDDY's link MLP over every test link; DGCNN over the sampled test
  links' subgraphs. Untrained weights of the trained architectures (timing only).
* **end to end**, from the test graph to the scores of its links: BUDDY = sketches, features and ``ÂX`` of
  the test graph and the MLP for every test link; SEAL = the test graph's adjacency plus extraction, DRNL
  and DGCNN for the sampled test links.

Memory is the peak RSS of a fresh process running the preprocessing (``orals23_shared.bench.peak_rss``;
``tracemalloc`` does not see tensors), less the process's RSS just before it. Ratios are SEAL / BUDDY.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from elph.config import TrainConfig
from elph.data import Graph, LinkSplit, split_links, synthetic_graph
from elph.runners import BuddyRunner
from elph.runners.seal import make_dgcnn, seal_scores
from elph.seal import SealData, adjacency, seal_data_from_adjacency
from orals23_shared.bench import peak_rss, time_call
from orals23_shared.cli import UsageError

__all__ = ["load_source", "measure_speed", "preprocess_memory"]


def load_source(source: dict[str, Any]) -> tuple[Graph, dict[str, LinkSplit]]:
    """Graph (with node features) and 70/10/20 split of a source: ``{"kind": "planetoid", "name": "cora",
    "root": None, "seed": 0}`` or ``{"kind": "synthetic", "nodes": 100000, "edges": 1000000, "seed": 0}``."""
    from elph.train import load_data, with_training_features

    kind, seed = source.get("kind"), int(source.get("seed", 0))
    if kind == "planetoid":
        return load_data(TrainConfig(dataset=source["name"], root=source.get("root"), seed=seed))
    if kind == "synthetic":
        g = synthetic_graph(int(source["nodes"]), int(source["edges"]), seed=seed)
        splits = split_links(g, seed=seed)
        return with_training_features(g, splits), splits
    raise UsageError(f"unknown speed source {source!r}")


def _buddy_config(source: dict[str, Any]) -> TrainConfig:
    return TrainConfig(model="buddy", hidden=int(source.get("hidden", 256)))


def _sample(splits: dict[str, LinkSplit], m: int, rng: np.random.Generator, only: str | None = None) -> dict:
    """A uniform sample of m links over the splits (``only``: one split), as {split: (links, labels)}."""
    parts = {k: sp.links() for k, sp in splits.items() if only is None or k == only}
    sizes = np.array([len(p[1]) for p in parts.values()])
    n = int(sizes.sum())
    pick = np.sort(rng.choice(n, size=min(m, n), replace=False)) if m and m < n else np.arange(n)
    out, start = {}, 0
    for (k, (links, labels)), size in zip(parts.items(), sizes):
        idx = torch.from_numpy(pick[(pick >= start) & (pick < start + size)] - start)
        out[k] = (links[idx], labels[idx])
        start += size
    return out


def _per_link(t: Any, n: int) -> float:
    return 1e6 * t.median / max(n, 1)


def measure_speed(
    source: dict[str, Any],
    seal_links: int = 500,
    repeats: int = 5,
    warmup: int = 1,
    memory: bool = True,
    quiet: bool = True,
) -> dict[str, Any]:
    """Run the protocol on one source; returns one row (µs per link, ratios, memory, the raw timings)."""
    graph, splits = load_source(source)
    cfg = _buddy_config(source)
    rng = np.random.default_rng(int(source.get("seed", 0)))
    n_links = sum(len(sp.pos) + len(sp.neg) for sp in splits.values())
    test = splits["test"]
    n_test = len(test.pos) + len(test.neg)

    def log(msg: str) -> None:
        if not quiet:
            print(f"[speed {graph.name}] {msg}", flush=True)

    # preprocessing
    log(f"{graph.num_nodes} nodes, {graph.num_edges} edges, {n_links} links: BUDDY preprocessing")
    buddy_pre = time_call(lambda: BuddyRunner(cfg, graph, splits), repeats=repeats, warmup=warmup)
    sample = _sample(splits, seal_links, rng)
    m = sum(len(v[1]) for v in sample.values())
    log(f"SEAL preprocessing of {m} sampled links")
    seal_adj = time_call(lambda: [adjacency(sp.edge_index, graph.num_nodes) for sp in splits.values()], repeats, warmup)
    adjs = {k: adjacency(sp.edge_index, graph.num_nodes) for k, sp in splits.items()}
    seal_links_t = time_call(
        lambda: [seal_data_from_adjacency(adjs[k], lk, lb) for k, (lk, lb) in sample.items()], repeats, warmup
    )
    seal_pre_s = seal_adj.median + n_links * seal_links_t.median / max(m, 1)
    data = {k: seal_data_from_adjacency(adjs[k], lk, lb) for k, (lk, lb) in sample.items()}
    # inference
    log("inference")
    torch.manual_seed(0)
    runner = BuddyRunner(cfg, graph, splits)
    buddy_inf = time_call(lambda: runner.score("test"), repeats, warmup)
    test_sample = _sample(splits, seal_links, rng, only="test")["test"]
    test_data = seal_data_from_adjacency(adjs["test"], *test_sample)
    train_like = data.get("train") if data.get("train") is not None and len(data["train"]) else test_data
    dgcnn = make_dgcnn(train_like, graph.x.size(1))
    m_test = len(test_data)
    seal_inf = time_call(lambda: seal_scores(dgcnn, test_data, graph.x, torch.device("cpu")), repeats, warmup)
    # end to end on the test graph
    log("end to end")
    buddy_e2e = time_call(lambda: BuddyRunner(cfg, graph, {"test": test}).score("test"), repeats, warmup)
    seal_adj_test = time_call(lambda: adjacency(test.edge_index, graph.num_nodes), repeats, warmup)

    def seal_e2e() -> torch.Tensor:
        d: SealData = seal_data_from_adjacency(adjs["test"], *test_sample)
        return seal_scores(dgcnn, d, graph.x, torch.device("cpu"))

    seal_e2e_t = time_call(seal_e2e, repeats, warmup)
    row: dict[str, Any] = {
        "dataset": graph.name,
        "nodes": graph.num_nodes,
        "edges": graph.num_edges,
        "links": n_links,
        "test_links": n_test,
        "seal_sample_links": m,
        "seal_sample_test_links": m_test,
        "seal_extrapolated": m < n_links,
        "mean_subgraph_nodes": float(np.mean([len(s[2]) for d in data.values() for s in d.subgraphs])),
        "preprocess_us_per_link": {
            "buddy": _per_link(buddy_pre, n_links),
            "seal": 1e6 * seal_pre_s / n_links,
            "ratio": seal_pre_s / buddy_pre.median,
        },
        "inference_us_per_link": {
            "buddy": _per_link(buddy_inf, n_test),
            "seal": _per_link(seal_inf, m_test),
            "ratio": _per_link(seal_inf, m_test) / _per_link(buddy_inf, n_test),
        },
        "end_to_end_us_per_link": {
            "buddy": _per_link(buddy_e2e, n_test),
            "seal": 1e6 * (seal_adj_test.median / n_test + seal_e2e_t.median / max(m_test, 1)),
        },
        "seconds": {
            "buddy_preprocess": buddy_pre.as_dict(),
            "seal_adjacency": seal_adj.as_dict(),
            "seal_sample_extraction": seal_links_t.as_dict(),
            "seal_preprocess_extrapolated": seal_pre_s,
            "buddy_inference": buddy_inf.as_dict(),
            "seal_inference_sample": seal_inf.as_dict(),
            "buddy_end_to_end": buddy_e2e.as_dict(),
            "seal_end_to_end_sample": seal_e2e_t.as_dict(),
        },
    }
    e2e = row["end_to_end_us_per_link"]
    e2e["ratio"] = e2e["seal"] / e2e["buddy"]
    if memory:
        log("memory (fresh processes)")
        row["memory_mib"] = {
            "buddy": preprocess_memory(source, "buddy"),
            "seal": preprocess_memory(source, "seal", seal_links),
        }
        seal_mem = row["memory_mib"]["seal"]
        seal_mem["extrapolated_mib"] = round(seal_mem["preprocess_mib"] * n_links / max(m, 1), 1)
    return row


def preprocess_memory(source: dict[str, Any], model: str, seal_links: int = 0) -> dict[str, Any]:
    """Peak RSS (MiB) of a fresh process that loads ``source`` and runs one model's preprocessing;
    ``preprocess_mib`` is that peak less the process's RSS just before the preprocessing."""
    res = peak_rss(
        "elph.speed:_preprocess_in_fresh_process", {"source": source, "model": model, "seal_links": seal_links}
    )
    before = res["result"]["rss_before_mib"]
    return {
        "peak_mib": res["peak_mib"],
        "rss_before_mib": before,
        "preprocess_mib": round(max(res["peak_mib"] - before, 0.0), 1),
        "links": res["result"]["links"],
    }


def _rss_mib(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def _preprocess_in_fresh_process(source: dict[str, Any], model: str, seal_links: int = 0) -> dict[str, Any]:
    """Target of :func:`preprocess_memory` (runs in the child process)."""
    from orals23_shared.threads import set_threads

    set_threads(0)
    graph, splits = load_source(source)
    before = _rss_mib()
    t0 = time.perf_counter()
    if model == "buddy":
        BuddyRunner(_buddy_config(source), graph, splits)
        links = sum(len(sp.pos) + len(sp.neg) for sp in splits.values())
    else:
        sample = _sample(splits, seal_links, np.random.default_rng(int(source.get("seed", 0))))
        adjs = {k: adjacency(sp.edge_index, graph.num_nodes) for k, sp in splits.items()}
        kept = [seal_data_from_adjacency(adjs[k], lk, lb) for k, (lk, lb) in sample.items()]
        links = sum(len(d) for d in kept)
    return {"rss_before_mib": round(before, 1), "links": links, "seconds": round(time.perf_counter() - t0, 2)}
