"""Distilling Model Failures as Directions in Latent Space (Jain, Lawrence, Moitra, Madry, ICLR 2023).

Per-class error-predicting linear SVMs on a whitened, L2-normalised embedding (``FailureSVM``), their
normals as failure directions, rankings and metrics (``metrics``), captions in a joint text-image
space or over an attribute table (``captions``), interventions along the directions
(``interventions``), pluggable encoders (``encoders``), the offline planted benchmark (``benchmark``,
``pipeline``) and user data loading (``data``).
"""

from failure_directions.benchmark import Benchmark, PlantedConfig, make_planted_digits
from failure_directions.captions import attribute_scores, caption_candidates, caption_scores, rank_captions
from failure_directions.data import SplitData, load_split
from failure_directions.encoders import (
    Encoder,
    OpenCLIPEncoder,
    PenultimateEncoder,
    ToyEncoderConfig,
    ToyJointEncoder,
    load_encoder,
    train_toy_encoder,
)
from failure_directions.interventions import InterventionConfig, lowest_per_class, run_interventions
from failure_directions.metrics import (
    balanced_accuracy,
    error_auc,
    precision_at_k,
    rank_within_class,
    subgroup_recovery,
)
from failure_directions.pipeline import build_benchmark, write_benchmark
from failure_directions.svm import DEFAULT_C_GRID, DegenerateClassError, FailureSVM, Preprocess, SVMConfig
from failure_directions.train import ClassifierConfig, predict, train_classifier

__all__ = [
    "DEFAULT_C_GRID",
    "Benchmark",
    "ClassifierConfig",
    "DegenerateClassError",
    "Encoder",
    "FailureSVM",
    "InterventionConfig",
    "OpenCLIPEncoder",
    "PenultimateEncoder",
    "PlantedConfig",
    "Preprocess",
    "SVMConfig",
    "SplitData",
    "ToyEncoderConfig",
    "ToyJointEncoder",
    "attribute_scores",
    "balanced_accuracy",
    "build_benchmark",
    "caption_candidates",
    "caption_scores",
    "error_auc",
    "load_encoder",
    "load_split",
    "lowest_per_class",
    "make_planted_digits",
    "precision_at_k",
    "predict",
    "rank_captions",
    "rank_within_class",
    "run_interventions",
    "subgroup_recovery",
    "train_classifier",
    "train_toy_encoder",
    "write_benchmark",
]
