"""``omnigrok-bench``: what the norm constraint costs per training step, side by side in one run.

Omnigrok's constrained training (Sec. 2) adds one norm computation and one in-place rescale of all
parameters after each AdamW step. The bench times a full training step (forward, backward, AdamW,
and the projection when constrained) of the reproduce recipes' models, median of >= 5 repeats of
``--inner`` steps each, and reports the constrained / plain ratio.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from orals23_shared.bench import add_bench_args, load_snapshot, time_call, write_bench
from orals23_shared.cli import run_cli
from orals23_shared.threads import set_threads

__all__ = ["main", "entry"]


def _stepper(task_kw: dict, constrained: bool, device: str, seed: int):
    import torch

    from omnigrok.model import project_norm, scale_init
    from omnigrok.train import TrainConfig, _loss_and_acc, build, resolve

    cfg = resolve(TrainConfig(**task_kw, constrained=constrained, device=device, seed=seed, steps=1))
    built = build(cfg)
    w0 = scale_init(built.model, cfg.alpha)
    opt = torch.optim.AdamW(built.model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay)
    x, y = built.data.x_train, built.data.y_train

    def step() -> None:
        loss, _ = _loss_and_acc(cfg, built.model(x), y, built.n_out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if constrained:
            project_norm(built.model, cfg.alpha * w0)

    return step


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omnigrok-bench", description=__doc__.splitlines()[0])
    add_bench_args(parser, "omnigrok")
    parser.add_argument("--inner", type=int, default=50, help="training steps per timed call (default: %(default)s)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    from omnigrok.reproduce import DIGITS, MODADD

    before = load_snapshot()
    rows = []
    for name, kw in (("digits MLP 64-200-200-10", DIGITS), ("modadd 1L transformer", {**MODADD, "alpha": 1.0})):
        timings = {}
        for constrained in (False, True):
            step = _stepper(kw, constrained, args.device, args.seed)

            def run(step=step) -> None:
                for _ in range(args.inner):
                    step()

            timings[constrained] = time_call(run, repeats=args.repeats, warmup=args.warmup)
        plain, con = timings[False], timings[True]
        rows.append({
            "model": name,
            "plain_ms_per_step": round(plain.median / args.inner * 1e3, 4),
            "constrained_ms_per_step": round(con.median / args.inner * 1e3, 4),
            "ratio_constrained_over_plain": round(con.ratio(plain), 3),
            **plain.as_dict("plain_"),
            **con.as_dict("constrained_"),
        })  # fmt: skip
        print(f"{name}: plain {rows[-1]['plain_ms_per_step']} ms/step, constrained "
              f"{rows[-1]['constrained_ms_per_step']} ms/step, ratio {rows[-1]['ratio_constrained_over_plain']}")  # fmt: skip
    path = write_bench(args.out, "omnigrok", rows, config=vars(args), load_before=before)
    print(path)
    return 0


def entry() -> None:
    run_cli(main)
