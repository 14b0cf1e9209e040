"""``learning-rules-bench``: side-by-side timings of the package's computations (not asserted in tests).

Measures, in one run on the same machine: closed-form lazy kernels vs Gauss-Hermite quadrature vs a
Monte-Carlo width-N estimate; one DMFT fixed-point iteration (sampled, S sources) vs the closed-form linear
DMFT; one full-batch training step at several widths. Bordelon & Pehlevan, ICLR 2023.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orals23_shared.bench import BenchFields, default_bench_dir, load_snapshot, time_call, write_bench
from orals23_shared.cli import add_dataclass_args, check, config_from_args
from orals23_shared.threads import set_threads

__all__ = ["BenchConfig", "main", "entry"]


@dataclass
class BenchConfig(BenchFields):
    """Options of ``learning-rules-bench`` (the shared bench flags plus --widths)."""

    device: str = field(default="cpu", metadata={"help": "jax device: cpu (default), gpu or auto"})
    out: Path = field(default=default_bench_dir("learning-rules"), metadata={"help": "folder for bench.json"})
    warmup: int = field(default=1, metadata={"help": "untimed runs before timing (the first also compiles)"})
    widths: tuple[int, ...] = field(default=(256, 1024, 2048), metadata={"help": "widths for the training step"})

    def __post_init__(self) -> None:
        check(all(w >= 1 for w in self.widths) and len(self.widths) > 0, "--widths must be positive integers")
        check(self.repeats >= 1, f"--repeats must be a positive integer, got {self.repeats}")


def main(argv: Sequence[str] | None = None) -> int:
    """Time lazy kernels, DMFT iterations and training steps side by side; writes OUT/bench.json."""
    parser = argparse.ArgumentParser(prog="learning-rules-bench", description=main.__doc__)
    add_dataclass_args(parser, BenchConfig)
    args = config_from_args(parser, BenchConfig, argv)
    widths = list(args.widths)
    set_threads(args.threads)
    load_before = load_snapshot()
    from learning_rules.cli import setup_jax

    setup_jax(args.device, True)
    import jax

    from learning_rules.data import make_dataset
    from learning_rules.dmft import DMFTConfig, dmft_iterate, sample_sources
    from learning_rules.kernels import _phi_kernels, activation, gaussian_expectation
    from learning_rules.model import NetSpec, forward, init_network
    from learning_rules.train import train_steps

    rows: dict[str, dict] = {}

    def _time(fn) -> dict:
        """Median (min, max) seconds of ``repeats`` runs after ``warmup`` (the first also compiles)."""
        t = time_call(lambda: jax.block_until_ready(fn()), repeats=args.repeats, warmup=max(1, args.warmup))
        return t.as_dict("seconds_")

    X, y = make_dataset(args.seed, 16, 20)
    H = X @ X.T / 20
    f = activation("erf")
    rows = {
        "erf kernel closed form (s)": _time(lambda: _phi_kernels("erf", H)[0]),
        "erf kernel quadrature 64^2 (s)": _time(lambda: gaussian_expectation(f, f, H, 64)),
    }
    spec = NetSpec(d_in=20, width=4096, depth=1, activation="erf")
    params, fixed = init_network(jax.random.PRNGKey(0), spec, X.dtype)
    rows["erf kernel Monte Carlo N=4096 (s)"] = _time(lambda: forward(params, fixed, X, spec).phi[0])
    X8, y8 = make_dataset(args.seed, 8, 10)
    for mode, act, S in (("sample", "tanh", 10000), ("sample", "tanh", 40000), ("exact", "linear", 1)):
        cfg = DMFTConfig(activation=act, mode=mode, n_samples=S, steps=100)
        src = sample_sources(jax.random.PRNGKey(0), X8, cfg)
        delta = jax.numpy.zeros((101, 8)) + y8
        rows[f"DMFT iteration {mode} {act} S={S if mode == 'sample' else 'exact'} T=100 (s)"] = _time(
            lambda src=src, cfg=cfg, delta=delta: dmft_iterate(src, X8, y8, delta, cfg)[0]
        )
    for N in widths:
        spec = NetSpec(d_in=20, width=N, depth=2, activation="relu", gamma0=1.0)
        params, fixed = init_network(jax.random.PRNGKey(0), spec, X.dtype)
        f0 = forward(params, fixed, X, spec).f
        rows[f"10 training steps depth 2 N={N} (s)"] = _time(
            lambda params=params, fixed=fixed, spec=spec, f0=f0: train_steps(params, fixed, X, y, f0, spec, 0.5, 10)[1]
        )
    named = [{"name": k.removesuffix(" (s)"), **v} for k, v in rows.items()]
    path = write_bench(
        args.out,
        "learning-rules",
        named,
        config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        load_before=load_before,
    )
    width = max(len(r["name"]) for r in named)
    for r in named:
        print(
            f"{r['name']:<{width}}  {r['seconds_median']:.3e} s  (min {r['seconds_min']:.3e}, max {r['seconds_max']:.3e})"
        )
    print(f"wrote {path}")
    return 0


def entry() -> None:
    from orals23_shared.cli import run_cli

    run_cli(main)
