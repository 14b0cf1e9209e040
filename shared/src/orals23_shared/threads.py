"""One thread policy for every CLI: ``--threads N``, whose default never oversubscribes the cores.

    parser = argparse.ArgumentParser(...)
    add_threads_arg(parser)                  # or a ``threads: int = 0`` field in the config dataclass
    args = parser.parse_args(argv)
    n = set_threads(args.threads)            # before the first tensor op

The default (``0`` or ``None``) is ``$ORALS23_THREADS`` when set (``nox -s reproduce`` sets it to 1 for
the two packages it runs at once), else the number of cores this process may run on. ``set_threads``
applies it to every pool a package may use: the OpenMP/BLAS environment variables (for libraries not
yet loaded), numpy's BLAS through threadpoolctl when installed, torch's intra-op pool (and its inter-op
pool, kept at 1, when still possible), and XLA's CPU client when jax is not yet imported. torch and jax
are only touched when already imported, so this module stays framework-free.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

__all__ = ["ENV_VAR", "add_threads_arg", "default_threads", "set_threads", "usable_cores"]

ENV_VAR = "ORALS23_THREADS"
_BLAS_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``$ORALS23_THREADS`` when set to a positive integer, else the usable cores."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n > 0:
            return min(n, usable_cores())
    return usable_cores()


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads (``0``/``None``: the default); never more than the usable cores. Returns n."""
    if n is not None and n < 0:
        raise ValueError(f"--threads must be >= 0, got {n}")
    n = default_threads() if not n else min(int(n), usable_cores())
    for var in _BLAS_VARS:
        os.environ[var] = str(n)
    os.environ[ENV_VAR] = str(n)  # child processes (e.g. a fresh process measuring memory) inherit it
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):  # only allowed before inter-op work has started
            torch.set_num_interop_threads(1)
    if "jax" not in sys.modules and n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            ).strip()
    return n


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """The ``--threads`` flag (default 0: ``$ORALS23_THREADS`` or all usable cores, never more)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help=f"CPU threads for torch/BLAS/XLA (default 0: ${ENV_VAR} when set, else the usable cores, "
        f"here {usable_cores()}; never more)",
    )
