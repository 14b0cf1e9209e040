"""Small runtime helpers shared by the CLIs."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits

__all__ = ["limit_threads"]


def limit_threads(n: int) -> None:
    """Cap torch and BLAS threads at ``n`` (``n <= 0`` leaves the libraries' defaults).

    On a shared 2-core machine the default thread pools oversubscribe the CPU and small kernels run 10-30x slower;
    one thread is what the quick reproduction and the tests use.
    """
    if n <= 0:
        return
    torch.set_num_threads(n)
    threadpool_limits(limits=n)
