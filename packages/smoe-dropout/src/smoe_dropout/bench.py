"""``smoe-dropout-bench``: cost of the SMoE FFN at k experts against the dense FFN of equal parameters.

1. The FFN block alone (default 2048 tokens, d = 256, N = 16, D = 2048): forward and forward+backward time at
   k = 1, 2, 4, 8, 16 and of the dense FFN, side by side in one process (median of >= 5), with the analytic
   FLOPs per token (``4 d (D/N) k + 2 d N`` against ``4 d D``). k = N is timed both through the dense-equivalent
   path the layer uses and through the gather/scatter dispatch (the dispatch overhead).
2. Training-time saving of the linear k schedule (N/2 -> N, the official script) against dense: the time of
   one training step (forward, backward, Adam) of a char-LM at every k of the schedule and of the dense model,
   measured side by side; the schedule's time is the sum of the measured step times over its k(t).
   Paper: up to 37% saving on a GPU with fastmoe kernels; the FFN's share is ``1 - mean k / N`` at most.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.threads import set_threads
from smoe_dropout.model import ModelConfig, Transformer, set_top_k
from smoe_dropout.moe import DenseFFN, MoEFFN, dense_ffn_flops, moe_ffn_flops
from smoe_dropout.schedule import KSchedule

__all__ = ["ffn_rows", "ffn_peak", "main", "schedule_saving", "entry"]


def _ffns(d: int, d_ff: int, n: int, seed: int) -> tuple[DenseFFN, MoEFFN]:
    torch.manual_seed(seed)
    dense = DenseFFN(d, d_ff)
    return dense, MoEFFN.from_dense(dense, n)


def ffn_rows(
    tokens: int, d: int, d_ff: int, n: int, ks: Sequence[int], repeats: int, warmup: int, seed: int = 0
) -> list[dict]:
    """Forward and forward+backward seconds of the dense FFN and of the MoE FFN at each k (one process)."""
    dense, moe = _ffns(d, d_ff, n, seed)
    x = torch.randn(tokens, d, generator=torch.Generator().manual_seed(seed))
    xg = x.clone().requires_grad_(True)

    def fwd(layer: torch.nn.Module) -> Any:
        with torch.no_grad():
            return layer(x)

    def fwd_bwd(layer: torch.nn.Module) -> None:
        layer.zero_grad(set_to_none=True)
        layer(xg).square().mean().backward()

    variants: list[tuple[str, int | None, bool]] = [("dense", None, True)]
    variants += [("moe", k, True) for k in ks]
    if n in ks:
        variants.append(("moe-dispatch", n, False))
    rows = []
    base: dict[str, float] = {}
    for name, k, fast in variants:
        layer = dense if k is None else moe
        if k is not None:
            moe.set_k(k)
            moe.fast_full = fast
        t_f = time_call(lambda layer=layer: fwd(layer), repeats=repeats, warmup=warmup)
        t_b = time_call(lambda layer=layer: fwd_bwd(layer), repeats=repeats, warmup=warmup)
        flops = dense_ffn_flops(d, d_ff) if k is None else moe_ffn_flops(d, d_ff, n, k)
        row = {"layer": name, "k": k, "flops_per_token": flops, **t_f.as_dict("fwd_"), **t_b.as_dict("fwdbwd_")}
        if k is None:
            base = {"fwd": t_f.median, "fwdbwd": t_b.median, "flops": flops}
        row["fwd_time_vs_dense"] = round(t_f.median / base["fwd"], 3)
        row["fwdbwd_time_vs_dense"] = round(t_b.median / base["fwdbwd"], 3)
        row["flops_vs_dense"] = round(flops / base["flops"], 4)
        rows.append(row)
    moe.fast_full = True
    return rows


def ffn_peak(kind: str, k: int, tokens: int, d: int, d_ff: int, n: int) -> int:
    """One forward+backward of a dense (``kind='dense'``) or MoE FFN at k: the target of ``peak_rss``."""
    dense, moe = _ffns(d, d_ff, n, 0)
    layer = dense if kind == "dense" else moe
    if kind != "dense":
        moe.set_k(k)
    layer(torch.randn(tokens, d, requires_grad=True)).square().mean().backward()
    return tokens


def schedule_saving(
    n: int,
    d: int,
    d_ff: int,
    context: int,
    batch: int,
    steps: int,
    repeats: int,
    warmup: int,
    seed: int = 0,
    rounds: int = 3,
) -> dict[str, Any]:
    """Measured step time at each k of the linear N/2 -> N schedule and of dense; the schedule's total against dense.

    Each variant is timed in ``rounds`` interleaved rounds (median of ``repeats`` each); the median round counts.
    """
    vocab = 66
    x = torch.randint(1, vocab, (batch, context + 1), generator=torch.Generator().manual_seed(seed))

    def stepper(router: str) -> tuple[Transformer, Any]:
        torch.manual_seed(seed)
        model = Transformer(
            ModelConfig(vocab_size=vocab, context=context, d_model=d, d_ff=d_ff, n_experts=n, router=router)
        )
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def step() -> None:
            logits = model(x[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return model, step

    sched = KSchedule("linear", max(1, n // 2), n, steps, n)
    ks = sorted({sched(t) for t in range(steps)})
    dense_model, dense_step = stepper("dense")
    moe_model, moe_step = stepper("random")
    # interleaved rounds (dense, then every k, again and again): a change of load hits every variant alike
    medians: dict[int | None, list[float]] = {k: [] for k in [None, *ks]}
    for _ in range(rounds):
        medians[None].append(time_call(dense_step, repeats=repeats, warmup=warmup).median)
        for k in ks:
            set_top_k(moe_model, k)
            medians[k].append(time_call(moe_step, repeats=repeats, warmup=warmup).median)
    t_dense = statistics.median(medians[None])
    per_k = {k: statistics.median(medians[k]) for k in ks}
    total = sum(per_k[sched(t)] for t in range(steps))
    return {
        "schedule": f"linear {ks[0]} -> {n} over {steps} steps",
        "model": {"d_model": d, "d_ff": d_ff, "n_experts": n, "context": context, "batch": batch, "layers": 2},
        "rounds": rounds,
        "dense_step_s": t_dense,
        "moe_step_s_by_k": {str(k): v for k, v in per_k.items()},
        "schedule_total_s": total,
        "dense_total_s": t_dense * steps,
        "saving": 1.0 - total / (t_dense * steps),
        "ffn_flops_saving_bound": 1.0 - sched.mean_k() / n,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoe-dropout-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "smoe-dropout")
    parser.add_argument("--quick", action="store_true", help="fewer tokens and a narrower FFN (seconds)")
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per FFN call (default: %(default)s)")
    parser.add_argument("--d-model", type=int, default=256, help="model width d (default: %(default)s)")
    parser.add_argument("--n-experts", type=int, default=16, help="experts N (default: %(default)s)")
    parser.add_argument(
        "--d-ff", type=int, default=2048, help="dense FFN width D = N x expert width (default: %(default)s)"
    )
    parser.add_argument("--ks", default="1,2,4,8,16", help="k values (default: %(default)s)")
    parser.add_argument(
        "--train-steps", type=int, default=400, help="horizon of the timed schedule (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.quick:
        args.tokens, args.d_ff = min(args.tokens, 1024), min(args.d_ff, 1024)
    try:
        ks = [int(k) for k in args.ks.split(",") if k.strip()]
    except ValueError:
        raise UsageError(f"--ks must be comma-separated integers, got {args.ks!r}") from None
    n = args.n_experts
    if n < 1 or args.d_ff % n:
        raise UsageError(f"--d-ff {args.d_ff} is not divisible by --n-experts {n}")
    if not ks or min(ks) < 1 or max(ks) > n:
        raise UsageError(f"--ks must lie in 1..N = {n}, got {ks}")
    if min(args.tokens, args.d_model, args.train_steps) < 1:
        raise UsageError("--tokens, --d-model and --train-steps must be >= 1")
    load = load_snapshot()
    rows = ffn_rows(args.tokens, args.d_model, args.d_ff, n, ks, args.repeats, args.warmup, args.seed)
    print(f"{'layer':>13} {'k':>3} {'fwd ms':>8} {'fwd+bwd ms':>11} {'time/dense':>10} {'FLOPs/dense':>11}")
    for r in rows:
        print(
            f"{r['layer']:>13} {r['k'] if r['k'] else '-':>3} {1e3 * r['fwd_median']:>8.2f} "
            f"{1e3 * r['fwdbwd_median']:>11.2f} {r['fwdbwd_time_vs_dense']:>10.3f} {r['flops_vs_dense']:>11.4f}"
        )
    memory = {}
    if not args.quick:
        for kind, k in (("dense", n), ("moe", 2), ("moe", n)):
            rss = peak_rss(
                "smoe_dropout.bench:ffn_peak",
                {"kind": kind, "k": k, "tokens": args.tokens, "d": args.d_model, "d_ff": args.d_ff, "n": n},
            )
            memory[f"{kind}_k{k}" if kind == "moe" else kind] = rss["delta_mib"]
    d_lm, ff_lm = (64, 512) if args.quick else (128, 2048)
    rounds = 1 if args.quick else 3
    saving = schedule_saving(n, d_lm, ff_lm, 64, 16, args.train_steps, args.repeats, args.warmup, args.seed, rounds)
    print(
        f"training: linear schedule {saving['schedule']} vs dense: measured saving {saving['saving']:.1%} "
        f"(FFN-FLOPs bound {saving['ffn_flops_saving_bound']:.1%})"
    )
    path = write_bench(
        args.out, "smoe-dropout", rows, config=vars(args), load_before=load, training=saving, peak_mib=memory
    )
    print(f"wrote {path}")
    return 0


def entry() -> None:
    run_cli(main)
