"""``h3-flashconv-reproduce``: the paper's synthetic-language and small-LM claims at CPU scale.

Claims checked (H3 paper, Table 2 and Section 5.1):

1. Induction head, 2-layer models, last-position test accuracy: H3 solves it (paper 100.0), S4D alone does not
   (paper 35.6). Verdict: reproduced when H3 >= 0.9 and S4D <= 0.5; partly when H3 beats S4D by >= 0.2.
2. Ablation: H3 without the shift SSM falls toward S4D (paper Section 3.1 motivates the shift SSM with this).
   Verdict: reproduced when H3 >= 0.9 and H3-no-shift <= H3 - 0.3; partly when H3 >= 0.5 and the gap is >= 0.1
   (the ablation only means something once H3 solves the task).
3. Associative recall (paper H3 99.8 vs S4D 86.0): the margin over S4D must exceed two binomial standard errors of
   the difference of the two test accuracies (``ar_claim``); reproduced when H3 >= 0.95 as well, partly on the margin.
4. Tiny Shakespeare char-LM at equal parameters (within +-5%, widths chosen by ``equal_param_widths``), equal steps
   and three seeds: the paper's claim (OpenWebText) is that the hybrid H3-attention model is at least as good as the
   Transformer. Reproduced when mean(hybrid) + 1 sd <= mean(Transformer) (sd = the larger of the two sample standard
   deviations), partly when mean(hybrid) <= mean(Transformer) (``lm_claim``). Pure H3 is reported beside them.

These thresholds were fixed in code before the three-seed runs were measured.

Every verdict is computed from the measured numbers; the budget (steps) is what ``--quick`` can afford on 2 CPU
cores, far below the paper's 400 epochs, and is written into the summary. Deviation: the synthetic runs train on the
answer position only (``loss_on="last"``). The official code trains on every position, where the random tokens
carry 30 of the 31 loss terms; at that loss neither H3 nor a Transformer left chance within 6k steps here, while
with the answer-only loss H3 solves induction head in under 1k steps (README, "Synthetic languages").
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from h3_flashconv.train import TrainConfig, fit
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.reproduce import Claim, add_reproduce_args, write_summary
from orals23_shared.runs import read_metrics
from orals23_shared.threads import set_threads

__all__ = ["main", "entry", "budgets", "ar_claim", "lm_claim", "equal_param_widths"]


def budgets(quick: bool) -> dict[str, int]:
    """Optimiser steps per run (the paper trains 400 epochs = ~62k steps on the synthetics).

    ``--quick`` fits about 3 CPU-minutes of one thread: induction head gets the steps H3 needs to solve it (750;
    a 560-step run stopped at 0.896), the LM runs 60 steps x 3 models x 3 seeds, and associative recall is left to
    the full mode (``ar_steps = 0``: its claim is "not run" with the reason; 200 steps gave H3 0.588 vs S4D 0.578,
    below two standard errors, and cost 20 CPU-seconds)."""
    if quick:
        return {
            "ih_steps": 750,
            "ar_steps": 0,
            "lm_steps": 60,
            "lm_seeds": 3,
            "n_train": 2000,
            "n_test": 500,
            "block_size": 64,
            "lm_batch": 16,
        }
    return {
        "ih_steps": 8000,
        "ar_steps": 8000,
        "lm_steps": 3000,
        "lm_seeds": 3,
        "n_train": 5000,
        "n_test": 500,
        "block_size": 256,
        "lm_batch": 16,
    }


def ar_claim(h3: float, s4d: float, n_test: int, **details: Any) -> Claim:
    """Associative recall: H3's margin over S4D must exceed 2 binomial standard errors of the difference."""
    se = math.sqrt((h3 * (1 - h3) + s4d * (1 - s4d)) / n_test)
    margin_ok = h3 - s4d >= 2 * se
    return Claim.threshold(
        "associative recall: H3 near perfect and above S4D by >= 2 standard errors",
        paper={"H3": 0.998, "S4D": 0.86},
        ours={"H3": h3, "S4D": s4d, "margin": round(h3 - s4d, 4), "2 se": round(2 * se, 4)},
        ok=h3 >= 0.95 and margin_ok,
        partly=margin_ok,
        n_test=n_test,
        **details,
    )


def _mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else float("inf"))


def lm_claim(loss: dict[str, Sequence[float]], params: dict[str, int], **details: Any) -> Claim:
    """Hybrid <= Transformer at equal parameters: ``loss`` holds each model's validation losses, one per seed.

    Reproduced when mean(hybrid) + sd <= mean(Transformer), sd the larger sample standard deviation of the two;
    partly when mean(hybrid) <= mean(Transformer). Fewer than 3 seeds or parameter counts more than 5% apart
    cannot reproduce it (at most partly / not)."""
    (mh, sh), (mt, st) = _mean_sd(loss["hybrid"]), _mean_sd(loss["Transformer"])
    sd = max(sh, st)
    ref = params["Transformer"]
    equal = all(abs(v - ref) <= 0.05 * ref for v in params.values())
    seeds = min(len(v) for v in loss.values())
    ours: dict[str, Any] = {}
    for k, v in loss.items():
        m, d = _mean_sd(v)
        ours[f"val loss {k}"] = f"{m:.4f} +- {d:.4f}"
    ours |= {f"params {k}": v for k, v in params.items()}
    return Claim.threshold(
        "char-LM at equal parameters and steps, 3 seeds: hybrid H3-attention <= Transformer (val loss, nats/char)",
        paper={"OWT ppl hybrid": 19.6, "OWT ppl Transformer": 20.6, "OWT ppl H3": 21.0},
        ours=ours,
        ok=equal and seeds >= 3 and mh + sd <= mt,
        partly=equal and mh <= mt,
        seeds=seeds,
        losses={k: [round(x, 4) for x in v] for k, v in loss.items()},
        **details,
    )


def equal_param_widths(vocab_size: int, base: dict[str, Any], d_ref: int = 64) -> dict[str, int]:
    """d_model per LM kind whose parameter count is nearest the Transformer's at ``d_ref`` (attention models keep
    d divisible by the number of heads); ``lm_claim`` checks that they land within 5%."""
    from h3_flashconv.model import LanguageModel, ModelConfig

    def count(model: str, d: int) -> int:
        return LanguageModel(ModelConfig(model=model, vocab_size=vocab_size, d_model=d, **base)).num_params()

    target = count("transformer", d_ref)
    step = base.get("n_head", 4)
    widths = {"transformer": d_ref}
    for model, stride in (("h3", 1), ("hybrid", step)):
        cands = range(stride * max(1, d_ref // (2 * stride)), 2 * d_ref + 1, stride)
        widths[model] = min(cands, key=lambda d: abs(count(model, d) - target))
    return widths


def _default_corpus() -> Path | None:
    from orals23_shared.paths import shared_data_dir

    d = shared_data_dir("tinyshakespeare")
    return None if d is None else d / "input.txt"


def _plot(out: Path, synth: dict[str, float], lm_runs: dict[str, list[str]]) -> list[Path]:
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
        for i, (name, run_dirs) in enumerate(lm_runs.items()):
            for j, run in enumerate(run_dirs):
                rows = [r for r in read_metrics(run) if "val_loss" in r]
                ax.plot(
                    [r["step"] for r in rows],
                    [r["val_loss"] for r in rows],
                    marker="o",
                    color=f"C{i}",
                    alpha=0.8,
                    label=name if j == 0 else None,
                )
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats/char)")
        ax.set_title("Tiny Shakespeare char-LM (one line per seed)")
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
    t0, c0 = time.time(), time.process_time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    b = budgets(args.quick)
    scaled = {k: max(1, int(b[k] * args.steps_scale)) if b[k] else 0 for k in ("ih_steps", "ar_steps", "lm_steps")}
    base = TrainConfig(
        task="induction_head",
        d_model=64,
        n_layer=2,
        d_state=64,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.1,
        embed_dropout=0.0,
        ckpt_every=10**9,
        n_train=b["n_train"],
        n_test=b["n_test"],
        seed=args.seed,
        device=args.device,
        quiet=args.quiet,
        loss_on="last",
    )
    runs: dict[str, dict] = {}

    def run(name: str, cfg: TrainConfig) -> dict:
        """One training run, with the CPU time this process spent on it (the budget is CPU time)."""
        c0 = time.process_time()
        runs[name] = fit(replace(cfg, out=out / "runs" / name.lower().replace(" ", "_"), overwrite=True))
        runs[name]["cpu_seconds"] = round(time.process_time() - c0, 1)
        return runs[name]

    for name, steps, kw in [
        ("IH H3", "ih_steps", {"model": "h3"}),
        ("IH S4D", "ih_steps", {"model": "s4d"}),
        ("IH H3 no shift", "ih_steps", {"model": "h3", "use_shift": False}),
        ("AR H3", "ar_steps", {"model": "h3", "task": "associative_recall"}),
        ("AR S4D", "ar_steps", {"model": "s4d", "task": "associative_recall"}),
    ]:
        n = scaled[steps]
        if n == 0:
            continue
        run(name, replace(base, max_steps=n, eval_every=max(1, n // 4), warmup_steps=min(50, n // 10 + 1), **kw))
    acc = {k: float(v["val_last_acc"]) for k, v in runs.items()}
    budget = {
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
            steps=scaled["ih_steps"],
            **budget,
        ),
        Claim.threshold(
            "ablation: H3 without the shift SSM falls toward S4D on induction head",
            paper="shift SSM needed to compare tokens across positions",
            ours={"H3": acc["IH H3"], "H3 no shift": acc["IH H3 no shift"], "S4D": acc["IH S4D"]},
            ok=acc["IH H3"] >= 0.9 and acc["IH H3 no shift"] <= acc["IH H3"] - 0.3,
            partly=acc["IH H3"] >= 0.5 and acc["IH H3 no shift"] <= acc["IH H3"] - 0.1,
            steps=scaled["ih_steps"],
            **budget,
        ),
        ar_claim(acc["AR H3"], acc["AR S4D"], b["n_test"], steps=scaled["ar_steps"], **budget)
        if scaled["ar_steps"]
        else Claim.not_run(
            "associative recall: H3 near perfect and above S4D by >= 2 standard errors",
            paper={"H3": 0.998, "S4D": 0.86},
            reason="not in --quick (3-CPU-minute budget): 200 steps gave H3 0.588 vs S4D 0.578, far below the 2 "
            "standard errors the claim needs; the full mode trains 8000 steps",
        ),
    ]
    lm_runs: dict[str, list[str]] = {}
    corpus = args.corpus or _default_corpus()
    if not args.skip_lm:
        if corpus is None or not Path(corpus).is_file():
            raise UsageError(
                "the LM claim needs --corpus FILE (Tiny Shakespeare was not found in shared data); or pass --skip-lm"
            )
        from h3_flashconv.data import load_corpus, make_tokenizer

        lm_steps = scaled["lm_steps"]
        lm_base = replace(
            base,
            task="lm",
            loss_on="all",
            corpus=Path(corpus),
            max_steps=lm_steps,
            block_size=b["block_size"],
            max_len=b["block_size"],  # Transformer position table = context, so parameter counts stay comparable
            batch_size=b["lm_batch"],
            embed_dropout=0.1,
            eval_every=max(1, lm_steps // 5),
            eval_batches=10,
            warmup_steps=min(50, lm_steps // 10 + 1),
        )
        vocab = make_tokenizer("char", load_corpus(Path(corpus))).vocab_size
        shape = {"n_layer": 2, "d_state": 64, "n_head": 4, "max_len": b["block_size"], "attn_layer_idx": (1,)}
        widths = equal_param_widths(vocab, shape)
        kinds = {"H3": "h3", "hybrid": "hybrid", "Transformer": "transformer"}
        loss: dict[str, list[float]] = {k: [] for k in kinds}
        params: dict[str, int] = {}
        for i in range(b["lm_seeds"]):
            for name, kind in kinds.items():
                cfg = replace(lm_base, model=kind, d_model=widths[kind], attn_layer_idx=(1,), seed=args.seed + i)
                r = run(f"LM {name} seed{i}", cfg)
                loss[name].append(float(r["val_loss"]))
                params[name] = int(r["params"])
                lm_runs.setdefault(name, []).append(r["run_dir"])
        claims.append(
            lm_claim(
                loss,
                params,
                d_model=widths,
                steps=lm_steps,
                batch=b["lm_batch"],
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
        cpu_seconds=round(time.process_time() - c0, 1),
        runs={
            k: {kk: v[kk] for kk in ("val_loss", "val_last_acc", "params", "steps", "seconds", "cpu_seconds")}
            for k, v in runs.items()
        },
    )
    print(f"wrote {path}")
    for c in claims:
        print(f"[{c.verdict}] {c.claim}: {c.ours}")
    return 0


def entry() -> None:
    run_cli(main)
