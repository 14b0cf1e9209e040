"""Command lines: ``learning-rules-train`` (one finite-width experiment) and ``learning-rules-theory``
(lazy eNTK or DMFT prediction for the same configuration).

Bordelon & Pehlevan, ICLR 2023 (arXiv:2210.02157). Bad input (unknown rule or activation, rho outside
[0, 1], non-positive sizes, a malformed or non-PSD kernel file) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from learning_rules.rule_table import RULES, get_rule
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.threads import add_threads_arg, set_threads

__all__ = ["TheoryConfig", "train_main", "theory_main", "train_entry", "theory_entry", "setup_jax"]


def setup_jax(device: str, float64: bool = True) -> None:
    """Select the jax platform and precision before jax computes anything."""
    if device not in ("cpu", "gpu", "cuda", "auto"):
        raise UsageError(f"unknown device {device!r}; use cpu, gpu or auto")
    if device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", bool(float64))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<experiment>/<time>-<id>)")
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    parser.add_argument("--device", default="cpu", help="cpu (default), gpu or auto")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_threads_arg(parser)


def _run_folder(args: argparse.Namespace, experiment: str, config: dict, seed: int) -> tuple[Path, bool]:
    """The shared run-folder policy; without --out, a fresh runs/<experiment>/<time>-<id> folder."""
    out = args.out
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / experiment / f"{stamp}-{secrets.token_hex(3)}"
    return prepare_run_dir(out, config, resume=getattr(args, "resume", False), overwrite=args.overwrite, seed=seed)


def train_main(argv: Sequence[str] | None = None) -> int:
    """Train finite-width networks with one learning rule and record loss, K_eff and kernel movement."""
    from learning_rules.train import TrainConfig

    parser = argparse.ArgumentParser(prog="learning-rules-train", description=train_main.__doc__)
    add_dataclass_args(parser, TrainConfig)
    _common(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoints in --out")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, TrainConfig, namespace=args)
    if args.resume and args.out is None:
        raise UsageError("--resume needs --out RUN_DIR of the run to continue")
    set_threads(args.threads)
    run, resumed = _run_folder(args, "learning-rules-train", dataclasses.asdict(cfg), cfg.seed)
    setup_jax(args.device, cfg.float64)
    import jax.numpy as jnp
    import numpy as np

    from learning_rules.data import make_dataset
    from learning_rules.plots import plot_curves
    from learning_rules.train import load_state, save_state, train_run

    X, y = make_dataset(cfg.data_seed, cfg.n_points, cfg.dim)
    dtype = jnp.float64 if cfg.float64 else jnp.float32
    X, y = X.astype(dtype), y.astype(dtype)
    results = []
    # every record is logged after the last seed, so a resumed run logs them all again
    with RunLogger(run, quiet=args.quiet, resume_step=-1 if resumed else None) as log:
        for seed in log.progress(range(cfg.seed, cfg.seed + cfg.seeds), total=cfg.seeds, desc="seeds"):
            ckpt_dir = run / "checkpoints" / f"seed-{seed}"
            state = None
            if resumed and (found := latest(ckpt_dir, ".npz")) is not None:
                import jax

                from learning_rules.model import init_network

                params, fixed = init_network(jax.random.PRNGKey(seed), cfg.spec(), dtype)
                state = load_state(found, params, fixed)

            def save(step, params, fixed, f0, params0, deltas, _dir=ckpt_dir):
                atomic_save(
                    checkpoint_path(_dir, step, ".npz"),
                    lambda f: save_state(f, step, params, fixed, f0, params0, deltas),
                )

            r = train_run(cfg, X, y, seed, on_chunk=save, resume_state=state)
            results.append(r)
        loss = np.mean([r["loss"] for r in results], axis=0)
        for t in range(0, len(loss), max(1, len(loss) // 100)):
            log.log(t, loss=float(loss[t]))
        mean = {
            k: float(np.mean([r[k] for r in results]))
            for k in ("hidden_share0", "hidden_shareT", "keff_movement", "alignment0", "alignmentT")
        }
        mean["phiL_movement"] = float(np.mean([r["phi_movement"][-1] for r in results]))
        np.savez(
            run / "kernels.npz",
            K0=np.mean([r["K0"] for r in results], 0),
            KT=np.mean([r["KT"] for r in results], 0),
            loss=loss,
        )
        plot_curves(run / "loss.png", {f"{cfg.rule} N={cfg.width}": loss}, f"{cfg.rule}, gamma0={cfg.gamma0}")
        log.summary(final_loss=float(loss[-1]), **mean)
    if not args.quiet:
        print(
            f"final loss {loss[-1]:.4g}; hidden share of K_eff {mean['hidden_share0']:.3f} -> {mean['hidden_shareT']:.3f}; "
            f"run: {run}"
        )
    return 0


@dataclass
class TheoryConfig:
    """Infinite-width prediction for one rule: lazy eNTK (any depth) or rich DMFT (depth 1: all rules; >= 2: gd/fa/dfa/hebb/gln)."""

    regime: Literal["lazy", "dmft"] = field(default="lazy", metadata={"help": "lazy eNTK or DMFT (rich)"})
    rule: Literal[RULES] = field(default="gd", metadata={"help": "learning rule (the rule table)"})
    rho: float = field(default=0.0, metadata={"help": "FA feedback correlation in [0, 1]"})
    activation: Literal["relu", "erf", "tanh", "linear"] = field(default="relu", metadata={"help": "nonlinearity"})
    depth: int = field(default=2, metadata={"help": "hidden layers L"})
    gamma0: float = field(default=1.0, metadata={"help": "richness gamma0 (DMFT)"})
    eta: float = field(default=0.5, metadata={"help": "learning rate"})
    steps: int = field(default=200, metadata={"help": "time steps"})
    n_points: int = field(default=16, metadata={"help": "P (generated data)"})
    dim: int = field(default=20, metadata={"help": "D (generated data)"})
    data_seed: int = field(default=0, metadata={"help": "seed of the generated data"})
    kernel: Path | None = field(
        default=None, metadata={"help": "text file with a P x P input Gram matrix K_x instead of generated data"}
    )
    targets: Path | None = field(default=None, metadata={"help": "text file with P targets (one per line)"})
    n_samples: int = field(default=20000, metadata={"help": "DMFT Monte-Carlo samples"})
    n_iter: int = field(default=200, metadata={"help": "DMFT maximum iterations"})
    damping: float = field(default=0.8, metadata={"help": "DMFT damping"})
    n_jac: int = field(default=1000, metadata={"help": "DMFT samples for the response functions (depth >= 2)"})
    exact: bool = field(default=False, metadata={"help": "sampling-free closed-form DMFT (linear networks)"})
    seed: int = field(default=0, metadata={"help": "DMFT sampling seed"})

    def __post_init__(self) -> None:
        get_rule(self.rule)  # an unknown rule from --config is one line too
        for name in ("depth", "steps", "n_points", "dim", "n_samples", "n_iter"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 <= self.rho <= 1.0:
            raise UsageError(f"rho must lie in [0, 1], got {self.rho}")

    def dmft_config(self):
        """The solver's configuration (validates rule/activation/depth for the DMFT)."""
        from learning_rules.dmft import DMFTConfig

        return DMFTConfig(
            depth=self.depth,
            rule=self.rule,
            activation=self.activation,
            gamma0=self.gamma0,
            rho=self.rho,
            eta=self.eta,
            steps=self.steps,
            n_samples=self.n_samples,
            n_iter=self.n_iter,
            damping=self.damping,
            n_jac=self.n_jac,
            mode="exact" if self.exact else "sample",
        )


def theory_main(argv: Sequence[str] | None = None) -> int:
    """Lazy eNTK loss prediction (closed-form kernels) or the DMFT solution of the rich regime."""
    parser = argparse.ArgumentParser(prog="learning-rules-theory", description=theory_main.__doc__)
    add_dataclass_args(parser, TheoryConfig)
    _common(parser)
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, TheoryConfig, namespace=args)
    dcfg = cfg.dmft_config() if cfg.regime == "dmft" else None
    set_threads(args.threads)
    setup_jax(args.device, True)
    import jax.numpy as jnp
    import numpy as np

    from learning_rules.data import inputs_from_gram, make_dataset, read_matrix
    from learning_rules.dmft import solve_dmft
    from learning_rules.kernels import check_psd, lazy_delta, lazy_entk, lazy_kernels_from_gram
    from learning_rules.plots import plot_curves

    if cfg.kernel is not None:  # validate the files before any jax work
        Kx = read_matrix(cfg.kernel, "kernel")
        check_psd(Kx, str(cfg.kernel))
        if cfg.targets is None:
            raise UsageError("--kernel needs --targets with one target per input")
        X = jnp.asarray(inputs_from_gram(Kx))
    else:
        X, y = make_dataset(cfg.data_seed, cfg.n_points, cfg.dim)
    if cfg.targets is not None:
        t = read_matrix(cfg.targets, "targets")
        if t.shape[1] != 1 or t.shape[0] != X.shape[0]:
            raise UsageError(f"{cfg.targets}: expected {X.shape[0]} targets, one per line, got shape {t.shape}")
        y = jnp.asarray(t[:, 0])
    Kx = X @ X.T / X.shape[1]
    run, _ = _run_folder(
        args,
        "learning-rules-theory",
        {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()},
        cfg.seed,
    )
    with RunLogger(run, quiet=args.quiet) as log:
        if cfg.regime == "lazy":
            kern = lazy_kernels_from_gram(Kx, cfg.depth, cfg.activation, gated=get_rule(cfg.rule).gated)
            K, hidden = lazy_entk(kern, cfg.rule, cfg.rho)
            delta = np.asarray(lazy_delta(K, y, cfg.eta, cfg.steps))
            share = float(jnp.linalg.norm(hidden) / jnp.linalg.norm(K))
            extra = {"hidden_share": share}
        else:
            res = solve_dmft(X, y, dcfg, seed=cfg.seed, log=lambda it, ch: log.log(it, fixed_point_change=ch))
            delta, K = res.delta, res.K[0]
            extra = {
                "converged": res.converged,
                "iterations": len(res.changes),
                "phi_movement": float(np.linalg.norm(res.Phi[-1] - res.Phi[0]) / np.linalg.norm(res.Phi[0])),
                "keff_movement": float(np.linalg.norm(res.K[-1] - res.K[0]) / np.linalg.norm(res.K[0])),
            }
        loss = 0.5 * np.mean(delta**2, axis=1)
        np.savez(run / "theory.npz", delta=delta, loss=loss, K0=np.asarray(K))
        plot_curves(run / "loss.png", {f"{cfg.regime} {cfg.rule}": loss}, f"theory: {cfg.regime}, {cfg.rule}")
        log.summary(final_loss=float(loss[-1]), **extra)
    if not args.quiet:
        print(f"{cfg.regime} {cfg.rule}: final loss {loss[-1]:.4g}; {extra}; run: {run}")
    return 0


def train_entry() -> None:
    run_cli(train_main)


def theory_entry() -> None:
    run_cli(theory_main)
