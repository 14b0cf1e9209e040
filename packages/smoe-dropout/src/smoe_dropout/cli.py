"""Command lines ``smoe-dropout-train`` and ``smoe-dropout-eval`` (SMoE-Dropout, Chen et al., ICLR 2023).

smoe-dropout-train --out runs/smoe                                   # char-LM on tiny Shakespeare, random router
smoe-dropout-train --data my.txt --router learned --k-schedule constant --k 2 --out runs/learned
smoe-dropout-train --task textcls --train-file train.tsv --val-file dev.tsv --out runs/sst2
smoe-dropout-train --init-from runs/dense --router random --k-schedule constant --k 16 --out runs/ft
smoe-dropout-eval runs/smoe --ks 1,2,4,8,16                          # the self-slimming curve + plot
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli

__all__ = ["EvalConfig", "eval_entry", "eval_main", "plot_curves", "train_entry", "train_main"]


def train_main(argv: Sequence[str] | None = None) -> int:
    from smoe_dropout.train import TrainConfig, train

    parser = argparse.ArgumentParser(
        prog="smoe-dropout-train",
        description="Train a transformer whose FFNs are SMoE-Dropout layers (frozen random router, k growing "
        "linearly to N), a learned-router MoE, or dense; then evaluate it at every k (self-slimming).",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    result = train(cfg)
    if result.summary.get("params") is not None:
        shown = {k: v for k, v in result.summary.items() if k.startswith(("val_", "test_", "curve_k", "steps"))}
        print(json.dumps({"run": str(result.run_dir), **shown}))
    return 0


@dataclass
class EvalConfig:
    """Evaluate a ``smoe-dropout-train`` run at several k (the self-slimming curve)."""

    ks: tuple[int, ...] = field(default=(), metadata={"help": "k values (default 1,2,4,...,N)"})
    data: Path | None = field(
        default=None,
        metadata={
            "help": "lm: a UTF-8 text file; textcls: a 'sentence<TAB>label' file (default: the run's validation data)"
        },
    )
    uniform: bool = field(
        default=False, metadata={"help": "weight all N experts equally (the official dense_moe_flag)"}
    )
    max_tokens: int = field(
        default=0, metadata={"help": "lm: characters evaluated (0 = the run's --val-tokens, or all of --data)"}
    )
    out: Path | None = field(
        default=None, metadata={"help": "folder for eval.json and self_slimming.png (default RUN/eval)"}
    )
    json: bool = field(default=False, metadata={"help": "print one JSON object"})
    seed: int = field(
        default=0, metadata={"help": "unused by the metric (evaluation is deterministic); kept for uniformity"}
    )
    device: str = field(default="cpu", metadata={"help": "torch device"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS or the usable cores)"})
    quiet: bool = field(default=False, metadata={"help": "no progress output"})


def _eval_data(cfg: EvalConfig, meta: dict, config: dict):  # noqa: ANN202
    """The dataset to evaluate on: ``--data`` in the run's format, else the run's own validation split."""
    from smoe_dropout.data import CharVocab, LMWindows, encode_sentences, load_text, load_tsv
    from smoe_dropout.train import TrainConfig, build_data

    task, ctx = meta["task"], meta["model"]["context"]
    vocab = CharVocab(meta["vocab"]) if meta.get("vocab") else None
    if cfg.data is None:
        tcfg = TrainConfig(**{**config, "val_tokens": cfg.max_tokens or config.get("val_tokens", 0)})
        data = build_data(tcfg, vocab)
        return (data.test if data.test is not None else data.val), "test" if data.test is not None else "validation"
    if task == "digits":
        raise UsageError("--data is not used for digits (the run's fixed test split is evaluated)")
    if task == "lm":
        text = load_text(cfg.data)
        unknown = vocab.unknown(text)  # type: ignore[union-attr]
        if unknown:
            print(
                f"note: {unknown} character(s) of {cfg.data} not in the model's vocabulary (read as id 0)",
                file=sys.stderr,
            )
        limit = max(1, cfg.max_tokens // ctx) if cfg.max_tokens else 0
        return LMWindows(vocab.encode(text), ctx, ctx, limit), str(cfg.data)  # type: ignore[union-attr]
    sentences, labels = load_tsv(cfg.data)
    n_classes = meta["model"]["n_classes"]
    if max(labels) >= n_classes:
        raise UsageError(f"{cfg.data}: label {max(labels)} but the model has {n_classes} classes")
    return encode_sentences(sentences, labels, vocab, ctx), str(cfg.data)  # type: ignore[arg-type]


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smoe-dropout-eval",
        description="Metric of a trained run at several numbers of activated experts k (bits per character for a "
        "char-LM, accuracy for a classifier), with analytic inference FLOPs per token, and the curve as a plot.",
    )
    parser.add_argument("run", type=Path, help="run folder written by smoe-dropout-train --out")
    add_dataclass_args(parser, EvalConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=ns)
    from orals23_shared.threads import set_threads
    from smoe_dropout.evaluate import default_ks, evaluate, load_run, metric_name
    from smoe_dropout.model import flops_per_token, n_experts_of

    set_threads(cfg.threads)
    model, meta, config = load_run(ns.run)
    model = model.to(cfg.device)
    n = n_experts_of(model)
    ks = list(cfg.ks) or (default_ks(n) if n else [])
    if n == 0 and cfg.ks:
        raise UsageError(f"{ns.run} is a dense model: it has no experts to evaluate at --ks")
    for k in ks:
        if k < 1:
            raise UsageError(f"--ks: k must be >= 1, got {k}")
        if k > n:
            raise UsageError(f"--ks: k = {k} exceeds the number of experts N = {n}")
    data, source = _eval_data(cfg, meta, config)
    name = metric_name(model)
    rows = []
    for k in ks or [None]:
        res = evaluate(model, data, k, uniform=cfg.uniform and k == n)
        rows.append({"k": k, name: res[name], "loss": res["loss"], "flops_per_token": flops_per_token(model.cfg, k)})
    out = cfg.out or Path(ns.run) / "eval"
    record = {"run": str(ns.run), "data": source, "metric": name, "router": model.cfg.router, "rows": rows}
    atomic_write_json(Path(out) / "eval.json", record)
    plot = plot_curves({Path(ns.run).name: rows}, name, Path(out) / "self_slimming.png")
    record["plot"] = str(plot)
    if cfg.json:
        print(json.dumps(record))
    else:
        print(f"{'k':>4} {name:>9} {'MFLOPs/token':>13}   ({source})")
        for r in rows:
            print(f"{r['k'] if r['k'] is not None else '-':>4} {r[name]:>9.4f} {r['flops_per_token'] / 1e6:>13.3f}")
        print(f"wrote {Path(out) / 'eval.json'} and {plot}")
    return 0


def plot_curves(curves: dict[str, list[dict]], metric: str, path: Path, title: str | None = None) -> Path:
    """Metric against k (log2 axis) per model; a model without experts is a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    all_k = sorted({r["k"] for rows in curves.values() for r in rows if r["k"] is not None}) or [1]
    for label, rows in curves.items():
        if len(rows) == 1 and rows[0]["k"] is None:
            ax.axhline(rows[0][metric], ls="--", color="gray", label=f"{label} ({rows[0][metric]:.3f})")
            continue
        ax.plot([r["k"] for r in rows], [r[metric] for r in rows], "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_k, [str(k) for k in all_k])
    ax.set_xlabel("experts activated at inference (k)")
    ax.set_ylabel({"bpc": "validation bits per character", "accuracy": "accuracy"}.get(metric, metric))
    ax.set_title(title or "self-slimming curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)


if __name__ == "__main__":  # ``python -m smoe_dropout.cli train|eval ...`` (Lightning's DDP relaunches it as is)
    if len(sys.argv) < 2 or sys.argv[1] not in ("train", "eval"):
        print("usage: python -m smoe_dropout.cli train|eval [options]", file=sys.stderr)
        sys.exit(2)
    run_cli(train_main if sys.argv[1] == "train" else eval_main, sys.argv[2:])
