"""CIRCE: Efficient Conditionally Invariant Representation Learning (Pogodin et al., ICLR 2023).

The estimator pieces (``fit_heldout_regression``, ``residual_kernel``, ``circe_statistic``) import without
Lightning; training lives in ``circe.train`` (Lightning), the command lines in ``circe.cli``,
``circe.reproduce`` and ``circe.bench``.
"""

from circe.data import (
    Scaling,
    Triples,
    linear_gaussian,
    load_npz,
    nonlinear_shortcut,
    procedural_sprites,
    save_npz,
    weak_shortcut,
)
from circe.evaluate import conditional_dependence, evaluate_model, partial_correlation
from circe.kernels import gaussian_kernel, hsic_biased, hsic_unbiased, linear_kernel, uncentred_u
from circe.losses import gcm_statistic, hscic_statistic, hsic_penalty
from circe.paper_data import load_dsprites, load_yaleb
from circe.regression import HeldoutRegression, circe_statistic, fit_heldout_regression, loo_errors, residual_kernel

__all__ = [
    "Triples",
    "Scaling",
    "linear_gaussian",
    "nonlinear_shortcut",
    "weak_shortcut",
    "procedural_sprites",
    "load_npz",
    "save_npz",
    "load_dsprites",
    "load_yaleb",
    "gaussian_kernel",
    "linear_kernel",
    "hsic_unbiased",
    "hsic_biased",
    "uncentred_u",
    "HeldoutRegression",
    "fit_heldout_regression",
    "loo_errors",
    "residual_kernel",
    "circe_statistic",
    "hsic_penalty",
    "hscic_statistic",
    "gcm_statistic",
    "conditional_dependence",
    "evaluate_model",
    "partial_correlation",
]

__version__ = "0.1.0"
