"""orals23-shared: metrics, run records, checkpoints, seeding, CLI plumbing and reproduce summaries.

Framework-free at import time: numpy only. torch/jax are touched lazily (``seed_everything``).
"""

from orals23_shared.checkpoint import atomic_save, atomic_write_bytes, atomic_write_json, latest
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.metrics import (
    accuracy,
    expected_calibration_error,
    hits_at_k,
    mean_reciprocal_rank,
    rank_of_positive,
    roc_auc,
)
from orals23_shared.paths import shared_data_dir
from orals23_shared.reproduce import Claim, write_summary
from orals23_shared.runs import RunLogger, make_run_dir
from orals23_shared.seed import seed_everything

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "RunLogger",
    "UsageError",
    "accuracy",
    "add_dataclass_args",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "config_from_args",
    "expected_calibration_error",
    "hits_at_k",
    "latest",
    "make_run_dir",
    "mean_reciprocal_rank",
    "rank_of_positive",
    "roc_auc",
    "run_cli",
    "seed_everything",
    "shared_data_dir",
    "write_summary",
]
