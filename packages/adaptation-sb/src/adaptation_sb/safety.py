"""Safety metrics of the paper (Trivedi et al., ICLR 2023, Sec. 5; PixMix-style evaluation, Hendrycks et al. 2022).

* Calibration, two named metrics that differ a lot and are never mixed:
  ``ece_15`` = expected calibration error with 15 equal-width bins, L1 (Guo et al. 2017;
  ``orals23_shared.metrics.expected_calibration_error``), and ``rms_calibration_error`` = the authors' metric
  (``calib_err(p='2', beta=100)`` of ``calibration_tools.py``): sort by confidence, bins of ``beta`` examples (the
  last bin takes the remainder), ``sqrt(sum_b |B_b|/n (conf_b - acc_b)^2)``. The official loop skips the last bin
  (``range(len(bins) - 1)``), so its weights do not sum to one; we include it (``official_skip_last=True`` gives the
  official number).
* Corruption robustness: six corruptions at five severities, constants of CIFAR-10-C (Hendrycks & Dietterich
  2019) for images in [0, 1] (grayscale: brightness adds to the intensity); mean accuracy and calibration over all.
* Anomaly detection: score = negative maximum softmax probability (Hendrycks & Gimpel 2017); AUROC (OOD = positive,
  ``orals23_shared.metrics.roc_auc``), AUPR and FPR at 95% TPR against the synthetic outlier sets of the PixMix code
  (Gaussian, Rademacher, Blobs), or the user's own.
* Feature distortion (Kumar et al. 2022): mean ``||f(x) - f0(x)||`` of the adapted vs the pretrained features, on
  ID and on OOD inputs, also relative to mean ``||f0(x)||``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from orals23_shared.metrics import expected_calibration_error, roc_auc

__all__ = [
    "CORRUPTIONS",
    "SYNTHETIC_OOD",
    "anomaly_scores",
    "corrupt",
    "detection_metrics",
    "ece_15",
    "fpr_at_95_tpr",
    "rms_calibration_error",
    "synthetic_ood",
]


def ece_15(probs: ArrayLike, labels: ArrayLike) -> float:
    """L1 ECE with 15 equal-width bins (the common 'ECE')."""
    return expected_calibration_error(probs, labels, n_bins=15)


def rms_calibration_error(
    confidence: ArrayLike, correct: ArrayLike, beta: int = 100, official_skip_last: bool = False
) -> float:
    """The authors' RMS calibration error with adaptive bins of ``beta`` examples (see the module docstring)."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    corr = np.asarray(correct, dtype=np.float64).ravel()
    if conf.shape != corr.shape or conf.size == 0:
        raise ValueError(f"confidence and correct must be non-empty and equal in length, got {conf.size}, {corr.size}")
    if beta < 1:
        raise ValueError(f"beta must be >= 1, got {beta}")
    order = np.argsort(conf, kind="mergesort")
    conf, corr = conf[order], corr[order]
    n = conf.size
    starts = list(range(0, max(n // beta, 1) * beta, beta))
    bins = [(s, s + beta) for s in starts]
    bins[-1] = (bins[-1][0], n)  # the last bin takes the remainder
    if official_skip_last:
        bins = bins[:-1]
    total = sum((e - s) / n * (conf[s:e].mean() - corr[s:e].mean()) ** 2 for s, e in bins)
    return float(np.sqrt(total))


# -- corruptions ----------------------------------------------------------------------------------------------
def _check_images(x: np.ndarray) -> None:
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(f"corruptions take images with values in [0, 1], got min {x.min():.3g}, max {x.max():.3g}")


def _blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=[0] * (x.ndim - 2) + [sigma, sigma], mode="nearest")


def _shot(x: np.ndarray, lam: float, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(x * lam) / lam


def _impulse(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(x.shape)
    out = x.copy()
    out[u < p / 2] = 0.0
    out[(u >= p / 2) & (u < p)] = 1.0
    return out


def _contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    return (x - means) * c + means


#: name -> (function(x, c, rng), the five severities' constants from CIFAR-10-C's ``make_cifar_c.py``)
CORRUPTIONS: dict[str, tuple[Callable, tuple[float, ...]]] = {
    "gaussian_noise": (lambda x, c, rng: x + rng.normal(size=x.shape, scale=c), (0.04, 0.06, 0.08, 0.09, 0.10)),
    "shot_noise": (_shot, (500, 250, 100, 75, 50)),
    "impulse_noise": (_impulse, (0.01, 0.02, 0.03, 0.05, 0.07)),
    "contrast": (_contrast, (0.75, 0.5, 0.4, 0.3, 0.15)),
    "brightness": (lambda x, c, rng: x + c, (0.05, 0.1, 0.15, 0.2, 0.3)),
    "gaussian_blur": (_blur, (0.4, 0.6, 0.7, 0.8, 1.0)),
}


def corrupt(x: ArrayLike, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Images (n, H, W) or (n, C, H, W) in [0, 1] -> corrupted images clipped to [0, 1]."""
    arr = np.asarray(x, dtype=np.float64)
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r} (choose from {', '.join(CORRUPTIONS)})")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must lie in 1..5, got {severity}")
    if arr.ndim < 3:
        raise ValueError(f"corruptions take a batch of images (n, H, W) or (n, C, H, W), got shape {arr.shape}")
    _check_images(arr)
    fn, consts = CORRUPTIONS[name]
    rng = np.random.default_rng(seed)
    return np.clip(fn(arr, consts[severity - 1], rng), 0.0, 1.0).astype(np.float32)


# -- anomaly detection ----------------------------------------------------------------------------------------
SYNTHETIC_OOD = ("gaussian", "rademacher", "blobs")


def synthetic_ood(name: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The PixMix code's synthetic outliers, mapped to [0, 1] images of ``shape`` = (n, ...)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    if name == "gaussian":
        x = np.clip(rng.normal(0.5, 0.5, size=shape), 0.0, 1.0)
    elif name == "rademacher":
        x = rng.integers(0, 2, size=shape).astype(np.float64)
    elif name == "blobs":
        x = rng.binomial(1, 0.7, size=shape).astype(np.float64)
        x = gaussian_filter(x, sigma=[0] * (len(shape) - 2) + [1.0, 1.0])
        x[x < 0.75] = 0.0
    else:
        raise ValueError(f"unknown synthetic OOD set {name!r} (choose from {', '.join(SYNTHETIC_OOD)})")
    return x.astype(np.float32)


def anomaly_scores(probs: ArrayLike) -> np.ndarray:
    """Negative maximum softmax probability: higher = more anomalous."""
    return -np.asarray(probs, dtype=np.float64).max(axis=1)


def fpr_at_95_tpr(score_in: ArrayLike, score_out: ArrayLike) -> float:
    """Fraction of in-distribution inputs flagged when the threshold catches 95% of the outliers."""
    s_out = np.sort(np.asarray(score_out, dtype=np.float64))
    # the largest threshold t with mean(score_out >= t) >= 0.95
    t = s_out[int(np.floor(0.05 * s_out.size))]
    return float(np.mean(np.asarray(score_in, dtype=np.float64) >= t))


def detection_metrics(score_in: ArrayLike, score_out: ArrayLike) -> dict[str, float]:
    """AUROC, AUPR (outliers positive) and FPR95 of anomaly scores."""
    from sklearn.metrics import average_precision_score

    s_in, s_out = np.asarray(score_in, np.float64), np.asarray(score_out, np.float64)
    scores = np.concatenate([s_out, s_in])
    labels = np.concatenate([np.ones(s_out.size, int), np.zeros(s_in.size, int)])
    return {
        "auroc": roc_auc(scores, labels),
        "aupr": float(average_precision_score(labels, scores)),
        "fpr95": fpr_at_95_tpr(s_in, s_out),
    }
