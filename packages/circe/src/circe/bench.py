"""``circe-bench``: per-step cost of CIRCE vs HSCIC vs GCM against B and M, and test MSE at equal wall time.

Paper, Sec. 3 and brief (g): CIRCE solves its conditional regression (Z-features on Y) **once**, on a held-out set
of M rows, before training; each step then costs kernel evaluations against the M rows and
O(B M^2 + B^2 M) products, with no regression. HSCIC re-solves a B x B kernel ridge regression on every batch
(O(B^3)); GCM fits a linear regression on every batch. The bench times (``orals23_shared.bench.time_call``,
median of >= 5 with min/max, side by side in one process):

* ``step``: one forward+backward pass of MLP + MSE + penalty, per method, for each (B, M);
* ``regression``: the conditional regression alone - HSCIC's per-step B x B solve, and CIRCE's one-off
  held-out fit (M x M solve; with the closed-form LOO selection as ``regression_loo``);
* ratios: ``circe_over_hscic`` (per step), ``hscic_regression_share`` (the part of an HSCIC step that is its
  regression) and ``circe_step_over_regression`` (a CIRCE step against the regression it does not repeat).

``equal_time`` trains every method on the linear-Gaussian task for the same wall time, at a gamma where none
collapses to a constant predictor (checked: the run's ID test MSE is reported with ``collapsed`` when it is
within 10% of Var(Y)).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from circe.data import linear_gaussian
from circe.evaluate import evaluate_model
from circe.kernels import gaussian_kernel
from circe.losses import LinearFit, fit_linear, gcm_statistic, hscic_statistic
from circe.model import MLP
from circe.regression import circe_statistic, fit_heldout_regression
from circe.train import TrainConfig, train
from orals23_shared.bench import add_bench_args, load_snapshot, time_call, write_bench
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.threads import set_threads

__all__ = ["EQUAL_TIME_GAMMAS", "step_times", "growth", "equal_time", "main", "entry"]

#: strengths (standardised units) at which no method collapsed to a constant predictor on the linear-Gaussian
#: task in the quick reproduction's sweeps; the equal-time runs check it again
EQUAL_TIME_GAMMAS = {"erm": 0.0, "circe": 300.0, "hscic": 10.0, "gcm": 0.1}


def _step(model: MLP, pen: str, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, reg, lin: LinearFit) -> None:
    """One forward+backward pass of MSE + penalty (the penalties' official forms and bandwidths)."""
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


def _hscic_regression(y: torch.Tensor) -> torch.Tensor:
    """HSCIC's per-step regression alone: ``W = (K_Y + lambda I)^-1 K_Y`` on the batch."""
    k = gaussian_kernel(y, sigma2=1.0)
    return torch.linalg.solve(k + torch.eye(k.shape[0]), k)


def step_times(
    batch_sizes: Sequence[int], heldout_sizes: Sequence[int], repeats: int = 5, warmup: int = 1, seed: int = 0
) -> list[dict[str, Any]]:
    """Milliseconds per step (and per regression) for each method, B and M: median, min and max of ``repeats``."""
    torch.manual_seed(seed)
    data = linear_gaussian(max(batch_sizes) + max(heldout_sizes), seed)
    model = MLP(data.x.shape[1], 1)
    rows = []
    for m in heldout_sizes:
        y_h, z_h = data.y[:m].double(), data.z[:m].double()
        fit = partial(fit_heldout_regression, y_h, z_h, loo=False, sigma2_y=1.0, lam=0.1)
        fit_once = time_call(fit, repeats, warmup)
        reg64 = fit()
        reg = reg64.to(dtype=torch.float32)
        zy = fit_linear(reg.y, reg.z)
        lin = LinearFit(zy.coef.float(), zy.intercept.float())
        for b in batch_sizes:
            x, y, z = data.x[-b:], data.y[-b:], data.z[-b:]
            row: dict[str, Any] = {"B": b, "M": m}
            for pen in ("erm", "circe", "hscic", "gcm"):
                t = time_call(partial(_step, model, pen, x, y, z, reg, lin), repeats, warmup)
                row.update({f"{pen}_ms": 1000 * t.median, f"{pen}_min_ms": 1000 * t.min, f"{pen}_max_ms": 1000 * t.max})
            hr = time_call(partial(_hscic_regression, y), repeats, warmup)
            row["hscic_regression_ms"] = 1000 * hr.median
            row["circe_regression_once_ms"] = 1000 * fit_once.median
            row["circe_over_hscic"] = row["circe_ms"] / row["hscic_ms"]
            row["hscic_regression_share"] = row["hscic_regression_ms"] / row["hscic_ms"]
            row["circe_step_over_regression"] = row["circe_ms"] / row["circe_regression_once_ms"]
            rows.append(row)
    return rows


def equal_time(out: Path, seconds: float, gammas: dict[str, float], seed: int = 0, n_train: int = 4000) -> list[dict]:
    """Train each method on the linear-Gaussian task for the same wall time; ID/OOD test MSE."""
    splits = {"train": linear_gaussian(n_train + 500, seed), "val": linear_gaussian(1000, seed + 1)}
    tests = {"id": linear_gaussian(2000, seed + 2), "ood": linear_gaussian(2000, seed + 3, ood=True)}
    var_y = float(tests["id"].y.var())
    rows = []
    for method, gamma in gammas.items():
        cfg = TrainConfig(
            method=method,
            gamma=gamma,
            epochs=10_000,
            max_seconds=seconds,
            quiet=True,
            out=out / f"equal-time-{method}",
            overwrite=True,
            seed=seed,
            n_eval=0,
            checkpoint_every=10_000,
        )
        t0 = time.process_time()
        res = train(cfg, data=splits)
        row = {"method": method, "gamma": gamma, "seconds": seconds, "steps": res.summary["steps"]}
        row["cpu_seconds"] = round(time.process_time() - t0, 1)
        for split, d in tests.items():
            row[f"{split}_mse"] = evaluate_model(res.module.model, d, seed=seed)["mse"]
        row["collapsed"] = row["id_mse"] > 0.9 * var_y
        rows.append(row)
    return rows


def _sizes(text: str | None, flag: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise UsageError(f"{flag}: expected comma-separated integers, got {text!r}") from e
    if not vals or min(vals) < 4:
        raise UsageError(f"{flag}: every size must be >= 4, got {text!r}")
    return vals


def growth(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per M: how much each cost grows from the smallest to the largest B (time(B_max) / time(B_min)).

    HSCIC's per-step regression grows like B^3; CIRCE's step has no regression and grows like B^2 M at most.
    """
    out: dict[str, dict[str, float]] = {}
    for m in sorted({r["M"] for r in rows}):
        rs = sorted((r for r in rows if r["M"] == m), key=lambda r: r["B"])
        lo, hi = rs[0], rs[-1]
        out[f"M={m}"] = {
            "B": [lo["B"], hi["B"]],
            **{
                f"{k}_growth": hi[k] / lo[k]
                for k in ("erm_ms", "circe_ms", "hscic_ms", "gcm_ms", "hscic_regression_ms")
            },
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="circe-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "circe")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and a shorter equal-time budget")
    parser.add_argument("--seconds", type=float, default=None, help="equal-time budget per method (s)")
    parser.add_argument("--no-equal-time", action="store_true", help="only the per-step timings")
    parser.add_argument("--batch-sizes", type=str, default=None, help="comma-separated B values (default: by mode)")
    parser.add_argument("--heldout-sizes", type=str, default=None, help="comma-separated M values (default: by mode)")
    args = parser.parse_args(argv)
    if args.device != "cpu":
        raise UsageError("circe-bench times the CPU only (--device cpu)")
    threads = set_threads(args.threads)
    load_before = load_snapshot()
    bs = _sizes(args.batch_sizes, "--batch-sizes") or ((64, 256, 1024) if args.quick else (64, 128, 256, 512, 1024))
    ms = _sizes(args.heldout_sizes, "--heldout-sizes") or ((250, 1000) if args.quick else (250, 500, 1000, 2000))
    try:
        steps = step_times(bs, ms, repeats=args.repeats, warmup=args.warmup, seed=args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(
        f"{'B':>5} {'M':>5} {'erm ms':>7} {'circe ms':>9} {'hscic ms':>9} {'gcm ms':>7} {'circe/hscic':>11} "
        f"{'hscic regr share':>16} {'circe regr once ms':>18}"
    )
    for r in steps:
        print(
            f"{r['B']:>5} {r['M']:>5} {r['erm_ms']:>7.2f} {r['circe_ms']:>9.2f} {r['hscic_ms']:>9.2f} "
            f"{r['gcm_ms']:>7.2f} {r['circe_over_hscic']:>11.2f} {r['hscic_regression_share']:>16.2f} "
            f"{r['circe_regression_once_ms']:>18.1f}"
        )
    eq: list[dict] = []
    if not args.no_equal_time:
        seconds = args.seconds if args.seconds is not None else (10.0 if args.quick else 60.0)
        eq = equal_time(args.out, seconds, EQUAL_TIME_GAMMAS, seed=args.seed)
        for r in eq:
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    path = write_bench(
        args.out,
        "circe",
        rows=steps,
        config={**vars(args), "threads": threads},
        load_before=load_before,
        growth=growth(steps),
        equal_time=eq,
    )
    print(f"wrote {path}")
    return 0


def entry() -> None:
    run_cli(main)
