"""``image2sphere-bench``: side-by-side timings of the I2S building blocks (Klee et al., ICLR 2023, Sec. 4).

Measured in one run, same process: (1) cached Wigner matrix vs chunked on-the-fly evaluation of the
grid logits (the memory-bounded path used for large eval grids); (2) SO3Activation cost vs its grid
resolution; (3) a full forward/backward of the reproduce model vs the head alone.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence

import torch
from e3nn import nn as e3nn_nn

from image2sphere.model import I2S, I2SConfig, RotationGrid
from orals23_shared.bench import add_bench_args, load_snapshot, time_call, write_bench
from orals23_shared.cli import run_cli
from orals23_shared.threads import set_threads

__all__ = ["main", "entry"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image2sphere-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lmax", type=int, default=4, help="max SO(3) degree (default: %(default)s)")
    parser.add_argument("--rec", type=int, default=3, help="grid level for the logits benchmark (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default: %(default)s)")
    add_bench_args(parser, "image2sphere")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    load_before = load_snapshot()
    torch.manual_seed(args.seed)
    reps = {"repeats": args.repeats, "warmup": args.warmup}
    rows: list[dict] = []

    def row(name: str, fn, **info) -> dict:
        t = time_call(fn, **reps)
        r = {"name": name, **t.as_dict("seconds_"), **info}
        rows.append(r)
        return r

    dim = sum((2 * l + 1) ** 2 for l in range(args.lmax + 1))
    x = torch.randn(args.batch, dim)
    cached = RotationGrid(args.rec, args.lmax, cache_bytes=2**40)
    chunked = RotationGrid(args.rec, args.lmax, cache_bytes=0, chunk=8192)
    a = row("grid_logits_cached", lambda: cached.logits(x))
    b = row("grid_logits_chunked", lambda: chunked.logits(x))
    b["over_cached"] = b["seconds_median"] / a["seconds_median"]
    z = torch.randn(args.batch, 8, dim)
    acts = {}
    for r in (5, 10):
        act = e3nn_nn.SO3Activation(args.lmax, args.lmax, torch.relu, r)
        acts[r] = row(f"so3_activation_res{r}", lambda a=act: a(z))
    acts[10]["over_res5"] = acts[10]["seconds_median"] / acts[5]["seconds_median"]
    model = I2S(
        I2SConfig(in_channels=1, image_size=48, lmax=args.lmax, sphere_fdim=32, act_resolution=5, train_grid_rec=2)
    )
    img = torch.rand(args.batch, 1, 48, 48)
    rot = cached.rotations[: args.batch]

    def step() -> None:
        loss, _ = model.loss(img, rot)
        loss.backward()

    row("train_step", step)
    s2 = torch.randn(args.batch, 32, (args.lmax + 1) ** 2)
    row("head_forward", lambda: model.head(s2))
    path = write_bench(args.out, "image2sphere", rows, config=vars(args), load_before=load_before)
    print(json.dumps(rows, indent=1))
    print(f"wrote {path}")
    return 0


def entry() -> None:
    warnings.filterwarnings("ignore", module="e3nn")
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover
    entry()
