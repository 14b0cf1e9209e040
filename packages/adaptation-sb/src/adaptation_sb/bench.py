"""``adaptation-sb-bench``: what the SB-mitigating probes cost over plain LP, and FT over LP, side by side in one run.

The brief's expectation (Sec. g): features are precomputed for every probe, so a probe step is one linear head;
VAT adds the power iteration (2 extra head passes), UDP ``udp_steps`` (10) extra forward/backward passes, Soup
trains 20 heads at once. One timed call = ``--inner`` optimiser steps on a batch of ``--batch`` features of size
``--feat-dim`` (2048: ResNet-50's pooled features, the paper's backbone) with 10 classes; median of >= 5 calls.
The FT row times a full step of the package's MLP backbone + head on digits-dominoes inputs, beside the LP step
on its 64-dim features.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.threads import set_threads

__all__ = ["entry", "main", "probe_train_call"]


def _probe_step(variant: str, feat_dim: int, batch: int, seed: int):  # noqa: ANN202
    import torch
    import torch.nn.functional as F

    from adaptation_sb.probes import ProbeConfig, SoupHeads, udp_perturbation, vat_lds

    cfg = ProbeConfig(variant=variant)
    g = torch.Generator().manual_seed(seed)
    h = torch.relu(torch.randn(batch, feat_dim, generator=g))
    y = torch.randint(0, 10, (batch,), generator=g)
    head = SoupHeads(feat_dim, 10, cfg.soup_heads, generator=g) if variant == "soup" else torch.nn.Linear(feat_dim, 10)
    opt = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step() -> None:
        if variant == "soup":
            logits = head(h)
            loss = F.cross_entropy(logits.reshape(-1, 10), y.repeat(logits.shape[0]))
        else:
            loss = F.cross_entropy(head(h), y)
            if variant == "vat":
                loss = loss + cfg.vat_alpha * vat_lds(head, h, cfg.vat_xi, cfg.vat_eps, cfg.vat_ip, g)
            elif variant == "udp":
                delta = udp_perturbation(head, h, cfg.udp_eps, cfg.udp_step, cfg.udp_steps)
                loss = loss + cfg.udp_weight * F.cross_entropy(head(h + delta), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _ft_step(seed: int, batch: int):  # noqa: ANN202
    import torch
    import torch.nn.functional as F

    from adaptation_sb.model import BackboneConfig, Classifier, MLPEncoder

    torch.manual_seed(seed)
    model = Classifier(MLPEncoder(BackboneConfig()), torch.nn.Linear(64, 10))
    x, y = torch.rand(batch, 16, 8), torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def probe_train_call(variant: str, feat_dim: int, batch: int, steps: int) -> int:
    """``steps`` probe steps (the target of the fresh-process memory measurement)."""
    step = _probe_step(variant, feat_dim, batch, 0)
    for _ in range(steps):
        step()
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adaptation-sb-bench", description=__doc__.splitlines()[0])
    add_bench_args(parser, "adaptation-sb")
    parser.add_argument("--feat-dim", type=int, default=2048, help="probe feature size (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=256, help="probe batch size (default: %(default)s)")
    parser.add_argument("--inner", type=int, default=20, help="steps per timed call (default: %(default)s)")
    parser.add_argument("--memory", action="store_true", help="also peak RSS of 50 probe steps per variant")
    parser.add_argument("--quick", action="store_true", help="small sizes (feat-dim 256, 5 steps per call)")
    args = parser.parse_args(argv)
    if args.quick:
        args.feat_dim, args.inner = 256, 5
    if args.feat_dim < 20 or args.batch < 1 or args.inner < 1:
        raise UsageError("--feat-dim must be >= 20 (one block per soup head), --batch and --inner >= 1")
    set_threads(args.threads)
    before = load_snapshot()
    rows, timings = [], {}
    for variant in ("lp", "vat", "udp", "soup"):
        step = _probe_step(variant, args.feat_dim, args.batch, args.seed)

        def run(step=step) -> None:
            for _ in range(args.inner):
                step()

        timings[variant] = t = time_call(run, repeats=args.repeats, warmup=args.warmup)
        row = {
            "what": f"probe {variant}",
            "ms_per_step": round(t.median / args.inner * 1e3, 4),
            "ratio_over_lp": round(t.ratio(timings["lp"]), 3),
            **t.as_dict(),
        }
        if args.memory:
            row["peak_rss"] = peak_rss(
                "adaptation_sb.bench:probe_train_call",
                {"variant": variant, "feat_dim": args.feat_dim, "batch": args.batch, "steps": 50},
            )
        rows.append(row)
        print(f"probe {variant:>5}: {row['ms_per_step']} ms/step, {row['ratio_over_lp']} x LP")
    lp64, ft = _probe_step("lp", 64, 64, args.seed), _ft_step(args.seed, 64)
    t_lp = time_call(lambda: [lp64() for _ in range(args.inner)], repeats=args.repeats, warmup=args.warmup)
    t_ft = time_call(lambda: [ft() for _ in range(args.inner)], repeats=args.repeats, warmup=args.warmup)
    rows.append({
        "what": "FT step (MLP backbone + head, batch 64) vs LP step (64-dim features)",
        "ms_per_step": round(t_ft.median / args.inner * 1e3, 4),
        "lp_ms_per_step": round(t_lp.median / args.inner * 1e3, 4),
        "ratio_ft_over_lp": round(t_ft.ratio(t_lp), 3),
        **t_ft.as_dict("ft_"),
        **t_lp.as_dict("lp_"),
    })  # fmt: skip
    print(
        f"FT step {rows[-1]['ms_per_step']} ms vs LP step {rows[-1]['lp_ms_per_step']} ms: {rows[-1]['ratio_ft_over_lp']} x"
    )
    path = write_bench(args.out, "adaptation-sb", rows, config=vars(args), load_before=before)
    print(path)
    return 0


def entry() -> None:
    run_cli(main)
