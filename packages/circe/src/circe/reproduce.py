"""``circe-reproduce``: the gamma sweep -> in-distribution vs out-of-distribution loss curve (Pogodin et al., Fig. 2-4 form).

Two experiments (brief (d)), every arm trained with ``circe.train.train`` (Lightning) and evaluated on fresh
in-distribution (ID) and out-of-distribution (OOD) test sets:

1. Linear-Gaussian shortcut: ERM, CIRCE, unconditional HSIC, HSCIC and GCM over a gamma grid. The closed-form
   population values of the linear least-squares predictors (ERM on both features; the invariant predictor on X1
   only) are computed here and reported beside the measurements.
2. Procedural sprites: ERM vs CIRCE with the small CNN.

Per-claim verdicts are computed from the measurements with tolerances fixed in this file before running.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from circe.data import Triples, linear_gaussian, procedural_sprites
from circe.evaluate import evaluate_model
from circe.train import TrainConfig, train
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.threads import set_threads

__all__ = ["linear_gaussian_optima", "sweep", "main", "entry"]

# a priori settings of each mode
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "lg": {"n_train": 2000, "heldout": 300, "epochs": 30, "batch_size": 256, "n_test": 2000},
        "gammas": {
            "circe": (10.0, 100.0, 1000.0),
            "hsic": (10.0, 100.0, 1000.0),
            "hscic": (10.0, 100.0, 1000.0),
            "gcm": (0.1, 1.0, 10.0),
        },
        "sprites": {
            "n_train": 2000,
            "heldout": 200,
            "epochs": 8,
            "batch_size": 128,
            "n_test": 1000,
            "gammas": (1.0, 10.0),
        },
    },
    "full": {
        "lg": {"n_train": 4000, "heldout": 500, "epochs": 40, "batch_size": 256, "n_test": 5000},
        "gammas": {
            "circe": (1.0, 10.0, 100.0, 1000.0),
            "hsic": (1.0, 10.0, 100.0, 1000.0),
            "hscic": (1.0, 10.0, 100.0, 1000.0),
            "gcm": (0.01, 0.1, 1.0, 10.0),
        },
        "sprites": {
            "n_train": 6000,
            "heldout": 500,
            "epochs": 20,
            "batch_size": 256,
            "n_test": 2000,
            "gammas": (1.0, 10.0, 100.0),
        },
    },
}
ID_BUDGET = 0.5  # "at a given ID loss": compare OOD losses among points with ID MSE below this


def linear_gaussian_optima() -> dict[str, dict[str, float]]:
    """Population ID/OOD MSE of the least-squares predictors on the linear-Gaussian task (closed form).

    X1 = Y + 0.7 e1, X2 = Z + 0.05 e2 with Z = Y + 0.3 ez in training; OOD Z ~ N(0, 1.09) independent of Y.
    """
    cov = np.array([[1.49, 1.0], [1.0, 1.0925]])  # Cov(X1, X2) in training
    c_y = np.array([1.0, 1.0])  # Cov(X, Y)
    w = np.linalg.solve(cov, c_y)
    id_erm = 1.0 - c_y @ w
    cov_ood = np.array([[1.49, 0.0], [0.0, 1.09 + 0.0025]])
    c_y_ood = np.array([1.0, 0.0])
    ood_erm = 1.0 - 2 * w @ c_y_ood + w @ cov_ood @ w
    w1 = 1.0 / 1.49
    inv = 1.0 - w1  # X1 only: same in and out of distribution
    return {
        "erm": {"id": float(id_erm), "ood": float(ood_erm), "w1": float(w[0]), "w2": float(w[1])},
        "invariant": {"id": float(inv), "ood": float(inv)},
    }


def _arm(
    name: str,
    method: str,
    gamma: float,
    train_data: tuple[Triples, Triples],
    tests: dict[str, Triples],
    base: dict[str, Any],
    out: Path,
    seed: int,
    device: str,
) -> dict[str, Any]:
    cfg = TrainConfig(
        method=method,
        gamma=gamma,
        out=out / "runs" / name,
        seed=seed,
        device=device,
        quiet=True,
        checkpoint_every=base["epochs"],
        **{k: v for k, v in base.items() if k != "n_test"},
    )
    t0 = time.time()
    res = train(cfg, data=train_data)
    row: dict[str, Any] = {
        "arm": name,
        "method": method,
        "gamma": gamma,
        "seconds": round(time.time() - t0, 1),
        "reg": res.summary["reg"],
    }
    for split, data in tests.items():
        ev = evaluate_model(res.module.model.cpu(), data, seed=seed)
        row.update(
            {
                f"{split}_mse": ev["mse"],
                f"{split}_cond_dep": ev["cond_dep"],
                f"{split}_partial_corr": ev["partial_corr"],
            }
        )
    return row


def sweep(
    out: Path, quick: bool, seed: int = 0, device: str = "cpu", log=lambda s: print(s, flush=True)
) -> dict[str, list[dict[str, Any]]]:
    """Train every arm of both experiments; returns the measured rows."""
    s = SETTINGS["quick" if quick else "full"]
    lg = s["lg"]
    lg_train = (linear_gaussian(lg["n_train"] + lg["heldout"], seed), linear_gaussian(1000, seed + 1))
    lg_tests = {"id": linear_gaussian(lg["n_test"], seed + 2), "ood": linear_gaussian(lg["n_test"], seed + 3, ood=True)}
    rows = {"linear_gaussian": [], "sprites": []}
    arms = [("erm", "erm", 0.0)] + [(f"{m}-g{g:g}", m, g) for m, gs in s["gammas"].items() for g in gs]
    for name, method, gamma in arms:
        row = _arm(name, method, gamma, lg_train, lg_tests, lg, out / "linear_gaussian", seed, device)
        log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "reg"}))
        rows["linear_gaussian"].append(row)
    sp = dict(s["sprites"])
    sp_gammas = sp.pop("gammas")
    sp_train = (procedural_sprites(sp["n_train"] + sp["heldout"], seed), procedural_sprites(500, seed + 1))
    sp_tests = {
        "id": procedural_sprites(sp["n_test"], seed + 2),
        "ood": procedural_sprites(sp["n_test"], seed + 3, ood=True),
    }
    for name, method, g in [("erm", "erm", 0.0)] + [(f"circe-g{g:g}", "circe", g) for g in sp_gammas]:
        row = _arm(name, method, g, sp_train, sp_tests, sp | {"lr": 1e-3}, out / "sprites", seed, device)
        log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "reg"}))
        rows["sprites"].append(row)
    return rows


def _plot(rows: dict[str, list[dict[str, Any]]], optima: dict[str, dict[str, float]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    markers = {"erm": "*", "circe": "o", "hsic": "s", "hscic": "^", "gcm": "D"}
    for method in ("erm", "circe", "hsic", "hscic", "gcm"):
        pts = [r for r in rows["linear_gaussian"] if r["method"] == method]
        if not pts:
            continue
        ax.plot([r["id_mse"] for r in pts], [r["ood_mse"] for r in pts], marker=markers[method], label=method)
        for r in pts:
            if method != "erm":
                ax.annotate(f"{r['gamma']:g}", (r["id_mse"], r["ood_mse"]), fontsize=7)
    ax.plot([optima["erm"]["id"]], [optima["erm"]["ood"]], "k+", ms=12, label="ERM optimum (closed form)")
    ax.plot([optima["invariant"]["id"]], [optima["invariant"]["ood"]], "kx", ms=12, label="invariant optimum")
    ax.set_xlabel("in-distribution test MSE")
    ax.set_ylabel("OOD test MSE")
    ax.set_title("Linear-Gaussian shortcut: gamma sweep")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / "linear_gaussian_id_vs_ood.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for r in rows["sprites"]:
        ax.plot([r["id_mse"]], [r["ood_mse"]], "o", label=r["arm"])
    ax.set_xlabel("in-distribution test MSE")
    ax.set_ylabel("OOD test MSE")
    ax.set_title("Procedural sprites")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / "sprites_id_vs_ood.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    return paths


def claims_from(rows: dict[str, list[dict[str, Any]]], optima: dict[str, dict[str, float]]) -> list[Claim]:
    """Per-claim verdicts from the measured rows (tolerances fixed here)."""
    lg = rows["linear_gaussian"]
    by = {m: [r for r in lg if r["method"] == m] for m in ("erm", "circe", "hsic", "hscic", "gcm")}
    erm = by["erm"][0]
    claims = []
    ok_id = abs(erm["id_mse"] - 0.07) <= 0.03
    ok_ood = abs(erm["ood_mse"] - 1.41) <= 0.25
    claims.append(
        Claim.threshold(
            "Linear-Gaussian: ERM uses the shortcut (ID MSE 0.07, OOD MSE 1.41)",
            "ID 0.07 / OOD 1.41 (brief, closed form)",
            {"id": round(erm["id_mse"], 3), "ood": round(erm["ood_mse"], 3)},
            ok=ok_id and ok_ood,
            partly=ok_id or ok_ood,
            closed_form=optima["erm"],
            tolerance={"id": 0.03, "ood": 0.25},
        )
    )

    inv = optima["invariant"]["ood"]
    best = min(by["circe"], key=lambda r: r["ood_mse"])
    near = abs(best["ood_mse"] - inv) <= 0.1 and abs(best["id_mse"] - inv) <= 0.1
    cd_drop = best["id_cond_dep"] < 0.25 * erm["id_cond_dep"]
    claims.append(
        Claim.threshold(
            "Linear-Gaussian: CIRCE at large gamma approaches the invariant optimum (ID = OOD = 0.33) with conditional "
            "dependence near zero",
            "ID 0.33 / OOD 0.33 at gamma >= 10 (brief's prediction)",
            {
                "gamma": best["gamma"],
                "id": round(best["id_mse"], 3),
                "ood": round(best["ood_mse"], 3),
                "cond_dep": best["id_cond_dep"],
                "erm_cond_dep": erm["id_cond_dep"],
            },
            ok=near and cd_drop,
            partly=best["ood_mse"] < 0.75 * erm["ood_mse"],
            tolerance="|MSE - 0.33| <= 0.1 on both, cond_dep below 1/4 of ERM's",
            per_gamma=[{k: r[k] for k in ("gamma", "id_mse", "ood_mse", "id_cond_dep")} for r in by["circe"]],
        )
    )

    # HSIC loses more ID accuracy than CIRCE for the same OOD improvement
    def best_ood_under(rs: list[dict[str, Any]]) -> float:
        ok = [r["ood_mse"] for r in rs if r["id_mse"] <= ID_BUDGET]
        return min(ok) if ok else math.inf

    c_best = best_ood_under(by["circe"])
    h_best = best_ood_under(by["hsic"])
    hsic_max = max(by["hsic"], key=lambda r: r["gamma"])
    claims.append(
        Claim.threshold(
            f"Unconditional HSIC removes Y-information: at ID MSE <= {ID_BUDGET} CIRCE reaches a lower OOD MSE than HSIC",
            "HSIC's target predictor: ID 0.99 / OOD 0.77 (brief); CIRCE less ID loss",
            {
                "circe_best_ood": round(c_best, 3),
                "hsic_best_ood": round(h_best, 3) if math.isfinite(h_best) else None,
                "hsic_largest_gamma": {"id": round(hsic_max["id_mse"], 3), "ood": round(hsic_max["ood_mse"], 3)},
            },
            ok=c_best < h_best,
            details_note="inf = no point within the ID budget",
        )
    )

    others = {m: best_ood_under(by[m]) for m in ("hscic", "gcm")}
    claims.append(
        Claim.threshold(
            f"CIRCE reaches the lowest OOD MSE at ID MSE <= {ID_BUDGET} among CIRCE, HSCIC and GCM",
            "CIRCE's curve below HSCIC's and GCM's (paper Fig. 2-4)",
            {"circe": round(c_best, 3), **{m: (round(v, 3) if math.isfinite(v) else None) for m, v in others.items()}},
            ok=all(c_best <= v for v in others.values()),
            partly=any(c_best <= v for v in others.values()),
        )
    )

    e = next(r for r in rows["sprites"] if r["method"] == "erm")
    arms = [r for r in rows["sprites"] if r["method"] == "circe"]
    wins = [
        r for r in arms if e["ood_mse"] - r["ood_mse"] > 0 and r["id_mse"] - e["id_mse"] < e["ood_mse"] - r["ood_mse"]
    ]
    c = min(wins or arms, key=lambda r: r["ood_mse"])
    claims.append(
        Claim.threshold(
            "Procedural sprites: CIRCE lowers OOD MSE against ERM at a smaller ID cost (some gamma of the grid)",
            "lower OOD MSE at small ID cost (paper's dSprites curves)",
            {
                "erm": {"id": round(e["id_mse"], 4), "ood": round(e["ood_mse"], 4)},
                "circe": {"id": round(c["id_mse"], 4), "ood": round(c["ood_mse"], 4), "gamma": c["gamma"]},
            },
            ok=bool(wins),
            partly=any(r["ood_mse"] < e["ood_mse"] for r in arms),
            per_gamma=[{k: r[k] for k in ("gamma", "id_mse", "ood_mse")} for r in arms],
        )
    )
    return claims


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="circe-reproduce", description=__doc__.split("\n\n")[0])
    add_reproduce_args(parser, default_out="reproduce/circe")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows = sweep(out, args.quick, seed=args.seed, device=args.device)
    optima = linear_gaussian_optima()
    atomic_write_json(out / "results.json", {"rows": rows, "optima": optima})
    plots = _plot(rows, optima, out)
    claims = claims_from(rows, optima)
    path = write_summary(
        out,
        "circe",
        claims,
        seconds=time.time() - t0,
        plots=plots,
        quick=args.quick,
        settings=SETTINGS["quick" if args.quick else "full"],
        optima=optima,
    )
    print(f"wrote {path}")
    for c in claims:
        print(f"[{c.verdict}] {c.claim}: {c.ours}")
    return 0


def entry() -> None:
    run_cli(main)
