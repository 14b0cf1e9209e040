"""``elph-reproduce``: check the paper's Planetoid claims (Chamberlain et al., ICLR 2023, Table 2 and Sec. 4).

Claims checked (each verdict is computed from our measurement):

1. Cora HR@100 of BUDDY close to the paper's 88.00 (the maintainers report 3-5 points lower with the
   public code, issue #18): reproduced within 5 points, partly within 10.
2. BUDDY beats GCN by a clear margin on Cora (paper: 88.00 vs 66.79): reproduced when >= 10 points.
3. BUDDY beats the best heuristic (CN / AA / RA) on Cora (paper: RA 41.07).
4. CiteSeer HR@100 of BUDDY close to 92.93 (same rule as 1).
5. Sketch accuracy on Cora: HLL union error below the HLL standard error 1.04/sqrt(2^p), and correlation of
   estimated vs exact intersections >= 0.85 for (1,1) and >= 0.95 for (2,2) (brief: 3%, 0.90, 0.99).
6. Preprocessing cost per link: BUDDY (sketches + features) vs SEAL (subgraph extraction + DRNL), >= 10x.

Accuracies are averaged over 3 seeds (each its own split; mean ± std in the summary). The full run (no
``--quick``) trains longer and adds the GCN with the official ``run_gnn.py`` defaults on Cora
(``gcn-official``), reported beside our default PyG-style GCN; the claim uses the default GCN.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from elph.config import TrainConfig
from elph.train import train
from orals23_shared.reproduce import Claim, write_summary

__all__ = ["reproduce", "sketch_accuracy", "PAPER"]

PAPER = {  # Table 2, HR@100 (%)
    "cora": {"buddy": 88.00, "elph": 87.72, "gcn": 66.79, "sage": 55.02, "seal": 81.71, "cn": 33.92, "ra": 41.07},
    "citeseer": {"buddy": 92.93, "elph": 93.44, "gcn": 67.08, "sage": 57.01, "seal": 83.89, "cn": 29.79, "ra": 33.56},
}


def sketch_accuracy(
    dataset: str = "cora", num_links: int = 2000, seed: int = 0, num_perm: int = 128, hll_p: int = 8
) -> dict:
    """Estimated vs exact |N<=i(u) n N<=j(v)| and |N<=i(u) u N<=j(v)| on edges of the LCC."""
    from elph.data import largest_connected_component, load_planetoid
    from elph.sketch import Sketcher, exact_counts, exact_neighbourhoods, hll_count
    from orals23_shared.paths import shared_data_dir

    root = shared_data_dir(dataset)
    g = largest_connected_component(load_planetoid(root, dataset, features=False))
    rng = np.random.default_rng(seed)
    ei = g.edge_index.t().numpy()
    links = ei[rng.choice(len(ei), size=min(num_links, len(ei)), replace=False)]
    t0 = time.perf_counter()
    table = Sketcher(g.num_nodes, num_perm, hll_p, 2, seed=seed + 1).propagate(g.edge_index)
    prop_s = time.perf_counter() - t0
    est = table.intersections(torch.from_numpy(links)).numpy()
    reach = exact_neighbourhoods(g.edge_index, g.num_nodes, 2)
    inter, cu, cv = exact_counts(reach, links)
    inter = inter.numpy()
    out: dict = {"propagation_seconds": round(prop_s, 3), "num_links": len(links)}
    for i in (1, 2):
        for j in (1, 2):
            e, x = est[:, i - 1, j - 1], inter[:, i - 1, j - 1]
            out[f"({i},{j})"] = {
                "exact_mean": float(x.mean()),
                "est_mean": float(e.mean()),
                "mae": float(np.abs(e - x).mean()),
                "pearson": float(np.corrcoef(e, x)[0, 1]),
            }
    u, v = torch.from_numpy(links[:, 0]), torch.from_numpy(links[:, 1])
    union_est = hll_count(torch.maximum(table.hll[2][u], table.hll[2][v])).numpy()
    union_exact = (cu[:, 1] + cv[:, 1]).numpy() - inter[:, 1, 1]
    out["union_rel_err"] = float(np.mean(np.abs(union_est - union_exact) / union_exact))
    out["card_rel_err"] = [
        float(np.mean(np.abs(table.cards[u, d].numpy() - cu[:, d].numpy()) / cu[:, d].numpy())) for d in (0, 1)
    ]
    out["_scatter"] = {
        "exact11": inter[:, 0, 0],
        "est11": est[:, 0, 0],
        "exact22": inter[:, 1, 1],
        "est22": est[:, 1, 1],
    }
    return out


def _seal_vs_buddy_preprocessing(seed: int, num_links: int) -> dict:
    """Per-link preprocessing time on Cora's test split: SEAL extraction+DRNL vs BUDDY sketches+features."""
    from elph.data import largest_connected_component, load_planetoid, split_links
    from elph.seal import adjacency, extract_subgraph
    from elph.sketch import Sketcher
    from orals23_shared.paths import shared_data_dir

    g = largest_connected_component(load_planetoid(shared_data_dir("cora"), "cora", features=False))
    sp = split_links(g, seed=seed)["test"]
    links, _ = sp.links()
    links = links[:num_links]
    t0 = time.perf_counter()
    a = adjacency(sp.edge_index, g.num_nodes)
    for u, v in links.tolist():
        extract_subgraph(a, u, v, 2)
    seal_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Sketcher(g.num_nodes).propagate(sp.edge_index).subgraph_features(links)
    buddy_s = time.perf_counter() - t0
    return {
        "links": len(links),
        "seal_us_per_link": 1e6 * seal_s / len(links),
        "buddy_us_per_link": 1e6 * buddy_s / len(links),
        "ratio": seal_s / buddy_s,
    }


def _plot(out: Path, results: dict, acc: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5), squeeze=False)
    for ax, (ds, res) in zip(axes[0], results.items()):
        names = list(res)
        ours = [100 * np.mean(res[n]) for n in names]
        paper = [PAPER[ds].get(n, np.nan) for n in names]
        xs = np.arange(len(names))
        err = [100 * np.std(res[n]) for n in names]
        ax.bar(xs - 0.2, ours, 0.4, yerr=err, label="ours")
        ax.bar(xs + 0.2, paper, 0.4, label="paper")
        ax.set_xticks(xs, names)
        ax.set_ylabel("test HR@100 (%)")
        ax.set_title(ds)
        ax.legend()
    fig.tight_layout()
    paths.append(out / "hits100.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    sc = acc["_scatter"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    for ax, key in zip(axes, ("11", "22")):
        x, e = sc[f"exact{key}"], sc[f"est{key}"]
        ax.scatter(x, e, s=4, alpha=0.4)
        lim = [0, max(x.max(), e.max())]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set_xlabel(f"exact |N<={key[0]}(u) n N<={key[1]}(v)|")
        ax.set_ylabel("sketch estimate")
    fig.tight_layout()
    paths.append(out / "sketch_accuracy.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _mean_std(xs: list[float]) -> str:
    """``mean ± std`` in percent (population std over seeds, as the official runner prints)."""
    return f"{100 * np.mean(xs):.2f} ± {100 * np.std(xs):.2f}"


def _close_claim(name: str, ds: str, ours: list[float]) -> Claim:
    mean = 100 * float(np.mean(ours))
    gap = PAPER[ds]["buddy"] - mean
    return Claim.threshold(
        f"{ds}: BUDDY test HR@100 close to the paper (within 5 points)",
        PAPER[ds]["buddy"],
        round(mean, 2),
        ok=gap <= 5.0,
        partly=gap <= 10.0,
        per_seed=[round(100 * o, 2) for o in ours],
        mean_std=_mean_std(ours),
    )


def reproduce(
    out: str | Path,
    quick: bool = True,
    seed: int = 0,
    seeds: int | None = None,
    device: str = "cpu",
    quiet: bool = False,
) -> Path:
    """Run the checks and write ``out/summary.json`` (+ PNG plots)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    n_seeds = seeds or 3
    full = {"buddy": 50, "gcn": 40, "gcn-official": 50}
    epochs = (
        {"cora": {"buddy": 20, "gcn": 20}, "citeseer": {"buddy": 10, "gcn": 10}}
        if quick
        else {"cora": full, "citeseer": {k: v for k, v in full.items() if k != "gcn-official"}}
    )
    datasets = ["cora", "citeseer"]
    results: dict[str, dict[str, list[float]]] = {}
    for ds in datasets:
        res: dict[str, list[float]] = {}
        for s in range(seed, seed + n_seeds):
            common = dict(dataset=ds, seed=s, device=device, quiet=True)
            for model, n_ep in epochs[ds].items():
                setup = "official" if model == "gcn-official" else "pyg"  # official run_gnn.py defaults: full only
                summ = train(
                    TrainConfig(
                        model=model.split("-")[0],
                        gnn_setup=setup,
                        epochs=n_ep,
                        out=out / "runs" / f"{ds}-{model}-{s}",
                        **common,
                    )
                )
                res.setdefault(model, []).append(summ["test_hits@100"])
            for h in ("cn", "aa", "ra"):
                summ = train(TrainConfig(model="heuristic", heuristic=h, out=out / "runs" / f"{ds}-{h}-{s}", **common))
                res.setdefault(h, []).append(summ["test_hits@100"])
            if not quiet:
                print(ds, s, {k: round(100 * v[-1], 2) for k, v in res.items()}, flush=True)
        results[ds] = res
    acc = sketch_accuracy("cora", seed=seed)
    speed = _seal_vs_buddy_preprocessing(seed, 500 if quick else 2000)
    if not quiet:
        print("sketch", {k: v for k, v in acc.items() if not k.startswith("_")}, "speed", speed, flush=True)

    cora = results["cora"]
    buddy, gcn = 100 * np.mean(cora["buddy"]), 100 * np.mean(cora["gcn"])
    best_h = max(("cn", "aa", "ra"), key=lambda h: np.mean(cora[h]))
    claims = [
        _close_claim("buddy", "cora", cora["buddy"]),
        Claim.threshold(
            "cora: BUDDY beats GCN by >= 10 points HR@100",
            round(PAPER["cora"]["buddy"] - PAPER["cora"]["gcn"], 2),
            round(buddy - gcn, 2),
            ok=buddy - gcn >= 10,
            partly=buddy > gcn,
            buddy=_mean_std(cora["buddy"]),
            gcn=_mean_std(cora["gcn"]),
            paper_gcn=PAPER["cora"]["gcn"],
        ),
        Claim.threshold(
            "cora: BUDDY beats the best heuristic (CN/AA/RA)",
            PAPER["cora"]["ra"],
            round(100 * np.mean(cora[best_h]), 2),
            ok=buddy > 100 * np.mean(cora[best_h]),
            best_heuristic=best_h,
            buddy=round(buddy, 2),
        ),
        _close_claim("buddy", "citeseer", results["citeseer"]["buddy"]),
        Claim.threshold(
            "cora: sketch intersections track exact counts (union err < 1.04/sqrt(m), r(1,1) >= 0.85, r(2,2) >= 0.95)",
            "brief: union err 3%, r 0.90 (1,1), 0.99 (2,2)",
            {
                "union_rel_err": round(acc["union_rel_err"], 4),
                "r11": round(acc["(1,1)"]["pearson"], 3),
                "r22": round(acc["(2,2)"]["pearson"], 3),
            },
            ok=acc["union_rel_err"] < 1.04 / 16 and acc["(1,1)"]["pearson"] >= 0.85 and acc["(2,2)"]["pearson"] >= 0.95,
            partly=acc["union_rel_err"] < 1.04 / 16,
        ),
        Claim.threshold(
            "cora: BUDDY preprocessing per link >= 10x cheaper than SEAL subgraph extraction + DRNL",
            "orders of magnitude faster (brief measured ~86x per link)",
            round(speed["ratio"], 1),
            ok=speed["ratio"] >= 10,
            partly=speed["ratio"] > 1,
            **speed,
        ),
    ]
    plots = _plot(out, results, acc)
    extra = {
        "results_hits100": {ds: {m: [round(100 * x, 2) for x in v] for m, v in r.items()} for ds, r in results.items()},
        "results_hits100_mean_std": {ds: {m: _mean_std(v) for m, v in r.items()} for ds, r in results.items()},
        "sketch_accuracy": {k: v for k, v in acc.items() if not k.startswith("_")},
        "paper_hits100": PAPER,
        "epochs": epochs,
        "seeds": n_seeds,
    }
    json.dumps(extra)  # fail early on anything not serialisable
    return write_summary(out, "elph", claims, time.perf_counter() - t_start, plots=plots, quick=quick, **extra)
