"""``image2sphere-bench``: side-by-side timings of the I2S building blocks (Klee et al., ICLR 2023, Sec. 4).

Measured in one run, same process: (1) cached Wigner matrix vs chunked on-the-fly evaluation of the
grid logits (the memory-bounded path used for large eval grids); (2) SO3Activation cost vs its grid
resolution; (3) a full forward/backward of the reproduce model vs the head alone.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from e3nn import nn as e3nn_nn

from image2sphere.model import I2S, I2SConfig, RotationGrid
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import run_cli

__all__ = ["main", "entry"]


def _time(fn, repeat: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image2sphere-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lmax", type=int, default=4)
    parser.add_argument("--rec", type=int, default=3, help="grid level for the logits benchmark")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/image2sphere-bench"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    res: dict[str, float] = {}
    dim = sum((2 * l + 1) ** 2 for l in range(args.lmax + 1))
    x = torch.randn(args.batch, dim)
    cached = RotationGrid(args.rec, args.lmax, cache_bytes=2**40)
    chunked = RotationGrid(args.rec, args.lmax, cache_bytes=0, chunk=8192)
    res["grid_logits_cached_s"] = _time(lambda: cached.logits(x), args.repeat)
    res["grid_logits_chunked_s"] = _time(lambda: chunked.logits(x), 1)
    res["chunked_over_cached"] = res["grid_logits_chunked_s"] / res["grid_logits_cached_s"]
    z = torch.randn(args.batch, 8, dim)
    for r in (5, 10):
        act = e3nn_nn.SO3Activation(args.lmax, args.lmax, torch.relu, r)
        res[f"so3_activation_res{r}_s"] = _time(lambda a=act: a(z), args.repeat)
    res["act_res10_over_res5"] = res["so3_activation_res10_s"] / res["so3_activation_res5_s"]
    model = I2S(
        I2SConfig(in_channels=1, image_size=48, lmax=args.lmax, sphere_fdim=32, act_resolution=5, train_grid_rec=2)
    )
    img = torch.rand(args.batch, 1, 48, 48)
    rot = cached.rotations[: args.batch]

    def step() -> None:
        loss, _ = model.loss(img, rot)
        loss.backward()

    res["train_step_s"] = _time(step, args.repeat)
    s2 = torch.randn(args.batch, 32, (args.lmax + 1) ** 2)
    res["head_forward_s"] = _time(lambda: model.head(s2), args.repeat)
    res["threads"] = torch.get_num_threads()
    atomic_write_json(args.out / "bench.json", res)
    print(json.dumps(res, indent=1))
    return 0


def entry() -> None:
    warnings.filterwarnings("ignore", module="e3nn")
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover
    entry()
