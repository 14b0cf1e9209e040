"""``circe-bench``: cost per training step of CIRCE vs HSCIC vs GCM, and OOD loss at equal wall time.

Paper, Sec. 3 and brief (g): CIRCE solves its Z|Y regression once (O(M^3) before training) and pays
O(B M^2 + B^2 M) per step; HSCIC re-solves a B x B system every step (O(B^3)); GCM fits a linear regression per
step. "Efficient" in the title is statistical (one regression on a held-out set) and computational when M is
not much larger than B. Both measurements run side by side in one process on the same data.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from circe.data import linear_gaussian
from circe.evaluate import evaluate_model
from circe.losses import LinearFit, fit_linear, gcm_statistic, hscic_statistic
from circe.model import MLP
from circe.regression import circe_statistic, fit_heldout_regression
from circe.train import TrainConfig, train
from circe.utils import limit_threads
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import run_cli

__all__ = ["step_times", "equal_time", "main", "entry"]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def _step(model: MLP, pen: str, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, reg, lin: LinearFit) -> None:
    """One forward+backward pass of MSE + penalty."""
    model.zero_grad()
    pred = model(x)[-1]
    loss = F.mse_loss(pred, y)
    if pen == "circe":
        loss = loss + circe_statistic(pred, y, z, reg)
    elif pen == "hscic":
        loss = loss + hscic_statistic(pred, z, y, 1.0, None, 1.0, 1.0)
    elif pen == "gcm":
        loss = loss + gcm_statistic(pred, fit_linear(y, pred)(y).float(), z, lin(y))
    loss.backward()


def step_times(batch_sizes: Sequence[int], heldout_sizes: Sequence[int], repeats: int, seed: int = 0) -> list[dict]:
    """Seconds per forward+backward step (MLP + MSE + penalty) for each method, B and M."""
    data = linear_gaussian(max(batch_sizes) + max(heldout_sizes), seed)
    model = MLP(data.x.shape[1], 1)
    rows = []
    for m in heldout_sizes:
        reg = fit_heldout_regression(data.y[:m].double(), data.z[:m].double(), loo=False, sigma2_y=1.0, lam=0.1)
        reg = reg.to(dtype=torch.float32)
        fit = fit_linear(reg.y, reg.z)
        lin = LinearFit(fit.coef.float(), fit.intercept.float())
        for b in batch_sizes:
            x, y, z = data.x[-b:], data.y[-b:], data.z[-b:]
            row: dict[str, Any] = {"B": b, "M": m}
            for pen in ("erm", "circe", "hscic", "gcm"):
                row[f"{pen}_ms"] = 1000 * _time(lambda p=pen, a=(x, y, z, reg, lin): _step(model, p, *a), repeats)
            row["circe_over_hscic"] = row["circe_ms"] / row["hscic_ms"]
            row["circe_over_gcm"] = row["circe_ms"] / row["gcm_ms"]
            rows.append(row)
    return rows


def equal_time(out: Path, seconds: float, gammas: dict[str, float], seed: int = 0) -> list[dict]:
    """Train each method on the linear-Gaussian task for the same wall time; ID/OOD test MSE."""
    train_data = (linear_gaussian(4500, seed), linear_gaussian(1000, seed + 1))
    tests = {"id": linear_gaussian(2000, seed + 2), "ood": linear_gaussian(2000, seed + 3, ood=True)}
    rows = []
    for method, gamma in gammas.items():
        cfg = TrainConfig(
            method=method,
            gamma=gamma,
            epochs=10_000,
            max_seconds=seconds,
            quiet=True,
            out=out / f"equal-time-{method}",
            seed=seed,
            checkpoint_every=10_000,
        )
        res = train(cfg, data=train_data)
        row = {"method": method, "gamma": gamma, "seconds": seconds, "steps": res.summary["steps"]}
        for split, d in tests.items():
            row[f"{split}_mse"] = evaluate_model(res.module.model, d, seed=seed)["mse"]
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="circe-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and a shorter time budget")
    parser.add_argument("--out", type=Path, default=Path("bench/circe"), help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="only cpu is timed here (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=None, help="equal-time budget per method (s)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    bs = (64, 256) if args.quick else (64, 128, 256, 512, 1024)
    ms = (250, 1000) if args.quick else (250, 500, 1000, 2000)
    steps = step_times(bs, ms, repeats=3 if args.quick else 10, seed=args.seed)
    print(f"{'B':>5} {'M':>5} {'erm ms':>8} {'circe ms':>9} {'hscic ms':>9} {'gcm ms':>8} {'circe/hscic':>11}")
    for r in steps:
        print(
            f"{r['B']:>5} {r['M']:>5} {r['erm_ms']:>8.2f} {r['circe_ms']:>9.2f} {r['hscic_ms']:>9.2f} "
            f"{r['gcm_ms']:>8.2f} {r['circe_over_hscic']:>11.2f}"
        )
    seconds = args.seconds if args.seconds is not None else (15.0 if args.quick else 60.0)
    eq = equal_time(args.out, seconds, {"erm": 0.0, "circe": 1000.0, "hscic": 1000.0, "gcm": 1.0}, seed=args.seed)
    for r in eq:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    atomic_write_json(args.out / "bench.json", {"step_times": steps, "equal_time": eq, "threads": args.threads})
    print(f"wrote {args.out / 'bench.json'}")
    return 0


def entry() -> None:
    run_cli(main)
