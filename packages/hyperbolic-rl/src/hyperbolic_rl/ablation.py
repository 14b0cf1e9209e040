"""``hyperbolic-rl-ablation``: why S-RYM trails the Euclidean agent on CartPole (issue 20, item 1).

Cetin et al. (ICLR 2023, Sec. 4) make hyperbolic PPO stable with S-RYM: spectral norm on every
encoder layer and ``x / sqrt(d)`` before ``exp_0``. On CartPole's small, unnormalised 4-d inputs
both may cap how strongly the network can react to an observation: the ball points stay near the
origin (geometry nearly flat) and the policy's logit gap moves little per unit of observation. This
module trains, for several seeds and budgets, the variants

* ``euclidean``: the Euclidean agent; ``euclidean_sn``: plus spectral norm (official ``ppo_sn``);
* ``srym``: S-RYM as the official config; ``srym_obsnorm``: with running observation normalisation
  (the official ``Preprocessor``'s ``normalization`` mode); ``srym_gain``: rescale gain sqrt(d)
  (i.e. no 1/sqrt(d) shrinkage); ``srym_normal_init``: the "normal" MLR init of round 1;
  ``euclidean_obsnorm`` / ``euclidean_sn_obsnorm`` / ``naive_obsnorm``: the other agents with the
  same observation normalisation (the package default since this ablation),

and measures the final return (mean of the last 20 training episodes), the largest relative ball
radius, and the *reactivity* of the trained policy: the gradient norm of the logit gap
``logit_0 - logit_1`` w.r.t. the observation, and the spread (std) of that gap over 500 visited
states. Results are appended to ``OUT/ablation.json`` after every run (a killed run loses nothing;
rerunning skips finished runs) and rendered as ``OUT/ablation.md``.
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

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, check, run_cli
from orals23_shared.threads import set_threads

__all__ = ["VARIANTS", "main", "entry", "run_variant", "reactivity", "render_table"]

VARIANTS: dict[str, dict[str, Any]] = {
    "euclidean": {"head": "euclidean", "obs_norm": False},
    "euclidean_sn": {"head": "euclidean_sn", "obs_norm": False},
    "srym": {"head": "srym", "obs_norm": False},
    "srym_obsnorm": {"head": "srym", "obs_norm": True},
    "srym_gain": {"head": "srym", "obs_norm": False, "rescale_gain": math.sqrt(32)},
    "srym_normal_init": {"head": "srym", "obs_norm": False, "normal_init": "normal"},
    "euclidean_obsnorm": {"head": "euclidean", "obs_norm": True},
    "euclidean_sn_obsnorm": {"head": "euclidean_sn", "obs_norm": True},
    "naive_obsnorm": {"head": "hyperbolic", "obs_norm": True},
}
DEFAULT_VARIANTS = ("euclidean", "srym", "srym_obsnorm", "srym_gain", "euclidean_sn", "euclidean_obsnorm")


def reactivity(model, states: np.ndarray, obs_norm=None) -> dict[str, float]:  # noqa: ANN001
    """How strongly the policy reacts to the observation: ``|d(logit_0 - logit_1)/d obs|`` and the
    std of the logit gap over ``states`` (raw observations; the agent's normaliser is applied)."""
    import torch

    x = obs_norm(states) if obs_norm is not None else states
    dtype = next(model.parameters()).dtype
    obs = torch.as_tensor(np.asarray(x), dtype=dtype).requires_grad_(True)
    model.eval()
    logits, _, _ = model(obs)
    gap = logits[:, 0] - logits[:, -1]
    (grad,) = torch.autograd.grad(gap.sum(), obs)
    g = grad.norm(dim=-1).detach().numpy()
    return {"gap_grad_mean": float(g.mean()), "gap_grad_max": float(g.max()), "gap_std": float(gap.detach().std())}


def run_variant(variant: str, seed: int, steps: int, env_id: str = "CartPole-v1") -> dict[str, Any]:
    """Train one variant and return its return, norms and reactivity."""
    import torch

    from hyperbolic_rl.data import collect_states
    from hyperbolic_rl.train import TrainConfig, train

    cfg = TrainConfig(env_id=env_id, seed=seed, total_steps=steps, threads=1, **VARIANTS[variant])
    cpu0 = time.process_time()
    res = train(cfg)
    model, onorm = res["model"].eval(), res["obs_norm"]

    def policy(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits, _, _ = model(torch.as_tensor(onorm(x) if onorm is not None else x))
        return logits.argmax(-1).numpy()

    states = collect_states(env_id, 500, seed=seed + 321, policy=policy)
    ball = [h["ball_norm_max"] for h in res["history"] if h.get("ball_norm_max") is not None]
    return {
        "variant": variant,
        "seed": seed,
        "steps": steps,
        "final_return": res["final_return"],
        "auc": res["auc"],
        "nonfinite": res["nonfinite"],
        "ball_norm_max": max(ball) if ball else None,
        "seconds": res["seconds"],
        "cpu_seconds": time.process_time() - cpu0,  # training only, this process (load-independent)
        **reactivity(model, states, onorm),
    }


def _fmt(vals: list[float], digits: int = 1) -> str:
    if not vals:
        return "-"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals):.{digits}f}"


def render_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per variant; at each budget the return mean ± std over the seeds run, its
    ratio to the Euclidean mean and the number of seeds ``n``; the diagnostics at the smallest budget."""
    budgets = sorted({r["steps"] for r in rows})
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    first = budgets[0] // 1000
    head = "| variant | " + " | ".join(f"return @ {b // 1000}k (x Euclidean, n seeds)" for b in budgets)
    head += f" | max ball radius @ {first}k | logit-gap gradient (mean) @ {first}k | logit-gap std @ {first}k |"
    lines = [head, "|" + "---|" * (len(budgets) + 4)]
    for v in variants:
        cells = []
        for b in budgets:
            vals = [r["final_return"] for r in rows if r["variant"] == v and r["steps"] == b]
            base = [r["final_return"] for r in rows if r["variant"] == "euclidean" and r["steps"] == b]
            ratio = f"{np.mean(vals) / np.mean(base):.2f}x, " if vals and base else ""
            cells.append(f"{_fmt(vals)} ({ratio}n={len(vals)})" if vals else "not run")
        diag = [r for r in rows if r["variant"] == v and r["steps"] == budgets[0]]
        ball = [r["ball_norm_max"] for r in diag if r["ball_norm_max"] is not None]
        lines.append(
            f"| {v} | "
            + " | ".join(cells)
            + f" | {_fmt(ball, 3)} | {_fmt([r['gap_grad_mean'] for r in diag], 2)} | "
            + f"{_fmt([r['gap_std'] for r in diag], 2)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hyperbolic-rl-ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/hyperbolic-rl-ablation"), help="output folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (default: %(default)s)")
    parser.add_argument("--steps", default="40000,100000", help="comma-separated budgets (default: %(default)s)")
    parser.add_argument(
        "--variants", default=",".join(DEFAULT_VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}"
    )
    parser.add_argument("--env-id", default="CartPole-v1", help="environment (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        budgets = [int(s) for s in args.steps.split(",") if s]
    except ValueError as e:
        raise UsageError(f"--steps: expected comma-separated integers, got {args.steps!r}") from e
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    check(not bad, f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    check(args.seeds >= 1 and budgets and min(budgets) >= 512, "--seeds >= 1 and --steps >= 512 required")
    set_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ablation.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text())["runs"] if path.exists() else []
    done = {(r["variant"], r["seed"], r["steps"]) for r in rows}
    t0 = time.time()
    for steps in budgets:
        for seed in range(args.seeds):
            for v in variants:
                if (v, seed, steps) in done:
                    continue
                row = run_variant(v, seed, steps, args.env_id)
                rows.append(row)
                atomic_write_json(path, {"env_id": args.env_id, "runs": rows})
                (args.out / "ablation.md").write_text(render_table(rows))
                print(
                    f"{v:>18} seed {seed} {steps // 1000}k: return {row['final_return']:.1f}, "
                    f"gap grad {row['gap_grad_mean']:.2f}, {row['seconds']:.0f}s ({time.time() - t0:.0f}s total)",
                    flush=True,
                )
    text = render_table(rows)
    (args.out / "ablation.md").write_text(text)
    print(text)
    return 0


def entry() -> None:
    run_cli(main)
