"""``mr-vae-bench``: what one MR-VAE costs against K beta-VAEs, measured side by side in one process.

Rows (``orals23_shared.bench`` protocol: warm-up, median of >= 5 with min/max, peak RSS in a fresh process):

* ``step``: one optimiser step (forward, backward, Adam) of the MR-VAE against the identical beta-VAE, CPU time of
  this process (one thread): the gating overhead, on the digits shape (1x8x8) and on an MNIST-sized input (1x28x28, random binary pixels: timing only).
* ``run``: one MR-VAE training run (Lightning, ``--steps`` steps) against K = 4 beta-VAE runs of the same steps
  and architecture, alternated: the paper's claim that one run replaces K (target <= (1 + 10 %) / K). Three
  measures: the CPU time of the training alone (Lightning ``fit``), and the whole run (data, training, final
  evaluation: the MR-VAE's is 2 betas and a plot, a beta-VAE's one beta) in CPU and wall time.
* ``memory``: peak resident memory of one MR-VAE run and one beta-VAE run, each in a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import check, run_cli
from orals23_shared.threads import set_threads

__all__ = ["entry", "main", "one_run", "step_fn"]

RUN_TARGET = 0.10  # one run <= (1 + 10 %) / K of K runs


def step_fn(gated: bool, shape: tuple[int, int, int], batch: int = 128, arch: str = "mlp", seed: int = 0):  # noqa: ANN201
    """A closure doing one training step of the MR-VAE (gated) or the beta-VAE on a fixed random binary batch."""
    from mr_vae.model import VAE, BetaRange

    torch.manual_seed(seed)
    model = VAE(shape, 16, arch, gated=gated)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = (torch.rand(batch, *shape) < 0.3).float()
    betas = BetaRange(0.01, 10.0)
    gen = torch.Generator().manual_seed(seed)

    def step() -> None:
        if gated:
            beta, xi = betas.sample(batch, gen)
        else:
            beta, xi = torch.full((batch,), 1.0), None
        dist, rate = model(x, xi, torch.randn(batch, 16, generator=gen))
        loss = (dist + beta * rate).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, sum(p.numel() for p in model.parameters())


def one_run(mode: str = "mr", steps: int = 200, beta: float = 1.0, seed: int = 0, threads: int = 1) -> float:
    """One Lightning training run on digits in a temporary folder (what ``peak_rss`` runs in a fresh process).

    Returns the CPU seconds of the training itself (``fit_cpu_seconds`` of the run's summary)."""
    from mr_vae.train import TrainConfig, train

    with tempfile.TemporaryDirectory(prefix="mr-vae-bench-") as tmp:
        cfg = TrainConfig(
            mode=mode,
            beta=beta,
            steps=steps,
            seed=seed,
            threads=threads,
            quiet=True,  # type: ignore[arg-type]
            out=Path(tmp) / "run",
            checkpoint_every=10**9,
            log_every=10**9,
            eval_betas=2,
            eval_samples=1,
        )
        result = train(cfg)
    return float(result.summary["fit_cpu_seconds"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mr-vae-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "mr-vae")
    parser.add_argument("--steps", type=int, default=200, help="training steps of each timed run (default 200)")
    parser.add_argument("--k", type=int, default=4, help="beta-VAE runs one MR-VAE replaces (default 4)")
    parser.add_argument("--step-batch", type=int, default=20, help="steps per timed call in the step rows (default 20)")
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process memory rows")
    args = parser.parse_args(argv)
    check(args.steps >= 1 and args.k >= 1 and args.step_batch >= 1, "--steps, --k and --step-batch must be >= 1")
    check(args.repeats >= 5, f"--repeats must be >= 5 (a median of fewer is noise), got {args.repeats}")
    check(args.device == "cpu", f"mr-vae-bench times CPU runs; --device {args.device} is not supported")
    threads = set_threads(args.threads)
    load_before = load_snapshot()
    from orals23_shared.lightning import quiet_lightning

    quiet_lightning()
    rows: list[dict[str, Any]] = []
    for shape, label in (((1, 8, 8), "digits 1x8x8"), ((1, 28, 28), "MNIST-sized 1x28x28 (random input)")):
        timings, params = {}, {}
        for gated in (True, False):
            fn, params[gated] = step_fn(gated, shape, seed=args.seed)
            timings[gated] = time_call(
                fn, repeats=args.repeats, warmup=max(args.warmup, 1), number=args.step_batch, clock=time.process_time
            )
        rows.append(
            {
                "phase": "step",
                "shape": label,
                "mr_vae": timings[True].as_dict(),
                "beta_vae": timings[False].as_dict(),
                "overhead_ratio": round(timings[True].ratio(timings[False]), 4),
                "extra_parameters": params[True] - params[False],
                "parameters": params[False],
            }
        )
    # The runs alternate (MR-VAE, K beta-VAEs, MR-VAE, ...) so that load changes hit both sides alike. Each timed
    # call records the whole run (wall and CPU) and the training alone (CPU, from the run's summary).
    betas = [10 ** (-2 + 3 * i / max(1, args.k - 1)) for i in range(args.k)]
    fits: dict[str, list[float]] = {"mr": [], "beta": []}

    def mr_run() -> None:
        fits["mr"].append(one_run("mr", args.steps, seed=args.seed, threads=threads))

    def k_runs() -> None:
        fits["beta"].append(sum(one_run("beta", args.steps, b, args.seed, threads) for b in betas))

    timed: dict[str, dict[str, list[float]]] = {"mr": {"wall": [], "cpu": []}, "beta": {"wall": [], "cpu": []}}
    for _ in range(args.warmup):
        mr_run()
        k_runs()
    fits = {"mr": [], "beta": []}
    for _ in range(args.repeats):
        for side, fn in (("mr", mr_run), ("beta", k_runs)):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            timed[side]["wall"].append(time.perf_counter() - w0)
            timed[side]["cpu"].append(time.process_time() - c0)
    target = (1 + RUN_TARGET) / args.k
    for label, mr_t, k_t in (
        ("training CPU (fit only)", fits["mr"], fits["beta"]),
        ("whole run CPU", timed["mr"]["cpu"], timed["beta"]["cpu"]),
        ("whole run wall", timed["mr"]["wall"], timed["beta"]["wall"]),
    ):
        ratio = statistics.median(mr_t) / statistics.median(k_t)
        rows.append(
            {
                "phase": "run",
                "measure": label,
                "steps": args.steps,
                "k": args.k,
                "mr_vae_run": _stats(mr_t),
                "k_beta_vae_runs": _stats(k_t),
                "ratio": round(ratio, 4),
                "target": round(target, 4),
                "meets_target": ratio <= target,
            }
        )
    if not args.no_memory:
        for mode in ("mr", "beta"):
            mem = peak_rss(
                "mr_vae.bench:one_run", {"mode": mode, "steps": args.steps, "seed": args.seed, "threads": threads}
            )
            rows.append({"phase": "memory", "mode": mode, **{k: v for k, v in mem.items() if k != "result"}})
    path = write_bench(
        args.out, "mr-vae", rows=rows, config={k: str(v) for k, v in vars(args).items()}, load_before=load_before
    )
    for r in rows:
        if r["phase"] == "step":
            print(f"step  {r['shape']:<36} MR/beta = {r['overhead_ratio']:.3f}  (+{r['extra_parameters']} parameters)")
        elif r["phase"] == "run":
            print(
                f"run   {r['measure']:<24} 1 MR-VAE / {r['k']} beta-VAEs ({r['steps']} steps each) = {r['ratio']:.3f}  "
                f"(target <= {r['target']:.3f}: {'met' if r['meets_target'] else 'missed'})"
            )
        else:
            print(f"memory {r['mode']:<5} peak {r['peak_mib']} MiB")
    print(f"wrote {path}")
    return 0


def _stats(values: Sequence[float]) -> dict[str, float | int]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def entry() -> None:
    run_cli(main)
