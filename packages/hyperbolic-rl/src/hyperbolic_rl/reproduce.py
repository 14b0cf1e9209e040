"""``hyperbolic-rl-reproduce``: the CPU-sized check of Cetin et al. (ICLR 2023).

The paper's experiments (PPO on Procgen for 25M steps per game, Rainbow on Atari 100K) need GPUs.
This reproduction checks the paper's qualitative claims on CartPole-v1 with three heads
(Euclidean, naive hyperbolic, hyperbolic + S-RYM) and several seeds:

1. S-RYM trains end to end without non-finite losses or gradients (Sec. 4).
2. S-RYM's final return is at least the Euclidean agent's minus 10% (the paper reports gains on
   Procgen/Atari; on CartPole both may saturate near 500).
3. Without S-RYM the representations sit at the ball's edge (Sec. 3): judged on absolute bars fixed
   here, >= 5% of the naive agent's training states within 0.01 of the edge (relative radius > 0.99)
   and < 0.1% of S-RYM's.
4. Without S-RYM training has gradient-norm or KL spikes, with S-RYM none (Sec. 3, Fig. 3): a spike
   is an update whose largest pre-clip gradient norm exceeds 10x the run's own median, or whose
   largest minibatch approx-KL exceeds 0.05; reproduced when at least half of the naive runs have a
   spike and no S-RYM run has one.
5. Training makes an agent's features more tree-like (Sec. 3, Table 1): the relative Gromov delta of
   the Euclidean agent's trained features is below that of its *own initial* weights on the same
   states (mean over 4 base points and 5 subsamples of 200 states).

The verdicts come from ``build_claims``, a pure function of the per-run summaries, so a unit test
can feed it runs for which a claim must come out "not" or "partly".

``--quick``: 2 seeds x 30k steps per head (about 3 CPU-minutes with one thread); the full run: 3
seeds x 100k steps.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from orals23_shared.cli import check, run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.threads import set_threads

__all__ = ["main", "entry", "run_one", "summarise_run", "build_claims", "EDGE_FRAC_NAIVE", "EDGE_FRAC_SRYM"]

HEADS = ("euclidean", "hyperbolic", "srym")
#: bars fixed before measuring (issue 20): edge fractions, spike definitions, return ratio
EDGE_FRAC_NAIVE = 0.05
EDGE_FRAC_SRYM = 0.001
GRAD_SPIKE_FACTOR = 10.0
KL_SPIKE = 0.05
RETURN_RATIO, RETURN_RATIO_PARTLY = 0.9, 0.75


def summarise_run(result: dict[str, Any]) -> dict[str, Any]:
    """Scalar diagnostics of one training run (JSON-friendly)."""
    hist = result["history"]

    def col(key: str) -> list[float]:
        return [h[key] for h in hist if h.get(key) is not None]

    gn, kl = col("grad_norm_max"), col("approx_kl_max")
    med = float(np.median(gn)) if gn else float("nan")
    out = {
        "final_return": result["final_return"],
        "auc": result["auc"],
        "nonfinite_updates": result["nonfinite"],
        "nonfinite_metrics": int(sum(not np.isfinite(v) for h in hist for v in h.values() if isinstance(v, float))),
        "grad_norm_max": float(max(gn)) if gn else float("nan"),
        "grad_norm_median": med,
        "grad_spikes": int(sum(g > GRAD_SPIKE_FACTOR * med for g in gn)) if gn else 0,
        "approx_kl_max": float(max(kl)) if kl else float("nan"),
        "kl_spikes": int(sum(k > KL_SPIKE for k in kl)),
        "feature_norm_max": float(max(col("feature_norm_max"))),
        "seconds": result["seconds"],
        "steps": result["global_step"],
        "curve": [(s, r) for s, r in result["episodes"]],
        "ball_norm_max_curve": col("ball_norm_max"),
        "grad_norm_curve": gn,
    }
    if col("ball_norm_max"):
        out["ball_norm_max"] = float(max(col("ball_norm_max")))
        out["ball_frac_edge_max"] = float(max(col("ball_frac_edge")))
        # every rollout has the same number of states: the mean is the fraction over all of them
        out["ball_frac_edge"] = float(np.mean(col("ball_frac_edge")))
    return out


def run_one(args: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """Train one (env, head, seed, steps) agent; returns its summary and the delta probe of its
    features with its initial and its trained weights on the same states."""
    import torch

    from hyperbolic_rl.data import collect_states
    from hyperbolic_rl.diagnostics import relative_delta
    from hyperbolic_rl.train import TrainConfig, build_model, train

    env_id, head, seed, steps, n_states = args
    cfg = TrainConfig(env_id=env_id, head=head, seed=seed, total_steps=steps, threads=1)
    result = train(cfg)
    out = {"head": head, "seed": seed, **summarise_run(result)}
    model, onorm = result["model"].eval(), result["obs_norm"]
    initial, _ = build_model(cfg, model.obs_shape, model.n_actions)
    initial.load_state_dict(result["initial_state"])
    initial.eval()

    def prep(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(onorm(x) if onorm is not None else x)

    def policy(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits, _, _ = model(prep(x))
        return logits.argmax(-1).numpy()

    states = collect_states(env_id, n_states, seed=seed + 123, policy=policy)
    with torch.no_grad():
        z_trained, _ = model.features(prep(states))
        z_initial, _ = initial.features(prep(states))
    n = min(200, n_states)
    out["delta_rel_trained"] = relative_delta(z_trained, n=n, seed=seed)["delta_rel"]
    out["delta_rel_initial"] = relative_delta(z_initial, n=n, seed=seed)["delta_rel"]
    return out


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in runs if key in r]
    return float(np.mean(vals)) if vals else float("nan")


def build_claims(by: dict[str, list[dict[str, Any]]], env_id: str = "CartPole-v1") -> list[Claim]:
    """The five claims from per-head lists of ``run_one`` summaries (bars fixed above)."""
    claims: list[Claim] = []
    srym_nonfinite = sum(r["nonfinite_updates"] + r["nonfinite_metrics"] for r in by["srym"])
    claims.append(
        Claim.threshold(
            "S-RYM trains end to end with finite losses and gradients (no skipped non-finite update)",
            paper="stable end-to-end training (Sec. 4)",
            ours=f"{srym_nonfinite} non-finite updates/metrics in {len(by['srym'])} runs",
            ok=srym_nonfinite == 0,
            runs=len(by["srym"]),
        )
    )
    e_final, s_final = _mean(by["euclidean"], "final_return"), _mean(by["srym"], "final_return")
    ratio = s_final / max(e_final, 1e-9)
    claims.append(
        Claim.threshold(
            f"S-RYM final return >= {RETURN_RATIO} x Euclidean ({env_id}, mean of last 20 episodes)",
            paper="S-RYM >= Euclidean on most Procgen / Atari games",
            ours=f"S-RYM {s_final:.1f} vs Euclidean {e_final:.1f} (ratio {ratio:.2f})",
            ok=ratio >= RETURN_RATIO,
            partly=ratio >= RETURN_RATIO_PARTLY,
            srym=[r["final_return"] for r in by["srym"]],
            euclidean=[r["final_return"] for r in by["euclidean"]],
            naive=[r["final_return"] for r in by["hyperbolic"]],
        )
    )
    n_edge, s_edge = _mean(by["hyperbolic"], "ball_frac_edge"), _mean(by["srym"], "ball_frac_edge")
    naive_at_edge, srym_inside = n_edge >= EDGE_FRAC_NAIVE, s_edge < EDGE_FRAC_SRYM
    claims.append(
        Claim.threshold(
            f"without S-RYM >= {EDGE_FRAC_NAIVE:.0%} of training states lie within 0.01 of the ball's edge; "
            f"with S-RYM < {EDGE_FRAC_SRYM:.1%}",
            paper="naive hyperbolic PPO: representations pushed to the boundary (Sec. 3)",
            ours=f"states at relative radius > 0.99: naive {n_edge:.1%}, S-RYM {s_edge:.1%}",
            ok=naive_at_edge and srym_inside,
            partly=naive_at_edge or srym_inside,
            naive_per_seed=[r.get("ball_frac_edge") for r in by["hyperbolic"]],
            srym_per_seed=[r.get("ball_frac_edge") for r in by["srym"]],
            naive_ball_norm_max=_mean(by["hyperbolic"], "ball_norm_max"),
            srym_ball_norm_max=_mean(by["srym"], "ball_norm_max"),
        )
    )

    def spikes(r: dict[str, Any]) -> int:
        return int(r["grad_spikes"] + r["kl_spikes"])

    naive_spiky = [spikes(r) > 0 for r in by["hyperbolic"]]
    srym_spikes = sum(spikes(r) for r in by["srym"])
    naive_has = bool(naive_spiky) and sum(naive_spiky) >= len(naive_spiky) / 2
    claims.append(
        Claim.threshold(
            f"without S-RYM training shows gradient-norm (> {GRAD_SPIKE_FACTOR:g}x the run's median) or KL "
            f"(> {KL_SPIKE}) spikes; with S-RYM none",
            paper="naive hyperbolic PPO: exploding gradients and trust-region violations (Sec. 3, Fig. 3)",
            ours=f"naive runs with a spike: {sum(naive_spiky)}/{len(naive_spiky)}; S-RYM spikes: {srym_spikes}",
            ok=naive_has and srym_spikes == 0,
            partly=naive_has or srym_spikes == 0,
            naive_grad_spikes=[r["grad_spikes"] for r in by["hyperbolic"]],
            naive_kl_spikes=[r["kl_spikes"] for r in by["hyperbolic"]],
            srym_grad_spikes=[r["grad_spikes"] for r in by["srym"]],
            srym_kl_spikes=[r["kl_spikes"] for r in by["srym"]],
            naive_grad_norm_max=_mean(by["hyperbolic"], "grad_norm_max"),
            srym_grad_norm_max=_mean(by["srym"], "grad_norm_max"),
            naive_kl_max=_mean(by["hyperbolic"], "approx_kl_max"),
            srym_kl_max=_mean(by["srym"], "approx_kl_max"),
        )
    )
    d_tr, d_init = _mean(by["euclidean"], "delta_rel_trained"), _mean(by["euclidean"], "delta_rel_initial")
    claims.append(
        Claim.threshold(
            "training lowers the relative delta of the Euclidean agent's features (vs its own initial weights)",
            paper="RL representations are tree-like, low delta_rel (Sec. 3, Table 1)",
            ours=f"delta_rel trained {d_tr:.3f} vs initial {d_init:.3f}",
            ok=d_tr < d_init,
            per_head={
                h: {"trained": _mean(by[h], "delta_rel_trained"), "initial": _mean(by[h], "delta_rel_initial")}
                for h in HEADS
            },
        )
    )
    return claims


def _plot(runs: list[dict[str, Any]], out: Path, window: int = 20) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = {"euclidean": "tab:blue", "hyperbolic": "tab:red", "srym": "tab:green"}
    for r in runs:
        c = colors[r["head"]]
        label = r["head"] if r["seed"] == min(x["seed"] for x in runs) else None
        if r["curve"]:
            steps, rets = np.array(r["curve"]).T
            smooth = np.convolve(rets, np.ones(window) / window, mode="valid") if len(rets) >= window else rets
            axes[0].plot(steps[len(steps) - len(smooth) :], smooth, color=c, label=label, alpha=0.8)
        if r.get("ball_norm_max_curve"):
            axes[1].plot(r["ball_norm_max_curve"], color=c, label=label, alpha=0.8)
        axes[2].plot(r["grad_norm_curve"], color=c, label=label, alpha=0.8)
    axes[0].set(title="episode return (moving avg 20)", xlabel="env steps")
    axes[1].set(title="max relative ball norm per rollout", xlabel="update", ylim=(0, 1.02))
    axes[2].set(title="max pre-clip gradient norm per update", xlabel="update", yscale="log")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    path = out / "cartpole_heads.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hyperbolic-rl-reproduce",
        description="Check S-RYM's stability, return and delta-hyperbolicity claims on CartPole (CPU-sized).",
    )
    add_reproduce_args(parser, default_out="reproduce/hyperbolic-rl")
    parser.add_argument("--env-id", default="CartPole-v1", help="environment (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per head (default: 2 quick, 3 full)")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: 30k quick, 100k full)")
    parser.add_argument(
        "--workers", type=int, default=0, help="parallel runs (default 0: the --threads count, one thread each)"
    )
    parser.add_argument(
        "--probe-states", type=int, default=1000, help="states for the delta probe (default: %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-run lines")
    args = parser.parse_args(argv)
    from hyperbolic_rl.data import check_env_id

    threads = set_threads(args.threads)
    args.workers = args.workers or threads

    check_env_id(args.env_id)
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    steps = args.steps if args.steps is not None else (30_000 if args.quick else 100_000)
    check(n_seeds >= 1 and steps >= 512 and args.workers >= 1, "--seeds, --workers >= 1 and --steps >= 512 required")
    check(args.probe_states >= 8, f"--probe-states must be >= 8, got {args.probe_states}")
    check(args.device == "cpu", "reproduce runs on CPU only (tiny networks)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jobs = [
        (args.env_id, head, args.seed + s, steps, args.probe_states)
        for s in range(n_seeds)
        for head in ("srym", "hyperbolic", "euclidean")
    ]
    runs: list[dict[str, Any]] = []
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            for r in pool.map(run_one, jobs):
                runs.append(r)
                if not args.quiet:
                    print(
                        f"{r['head']:>10} seed {r['seed']}: final {r['final_return']:.1f}, {r['seconds']:.0f}s",
                        flush=True,
                    )
    else:
        for job in jobs:
            r = run_one(job)
            runs.append(r)
            if not args.quiet:
                print(
                    f"{r['head']:>10} seed {r['seed']}: final {r['final_return']:.1f}, {r['seconds']:.0f}s", flush=True
                )
    by = {h: [r for r in runs if r["head"] == h] for h in HEADS}
    (out / "runs.json").write_text(json.dumps(runs, indent=1, default=float) + "\n")

    claims = build_claims(by, args.env_id)
    claims.append(
        Claim.not_run(
            "S-RYM PPO beats Euclidean PPO on Procgen test levels (16 games, 200 training levels, 25M steps)",
            paper="higher test return on most of the 16 Procgen games (Table 2)",
            reason="25M steps per game and agent cost ~205 CPU-hours here (measured ~30 CPU-ms per env step on "
            "bigfish with the IMPALA encoder, 1 thread); needs a GPU. The adapter and a smoke run are tested.",
        )
    )
    plots = [_plot(runs, out)]
    seconds = time.time() - t0
    path = write_summary(
        out,
        "hyperbolic-rl",
        claims,
        seconds,
        plots=plots,
        quick=args.quick,
        env_id=args.env_id,
        seeds=n_seeds,
        steps_per_run=steps,
        preprocessing="running observation normalisation (official Preprocessor normalization) for every agent",
        per_head={
            h: {
                k: _mean(by[h], k)
                for k in (
                    "final_return",
                    "auc",
                    "ball_norm_max",
                    "ball_frac_edge",
                    "grad_norm_max",
                    "approx_kl_max",
                    "delta_rel_trained",
                    "delta_rel_initial",
                    "seconds",
                )
            }
            for h in HEADS
        },
    )
    if not args.quiet:
        for c in claims:
            print(f"[{c.verdict}] {c.claim}: {c.ours}")
        print(f"wrote {path} ({seconds:.0f}s)")
    return 0


def entry() -> None:
    run_cli(main)
