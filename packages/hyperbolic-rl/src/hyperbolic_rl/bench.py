"""``hyperbolic-rl-bench``: cost of the hyperbolic heads, measured side by side in one run.

Cetin et al. (ICLR 2023) note that S-RYM adds little compute to PPO. We time, for each head
(Euclidean, naive hyperbolic, S-RYM) on the same MLP encoder: the acting forward pass (batch =
number of envs), one PPO minibatch update (forward + backward + optimiser step), environment steps
per second of a short CartPole training run, and its peak memory in a fresh process; plus the
hyperbolic MLR evaluated with the matrix-product form (``ball.dist2planes``) against the broadcast
Möbius form (``ball.dist2plane``). Protocol: ``orals23_shared.bench`` (median of >= 5 timings with
min/max, peak RSS of a fresh process, ``bench.json`` with the machine and its load).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import check, run_cli
from orals23_shared.threads import set_threads

__all__ = ["main", "entry", "train_steps"]

HEADS = ("euclidean", "hyperbolic", "srym")


def train_steps(head: str, steps: int, seed: int = 0) -> dict[str, float]:
    """A short CartPole training run (the target of ``peak_rss``); returns env steps per second."""
    from hyperbolic_rl.train import TrainConfig, train

    res = train(TrainConfig(head=head, total_steps=steps, seed=seed, threads=1))
    return {"env_steps_per_s": res["global_step"] / res["seconds"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hyperbolic-rl-bench", description=__doc__.splitlines()[0])
    add_bench_args(parser, "hyperbolic-rl")
    parser.add_argument("--train-steps", type=int, default=4096, help="CartPole steps timed per head (0: skip)")
    args = parser.parse_args(argv)
    check(args.repeats >= 5 and args.train_steps >= 0, "--repeats >= 5 and --train-steps >= 0 required")
    set_threads(args.threads)
    import torch

    from hyperbolic_rl.ball import dist2plane, dist2planes, expmap0
    from hyperbolic_rl.train import TrainConfig, build_model, ppo_loss

    torch.manual_seed(args.seed)
    load_before = load_snapshot()
    rows: list[dict] = []
    base: dict[str, float] = {}
    for head in HEADS:
        cfg = TrainConfig(head=head, device=args.device)
        model, opt = build_model(cfg, (4,), 2)
        acting = torch.randn(cfg.num_envs, 4, device=args.device)
        batch = torch.randn(cfg.batch_size // cfg.minibatches, 4, device=args.device)
        actions = torch.randint(0, 2, (len(batch),), device=args.device)
        zeros = torch.zeros(len(batch), device=args.device)

        def act(model=model, acting=acting) -> None:
            model.eval()
            with torch.no_grad():
                model(acting)

        def update(model=model, opt=opt, batch=batch, actions=actions, zeros=zeros) -> None:
            model.train()
            logits, value, _ = model(batch)
            loss, _ = ppo_loss(logits, value, actions, zeros - 0.7, zeros, torch.randn_like(zeros), zeros)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for phase, fn, number in (("act", act, 20), ("update", update, 5)):
            t = time_call(fn, repeats=args.repeats, warmup=args.warmup, number=number)
            if head == "euclidean":
                base[phase] = t.median
            rows.append({"head": head, "phase": phase, **t.as_dict("seconds_"), "x_euclidean": t.median / base[phase]})
        if args.train_steps:
            mem = peak_rss("hyperbolic_rl.bench:train_steps", {"head": head, "steps": args.train_steps})
            rows.append(
                {
                    "head": head,
                    "phase": "train",
                    "env_steps_per_s": mem["result"]["env_steps_per_s"],
                    "peak_mib": mem["peak_mib"],
                }
            )
    x = expmap0(torch.randn(512, 32))
    p, a = expmap0(torch.randn(3, 32) * 0.3), torch.randn(3, 32)
    for form, fn in (("broadcast", lambda: dist2plane(x[:, None], p, a)), ("matmul", lambda: dist2planes(x, p, a))):
        t = time_call(fn, repeats=args.repeats, warmup=args.warmup, number=20)
        rows.append({"head": "mlr_512x32_to_3", "phase": form, **t.as_dict("seconds_")})
    path = write_bench(args.out, "hyperbolic-rl", rows, config=vars(args), load_before=load_before)
    for r in rows:
        cells = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items())
        print(cells)
    print(f"wrote {path}")
    return 0


def entry() -> None:
    run_cli(main)
