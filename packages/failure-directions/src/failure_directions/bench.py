"""``failure-directions-bench``: the cost of the per-class SVMs (Jain et al. ICLR 2023; brief Sec. 3(g)).

1. Solver: the official ``SVC(kernel="linear")`` (libsvm) against our ``LinearSVC`` (liblinear, hinge
   loss), fitted on the same preprocessed class of n points x d dims, side by side: median fit time of
   the whole official search (7 values of C x 2 folds + refit) and the Spearman rank agreement of the
   two decision values on held-out points (does the cheaper solver give the same ranking?).
2. Scale: one full ``FailureSVM`` fit on 50,000 x 1,024 synthetic features with 10 classes (the size the
   issue names), in a fresh process: wall time, CPU time and peak memory (one run: too long to repeat).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import run_cli
from orals23_shared.threads import set_threads

__all__ = ["main", "scale_fit", "synthetic_errors"]


def synthetic_errors(n: int, d: int, n_classes: int, seed: int = 0, error_rate: float = 0.2):
    """Features N(class mean, I) whose errors follow a per-class direction plus noise (float32)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    means = rng.normal(0, 1, (n_classes, d)).astype(np.float32)
    z = rng.standard_normal((n, d), dtype=np.float32) + means[labels]
    u = rng.normal(size=(n_classes, d)).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    margin = np.einsum("nd,nd->n", z - means[labels], u[labels]) + rng.normal(0, 0.5, n).astype(np.float32)
    err = margin > np.quantile(margin, 1 - error_rate)
    preds = np.where(err, (labels + 1) % max(n_classes, 2), labels)
    return z, labels, preds


def scale_fit(n: int = 50_000, d: int = 1024, n_classes: int = 10, threads: int = 1) -> dict:
    """A full fit (whitening on a train split of the same size, 7 C x 2 folds + refit per class)."""
    set_threads(threads)
    from failure_directions.svm import FailureSVM, SVMConfig

    train, _, _ = synthetic_errors(n, d, n_classes, seed=1)
    z, y, p = synthetic_errors(n, d, n_classes, seed=2)
    t0, c0 = time.perf_counter(), time.process_time()
    svm = FailureSVM(SVMConfig()).set_preprocess(train).fit(z, y, p, n_classes=n_classes, n_jobs=threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "n": n, "d": d, "classes": n_classes,
            "C": [f.C for f in svm.classes.values()], "converged": [f.converged for f in svm.classes.values()]}  # fmt: skip


def _official_search(x, y, seed: int):
    """The official search with libsvm: 7 C x 2-fold balanced accuracy, refit at the best."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    grid = GridSearchCV(SVC(kernel="linear", class_weight="balanced"), {"C": list(np.logspace(-6, 0, 7))},
                        scoring="balanced_accuracy", cv=StratifiedKFold(2), refit=True)  # fmt: skip
    return grid.fit(x, y).best_estimator_


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="failure-directions-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "failure-directions")
    parser.add_argument("--sizes", default="500x512,1000x512,2000x512", help="per-class n x d for the solver rows")
    parser.add_argument("--scale", default="50000x1024x10", help="n x d x classes of the scale fit ('none' to skip)")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    load_before = load_snapshot()
    from scipy.stats import spearmanr

    from failure_directions.svm import FailureSVM, SVMConfig, fit_class_svm

    rows = []
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.lower().split("x"))
        z, y, p = synthetic_errors(2 * n, d, 1, seed=args.seed)
        pre = FailureSVM(SVMConfig()).set_preprocess(z).pre
        x, t = pre(z[:n]), (p[:n] == y[:n]).astype(int)
        held = pre(z[n:])
        ours = time_call(lambda x=x, t=t: fit_class_svm(x, t, SVMConfig(seed=args.seed)),
                         repeats=args.repeats, warmup=args.warmup)  # fmt: skip
        official = time_call(lambda x=x, t=t: _official_search(x, t, args.seed), repeats=args.repeats,
                             warmup=args.warmup)  # fmt: skip
        fit = fit_class_svm(x, t, SVMConfig(seed=args.seed))
        ref = _official_search(x, t, args.seed)
        rho = float(spearmanr(held @ fit.coef + fit.intercept, ref.decision_function(held)).statistic)
        agree = float(np.mean((held @ fit.coef + fit.intercept >= 0) == (ref.decision_function(held) >= 0)))
        rows.append({"phase": f"C search + refit, {n} x {d}", **ours.as_dict("linearsvc_"),
                     **official.as_dict("svc_"), "svc_over_linearsvc": round(official.ratio(ours), 2),
                     "spearman_held_out": round(rho, 4), "sign_agreement": round(agree, 4),
                     "C_linearsvc": fit.C, "C_svc": float(ref.C)})  # fmt: skip
        print(f"{n}x{d}: LinearSVC {ours.median:.3f}s, SVC {official.median:.3f}s "
              f"(x{official.ratio(ours):.1f}); Spearman {rho:.3f}, C {fit.C:g} vs {ref.C:g}", flush=True)  # fmt: skip
    if args.scale.lower() != "none":
        n, d, c = (int(v) for v in args.scale.lower().split("x"))
        mem = peak_rss("failure_directions.bench:scale_fit", {"n": n, "d": d, "n_classes": c, "threads": threads})
        rows.append({"phase": f"FailureSVM.fit {n} x {d}, {c} classes (one run, fresh process)", **mem["result"],
                     "peak_mib": mem["peak_mib"]})  # fmt: skip
        print(f"scale {n}x{d}x{c}: {mem['result']['wall_s']} s wall, {mem['result']['cpu_s']} s CPU, "
              f"{mem['peak_mib']} MiB", flush=True)  # fmt: skip
    path = write_bench(args.out, "failure-directions", rows, config={**vars(args), "threads": threads},
                       load_before=load_before, pid=os.getpid())  # fmt: skip
    print(path)
    return 0


def entry() -> None:
    run_cli(main)
