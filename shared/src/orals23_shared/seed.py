"""One call to seed every random number generator a package may use."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int, deterministic: bool = False) -> dict:
    """Seed ``random``, numpy, and torch / jax when they are importable.

    torch and jax are only touched when already imported or importable, so this module stays
    framework-free. Returns what was seeded; for jax it returns a ``PRNGKey`` under ``"jax_key"``
    since jax has no global state to seed.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    out: dict = {"random": True, "numpy": True}
    try:
        import torch

        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        out["torch"] = True
    except ImportError:
        pass
    if "jax" in sys.modules or _importable("jax"):
        try:
            import jax

            out["jax_key"] = jax.random.PRNGKey(seed)
        except Exception:  # jax installed but broken: seeding the rest still matters
            pass
    return out


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
