"""``hyperbolic-rl-bench``: cost of the hyperbolic heads, measured side by side in one run.

Cetin et al. (ICLR 2023) note that S-RYM adds little compute to PPO. We time, for each head
(Euclidean, naive hyperbolic, S-RYM) on the same MLP encoder: the acting forward pass (batch =
number of envs), one PPO minibatch update (forward + backward + optimiser step) and full
environment steps per second of training on CartPole; plus the hyperbolic MLR evaluated with
the matrix-product form (``ball.dist2planes``) against the broadcast Möbius form
(``ball.dist2plane``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from orals23_shared.cli import check, run_cli

__all__ = ["main", "entry"]


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main(argv: Sequence[str] | None = None) -> int:
    from hyperbolic_rl.ball import dist2plane, dist2planes, expmap0
    from hyperbolic_rl.train import TrainConfig, build_model, ppo_loss, train

    parser = argparse.ArgumentParser(prog="hyperbolic-rl-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed repetitions (default: %(default)s)")
    parser.add_argument("--train-steps", type=int, default=4096, help="CartPole steps timed per head (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    check(args.repeats >= 1 and args.threads >= 1 and args.train_steps >= 0, "--repeats/--threads >= 1 required")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    results: dict[str, dict[str, float]] = {}
    for head in ("euclidean", "hyperbolic", "srym"):
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

        row = {"act_ms": 1e3 * _time(act, args.repeats), "update_ms": 1e3 * _time(update, max(1, args.repeats // 4))}
        if args.train_steps:
            res = train(TrainConfig(head=head, total_steps=args.train_steps, seed=args.seed, threads=args.threads))
            row["train_env_steps_per_s"] = res["global_step"] / res["seconds"]
        results[head] = row
    base = results["euclidean"]
    for head in ("hyperbolic", "srym"):
        for k in list(results[head]):
            if k.endswith("_ms"):
                results[head][k.replace("_ms", "_x_euclidean")] = results[head][k] / base[k]
    x = expmap0(torch.randn(512, 32))
    p, a = expmap0(torch.randn(3, 32) * 0.3), torch.randn(3, 32)
    results["mlr_512x32_to_3"] = {
        "broadcast_ms": 1e3 * _time(lambda: dist2plane(x[:, None], p, a), args.repeats),
        "matmul_ms": 1e3 * _time(lambda: dist2planes(x, p, a), args.repeats),
    }
    print(json.dumps(results, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def entry() -> None:
    run_cli(main)
