"""``ramanujan-pai-reproduce``: the paper's central claim at CPU scale, on scikit-learn digits.

Hoang et al., ICLR 2023, Sec. 4-5 and Fig. 3-5: across pruning-at-initialization methods at a fixed
density, the IMDB (iterative mean difference of the Ramanujan bound over equal-degree subgraphs,
normalised) ranks the methods' accuracies (Spearman 0.94 / 1.00 / 0.89 at densities 0.01 / 0.05 / 0.1
for ResNet-34 on CIFAR-10, from the official CSVs), while the whole-layer gap Delta_r does not; random
pruning has both the lowest IMDB and the lowest accuracy at high sparsity.

Here: an MLP 64-512-128-10 and a small CNN (two convs, ``model.SmallCNN``) on digits, the paper's six
methods (random, ERK, SNIP, iterative SNIP, GraSP, SynFlow; magnitude is run and tabled but, as in the
paper, not part of the comparison) at densities 0.05 / 0.1 / 0.2, 3 seeds (quick); the claims are
checked per model. Every verdict threshold is a constant below, fixed before measuring.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import check, run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.threads import set_threads

__all__ = ["Plan", "QUICK", "FULL", "PAPER_METHODS", "claims_from_rows", "aggregate", "main"]

PAPER_METHODS = ("rand", "erk", "snip", "itersnip", "grasp", "synflow")
ALL_METHODS = (*PAPER_METHODS, "magnitude")
SPEARMAN_MIN = 0.5  # the bar: Spearman(IMDB_norm, acc) > 0.5 at densities <= 0.1
LOW_DENSITY = 0.05  # where random must be lowest in accuracy and IMDB
PAPER_SPEARMAN = "ResNet-34 CIFAR-10: 0.94 / 1.00 / 0.89 at d = 0.01 / 0.05 / 0.1 (VGG-16: 0.49 / 1.00 / 0.90)"
# Optimiser per model. MLP: Adam 1e-3, batch 64 (the brief's recipe). CNN: batch 128 and 12 quick epochs keep its
# 63 runs inside the CPU budget; lr 1e-2 was chosen on validation accuracy (density 0.05, snip/rand/synflow, seed 0)
# over {3e-3, 1e-2} x 12 epochs and {1e-3, 3e-3} x 20 epochs.
OPTIM = {"mlp": {"batch_size": 64, "lr": 1e-3}, "cnn": {"batch_size": 128, "lr": 1e-2}}


@dataclass(frozen=True)
class Plan:
    """How much the reproduce runs."""

    models: tuple[str, ...]
    densities: tuple[float, ...]
    seeds: int
    epochs: int
    cnn_epochs: int
    itersnip_iterations: int
    synflow_iterations: int


QUICK = Plan(("mlp", "cnn"), (0.05, 0.1, 0.2), 3, 20, 12, 20, 100)
FULL = Plan(("mlp", "cnn"), (0.05, 0.1, 0.2), 5, 30, 20, 100, 100)


def _mean(vals: Sequence[float | None]) -> float | None:
    vals = [v for v in vals if v is not None]
    return statistics.mean(vals) if vals else None


def aggregate(rows: list[dict[str, Any]]) -> dict[float, dict[str, dict[str, Any]]]:
    """Per density and method: accuracy mean and std over seeds, metric means (None seeds dropped)."""
    out: dict[float, dict[str, dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["density"], {}).setdefault(r["method"], []).append(r)
    table: dict[float, dict[str, dict[str, Any]]] = {}
    for d, by_m in sorted(out.items()):
        table[d] = {}
        for m, rs in by_m.items():
            accs = [r["test_acc"] for r in rs]
            table[d][m] = {
                "acc": statistics.mean(accs),
                "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "seeds": len(rs),
                **{k: _mean([r[k] for r in rs]) for k in ("imdb_norm", "delta_r_norm", "narc", "imdb", "delta_r")},
            }
    return table


def _spearman(table: dict[str, dict[str, Any]], key: str) -> tuple[float | None, list[str]]:
    """Spearman between ``key`` and accuracy over the paper's methods with a defined ``key``."""
    from scipy.stats import spearmanr

    ms = [m for m in PAPER_METHODS if m in table and table[m][key] is not None]
    if len(ms) < 3:
        return None, ms
    rho = spearmanr([table[m][key] for m in ms], [table[m]["acc"] for m in ms]).statistic
    return (None if rho != rho else float(rho)), ms


def claims_from_rows(rows: list[dict[str, Any]], model: str = "mlp") -> list[Claim]:
    """The four claims with verdicts computed from the per-run rows of one model."""
    table = aggregate(rows)
    claims = []
    low = table.get(LOW_DENSITY, {})
    present = [m for m in PAPER_METHODS if m in low]
    for key, what in (("acc", "accuracy"), ("imdb_norm", "IMDB_norm")):
        vals = {m: low[m][key] for m in present if low[m][key] is not None}
        ok = "rand" in vals and len(vals) >= 3 and min(vals, key=vals.get) == "rand"
        order = sorted(vals, key=vals.get)
        claims.append(Claim.threshold(
            f"{model}: random pruning has the lowest {what} of the six methods at density {LOW_DENSITY}",
            "Rand lowest accuracy and IMDB at high sparsity (ResNet-34 d=0.01: 67.4% vs >= 81.2%; IMDB -0.13)",
            {m: round(vals[m], 4) for m in order}, ok, partly=bool(order[:2].count("rand")),
            order_low_to_high=order))  # fmt: skip
    low_ds = [d for d in table if d <= 0.1 + 1e-12]
    rho_imdb = {d: _spearman(table[d], "imdb_norm") for d in low_ds}
    rho_dr = {d: _spearman(table[d], "delta_r_norm") for d in low_ds}
    passed = [d for d in low_ds if rho_imdb[d][0] is not None and rho_imdb[d][0] > SPEARMAN_MIN]
    claims.append(Claim.threshold(
        f"{model}: Spearman(IMDB_norm, accuracy) across methods > {SPEARMAN_MIN} at every density <= 0.1",
        PAPER_SPEARMAN, {str(d): rho_imdb[d][0] for d in low_ds},
        ok=bool(low_ds) and len(passed) == len(low_ds), partly=bool(passed),
        methods_used={str(d): rho_imdb[d][1] for d in low_ds}))  # fmt: skip
    better = [d for d in low_ds if rho_imdb[d][0] is not None
              and (rho_dr[d][0] is None or rho_imdb[d][0] > rho_dr[d][0])]  # fmt: skip
    claims.append(Claim.threshold(
        f"{model}: IMDB_norm ranks methods better than the whole-layer gap Delta_r_norm at densities <= 0.1",
        "whole-layer Delta_r Spearman -0.26 ... +0.7 vs IMDB 0.89 ... 1.00 (ResNet-34/VGG-16)",
        {str(d): {"imdb_norm": rho_imdb[d][0], "delta_r_norm": rho_dr[d][0]} for d in low_ds},
        ok=bool(low_ds) and len(better) == len(low_ds), partly=bool(better)))  # fmt: skip
    return claims


def _run_all(plan: Plan, model: str, seed0: int, device: str, log: Any) -> list[dict[str, Any]]:
    from ramanujan_pai.data import load_data
    from ramanujan_pai.train import TrainConfig, train

    data = load_data("digits", image=model != "mlp")
    rows = []
    for d in plan.densities:
        for m in ALL_METHODS:
            for s in range(seed0, seed0 + plan.seeds):
                its = plan.itersnip_iterations if m == "itersnip" else plan.synflow_iterations
                epochs = plan.cnn_epochs if model == "cnn" else plan.epochs
                cfg = TrainConfig(model=model, method=m, density=d, iterations=its, epochs=epochs, seed=s,
                                  device=device, **OPTIM[model])  # fmt: skip
                r = train(cfg, data=data)
                g = r["graph"]
                rows.append({"model": model, "method": m, "density": d, "seed": s, "test_acc": r["test_acc"],
                             "kept": r["density"], "skipped_layers": g["skipped"], "seconds": round(r["seconds"], 2),
                             **{k: g[k] for k in ("imdb_norm", "delta_r_norm", "narc", "imdb", "delta_r",
                                                  "imdb_norm_count")}})  # fmt: skip
                log(f"{model} d={d} {m:<9} seed {s}: acc {r['test_acc']:.3f}  IMDB_norm {g['imdb_norm']}  "
                    f"Delta_r_norm {g['delta_r_norm']}  ({r['seconds']:.1f}s)")  # fmt: skip
    return rows


def plot(rows: list[dict[str, Any]], key: str, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    densities = sorted({r["density"] for r in rows})
    fig, axes = plt.subplots(1, len(densities), figsize=(4.2 * len(densities), 3.6), squeeze=False)
    colors = dict(zip(ALL_METHODS, plt.cm.tab10.colors))
    for ax, d in zip(axes[0], densities):
        table = aggregate([r for r in rows if r["density"] == d])[d]
        for m, v in table.items():
            pts = [
                (r[key], r["test_acc"]) for r in rows if r["density"] == d and r["method"] == m and r[key] is not None
            ]
            if pts:
                ax.scatter(*zip(*pts), s=12, alpha=0.35, color=colors[m])
            if v[key] is not None:
                ax.errorbar(v[key], v["acc"], yerr=v["acc_std"], fmt="o", color=colors[m], label=m, ms=7,
                            mec="k" if m in PAPER_METHODS else "none")  # fmt: skip
        rho, _ = _spearman(table, key)
        ax.set_title(f"density {d}: Spearman {rho:.2f}" if rho is not None else f"density {d}")
        ax.set_xlabel(key)
        ax.set_ylabel("test accuracy (best-val epoch)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ramanujan-pai-reproduce", description=__doc__.splitlines()[0])
    add_reproduce_args(parser, default_out="reproduce-ramanujan-pai")
    parser.add_argument("--quiet", action="store_true", help="no per-run lines")
    parser.add_argument("--models", default=None, help="comma-separated: mlp, cnn (default: both)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    plan = QUICK if args.quick else FULL
    if args.models is not None:
        models = tuple(m for m in args.models.split(",") if m)
        check(models and set(models) <= {"mlp", "cnn"}, f"--models takes mlp and/or cnn, got {args.models!r}")
        plan = replace(plan, models=models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    rows, claims, plots = [], [], []
    for model in plan.models:
        mrows = _run_all(plan, model, args.seed, args.device, log)
        rows += mrows
        claims += claims_from_rows(mrows, model)
        plots.append(plot(mrows, "imdb_norm", out / f"imdb_vs_acc_{model}.png",
                          f"digits {model}: IMDB_norm vs accuracy (paper's six methods outlined)"))  # fmt: skip
        plots.append(plot(mrows, "delta_r_norm", out / f"delta_r_vs_acc_{model}.png",
                          f"digits {model}: whole-layer Delta_r_norm vs accuracy"))  # fmt: skip
    tables = {m: {str(d): v for d, v in aggregate([r for r in rows if r["model"] == m]).items()} for m in plan.models}
    atomic_write_json(out / "results.json", {"plan": plan.__dict__, "rows": rows, "tables": tables})
    path = write_summary(out, "ramanujan-pai", claims, time.perf_counter() - t0, plots, quick=args.quick,
                         plan=plan.__dict__, tables=tables)  # fmt: skip
    for c in claims:
        print(f"[{c.verdict}] {c.claim}: {json.dumps(c.ours)}")
    print(path)
    return 0


def entry() -> None:
    run_cli(main)
