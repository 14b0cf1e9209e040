"""Interventions along the failure directions (Jain et al. ICLR 2023, Sec. 5; official ``ffcv_main.py``).

(a) Data selection: add to the training set the K pool images *per class* with the lowest SVM decision
    values (most aligned with the failure direction), against K per class chosen at random, by the base
    model's lowest confidence in the true label, or by an oracle that knows the hard subgroup; retrain
    from scratch and measure accuracy on the hard subgroups, the worst subgroup and overall.
(b) Upweighting (the official ``--loss-vec-file``): multiply the loss of the K training images per
    class with the lowest decision values by a factor, against K random ones and the oracle's.

Every retraining is checkpointed atomically in ``out/seed-<s>/<strategy>/`` and its result written
there; ``resume`` reuses finished results and continues unfinished trainings from their checkpoint.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from failure_directions.data import SplitData
from failure_directions.svm import FailureSVM, SVMConfig
from failure_directions.train import ClassifierConfig, predict, train_classifier
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError

__all__ = [
    "SELECTIONS",
    "UPWEIGHTS",
    "InterventionConfig",
    "evaluate_groups",
    "lowest_per_class",
    "run_interventions",
]

SELECTIONS = ("random", "confidence", "svm", "oracle")
UPWEIGHTS = ("random", "svm", "oracle")


@dataclass
class InterventionConfig:
    """K pool images per class added, or K training images per class upweighted by ``factor``."""

    k: int = field(default=20, metadata={"help": "pool images added per class by each selection strategy"})
    selections: tuple[str, ...] = field(
        default=SELECTIONS, metadata={"help": f"selection strategies ({', '.join(SELECTIONS)})"}
    )
    upweights: tuple[str, ...] = field(
        default=UPWEIGHTS, metadata={"help": f"upweighting strategies ({', '.join(UPWEIGHTS)}; empty: none)"}
    )
    upweight_k: int = field(default=10, metadata={"help": "training images upweighted per class"})
    factor: float = field(default=10.0, metadata={"help": "loss weight of an upweighted image"})

    def check(self) -> None:
        if self.k < 1 or self.upweight_k < 1:
            raise UsageError("--k and --upweight-k must be >= 1")
        if self.factor <= 0:
            raise UsageError(f"--factor must be > 0, got {self.factor}")
        for s in self.selections:
            if s not in SELECTIONS:
                raise UsageError(f"unknown selection strategy {s!r} (choose from {', '.join(SELECTIONS)})")
        for s in self.upweights:
            if s not in UPWEIGHTS:
                raise UsageError(f"unknown upweighting strategy {s!r} (choose from {', '.join(UPWEIGHTS)})")


def lowest_per_class(scores: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the k lowest scores of each class; NaN scores come last, ties in a random order."""
    scores = np.asarray(scores, dtype=np.float64)
    tie = rng.permutation(len(scores))
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        s = scores[idx]
        order = np.lexsort((tie[idx], np.where(np.isnan(s), np.inf, s), np.isnan(s)))
        out.append(idx[order[:k]])
    return np.sort(np.concatenate(out)) if out else np.array([], dtype=np.int64)


def evaluate_groups(preds: np.ndarray, labels: np.ndarray, groups: np.ndarray, hard: np.ndarray) -> dict:
    """Overall, per-group, worst-group and hard-subgroup accuracy."""
    ok = preds == labels
    per_group = {str(int(g)): float(ok[groups == g].mean()) for g in np.unique(groups)}  # str: JSON keys
    hard_mask = np.isin(groups, hard)
    return {
        "acc": float(ok.mean()),
        "worst_group_acc": min(per_group.values()),
        "worst_group": int(min(per_group, key=per_group.get)),
        "hard_acc": float(ok[hard_mask].mean()) if hard_mask.any() else None,
        "group_acc": per_group,
    }


def _hard_groups(val: SplitData, preds: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per class with >= 2 groups, the group the base model is worst on (validation accuracy)."""
    ok = preds == val.labels
    hard = []
    for c in np.unique(val.labels):
        gs = np.unique(groups[val.labels == c])
        if len(gs) < 2:
            continue
        accs = [ok[(val.labels == c) & (groups == g)].mean() for g in gs]
        hard.append(int(gs[int(np.argmin(accs))]))
    return np.array(hard, dtype=np.int64)


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _need(split: SplitData | None, what: str, keys: tuple[str, ...]) -> SplitData:
    if split is None:
        raise UsageError(f"the interventions need a {what} split")
    for k in keys:
        if k in ("inputs", "groups") and k not in split.extra:
            raise UsageError(f"the {what} split needs {k}.npy for the interventions")
        if k in ("features", "labels") and getattr(split, k) is None:
            raise UsageError(f"the {what} split needs {k}")
    return split


def run_interventions(
    splits: dict[str, SplitData],
    config: InterventionConfig | None = None,
    classifier: ClassifierConfig | None = None,
    svm_config: SVMConfig | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    hard_groups: np.ndarray | None = None,
    base_model=None,
) -> dict:
    """Train the base model (or take ``base_model``), fit the SVMs on val, run every strategy.

    ``splits`` needs train/val/pool (inputs, labels, features, groups) and test (inputs, labels, groups).
    """
    cfg = config or InterventionConfig()
    cfg.check()
    clf = classifier or ClassifierConfig()
    train = _need(splits.get("train"), "train", ("inputs", "features", "labels", "groups"))
    val = _need(splits.get("val"), "val", ("inputs", "features", "labels", "groups"))
    test = _need(splits.get("test"), "test", ("inputs", "labels", "groups"))
    pool = _need(splits.get("pool"), "pool", ("inputs", "features", "labels", "groups"))
    n_classes = int(max(int(s.labels.max()) for s in (train, val, test, pool))) + 1
    root = None if out is None else Path(out) / f"seed-{seed}"

    def fit(name: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None):
        ckpt = None if root is None else root / name
        return train_classifier(x, y, clf, seed=seed, n_classes=n_classes, weights=w, ckpt_dir=ckpt, resume=resume)

    base = base_model if base_model is not None else fit("base", train.extra["inputs"], train.labels, None)[0]
    val_pred, _ = predict(base, val.extra["inputs"])
    pool_pred, pool_prob = predict(base, pool.extra["inputs"])
    svm = FailureSVM(svm_config or SVMConfig(degenerate="skip", seed=seed))
    svm.set_preprocess(train.features).fit(val.features, val.labels, val_pred, n_classes=n_classes)
    hard = _hard_groups(val, val_pred, val.extra["groups"]) if hard_groups is None else np.asarray(hard_groups)
    pool_hard = np.isin(pool.extra["groups"], hard)
    train_hard = np.isin(train.extra["groups"], hard)
    scores = {
        "svm": svm.decision_function(pool.features, pool.labels),
        "confidence": pool_prob[np.arange(len(pool_pred)), pool.labels],
        "oracle": np.where(pool_hard, -1.0, 0.0),
        "random": np.zeros(len(pool_pred)),
    }
    train_scores = {
        "svm": svm.decision_function(train.features, train.labels),
        "oracle": np.where(train_hard, -1.0, 0.0),
        "random": np.zeros(len(train.labels)),
    }
    results: dict[str, dict] = {}

    def run(name: str, kind: str, x, y, w, chosen_hard: float, n_changed: int, model=None) -> None:
        path = None if root is None else root / name / "result.json"
        if resume and path is not None and path.is_file():
            results[name] = json.loads(path.read_text())
            return
        if model is None:
            model, _ = fit(name, x, y, w)
        pred, _ = predict(model, test.extra["inputs"])
        rec = {"strategy": name, "kind": kind, "seed": seed, "n_changed": n_changed, "hard_fraction": chosen_hard,
               **evaluate_groups(pred, test.labels, test.extra["groups"], hard)}  # fmt: skip
        if path is not None:
            atomic_write_json(path, rec)
        results[name] = rec

    run("base", "base", None, None, None, 0.0, 0, model=base)
    for s in cfg.selections:
        idx = lowest_per_class(scores[s], pool.labels, cfg.k, _rng(seed, f"select-{s}"))
        x = np.concatenate([train.extra["inputs"], pool.extra["inputs"][idx]])
        y = np.concatenate([train.labels, pool.labels[idx]])
        run(f"select-{s}", "select", x, y, None, float(pool_hard[idx].mean()), int(len(idx)))
    for s in cfg.upweights:
        idx = lowest_per_class(train_scores[s], train.labels, cfg.upweight_k, _rng(seed, f"upweight-{s}"))
        w = np.ones(len(train.labels))
        w[idx] = cfg.factor
        run(
            f"upweight-{s}",
            "upweight",
            train.extra["inputs"],
            train.labels,
            w,
            float(train_hard[idx].mean()),
            int(len(idx)),
        )
    return {
        "seed": seed,
        "hard_groups": [int(g) for g in hard],
        "svm_fitted_classes": svm.fitted_classes(),
        "config": asdict(cfg),
        "results": results,
    }
