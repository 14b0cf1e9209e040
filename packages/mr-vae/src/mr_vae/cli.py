"""Command lines: ``mr-vae-train mr|beta`` (one MR-VAE or one beta-VAE) and ``mr-vae-curve`` (the R-D curve of a run).

Bad input (a beta range that is empty or not positive, data outside [0, 1] for a Bernoulli decoder, images of
different sizes, a missing or malformed file) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mr_vae.config import TrainConfig
from mr_vae.data import ImageData, check_range, load_images
from mr_vae.evaluate import beta_grid, plot_rd, rd_curve, write_curve
from orals23_shared.cli import UsageError, add_dataclass_args, check, config_from_args, run_cli
from orals23_shared.threads import add_threads_arg, set_threads

__all__ = ["curve_entry", "curve_main", "train_entry", "train_main"]


def train_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mr-vae-train",
        description="Train one Multi-Rate VAE (beta sampled log-uniformly per example, gated layers) or one plain "
        "beta-VAE (fixed beta, no gates) with the same code; the run folder gets checkpoints, metrics.jsonl, "
        "summary.json, curve.json and (mr) rd_curve.png.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{mr,beta}")
    for name, text in (("mr", "train an MR-VAE over [beta-min, beta-max]"), ("beta", "train a beta-VAE at --beta")):
        p = sub.add_parser(name, help=text, description=text)
        add_dataclass_args(p, TrainConfig)
        for action in p._actions:  # the subcommand is the mode: hide the dataclass's --mode flag
            if action.dest == "mode":
                action.help = argparse.SUPPRESS
    ns = parser.parse_args(argv)
    given = getattr(ns, "mode", ns.command)
    check(given == ns.command, f"--mode {given} contradicts the command {ns.command}")
    ns.mode = ns.command
    cfg = config_from_args(parser, TrainConfig, namespace=ns)
    from mr_vae.train import train  # Lightning: imported only once the flags are valid

    result = train(cfg)
    if result.summary:
        print(json.dumps({"run": str(result.run_dir), **result.summary}))
    return 0


def train_entry() -> None:
    run_cli(train_main)


def curve_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mr-vae-curve",
        description="Rate, distortion and D + beta R of a trained run at any betas (an MR-VAE gives a curve, a "
        "beta-VAE one point); writes curve.json and rd_curve.png.",
    )
    parser.add_argument("run", type=Path, help="run folder written by mr-vae-train")
    parser.add_argument(
        "--data",
        default=None,
        help="evaluate on this data instead of the run's test split (all of it, or its t10k file)",
    )
    parser.add_argument("--betas", default=None, help="comma-separated betas (default: --n-betas log-spaced)")
    parser.add_argument("--n-betas", type=int, default=20, help="log-spaced betas over the run's range (default 20)")
    parser.add_argument("--samples", type=int, default=4, help="Monte-Carlo samples of the distortion (default 4)")
    parser.add_argument("--out", type=Path, default=None, help="folder for curve.json and the plot (default RUN/curve)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation noise (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="print the curve as JSON")
    add_threads_arg(parser)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    check(args.samples >= 1, f"--samples must be >= 1, got {args.samples}")
    from mr_vae.train import load_run

    module, cfg = load_run(args.run)
    if args.betas is not None:
        try:
            betas = [float(b) for b in args.betas.replace(" ", ",").split(",") if b]
        except ValueError as e:
            raise UsageError(f"--betas: expected comma-separated numbers, got {args.betas!r}") from e
        check(len(betas) >= 1 and min(betas) > 0, f"--betas must be positive numbers, got {args.betas!r}")
    else:
        check(args.n_betas >= 2, f"--n-betas must be >= 2, got {args.n_betas}")
        betas = beta_grid(cfg.beta_min, cfg.beta_max, args.n_betas)
    x = _eval_images(args.data, cfg)
    if tuple(x.shape[1:]) != tuple(module.hparams["image_shape"]):
        raise UsageError(
            f"{args.data}: images of shape {tuple(x.shape[1:])}, the run was trained on "
            f"{tuple(module.hparams['image_shape'])}"
        )
    model = module.model.to(args.device)
    curve = rd_curve(model, x, betas, module.beta_range, args.samples, seed=args.seed)
    if module.beta_range is not None:
        outside = [b for b in betas if not cfg.beta_min <= b <= cfg.beta_max]
        if outside:
            print(
                f"mr-vae-curve: note: betas {outside} lie outside the trained range [{cfg.beta_min}, "
                f"{cfg.beta_max}] (extrapolation)",
                file=sys.stderr,
            )
    out = args.out if args.out is not None else args.run / "curve"
    curve = {"run": str(args.run), "mode": cfg.mode, "examples": len(x), **curve}
    write_curve(out / "curve.json", curve)
    label = "MR-VAE" if cfg.mode == "mr" else f"beta-VAE (beta={cfg.beta:g})"
    if cfg.mode == "mr":
        plot_rd(out / "rd_curve.png", {label: curve}, title=f"{args.run.name}: {len(x)} examples")
    else:
        plot_rd(
            out / "rd_curve.png",
            {},
            {label: (curve["rate"][0], curve["distortion"][0])},
            title=f"{args.run.name}: {len(x)} examples",
        )
    if args.json:
        print(json.dumps(curve))
    else:
        print(f"{'beta':>10} {'rate':>10} {'distortion':>11} {'D+beta*R':>10}")
        for b, r, d, loss in zip(curve["beta"], curve["rate"], curve["distortion"], curve["loss"]):
            print(f"{b:10.4g} {r:10.3f} {d:11.3f} {loss:10.3f}")
        print(f"wrote {out / 'curve.json'} and {out / 'rd_curve.png'}")
    return 0


def _eval_images(spec: str | None, cfg: TrainConfig):  # noqa: ANN202
    """The run's own test split, or all of ``spec`` (its test file when it has one), checked like training data."""
    from mr_vae.train import prepare_data

    if spec is None:
        return prepare_data(cfg).test
    images, test, source = load_images(spec, cfg.channels)
    x = test if test is not None else images
    return check_range(ImageData(x, x[:0], source), cfg.decoder, cfg.binarize).train


def curve_entry() -> None:
    run_cli(curve_main)


if __name__ == "__main__":  # python -m mr_vae.cli train|curve ... (used by the DDP launcher and the tests)
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    mains = {"train": train_main, "curve": curve_main}
    if command not in mains:
        print("usage: python -m mr_vae.cli {train,curve} ...", file=sys.stderr)
        sys.exit(2)
    run_cli(mains[command], rest)
