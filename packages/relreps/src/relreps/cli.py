"""Command lines of relreps (Moschella et al., ICLR 2023).

relreps-train --dataset digits --head relative --seed 0 --out runs/a        # MLP on digits, 100 stratified anchors
relreps-train --dataset cora --out runs/cora0                              # GCN, 300 uniform training-node anchors
relreps-stitch runs/a runs/b                                               # native vs stitched, two runs
relreps-stitch A.npy B.npy --labels y.npy                                  # relative vs absolute heads on two spaces
relreps-compare A.npy B.npy --anchors 300 --seed 0 --json                  # latent similarity of two spaces
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.threads import set_threads

__all__ = [
    "train_main",
    "stitch_main",
    "compare_main",
    "train_entry",
    "stitch_entry",
    "compare_entry",
    "StitchConfig",
    "CompareConfig",
]


def _one_line_warnings() -> None:
    """Warnings (e.g. more latent dimensions than anchors) as one ``warning: ...`` line on stderr."""
    warnings.formatwarning = lambda message, category, *a, **k: f"warning: {message}\n"  # type: ignore[assignment]
    warnings.simplefilter("default", UserWarning)
    for noise in (".*torch.jit.script.*", ".*[Ss]parse.*", ".*TypedStorage.*"):  # third-party notices, not the user's
        warnings.filterwarnings("ignore", message=noise)


def train_main(argv: Sequence[str] | None = None) -> int:
    from relreps.build import TrainConfig
    from relreps.train import train

    _one_line_warnings()
    parser = argparse.ArgumentParser(
        prog="relreps-train",
        description="Train a classifier or autoencoder with an absolute or relative head (Lightning; scale out with "
        "--strategy ddp --devices N --num-nodes M). The run folder --out gets config.json, metrics.jsonl, atomic "
        "checkpoints, model.pt and summary.json; --resume continues a killed run exactly.",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    result = train(cfg)
    if "test_acc" in result.summary or "test_mse" in result.summary:  # rank 0 only
        shown = {k: v for k, v in result.summary.items() if k.startswith(("val_", "test_")) or k == "steps"}
        print(json.dumps({"run": str(result.run), **shown}))
    return 0


@dataclass
class StitchConfig:
    """``relreps-stitch``: two runs, or two embedding files of the same samples plus labels."""

    labels: Path | None = field(default=None, metadata={"help": "labels .npy (N,), required with two .npy files"})
    anchors: int | None = field(
        default=None, metadata={"help": "anchors K for .npy files (none: min(300, train rows))"}
    )
    anchor_mode: Literal["uniform", "stratified", "fps"] = field(default="uniform", metadata={"help": "anchor choice"})
    anchor_ids: Path | None = field(
        default=None, metadata={"help": "anchor rows: one index a line, or 'i_a i_b' (parallel anchors)"}
    )
    similarity: Literal["inner", "basis_change"] = field(default="inner", metadata={"help": "inner | basis_change"})
    normalization: Literal["l2", "none"] = field(default="l2", metadata={"help": "l2 (cosine) | none"})
    output_norm: Literal["none", "l2", "layernorm", "batchnorm", "instancenorm"] = field(
        default="layernorm", metadata={"help": "normalisation of r(x) before the head"}
    )
    epochs: int = field(default=20, metadata={"help": "head training epochs (.npy files)"})
    batch_size: int = field(default=128, metadata={"help": "head training batch size"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate of the heads"})
    test_fraction: float = field(default=0.4, metadata={"help": "test share of the rows"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/test split"})
    seed: int = field(default=0, metadata={"help": "seed of the anchors and the head training"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})
    out: Path | None = field(default=None, metadata={"help": "also write the table as JSON to this file"})
    device: str = field(default="cpu", metadata={"help": "Lightning accelerator for the heads"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS or the usable cores)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


def _print_table(result: dict) -> None:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    extra = f" on {result['n_test']} test rows, {result['anchors']} anchors" if "n_test" in result else ""
    print(f"metric: {result['metric']}{extra}")
    print(f"{'encoder':8} {'decoder':8} {'kind':9} {'relative':>9} {'absolute':>9}")
    for r in result["rows"]:
        print(f"{r['encoder']:8} {r['decoder']:8} {r['kind']:9} {fmt(r['relative']):>9} {fmt(r['absolute']):>9}")


def stitch_main(argv: Sequence[str] | None = None) -> int:
    from relreps.anchors import read_anchor_ids
    from relreps.build import TrainConfig
    from relreps.data import read_labels, read_npy
    from relreps.stitching import stitch_embeddings, stitch_runs

    _one_line_warnings()
    parser = argparse.ArgumentParser(
        prog="relreps-stitch",
        description="Zero-shot stitching table: encoder of one model, decoder of the other. Give two relreps-train run "
        "folders (trained on the same anchors), or two embedding files A.npy, B.npy (N x D_A, N x D_B, row i = the same "
        "sample) with --labels y.npy: a relative and an absolute linear head are trained on each space, then swapped.",
    )
    parser.add_argument("a", type=Path, help="run folder or embeddings .npy of model A")
    parser.add_argument("b", type=Path, help="run folder or embeddings .npy of model B")
    add_dataclass_args(parser, StitchConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, StitchConfig, namespace=ns)
    set_threads(cfg.threads)
    a, b = ns.a, ns.b
    for p in (a, b):
        if not p.exists():
            raise UsageError(f"not found: {p}")
    if a.is_dir() and b.is_dir():
        result = stitch_runs(a, b)
    elif a.is_file() and b.is_file():
        if cfg.labels is None:
            raise UsageError("two embedding files need --labels y.npy")
        ea, eb = read_npy(a), read_npy(b)
        if ea.shape[0] != eb.shape[0]:
            raise UsageError(f"{a} has {ea.shape[0]} rows but {b} has {eb.shape[0]}: row i must be the same sample")
        y = read_labels(cfg.labels, len(ea))
        anchors = read_anchor_ids(cfg.anchor_ids) if cfg.anchor_ids is not None else None
        n_train = len(ea) - max(1, int(round(cfg.test_fraction * len(ea))))
        k = len(anchors) if anchors is not None else (cfg.anchors or min(300, n_train))
        tcfg = TrainConfig(
            dataset="embeddings", data=a, labels=cfg.labels, head="relative", anchors=k, anchor_mode=cfg.anchor_mode,
            anchor_seed=cfg.seed, similarity=cfg.similarity, normalization=cfg.normalization,
            output_norm=cfg.output_norm, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            test_fraction=cfg.test_fraction, val_fraction=0.0, split_seed=cfg.split_seed, seed=cfg.seed,
            device=cfg.device, threads=cfg.threads, quiet=cfg.quiet,
        )  # fmt: skip
        result = stitch_embeddings(ea, eb, y, anchors, tcfg)
    else:
        raise UsageError("give two run folders or two .npy embedding files")
    if cfg.out is not None:
        atomic_write_json(cfg.out, result)
    if cfg.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0


@dataclass
class CompareConfig:
    """``relreps-compare``: similarity of two embedding spaces of the same samples."""

    anchors: int | None = field(default=None, metadata={"help": "anchors K drawn uniformly (none: min(300, N))"})
    anchor_ids: Path | None = field(
        default=None, metadata={"help": "anchor rows instead: one index a line, or 'i_a i_b' (parallel anchors)"}
    )
    k: int = field(default=10, metadata={"help": "neighbourhood size of Jaccard@k and MRR"})
    similarity: Literal["inner", "basis_change"] = field(default="inner", metadata={"help": "inner | basis_change"})
    normalization: Literal["l2", "none"] = field(default="l2", metadata={"help": "l2 (cosine, the paper) | none"})
    max_queries: int = field(
        default=2_000, metadata={"help": "Jaccard/MRR over this many random query rows (seeded) when N is larger"}
    )
    extended: bool = field(default=False, metadata={"help": "add absolute-space metrics, RBF CKA and sizes"})
    seed: int = field(default=0, metadata={"help": "seed of the anchors (and of the query sample)"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})
    out: Path | None = field(default=None, metadata={"help": "also write the JSON to this file"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS or the usable cores)"})


def compare_main(argv: Sequence[str] | None = None) -> int:
    import numpy as np

    from relreps.anchors import ParallelAnchors, read_anchor_ids, uniform_anchors
    from relreps.data import read_npy
    from relreps.metrics import compare_spaces
    from relreps.projection import check_anchor_count

    _one_line_warnings()
    parser = argparse.ArgumentParser(
        prog="relreps-compare",
        description="Latent similarity of two embedding files of the same N samples (row i of A and row i of B embed "
        "the same sample; .npy, float, N x D_A and N x D_B). Prints mean_cosine_relative, mean_cosine_absolute (null "
        "when D_A != D_B), jaccard@k, mrr and cka_linear; Jaccard, MRR and CKA are computed on the relative "
        "representations over the anchors.",
    )
    parser.add_argument("a", type=Path, help="embeddings of space A (.npy, N x D_A)")
    parser.add_argument("b", type=Path, help="embeddings of space B (.npy, N x D_B)")
    add_dataclass_args(parser, CompareConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, CompareConfig, namespace=ns)
    set_threads(cfg.threads)
    if cfg.k < 1:
        raise UsageError(f"--k must be >= 1, got {cfg.k}")
    if cfg.max_queries < 1:
        raise UsageError(f"--max-queries must be >= 1, got {cfg.max_queries}")
    ea, eb = read_npy(ns.a), read_npy(ns.b)
    if ea.shape[0] != eb.shape[0]:
        raise UsageError(f"{ns.a} has {ea.shape[0]} rows but {ns.b} has {eb.shape[0]}: row i must be the same sample")
    n = ea.shape[0]
    if cfg.anchor_ids is not None:
        anchors = read_anchor_ids(cfg.anchor_ids)
        if cfg.anchors is not None and cfg.anchors != len(anchors):
            raise UsageError(f"--anchors {cfg.anchors} but {cfg.anchor_ids} lists {len(anchors)} anchors")
    else:
        k = cfg.anchors if cfg.anchors is not None else min(300, n)
        anchors = ParallelAnchors.same(uniform_anchors(n, k, cfg.seed))
    anchors.check(n, n)
    for name, e in (("A", ea), ("B", eb)):
        check_anchor_count(e.shape[1], len(anchors))
        if np.unique(e[anchors.ids_a if name == "A" else anchors.ids_b], axis=0).shape[0] < len(anchors):
            warnings.warn(f"space {name}: some anchors have identical embeddings", stacklevel=1)
    result = compare_spaces(
        ea, eb, anchors, k=cfg.k, similarity=cfg.similarity, normalization=cfg.normalization,
        max_queries=cfg.max_queries, seed=cfg.seed, extended=cfg.extended, device=cfg.device,
    )  # fmt: skip
    if cfg.out is not None:
        atomic_write_json(cfg.out, result)
    if cfg.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {'null' if value is None else (f'{value:.4f}' if isinstance(value, float) else value)}")
    return 0


def train_entry() -> None:
    run_cli(train_main)


def stitch_entry() -> None:
    run_cli(stitch_main)


def compare_entry() -> None:
    run_cli(compare_main)


if __name__ == "__main__":  # python -m relreps.cli train ... (what a DDP child process re-runs)
    entries = {"train": train_main, "stitch": stitch_main, "compare": compare_main}
    if len(sys.argv) < 2 or sys.argv[1] not in entries:
        sys.exit("usage: python -m relreps.cli {train,stitch,compare} ...")
    run_cli(entries[sys.argv[1]], sys.argv[2:])
