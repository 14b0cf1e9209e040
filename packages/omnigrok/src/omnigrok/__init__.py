"""Omnigrok: grokking beyond algorithmic data (Liu, Michaud, Tegmark, ICLR 2023), in PyTorch.

Alpha-scaled initialisation and the weight norm over all parameters (``scale_init``, ``weight_norm``),
AdamW training with weight decay or constrained to a fixed norm (``train`` with ``constrained``), the
LU landscape (``run_landscape``, ``lu_shape``) and grokking metrics (``grokking_metrics``).
"""

from omnigrok.data import Split, is_prime, load_digits_split, load_mnist, modular_addition, read_idx, teacher_student
from omnigrok.grokking import eval_schedule, grokking_metrics
from omnigrok.landscape import lu_shape, run_landscape
from omnigrok.model import MLP, Transformer, project_norm, scale_init, weight_norm
from omnigrok.train import TASK_DEFAULTS, TrainConfig, build, resolve, train

__all__ = [
    "MLP",
    "Split",
    "TASK_DEFAULTS",
    "TrainConfig",
    "Transformer",
    "build",
    "eval_schedule",
    "grokking_metrics",
    "is_prime",
    "load_digits_split",
    "load_mnist",
    "lu_shape",
    "modular_addition",
    "project_norm",
    "read_idx",
    "resolve",
    "run_landscape",
    "scale_init",
    "teacher_student",
    "train",
    "weight_norm",
]
