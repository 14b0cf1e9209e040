"""orals23-shared: metrics, run records and run folders, checkpoints, seeding, CLI plumbing, the thread
policy, the bench protocol, reproduce summaries and the report.

Framework-free at import time: numpy only. torch/jax are touched lazily (``seed_everything``,
``set_threads``); ``orals23_shared.lightning`` (atomic Lightning checkpoints) imports lightning and is
imported only by the packages that train with it.
"""

from orals23_shared.bench import Timing, add_bench_args, peak_rss, time_call, write_bench
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
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger, make_run_dir
from orals23_shared.seed import seed_everything
from orals23_shared.threads import add_threads_arg, set_threads

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "RunLogger",
    "Timing",
    "UsageError",
    "accuracy",
    "add_bench_args",
    "add_dataclass_args",
    "add_threads_arg",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "config_from_args",
    "expected_calibration_error",
    "hits_at_k",
    "latest",
    "make_run_dir",
    "mean_reciprocal_rank",
    "peak_rss",
    "prepare_run_dir",
    "rank_of_positive",
    "roc_auc",
    "run_cli",
    "seed_everything",
    "set_threads",
    "shared_data_dir",
    "time_call",
    "write_bench",
    "write_summary",
]
