"""``h3-flashconv-reproduce``: the paper's synthetic-language and small-LM claims at CPU scale.

Claims checked (H3 paper, Table 2 and Section 5.1):

1. Induction head, 2-layer models, last-position test accuracy: H3 solves it (paper 100.0), S4D alone does not
   (paper 35.6). Verdict: reproduced when H3 >= 0.9 and S4D <= 0.5; partly when H3 beats S4D by >= 0.2.
2. Ablation: H3 without the shift SSM falls toward S4D (paper Section 3.1 motivates the shift SSM with this).
   Verdict: reproduced when H3 >= 0.9 and H3-no-shift <= H3 - 0.3; partly when H3 >= 0.5 and the gap is >= 0.1
   (the ablation only means something once H3 solves the task).
3. Associative recall (paper H3 99.8 vs S4D 86.0): reproduced when H3 >= 0.95 and H3 > S4D, partly when H3 > S4D.
4. Tiny Shakespeare char-LM at about equal parameters and equal steps: the paper's claim (OpenWebText) is that the
   hybrid H3-attention model is at least as good as the Transformer. Reproduced when hybrid val loss <= Transformer's
   (+0.01 noise allowance), partly when within 0.1.

Every verdict is computed from the measured numbers; the budget (steps) is what ``--quick`` can afford on 2 CPU
cores, far below the paper's 400 epochs, and is written into the summary. Deviation: the synthetic runs train on the
answer position only (``loss_on="last"``). The official code trains on every position, where the random tokens
carry 30 of the 31 loss terms; at that loss neither H3 nor a Transformer left chance within 6k steps here, while
with the answer-only loss H3 solves induction head in under 1k steps (README, "Synthetic languages").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from h3_flashconv.train import TrainConfig, fit
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.runs import read_metrics
from orals23_shared.threads import set_threads

__all__ = ["main", "entry", "budgets"]


def budgets(quick: bool) -> dict[str, int]:
    """Optimiser steps per run (the paper trains 400 epochs = ~62k steps on the synthetics)."""
    if quick:
        return {"synthetic_steps": 1000, "lm_steps": 300, "n_train": 2000, "n_test": 500, "block_size": 128}
    return {"synthetic_steps": 8000, "lm_steps": 3000, "n_train": 5000, "n_test": 500, "block_size": 256}


def _default_corpus() -> Path | None:
    from orals23_shared.paths import shared_data_dir

    d = shared_data_dir("tinyshakespeare")
    return None if d is None else d / "input.txt"


def _plot(out: Path, synth: dict[str, float], lm_runs: dict[str, str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(synth)
    ax.bar(range(len(names)), [synth[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("last-position test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Synthetic languages (2-layer models)")
    fig.tight_layout()
    p = out / "synthetics.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    plots.append(p)
    if lm_runs:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name, run in lm_runs.items():
            rows = [r for r in read_metrics(run) if "val_loss" in r]
            ax.plot([r["step"] for r in rows], [r["val_loss"] for r in rows], marker="o", label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats/char)")
        ax.set_title("Tiny Shakespeare char-LM")
        ax.legend()
        fig.tight_layout()
        p = out / "shakespeare_val_loss.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        plots.append(p)
    return plots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="h3-flashconv-reproduce", description=__doc__.split("\n\n")[0])
    add_reproduce_args(parser, default_out="reports/h3-flashconv")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="text file for the LM claim (default: shared Tiny Shakespeare)"
    )
    parser.add_argument("--skip-lm", action="store_true", help="only the synthetic-language claims")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every step budget (default: 1)")
    args = parser.parse_args(argv)
    if args.steps_scale <= 0:
        raise UsageError("--steps-scale must be > 0")
    set_threads(args.threads)
    t0 = time.time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    b = budgets(args.quick)
    syn_steps = max(1, int(b["synthetic_steps"] * args.steps_scale))
    lm_steps = max(1, int(b["lm_steps"] * args.steps_scale))
    base = TrainConfig(
        task="induction_head",
        d_model=64,
        n_layer=2,
        d_state=64,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.1,
        embed_dropout=0.0,
        max_steps=syn_steps,
        eval_every=max(1, syn_steps // 4),
        ckpt_every=10**9,
        n_train=b["n_train"],
        n_test=b["n_test"],
        seed=args.seed,
        device=args.device,
        quiet=args.quiet,
        warmup_steps=min(50, syn_steps // 10 + 1),
        loss_on="last",
    )
    runs: dict[str, dict] = {}
    for name, kw in [
        ("IH H3", {"model": "h3"}),
        ("IH S4D", {"model": "s4d"}),
        ("IH H3 no shift", {"model": "h3", "use_shift": False}),
        ("AR H3", {"model": "h3", "task": "associative_recall"}),
        ("AR S4D", {"model": "s4d", "task": "associative_recall"}),
    ]:
        cfg = replace(base, out=out / "runs" / name.lower().replace(" ", "_"), overwrite=True, **kw)
        runs[name] = fit(cfg)
    acc = {k: float(v["val_last_acc"]) for k, v in runs.items()}
    budget = {
        "steps": syn_steps,
        "batch": 32,
        "n_train": b["n_train"],
        "paper_steps": "400 epochs of 5000 (~62k steps)",
        "loss_on": "last position only (paper: every position)",
    }
    claims = [
        Claim.threshold(
            "induction head: H3 solves it, S4D alone does not (last-position test acc)",
            paper={"H3": 1.0, "S4D": 0.356},
            ours={"H3": acc["IH H3"], "S4D": acc["IH S4D"]},
            ok=acc["IH H3"] >= 0.9 and acc["IH S4D"] <= 0.5,
            partly=acc["IH H3"] >= acc["IH S4D"] + 0.2,
            **budget,
        ),
        Claim.threshold(
            "ablation: H3 without the shift SSM falls toward S4D on induction head",
            paper="shift SSM needed to compare tokens across positions",
            ours={"H3": acc["IH H3"], "H3 no shift": acc["IH H3 no shift"], "S4D": acc["IH S4D"]},
            ok=acc["IH H3"] >= 0.9 and acc["IH H3 no shift"] <= acc["IH H3"] - 0.3,
            partly=acc["IH H3"] >= 0.5 and acc["IH H3 no shift"] <= acc["IH H3"] - 0.1,
            **budget,
        ),
        Claim.threshold(
            "associative recall: H3 near perfect and above S4D",
            paper={"H3": 0.998, "S4D": 0.86},
            ours={"H3": acc["AR H3"], "S4D": acc["AR S4D"]},
            ok=acc["AR H3"] >= 0.95 and acc["AR H3"] > acc["AR S4D"],
            partly=acc["AR H3"] > acc["AR S4D"],
            **budget,
        ),
    ]
    lm_runs: dict[str, str] = {}
    corpus = args.corpus or _default_corpus()
    if not args.skip_lm:
        if corpus is None or not Path(corpus).is_file():
            raise UsageError(
                "the LM claim needs --corpus FILE (Tiny Shakespeare was not found in shared data); or pass --skip-lm"
            )
        lm_base = replace(
            base,
            task="lm",
            loss_on="all",
            corpus=Path(corpus),
            max_steps=lm_steps,
            block_size=b["block_size"],
            max_len=b["block_size"],  # Transformer position table = context, so parameter counts stay comparable
            batch_size=16,
            embed_dropout=0.1,
            eval_every=max(1, lm_steps // 5),
            eval_batches=10,
            warmup_steps=min(50, lm_steps // 10 + 1),
        )
        lm = {}
        for name, kw in [
            ("H3", {"model": "h3"}),
            ("hybrid", {"model": "hybrid", "attn_layer_idx": (1,)}),
            ("Transformer", {"model": "transformer"}),
        ]:
            cfg = replace(lm_base, out=out / "runs" / f"lm_{name.lower()}", overwrite=True, **kw)
            lm[name] = fit(cfg)
            lm_runs[name] = lm[name]["run_dir"]
            runs[f"LM {name}"] = lm[name]
        loss = {k: float(v["val_loss"]) for k, v in lm.items()}
        claims.append(
            Claim.threshold(
                "char-LM at equal steps: hybrid H3-attention <= Transformer (validation loss, nats/char)",
                paper={"OWT ppl hybrid": 19.6, "OWT ppl Transformer": 20.6, "OWT ppl H3": 21.0},
                ours={
                    **{f"val loss {k}": round(v, 4) for k, v in loss.items()},
                    **{f"params {k}": v["params"] for k, v in lm.items()},
                },
                ok=loss["hybrid"] <= loss["Transformer"] + 0.01,
                partly=loss["hybrid"] <= loss["Transformer"] + 0.1,
                steps=lm_steps,
                batch=16,
                block_size=b["block_size"],
                corpus=str(corpus),
            )
        )
    plots = _plot(out, acc, lm_runs)
    path = write_summary(
        out,
        "h3-flashconv",
        claims,
        time.time() - t0,
        plots=plots,
        quick=args.quick,
        steps_scale=args.steps_scale,
        runs={
            k: {kk: v[kk] for kk in ("val_loss", "val_last_acc", "params", "steps", "seconds")} for k, v in runs.items()
        },
    )
    print(f"wrote {path}")
    for c in claims:
        print(f"[{c.verdict}] {c.claim}: {c.ours}")
    return 0


def entry() -> None:
    run_cli(main)
