"""Per-class error-predicting linear SVMs: the core of Jain et al., "Distilling Model Failures as
Directions in Latent Space" (ICLR 2023), Sec. 3 and the official ``SVMFitter`` / ``svm_utils``.

For each class c, with embeddings z of the validation images of that class and correctness labels
t = 1[f(x) = y] of the classifier f:

1. preprocess: z~ = normalize((z - mu) / sigma), mu and sigma the per-dimension mean and standard
   deviation (ddof 1, as ``torch.std``) of the *train* split's embeddings, then L2 normalisation;
2. fit a class-balanced linear SVM predicting t from z~, its C chosen from logspace(-6, 0, 7) by
   2-fold (stratified, unshuffled) cross-validated balanced accuracy, the first best C on ties, then
   refit on all of the class's validation points (``split_and_search: True, cv: 2`` of the official
   ``normalized_svm_base_config.yaml``);
3. the decision value s_c(x) = w_c . z~ + b_c ranks images of class c from hardest (most negative:
   predicted error) to easiest; the normal w_c is the failure direction (errors lie along -w_c).

The solver is scikit-learn's ``LinearSVC`` (liblinear) inside ``GridSearchCV``, not the official
``SVC(kernel="linear")`` (libsvm, about O(n^2) in the points); see the README for the differences.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from orals23_shared.checkpoint import atomic_save, atomic_write_json
from orals23_shared.cli import UsageError

__all__ = [
    "DEFAULT_C_GRID",
    "ClassFit",
    "DegenerateClassError",
    "FailureSVM",
    "Preprocess",
    "SVMConfig",
    "check_features",
    "fit_class_svm",
]

#: The official C grid: ``np.logspace(-6, 0, 7)``.
DEFAULT_C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-6, 0, 7))


class DegenerateClassError(UsageError):
    """A class whose validation points cannot train an error-predicting SVM (too few errors or hits)."""


def check_features(x: np.ndarray, name: str) -> np.ndarray:
    """A finite 2-D float array, or a one-line ``UsageError`` naming the first bad row."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise UsageError(f"{name} must be a 2-D array (n, d), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise UsageError(f"{name} is empty (shape {x.shape})")
    if not np.issubdtype(x.dtype, np.number):
        raise UsageError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "NaN" if np.isnan(x[row]).any() else "an infinite value"
        raise UsageError(f"{name} holds {kind} in row {row} ({int(bad.sum())} bad row(s) in all)")
    return x


def _check_labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise UsageError(f"{name} must be 1-D, got shape {y.shape}")
    if y.shape[0] != n:
        raise UsageError(f"{name} has {y.shape[0]} entries but the features have {n} rows")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise UsageError(f"{name} must hold integer class indices")
        y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise UsageError(f"{name} holds a negative class index ({int(y.min())})")
    return y.astype(np.int64)


@dataclass
class Preprocess:
    """Whitening with train statistics, then L2 normalisation (official ``SVMPreProcessing``).

    ``std`` uses ddof 1 (``torch.std``'s default in the official code). A dimension that is constant
    on the train split (std 0) is divided by 1 instead of 0 (the official code would give inf/NaN).
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    normalize: bool = True

    @classmethod
    def from_train(cls, train: np.ndarray, whiten: bool = True, normalize: bool = True) -> Preprocess:
        train = check_features(train, "train features")
        if not whiten:
            return cls(None, None, normalize)
        if train.shape[0] < 2:
            raise UsageError("whitening needs at least 2 train rows (a standard deviation of one row is undefined)")
        mean = train.mean(axis=0)
        std = (train - mean).std(axis=0, ddof=1)
        std = np.where(std > 0, std, 1.0)
        return cls(mean, std, normalize)

    @property
    def dim(self) -> int | None:
        return None if self.mean is None else int(self.mean.shape[0])

    def __call__(self, z: np.ndarray, name: str = "features") -> np.ndarray:
        z = check_features(z, name)
        if self.mean is not None:
            if z.shape[1] != self.mean.shape[0]:
                raise UsageError(f"{name} have {z.shape[1]} dimensions but the train features had {self.mean.shape[0]}")
            z = (z - self.mean) / self.std
        if self.normalize:
            norm = np.linalg.norm(z, axis=1, keepdims=True)
            z = z / np.where(norm > 0, norm, 1.0)
        return z


@dataclass
class SVMConfig:
    """Options of the per-class SVMs; the defaults are the official ``normalized_svm_base_config``."""

    c_grid: tuple[float, ...] = field(
        default=DEFAULT_C_GRID, metadata={"help": "values of C searched by cross-validation (official: 1e-6..1)"}
    )
    cv: int = field(default=2, metadata={"help": "folds of the stratified cross-validation choosing C (official 2)"})
    balanced: bool = field(default=True, metadata={"help": "class_weight='balanced' (official)"})
    whiten: bool = field(default=True, metadata={"help": "whiten with the train split's mean and std (official)"})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise after whitening (official)"})
    loss: Literal["hinge", "squared_hinge"] = field(
        default="hinge", metadata={"help": "LinearSVC loss: hinge is SVC(kernel='linear')'s objective"}
    )
    max_iter: int = field(default=20000, metadata={"help": "liblinear iterations per fit"})
    tol: float = field(default=1e-4, metadata={"help": "liblinear stopping tolerance"})
    degenerate: Literal["error", "skip"] = field(
        default="error",
        metadata={"help": "a class with fewer than --cv errors or correct predictions on val: stop, or skip it"},
    )
    seed: int = field(default=0, metadata={"help": "liblinear's coordinate order (determinism)"})


@dataclass
class ClassFit:
    """What was fitted for one class (``coef``/``intercept`` are None for a skipped class)."""

    cls: int
    n: int
    n_errors: int
    fitted: bool
    reason: str | None = None
    C: float | None = None
    cv_score: float | None = None
    cv_scores: list[float] | None = None
    coef: np.ndarray | None = None
    intercept: float | None = None
    converged: bool | None = None

    def record(self) -> dict:
        """JSON-able summary (no arrays)."""
        d = {k: v for k, v in asdict(self).items() if k != "coef"}
        return d


def _degenerate_reason(n: int, n_err: int, cv: int) -> str | None:
    if n == 0:
        return "no validation points"
    if n_err < cv or n - n_err < cv:
        what = "only correct predictions" if n_err == 0 else ("only errors" if n_err == n else None)
        detail = f" ({what})" if what else ""
        return (
            f"{n} validation points, {n_err} errors{detail}: an error-predicting SVM with {cv}-fold CV needs "
            f"at least {cv} errors and {cv} correct predictions"
        )
    return None


def fit_class_svm(x: np.ndarray, correct: np.ndarray, cfg: SVMConfig, cls: int = 0, n_jobs: int = 1) -> ClassFit:
    """Grid-search C by stratified ``cfg.cv``-fold balanced accuracy, refit on all of ``x`` (preprocessed)."""
    from joblib import parallel_config
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import LinearSVC

    n, n_err = int(len(correct)), int((correct == 0).sum())
    reason = _degenerate_reason(n, n_err, cfg.cv)
    if reason is not None:
        return ClassFit(cls, n, n_err, fitted=False, reason=reason)
    svc = LinearSVC(
        loss=cfg.loss,
        dual=True,
        C=1.0,
        class_weight="balanced" if cfg.balanced else None,
        max_iter=cfg.max_iter,
        tol=cfg.tol,
        random_state=cfg.seed,
    )
    search = GridSearchCV(
        svc,
        {"C": list(cfg.c_grid)},
        scoring="balanced_accuracy",
        cv=StratifiedKFold(n_splits=cfg.cv),
        refit=True,
        n_jobs=n_jobs if n_jobs > 1 else None,
        error_score="raise",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        with parallel_config(backend="threading", n_jobs=n_jobs):  # liblinear releases the GIL
            search.fit(x, correct.astype(np.int64))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    best = search.best_estimator_
    return ClassFit(
        cls=cls,
        n=n,
        n_errors=n_err,
        fitted=True,
        C=float(search.best_params_["C"]),
        cv_score=float(search.best_score_),
        cv_scores=[float(v) for v in search.cv_results_["mean_test_score"]],
        coef=np.asarray(best.coef_[0], dtype=np.float64).copy(),
        intercept=float(best.intercept_[0]),
        converged=converged,
    )


class FailureSVM:
    """The official ``SVMFitter``: ``set_preprocess(train)``, ``fit(val)``, ``decision_function(any split)``.

    ``classes[c]`` is a :class:`ClassFit`; decision values of images whose class has no SVM are NaN.
    """

    def __init__(self, config: SVMConfig | None = None) -> None:
        self.config = config or SVMConfig()
        self.pre: Preprocess | None = None
        self.classes: dict[int, ClassFit] = {}
        self.n_classes: int | None = None

    # -- fitting ---------------------------------------------------------------------------------
    def set_preprocess(self, train_features: np.ndarray) -> FailureSVM:
        self.pre = Preprocess.from_train(train_features, self.config.whiten, self.config.normalize)
        return self

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        preds: np.ndarray,
        n_classes: int | None = None,
        n_jobs: int = 1,
        checkpoint_dir: str | os.PathLike | None = None,
        on_class=None,
    ) -> FailureSVM:
        """Fit one SVM per class on validation ``features`` with correctness ``preds == labels``.

        ``checkpoint_dir``: each finished class is saved there atomically (``class-<c>.npz``) and
        reloaded instead of refitted when present (``--resume``). ``on_class(fit)`` is called after each.
        """
        if self.pre is None:
            self.set_preprocess(features)  # no train split: the val statistics (documented)
        z = self.pre(features, "val features")
        labels = _check_labels(labels, z.shape[0], "val labels")
        preds = _check_labels(preds, z.shape[0], "val predictions")
        top = int(max(labels.max(), preds.max())) + 1
        self.n_classes = int(n_classes) if n_classes is not None else top
        if self.n_classes < top:
            raise UsageError(f"a label or prediction ({top - 1}) is >= the number of classes ({self.n_classes})")
        correct = (preds == labels).astype(np.int64)
        if self.config.degenerate == "error":  # fail before any fitting
            for c in range(self.n_classes):
                m = labels == c
                reason = _degenerate_reason(int(m.sum()), int((correct[m] == 0).sum()), self.config.cv)
                if reason is not None and m.any():
                    raise DegenerateClassError(f"class {c}: {reason}; pass --degenerate skip to leave such classes out")
        self.classes = {}
        bad: list[ClassFit] = []
        for c in range(self.n_classes):
            mask = labels == c
            fit = _load_class(checkpoint_dir, c) if checkpoint_dir is not None else None
            if fit is None:
                fit = fit_class_svm(z[mask], correct[mask], self.config, cls=c, n_jobs=n_jobs)
                if checkpoint_dir is not None:
                    _save_class(checkpoint_dir, fit)
            self.classes[c] = fit
            if not fit.fitted and fit.n > 0:
                bad.append(fit)
            if on_class is not None:
                on_class(fit)
        if not any(f.fitted for f in self.classes.values()):
            raise DegenerateClassError(
                "no class could be fitted: " + "; ".join(f"class {f.cls}: {f.reason}" for f in bad)
            )
        return self

    # -- using the fit ---------------------------------------------------------------------------
    @property
    def coef(self) -> np.ndarray:
        """(n_classes, d) normals w_c in the preprocessed space (NaN rows for classes without an SVM)."""
        d = self._dim()
        out = np.full((self.n_classes, d), np.nan)
        for c, f in self.classes.items():
            if f.fitted:
                out[c] = f.coef
        return out

    @property
    def intercept(self) -> np.ndarray:
        return np.array([f.intercept if f.fitted else np.nan for _, f in sorted(self.classes.items())])

    def directions(self) -> np.ndarray:
        """Unit failure directions -w_c/|w_c| (pointing toward predicted errors), NaN rows when unfitted."""
        w = self.coef
        return -w / np.linalg.norm(w, axis=1, keepdims=True)

    def fitted_classes(self) -> list[int]:
        return [c for c, f in sorted(self.classes.items()) if f.fitted]

    def _dim(self) -> int:
        for f in self.classes.values():
            if f.fitted:
                return int(f.coef.shape[0])
        raise RuntimeError("no fitted class")

    def preprocess(self, features: np.ndarray, name: str = "features") -> np.ndarray:
        if self.pre is None:
            raise RuntimeError("call set_preprocess/fit first")
        return self.pre(features, name)

    def decision_function(self, features: np.ndarray, labels: np.ndarray, name: str = "features") -> np.ndarray:
        """s_c(x) = w_c . z~(x) + b_c with c the label of each row; NaN where class c has no SVM."""
        z = self.preprocess(features, name)
        labels = _check_labels(labels, z.shape[0], f"{name} labels")
        out = np.full(z.shape[0], np.nan)
        for c, f in self.classes.items():
            if f.fitted:
                m = labels == c
                out[m] = z[m] @ f.coef + f.intercept
        return out

    def predict_errors(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """1 where the SVM predicts the classifier errs (decision < 0), 0 where correct, -1 without an SVM."""
        s = self.decision_function(features, labels)
        return np.where(np.isnan(s), -1, (s < 0).astype(np.int64))

    # -- saving ----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """``path`` (.npz, no pickle) plus a readable ``<path>.json`` with the per-class records."""
        path = Path(path)
        pre = self.pre or Preprocess()
        arrays = {
            "coef": self.coef,
            "intercept": self.intercept,
            "mean": np.array([]) if pre.mean is None else pre.mean,
            "std": np.array([]) if pre.std is None else pre.std,
            "meta": np.frombuffer(json.dumps(self._meta()).encode(), dtype=np.uint8),
        }
        atomic_save(path, lambda f: np.savez(f, **arrays))
        atomic_write_json(path.with_suffix(".json"), self._meta())
        return path

    def _meta(self) -> dict:
        return {
            "config": asdict(self.config),
            "normalize": bool(self.pre.normalize) if self.pre else True,
            "n_classes": self.n_classes,
            "classes": [f.record() for _, f in sorted(self.classes.items())],
        }

    @classmethod
    def load(cls, path: str | os.PathLike) -> FailureSVM:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"no fitted SVMs at {path} (run failure-directions-fit first)")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                coef, intercept, mean, std = data["coef"], data["intercept"], data["mean"], data["std"]
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(f"{path} is not a saved FailureSVM ({e})") from e
        cfg = dict(meta["config"])
        cfg["c_grid"] = tuple(cfg["c_grid"])
        self = cls(SVMConfig(**cfg))
        self.pre = Preprocess(mean if mean.size else None, std if std.size else None, meta["normalize"])
        self.n_classes = meta["n_classes"]
        for rec in meta["classes"]:
            c = rec["cls"]
            rec = dict(rec)
            if rec["fitted"]:
                rec["coef"] = coef[c].copy()
                rec["intercept"] = float(intercept[c])
            self.classes[c] = ClassFit(**rec)
        return self


def _class_path(folder: str | os.PathLike, c: int) -> Path:
    return Path(folder) / f"class-{c:04d}.npz"


def _save_class(folder: str | os.PathLike, fit: ClassFit) -> None:
    rec = json.dumps(fit.record()).encode()
    coef = np.array([]) if fit.coef is None else fit.coef
    atomic_save(
        _class_path(folder, fit.cls),
        lambda f: np.savez(f, coef=coef, meta=np.frombuffer(rec, dtype=np.uint8)),
    )


def _load_class(folder: str | os.PathLike, c: int) -> ClassFit | None:
    path = _class_path(folder, c)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        rec = json.loads(bytes(data["meta"]).decode())
        coef = data["coef"]
    rec["coef"] = coef.copy() if rec["fitted"] else None
    return ClassFit(**rec)
