"""Command-line entry points: ``failure-directions-fit``, ``-caption``, ``-intervene``, ``-benchmark``.

Jain et al., "Distilling Model Failures as Directions in Latent Space" (ICLR 2023): fit per-class
error-predicting SVMs on a model's outputs and a feature space and rank images (``-fit``), caption the
failure directions (``-caption``), intervene on the training data along them (``-intervene``), and write
the offline planted benchmark as a data folder (``-benchmark``). Each writes a run folder, refuses a
used ``--out`` unless ``--resume``/``--overwrite``, and reports bad input in one line (exit code 2).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

import numpy as np

from failure_directions.benchmark import PlantedConfig
from failure_directions.captions import ADJECTIVES, BACKGROUNDS
from failure_directions.interventions import InterventionConfig
from failure_directions.svm import SVMConfig
from failure_directions.train import ClassifierConfig
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import (
    UsageError,
    check,
    parse_run_config,
    run_cli,
)
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.threads import set_threads

__all__ = ["CaptionConfig", "FitConfig", "InterveneConfig", "benchmark_main", "caption_main", "fit_main",
           "intervene_main"]  # fmt: skip


def _svm_config(cfg) -> SVMConfig:
    return SVMConfig(**{f.name: getattr(cfg, f.name) for f in fields(SVMConfig)})


# ---------------------------------------------------------------------------------------------- fit
@dataclass
class FitConfig(SVMConfig):
    """``failure-directions-fit``: the official SVM options plus where the data is."""

    data: Path | None = field(
        default=None, metadata={"help": "data folder with train/val/test[/pool] splits (see README)"}
    )
    encoder: str | None = field(
        default=None, metadata={"help": "for image-folder splits: toy:PATH or open_clip:ARCH:CHECKPOINT"}
    )
    top_k: int = field(
        default=10, metadata={"help": "precision of errors among each class's top-k hardest test images"}
    )
    plot_k: int = field(default=6, metadata={"help": "hardest/easiest images per class in the plot"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS or the usable cores)"})
    device: str = field(default="cpu", metadata={"help": "torch device of an encoder"})


def _load_data(cfg, need_pool: bool = False):
    from failure_directions.data import load_class_names, load_split
    from failure_directions.encoders import load_encoder

    check(cfg.data is not None, "--data is required (a folder with train/val/test splits)")
    spec = getattr(cfg, "encoder", None)  # -intervene reads features and inputs, never image files
    encoder = load_encoder(spec, cfg.device) if spec else None
    splits = {"val": load_split(cfg.data, "val", encoder)}
    for name in ("train", "test", "pool"):
        splits[name] = load_split(cfg.data, name, encoder, required=need_pool and name == "pool")
    names = load_class_names(cfg.data)
    return splits, names


def _error_metrics(svm, split, top_k: int) -> dict:
    from failure_directions.metrics import balanced_accuracy, error_auc, precision_at_k

    s = svm.decision_function(split.features, split.labels, name=f"{split.name} features")
    err = split.preds != split.labels
    auc = error_auc(s, split.labels, split.preds)
    prec = precision_at_k(s, split.labels, err, top_k)
    return {"auc": auc["pooled"], "auc_mean_per_class": auc["mean_per_class"], "auc_per_class": auc["per_class"],
            "balanced_accuracy": balanced_accuracy(s, split.labels, split.preds), "error_rate": auc["error_rate"],
            f"precision_at_{top_k}": prec["mean_precision"], "base_error_rate": prec["mean_base_rate"]}  # fmt: skip


def _write_ranking(path: Path, scores: np.ndarray, split) -> None:
    from failure_directions.metrics import rank_within_class

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "rank", "index", "decision", "label", "pred", "error", "file"])
        for c, order in rank_within_class(scores, split.labels).items():
            for r, i in enumerate(order):
                pred = "" if split.preds is None else int(split.preds[i])
                error = "" if split.preds is None else int(split.preds[i] != split.labels[i])
                file = "" if split.files is None else str(split.files[i])
                w.writerow([c, r, int(i), f"{scores[i]:.6g}", int(split.labels[i]), pred, error, file])


def fit_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        FitConfig,
        argv,
        prog="failure-directions-fit",
        description="Fit per-class error-predicting linear SVMs (whitened, L2-normalised features; class-balanced; "
        "C by 2-fold CV) on a model's validation outputs, and rank every split's images from hardest to easiest.",
        default_out="runs/failure-directions-fit",
    )
    set_threads(cfg.threads)
    check(cfg.top_k >= 1 and cfg.plot_k >= 1, "--top-k and --plot-k must be >= 1")
    check(cfg.cv >= 2, f"--cv must be >= 2, got {cfg.cv}")
    check(len(cfg.c_grid) > 0 and all(c > 0 for c in cfg.c_grid), "--c-grid must hold positive values")
    from failure_directions.plots import plot_extremes
    from failure_directions.svm import FailureSVM

    splits, names = _load_data(cfg)
    run, resumed = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    present = {k: v for k, v in splits.items() if v is not None}
    n_classes = 1 + max(int(max(v.labels.max(), -1 if v.preds is None else v.preds.max()))
                        for v in present.values() if v.labels is not None)  # fmt: skip
    svm = FailureSVM(_svm_config(cfg))
    if splits["train"] is None:
        print("failure-directions-fit: no train split: whitening uses the val statistics", flush=True)
    svm.set_preprocess((splits["train"] or splits["val"]).features)
    val = splits["val"]
    with RunLogger(run, quiet=args.quiet, resume_step=-1 if resumed else None) as log:

        def on_class(f):  # noqa: E306
            log.log(f.cls, n=f.n, n_errors=f.n_errors, fitted=f.fitted, C=f.C, cv_balanced_accuracy=f.cv_score)

        svm.fit(val.features, val.labels, val.preds, n_classes=n_classes, n_jobs=1, checkpoint_dir=run / "classes",
                on_class=on_class)  # fmt: skip
        svm.save(run / "svm.npz")
        summary: dict = {"n_classes": n_classes, "fitted_classes": svm.fitted_classes(),
                         "skipped": {c: f.reason for c, f in svm.classes.items() if not f.fitted and f.n > 0}}  # fmt: skip
        for name, sp in present.items():
            s = svm.decision_function(sp.features, sp.labels if sp.labels is not None else np.zeros(sp.n, int),
                                      name=f"{name} features")  # fmt: skip
            np.save(run / f"decisions_{name}.npy", s)
            if sp.labels is not None:
                _write_ranking(run / f"ranking_{name}.csv", s, sp)
            if name in ("val", "test") and sp.preds is not None:
                summary[name] = _error_metrics(svm, sp, cfg.top_k)
        shown = splits["test"] or val
        if shown.images is not None or shown.files is not None:
            s = svm.decision_function(shown.features, shown.labels)
            plot_extremes(s, shown.labels, run / f"extremes_{shown.name}.png", images=shown.images, files=shown.files,
                          errors=None if shown.preds is None else shown.preds != shown.labels, class_names=names,
                          k=cfg.plot_k, title=f"{shown.name}: hardest and easiest images per class")  # fmt: skip
        log.summary(**summary)
    if args.quiet:
        print(json.dumps({"run": str(run), **{k: summary[k] for k in ("val", "test") if k in summary}}, default=str))
    else:
        for k in ("val", "test"):
            if k in summary:
                m = summary[k]
                print(f"{k}: SVM AUC at predicting errors {m['auc']:.3f} (mean per class {m['auc_mean_per_class']:.3f}), "
                      f"balanced accuracy {m['balanced_accuracy']:.3f}, precision@{cfg.top_k} {m[f'precision_at_{cfg.top_k}']:.3f} "
                      f"vs error rate {m['base_error_rate']:.3f}")  # fmt: skip
        print(
            f"{run}: svm.npz, ranking_*.csv, decisions_*.npy ({len(svm.fitted_classes())}/{n_classes} classes fitted)"
        )
    return 0


# ------------------------------------------------------------------------------------------ caption
@dataclass
class CaptionConfig:
    """``failure-directions-caption``: rank captions (joint encoder) or attributes (a table) per class."""

    run: Path | None = field(default=None, metadata={"help": "a failure-directions-fit run folder"})
    encoder: str | None = field(
        default=None, metadata={"help": "joint text-image encoder: toy:PATH or open_clip:ARCH:CHECKPOINT"}
    )
    attributes: Path | None = field(
        default=None, metadata={"help": "without a joint encoder: CSV of 0/1 attributes per image of --split"}
    )
    split: str = field(default="test", metadata={"help": "split the attribute table describes"})
    captions: Path | None = field(
        default=None, metadata={"help": "file of candidate captions, one a line; {} = class name"}
    )
    adjectives: str = field(default="|".join(ADJECTIVES), metadata={"help": "adjectives, separated by |"})
    prepositions: str = field(default="|".join(BACKGROUNDS), metadata={"help": "prepositional phrases, separated by |"})
    class_names: tuple[str, ...] = field(default=(), metadata={"help": "class names (default: the data's classes.txt)"})
    classes: tuple[int, ...] = field(default=(), metadata={"help": "classes to caption (default: every fitted class)"})
    mode: Literal["official", "difference"] = field(
        default="official", metadata={"help": "text-difference preprocessing"}
    )
    top: int = field(default=5, metadata={"help": "captions shown at each end"})
    threads: int = field(default=0, metadata={"help": "CPU threads"})
    device: str = field(default="cpu", metadata={"help": "torch device of the encoder"})


def _read_attributes(path: Path, n: int) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UsageError(f"attribute table not found: {path}")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise UsageError(f"{path}: empty file (a header line is required)")
        has_index = header[0] == "index"
        names = header[1:] if has_index else header
        check(len(names) > 0, f"{path}: no attribute columns")
        table = np.zeros((n, len(names)), dtype=bool)
        seen = 0
        for lineno, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != len(header):
                raise UsageError(f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}")
            if has_index:
                try:
                    i = int(row[0])
                except ValueError:
                    raise UsageError(f"{path}:{lineno}: index {row[0]!r} is not an integer") from None
                if not 0 <= i < n:
                    raise UsageError(f"{path}:{lineno}: index {i} outside the split's {n} rows")
            else:
                i = seen
                if i >= n:
                    raise UsageError(f"{path}:{lineno}: more rows than the split's {n} images")
            vals = [v.strip() for v in row[1 if has_index else 0 :]]
            for j, v in enumerate(vals):
                if v not in ("0", "1"):
                    raise UsageError(f"{path}:{lineno}: attribute {names[j]!r} is {v!r}, expected 0 or 1")
            table[i] = [v == "1" for v in vals]
            seen += 1
    if not has_index and seen != n:
        raise UsageError(f"{path}: {seen} rows but the split has {n} images (add an 'index' column for a subset)")
    return {name: table[:, j] for j, name in enumerate(names)}


def caption_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        CaptionConfig,
        argv,
        prog="failure-directions-caption",
        description="Caption each class's failure direction: score candidate captions by the SVM on "
        "T(caption) - T('a photo of a <class>') in a joint text-image space, or rank a table of image attributes.",
        default_out="runs/failure-directions-caption",
    )
    set_threads(cfg.threads)
    from failure_directions.captions import attribute_scores, caption_candidates, caption_scores, rank_captions
    from failure_directions.data import load_class_names, load_split
    from failure_directions.encoders import load_encoder
    from failure_directions.svm import FailureSVM

    check(cfg.run is not None, "--run is required (a failure-directions-fit run folder)")
    check(
        cfg.encoder is not None or cfg.attributes is not None,
        "give --encoder (a joint text-image model) or --attributes (a table)",
    )
    check(cfg.top >= 1, "--top must be >= 1")
    svm = FailureSVM.load(Path(cfg.run) / "svm.npz")
    fit_cfg = json.loads((Path(cfg.run) / "config.json").read_text())
    data = Path(fit_cfg["data"]) if fit_cfg.get("data") else None
    names = list(cfg.class_names) or (load_class_names(data) if data else None) or []
    classes = list(cfg.classes) or svm.fitted_classes()
    for c in classes:
        check(c in svm.classes and svm.classes[c].fitted, f"class {c} has no SVM in {cfg.run}")
    name_of = lambda c: names[c] if c < len(names) else f"class {c}"  # noqa: E731
    encoder = load_encoder(cfg.encoder, cfg.device) if cfg.encoder else None
    if encoder is not None and not hasattr(encoder, "encode_text"):
        raise UsageError(f"--encoder {cfg.encoder} has no text tower; use --attributes")
    table = split = None
    if cfg.attributes is not None:
        check(data is not None, "the fit run records no --data folder to read the attribute split from")
        feat_encoder = load_encoder(fit_cfg["encoder"], cfg.device) if fit_cfg.get("encoder") else None
        split = load_split(data, cfg.split, feat_encoder)
        table = _read_attributes(Path(cfg.attributes), split.n)
    run, _ = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite)
    out: dict = {"mode": cfg.mode, "classes": {}}
    for c in classes:
        rec: dict = {"class": c, "name": name_of(c)}
        if encoder is not None:
            if cfg.captions is not None:
                if not Path(cfg.captions).is_file():
                    raise UsageError(f"caption file not found: {cfg.captions}")
                lines = [ln.strip() for ln in Path(cfg.captions).read_text().splitlines() if ln.strip()]
                cands = [ln.replace("{}", name_of(c)) for ln in lines]
            else:
                adjs = [None, *[a.strip() for a in cfg.adjectives.split("|") if a.strip()]]
                preps = [None, *[p.strip() for p in cfg.prepositions.split("|") if p.strip()]]
                cands = caption_candidates([name_of(c)], adjs, preps)
            check(len(cands) > 0, "no candidate captions")
            ref = f"a photo of a {name_of(c)}"
            s = caption_scores(svm, c, encoder.encode_text(cands), encoder.encode_text([ref])[0], cfg.mode)
            rec.update(reference=ref, **rank_captions(cands, s, cfg.top))
        if table is not None:
            rec["attributes"] = attribute_scores(svm, c, split.features, split.labels, table, cfg.mode)
        out["classes"][c] = rec
    atomic_write_json(run / "captions.json", out)
    if args.quiet:
        print(json.dumps({"run": str(run), "classes": len(out["classes"])}))
    else:
        for c, rec in out["classes"].items():
            if "hardest" in rec:
                print(f"class {c} ({rec['name']}): hardest '{rec['hardest'][0]['caption']}' "
                      f"({rec['hardest'][0]['score']:+.3g}); easiest '{rec['easiest'][0]['caption']}' ({rec['easiest'][0]['score']:+.3g})")  # fmt: skip
            if rec.get("attributes"):
                a = rec["attributes"][0]
                print(
                    f"class {c} ({rec['name']}): hardest attribute '{a['attribute']}' (score {a['score']:+.3g}, n {a['n']})"
                )
        print(f"{run}/captions.json")
    return 0


# ---------------------------------------------------------------------------------------- intervene
@dataclass
class InterveneConfig(InterventionConfig, ClassifierConfig, PlantedConfig):
    """``failure-directions-intervene``: the planted digits (default) or a data folder with inputs/groups."""

    data: Path | None = field(
        default=None,
        metadata={"help": "data folder with inputs.npy/groups.npy per split (default: the planted digits)"},
    )
    hard_groups: tuple[int, ...] = field(
        default=(),
        metadata={"help": "subgroup ids to report (default: planted minority, or each class's worst on val)"},
    )
    seeds: int = field(default=3, metadata={"help": "seeds (0..seeds-1 offset by --seed): retrainings per strategy"})
    seed: int = field(default=0, metadata={"help": "first seed"})
    threads: int = field(default=0, metadata={"help": "CPU threads"})
    device: str = field(default="cpu", metadata={"help": "torch device (CPU is plenty)"})


def _intervene_splits(cfg: InterveneConfig, seed: int):
    if cfg.data is None:
        from failure_directions.pipeline import build_benchmark

        planted = PlantedConfig(**{f.name: getattr(cfg, f.name) for f in fields(PlantedConfig)})
        clf = ClassifierConfig(**{f.name: getattr(cfg, f.name) for f in fields(ClassifierConfig)})
        bench = build_benchmark(planted, seed, clf)
        hard = np.array([2 * c + 1 for c in planted.affected])
        return bench.splits, (np.array(cfg.hard_groups) if cfg.hard_groups else hard)
    splits, _ = _load_data(cfg, need_pool=True)
    return splits, (np.array(cfg.hard_groups) if cfg.hard_groups else None)


def summarise_interventions(rows: list[dict]) -> dict[str, dict]:
    """Mean and std over seeds of hard-subgroup, worst-group and overall accuracy per strategy."""
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        rs = [r for r in rows if r["strategy"] == name]
        out[name] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}
                     for k in ("hard_acc", "worst_group_acc", "acc", "hard_fraction")
                     if (v := [r[k] for r in rs if r.get(k) is not None])}  # fmt: skip
    return out


def intervene_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        InterveneConfig,
        argv,
        prog="failure-directions-intervene",
        description="Retrain after adding the K pool images per class most aligned with the failure direction "
        "(vs random, lowest confidence, oracle), or after upweighting K training images per class; report "
        "hard-subgroup and worst-group test accuracy over seeds.",
        default_out="runs/failure-directions-intervene",
    )
    set_threads(cfg.threads)
    cfg.check()
    PlantedConfig.check(cfg)
    check(cfg.seeds >= 1, "--seeds must be >= 1")
    check(cfg.steps >= 1, "--steps must be >= 1")
    from failure_directions.interventions import run_interventions
    from failure_directions.plots import plot_interventions

    if cfg.data is not None:
        _intervene_splits(cfg, cfg.seed)  # bad input fails before the run folder is made
    run, resumed = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    iv = InterventionConfig(**{f.name: getattr(cfg, f.name) for f in fields(InterventionConfig)})
    clf = ClassifierConfig(**{f.name: getattr(cfg, f.name) for f in fields(ClassifierConfig)})
    rows = []
    with RunLogger(run, quiet=args.quiet, resume_step=-1 if resumed else None) as log:
        for i, seed in enumerate(range(cfg.seed, cfg.seed + cfg.seeds)):
            splits, hard = _intervene_splits(cfg, seed)
            res = run_interventions(splits, iv, clf, seed=seed, out=run, resume=args.resume, hard_groups=hard)
            for name, r in res["results"].items():
                rows.append(r)
                log.log(i, strategy=name, hard_acc=r["hard_acc"], worst_group_acc=r["worst_group_acc"], acc=r["acc"])
        table = summarise_interventions(rows)
        atomic_write_json(run / "results.json", {"rows": rows, "summary": table})
        plot_interventions(rows, run / "interventions.png", title=f"K={cfg.k} per class, {cfg.seeds} seed(s)")
        log.summary(**{k: {m: v[m]["mean"] for m in v} for k, v in table.items()})
    if args.quiet:
        print(json.dumps({"run": str(run), **{k: v["hard_acc"]["mean"] for k, v in table.items() if "hard_acc" in v}}))
    else:
        for k, v in table.items():
            h, w = v.get("hard_acc"), v["worst_group_acc"]
            hard_txt = f"hard subgroup {h['mean']:.3f} ± {h['std']:.3f}, " if h else ""
            print(f"{k:18s} {hard_txt}worst group {w['mean']:.3f} ± {w['std']:.3f}, overall {v['acc']['mean']:.3f}")
        print(f"{run}: results.json, interventions.png")
    return 0


# ---------------------------------------------------------------------------------------- benchmark
@dataclass
class BenchmarkConfig(ClassifierConfig, PlantedConfig):
    seed: int = field(default=0, metadata={"help": "random seed of the data, the classifier and the encoder"})
    threads: int = field(default=0, metadata={"help": "CPU threads"})


def benchmark_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        BenchmarkConfig,
        argv,
        prog="failure-directions-benchmark",
        description="Write the offline planted benchmark (8x8 digits; inverted digits rare in train inside the "
        "affected classes) as a data folder: features from the toy joint encoder, the base MLP's outputs, "
        "inputs, subgroups, images, an attribute table, classes.txt and encoder.pt.",
        default_out="runs/failure-directions-benchmark",
    )
    set_threads(cfg.threads)
    PlantedConfig.check(cfg)
    from failure_directions.pipeline import build_benchmark, write_benchmark

    run, _ = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    planted = PlantedConfig(**{f.name: getattr(cfg, f.name) for f in fields(PlantedConfig)})
    clf = ClassifierConfig(**{f.name: getattr(cfg, f.name) for f in fields(ClassifierConfig)})
    bench = build_benchmark(planted, cfg.seed, clf)
    write_benchmark(bench, run)
    acc = {s: float((d.preds == d.labels).mean()) for s, d in bench.splits.items()}
    print(json.dumps({"out": str(run), "accuracy": acc}) if args.quiet else f"{run}: accuracy {acc}")
    return 0


def fit_entry() -> None:
    run_cli(fit_main)


def caption_entry() -> None:
    run_cli(caption_main)


def intervene_entry() -> None:
    run_cli(intervene_main)


def benchmark_entry() -> None:
    run_cli(benchmark_main)
