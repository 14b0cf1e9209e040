"""``mr-vae-reproduce``: the paper's key claims at laptop scale (Bae et al., ICLR 2023, Section 6 and Section 4).

1. Digits (scikit-learn 8x8, binarised, Bernoulli MLP VAE 64-256-256-16): one MR-VAE run against beta-VAEs at
   beta = 0.01, 0.1, 1, 10, each the same steps. Claims: the MR-VAE's test R-D curve is a trade-off (rate falling and
   distortion rising in beta on >= 9 of 10 steps); at each matched beta its ``D + beta R`` is within 5 % (or 2 nats) of
   the separately trained beta-VAE, reporting which side wins (the official README's own run has the beta-VAEs
   slightly ahead); one MR-VAE run costs at most (1 + 10 %) / 4 of the four beta-VAE runs (CPU seconds of the
   training, one thread, side by side in one process; wall and end-to-end times reported beside it).
2. Linear VAE (raw digits, Gaussian decoder sigma2 = 10, 16 latents): the trained linear MR-VAE sits within 3 % above
   the closed-form optimum ``L* = D* + beta R*`` at every beta (Section 4: the gated response is exact).

Every threshold below is fixed before measuring; the verdict functions are pure functions of the measurements so that
the tests can show a wrong model gets "not".
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from orals23_shared.cli import run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.threads import set_threads

__all__ = [
    "COST_TARGET",
    "LINEAR_TOL",
    "MATCHED_BETAS",
    "cost_claim",
    "linear_claim",
    "main",
    "matched_claim",
    "monotone_claim",
]

MATCHED_BETAS = (0.01, 0.1, 1.0, 10.0)
MONOTONE_MIN, MONOTONE_STEPS = 9, 10  # >= 9 of 10 steps between 11 log-spaced betas
REL_TOL, ABS_TOL = 0.05, 2.0  # matched-beta loss gap: within 5 % or 2 nats
COST_TARGET = 1.10 / len(MATCHED_BETAS)  # one MR-VAE run vs the four beta-VAE runs
LINEAR_TOL = 0.03  # linear MR-VAE above the closed-form optimum, relative
LINEAR_FLOOR = -1e-3  # below the optimum by more than this (relative) is a bug, not a win

# Sizes: quick fits about 3 minutes of one thread; the full run takes three seeds and longer training.
QUICK = {"steps": 3000, "seeds": 1, "samples": 4, "linear_steps": 2000}
FULL = {"steps": 10000, "seeds": 3, "samples": 16, "linear_steps": 5000}
LINEAR_SIGMA2, LINEAR_LATENT, LINEAR_LR = 10.0, 16, 3e-2


# -- verdicts (pure functions of the measurements) ------------------------------------------------------------
def monotone_claim(curves: Sequence[dict[str, list[float]]]) -> Claim:
    """Rate falling and distortion rising on >= 9 of the 10 beta steps, in every seed's curve."""
    from mr_vae.evaluate import monotone_steps

    counts = [monotone_steps(c["rate"], c["distortion"]) for c in curves]
    steps = [len(c["rate"]) - 1 for c in curves]
    worst = min(counts)
    return Claim.threshold(
        "MR-VAE test R-D curve is a trade-off: rate falls and distortion rises with beta on >= 9/10 steps",
        paper="monotone R-D curve from one run (Fig. 3)",
        ours=float(worst),
        ok=all(c >= MONOTONE_MIN * s / MONOTONE_STEPS for c, s in zip(counts, steps)),
        partly=worst >= (MONOTONE_MIN - 2) * steps[0] / MONOTONE_STEPS,
        monotone_steps_per_seed=counts,
        steps=steps[0],
    )


def matched_claim(mr_losses: dict[float, list[float]], beta_losses: dict[float, list[float]]) -> Claim:
    """At each matched beta, mean ``L_MR - L_beta`` within 5 % of ``L_beta`` or 2 nats (over seeds)."""
    rows, passed = [], 0
    for b in sorted(beta_losses):
        mr, bv = np.array(mr_losses[b]), np.array(beta_losses[b])
        gap = float((mr - bv).mean())
        ref = float(bv.mean())
        ok = gap <= max(REL_TOL * abs(ref), ABS_TOL)
        passed += ok
        rows.append(
            {
                "beta": b,
                "mr_vae": round(float(mr.mean()), 3),
                "mr_vae_std": round(float(mr.std(ddof=1)), 3) if len(mr) > 1 else None,
                "beta_vae": round(ref, 3),
                "beta_vae_std": round(float(bv.std(ddof=1)), 3) if len(bv) > 1 else None,
                "gap_nats": round(gap, 3),
                "gap_rel": round(gap / abs(ref), 4),
                "better": "MR-VAE" if gap < 0 else "beta-VAE",
                "within": bool(ok),
            }
        )
    worst = max(r["gap_rel"] for r in rows)
    n = len(rows)
    return Claim.threshold(
        "at each matched beta, MR-VAE's D + beta*R within 5% (or 2 nats) of a separately trained beta-VAE",
        paper="competitive with beta-VAEs (official README CPU run: beta-VAEs ahead by 1-5 nats)",
        ours=worst,
        ok=passed == n,
        partly=passed >= n / 2,
        per_beta=rows,
        within=f"{passed}/{n}",
    )


def cost_claim(mr_seconds: float, beta_seconds: Sequence[float], cpu: dict[str, Any] | None = None) -> Claim:
    """One MR-VAE run costs <= (1 + 10 %) / K of K beta-VAE runs of the same steps.

    ``main`` passes the CPU seconds of the training itself (one thread, same process, side by side): on a machine
    shared with other jobs the wall clock of a one-thread run measures the other jobs as much as this one. The wall
    times and the end-to-end times (data, training, final evaluation) go into the claim's extra fields.
    """
    ratio = mr_seconds / sum(beta_seconds)
    k = len(beta_seconds)
    return Claim.threshold(
        f"one MR-VAE run costs <= (1+10%)/{k} of {k} beta-VAE runs (CPU time of the training, same steps)",
        paper="about 25 min vs about 100 min for 4 beta-VAEs (official README)",
        ours=round(ratio, 4),
        ok=ratio <= 1.10 / k,
        partly=ratio < 1.0,
        target=round(1.10 / k, 4),
        mr_vae_seconds=round(mr_seconds, 2),
        beta_vae_seconds=[round(s, 2) for s in beta_seconds],
        **(cpu or {}),
    )


def linear_claim(losses: Sequence[float], optimum: Sequence[float], constant: float, betas: Sequence[float]) -> Claim:
    """The trained linear MR-VAE within 3 % above ``L*`` at every beta (and never materially below it).

    The gap is reported relative to ``L*`` (the issue's wording) and relative to ``L* - d/2 log(2 pi sigma2)``, the
    part of the loss a model can change; the verdict uses the second, which is stricter here and does not depend on the
    data's units. Below ``L*`` by more than 0.1 % cannot happen for a correct model: it is reported as "not".
    """
    loss, opt = np.array(losses), np.array(optimum)
    rel_model = (loss - opt) / (opt - constant)
    rel_total = (loss - opt) / np.abs(opt)
    worst = float(rel_model.max())
    return Claim.threshold(
        "linear MR-VAE within 3% above the closed-form optimum D* + beta*R* at every beta",
        paper="the gated response represents linear VAEs exactly (Section 4, Fig. 2)",
        ours=round(worst, 5),
        ok=worst <= LINEAR_TOL and float(rel_model.min()) >= LINEAR_FLOOR,
        betas=[float(b) for b in betas],
        gap_rel_model_part=[round(float(v), 5) for v in rel_model],
        gap_rel_total=[round(float(v), 5) for v in rel_total],
        gap_nats=[round(float(v), 4) for v in loss - opt],
    )


# -- experiments --------------------------------------------------------------------------------------------
def _timed_train(cfg: Any) -> tuple[Any, float, float]:
    from mr_vae.train import train

    w0, c0 = time.perf_counter(), time.process_time()
    result = train(cfg)
    return result, time.perf_counter() - w0, time.process_time() - c0


def digits_experiment(size: dict[str, int], seed: int, threads: int, work: Path, device: str = "cpu") -> dict[str, Any]:
    """One MR-VAE and four beta-VAEs per seed; test-set curve, matched losses and the time of every run."""
    from mr_vae.evaluate import beta_grid, rd_curve
    from mr_vae.train import TrainConfig, prepare_data

    base = TrainConfig(
        data="digits",
        arch="mlp",
        latent=16,
        hidden=(256, 256),
        steps=size["steps"],
        batch_size=128,
        lr=1e-3,
        eval_betas=MONOTONE_STEPS + 1,
        eval_samples=size["samples"],
        checkpoint_every=10**9,
        log_every=100,
        threads=threads,
        quiet=True,
        device=device,
    )
    out: dict[str, Any] = {
        "curves": [],
        "mr": {b: [] for b in MATCHED_BETAS},
        "beta": {b: [] for b in MATCHED_BETAS},
        "beta_points": {b: [] for b in MATCHED_BETAS},
        "mr_points": {b: [] for b in MATCHED_BETAS},
        "mr_seconds": [],
        "beta_seconds": [],
        "mr_cpu": [],
        "beta_cpu": [],
        "mr_fit": [],
        "beta_fit": [],
    }
    for s in range(size["seeds"]):
        cfg = replace(base, mode="mr", seed=seed + s, out=work / f"mr-{s}")
        res, wall, cpu = _timed_train(cfg)
        out["mr_seconds"].append(wall)
        out["mr_cpu"].append(cpu)
        out["mr_fit"].append((res.summary["fit_seconds"], res.summary["fit_cpu_seconds"]))
        out["curves"].append(res.summary["test_curve"])
        test = prepare_data(cfg).test
        matched = rd_curve(
            res.module.model.cpu(), test, MATCHED_BETAS, res.module.betas, size["samples"], seed=cfg.seed
        )
        walls, cpus, fits = [], [], []
        for b, loss, r, d in zip(MATCHED_BETAS, matched["loss"], matched["rate"], matched["distortion"]):
            out["mr"][b].append(loss)
            out["mr_points"][b].append((r, d))
            bres, bwall, bcpu = _timed_train(replace(base, mode="beta", beta=b, seed=seed + s, out=work / f"b{b}-{s}"))
            walls.append(bwall)
            cpus.append(bcpu)
            fits.append((bres.summary["fit_seconds"], bres.summary["fit_cpu_seconds"]))
            out["beta"][b].append(bres.summary["test_loss"])
            out["beta_points"][b].append((bres.summary["test_rate"], bres.summary["test_distortion"]))
        out["beta_seconds"].append(walls)
        out["beta_cpu"].append(cpus)
        out["beta_fit"].append(fits)
    out["grid"] = beta_grid(base.beta_min, base.beta_max, base.eval_betas)
    return out


def linear_experiment(steps: int, seed: int, threads: int, work: Path, device: str = "cpu") -> dict[str, Any]:
    """Train the linear MR-VAE on raw digits and compare it with the closed form on its training data."""
    from mr_vae.evaluate import beta_grid, rd_curve
    from mr_vae.linear import closed_form_curve, gaussian_constant, spectrum
    from mr_vae.train import TrainConfig, prepare_data

    cfg = TrainConfig(
        mode="mr",
        data="digits-raw",
        arch="linear",
        decoder="gaussian",
        sigma2=LINEAR_SIGMA2,
        latent=LINEAR_LATENT,
        steps=steps,
        lr=LINEAR_LR,
        checkpoint_every=10**9,
        log_every=100,
        seed=seed,
        threads=threads,
        quiet=True,
        out=work / "linear",
        device=device,
    )
    res, wall, _ = _timed_train(cfg)
    train_x = prepare_data(cfg).train
    _, lam, _ = spectrum(train_x)
    betas = beta_grid(cfg.beta_min, cfg.beta_max, MONOTONE_STEPS + 1)
    trained = rd_curve(res.module.model.cpu(), train_x, betas, res.module.betas)
    optimum = closed_form_curve(lam, LINEAR_LATENT, LINEAR_SIGMA2, betas)
    d = int(train_x[0].numel())
    return {"trained": trained, "optimum": optimum, "constant": gaussian_constant(d, LINEAR_SIGMA2), "seconds": wall}


# -- plots ----------------------------------------------------------------------------------------------------
def _plots(out: Path, dig: dict[str, Any], lin: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    c = dig["curves"][0]
    ax.plot(c["rate"], c["distortion"], "o-", ms=3, label="MR-VAE, one run (11 betas)")
    for b in MATCHED_BETAS:
        r, d = dig["beta_points"][b][0]
        ax.plot([r], [d], "s", ms=8, mfc="none", label=f"beta-VAE, beta={b:g}")
        mr_r, mr_d = dig["mr_points"][b][0]
        ax.plot([mr_r], [mr_d], "x", color="k", ms=6)
    ax.set_xlabel("rate R (nats)")
    ax.set_ylabel("distortion D (nats)")
    ax.set_title("digits test set: one MR-VAE vs four beta-VAEs (x: MR-VAE at the matched betas)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "rd_curve.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = np.arange(len(MATCHED_BETAS))
    for off, key, label in ((-0.2, "mr", "MR-VAE (one run)"), (0.2, "beta", "beta-VAE (one run per beta)")):
        means = [np.mean(dig[key][b]) for b in MATCHED_BETAS]
        errs = [np.std(dig[key][b], ddof=1) if len(dig[key][b]) > 1 else 0 for b in MATCHED_BETAS]
        ax.bar(xs + off, means, 0.4, yerr=errs, label=label)
    ax.set_xticks(xs, [f"beta={b:g}" for b in MATCHED_BETAS])
    ax.set_ylabel("test D + beta*R (nats)")
    ax.legend(fontsize=8)
    ax.set_title("beta-weighted loss at matched beta", fontsize=9)
    fig.tight_layout()
    paths.append(out / "matched_loss.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    t, o = lin["trained"], lin["optimum"]
    a1.plot(o["rate"], o["distortion"], "-", label="closed form (optimal linear VAE)")
    a1.plot(t["rate"], t["distortion"], "o", ms=4, label="trained linear MR-VAE (one run)")
    a1.set_xlabel("rate R (nats)")
    a1.set_ylabel("distortion D (nats)")
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3)
    gap = (np.array(t["loss"]) - np.array(o["loss"])) / (np.array(o["loss"]) - lin["constant"])
    a2.semilogx(t["beta"], 100 * gap, "o-")
    a2.axhline(100 * LINEAR_TOL, color="r", ls="--", lw=1, label="3% threshold")
    a2.set_xlabel("beta")
    a2.set_ylabel("excess loss, % of L* - const")
    a2.legend(fontsize=7)
    a2.grid(alpha=0.3)
    fig.suptitle("linear VAE on raw digits: trained MR-VAE vs the exact optimum", fontsize=9)
    fig.tight_layout()
    paths.append(out / "linear_vae.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mr-vae-reproduce", description=__doc__.split("\n\n")[0])
    add_reproduce_args(parser, default_out="reproduce/mr-vae")
    parser.add_argument("--keep-runs", action="store_true", help="keep the training run folders under OUT/runs")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    size = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mr-vae-repro-") as tmp:
        work = args.out / "runs" if args.keep_runs else Path(tmp)
        dig = digits_experiment(size, args.seed, threads, work, args.device)
        lin = linear_experiment(size["linear_steps"], args.seed, threads, work, args.device)
    k = len(MATCHED_BETAS)

    def per_beta(key: str, j: int | None = None) -> list[float]:
        rows = [[v if j is None else v[j] for v in seed_rows] for seed_rows in dig[key]]
        return [float(np.sum([r[i] for r in rows])) for i in range(k)]

    mr_fit_cpu = float(np.sum([f[1] for f in dig["mr_fit"]]))
    beta_fit_cpu = per_beta("beta_fit", 1)
    mr_fit_wall, beta_fit_wall = float(np.sum([f[0] for f in dig["mr_fit"]])), per_beta("beta_fit", 0)
    mr_wall, beta_wall = float(np.sum(dig["mr_seconds"])), per_beta("beta_seconds")
    mr_cpu, beta_cpu = float(np.sum(dig["mr_cpu"])), per_beta("beta_cpu")
    cpu = {
        "training_wall_seconds": {"mr_vae": round(mr_fit_wall, 2), "beta_vaes": [round(s, 2) for s in beta_fit_wall]},
        "training_wall_ratio": round(mr_fit_wall / sum(beta_fit_wall), 4),
        "end_to_end_cpu_seconds": {"mr_vae": round(mr_cpu, 2), "beta_vaes": [round(s, 2) for s in beta_cpu]},
        "end_to_end_cpu_ratio": round(mr_cpu / sum(beta_cpu), 4),
        "end_to_end_wall_seconds": {"mr_vae": round(mr_wall, 2), "beta_vaes": [round(s, 2) for s in beta_wall]},
        "end_to_end_wall_ratio": round(mr_wall / sum(beta_wall), 4),
        "note": "end to end = data, training and the final evaluation (MR-VAE: 11-beta curve and its plot; "
        "beta-VAE: one beta), in this process",
    }
    claims = [
        monotone_claim(dig["curves"]),
        matched_claim(dig["mr"], dig["beta"]),
        cost_claim(mr_fit_cpu, beta_fit_cpu, cpu),
        linear_claim(lin["trained"]["loss"], lin["optimum"]["loss"], lin["constant"], lin["trained"]["beta"]),
    ]
    plots = _plots(args.out, dig, lin)
    seeds = list(range(args.seed, args.seed + size["seeds"]))
    write_summary(
        args.out,
        "mr-vae",
        claims,
        time.perf_counter() - t0,
        plots=plots,
        quick=args.quick,
        setup={
            **size,
            "seeds": seeds,
            "matched_betas": list(MATCHED_BETAS),
            "threads": threads,
            "digits": "sklearn digits binarised at 0.5, 80/20 split, MLP 64-256-256-16, Adam 1e-3, batch 128",
            "linear": f"raw digits, sigma2={LINEAR_SIGMA2}, latent {LINEAR_LATENT}, Adam {LINEAR_LR}",
        },
        curves={"mr_vae": dig["curves"], "linear_trained": lin["trained"], "linear_optimum": lin["optimum"]},
        spread={
            "matched_mr": {str(b): v for b, v in dig["mr"].items()},
            "matched_beta": {str(b): v for b, v in dig["beta"].items()},
            "mr_std_over_seeds": {str(b): (statistics.stdev(v) if len(v) > 1 else None) for b, v in dig["mr"].items()},
        },
    )
    for c in claims:
        print(f"[{c.verdict:>10}] {c.claim}: ours {c.ours}")
    print(f"wrote {args.out / 'summary.json'}")
    return 0


def entry() -> None:
    run_cli(main)
