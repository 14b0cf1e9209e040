"""The unbiased pass@k estimator (Chen et al. 2021, Eq. 1; used unchanged by the MBXP paper, Sec. 4).

For a task with ``n`` samples of which ``c`` pass::

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

(the product form avoids huge binomials), and 1 when ``n - c < k``. The benchmark score is the mean
over tasks, reported only for ``k <= n`` of every task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["pass_at_k", "estimate_pass_at_k", "pass_at_k_table"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task with ``n`` samples, ``c`` correct."""
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def estimate_pass_at_k(num_samples: Sequence[int] | int, num_correct: Sequence[int], k: int) -> np.ndarray:
    """Per-task pass@k for arrays of ``n`` (or one ``n`` for all) and ``c``."""
    ns = [num_samples] * len(num_correct) if isinstance(num_samples, int) else list(num_samples)
    return np.array([pass_at_k(int(n), int(c), k) for n, c in zip(ns, num_correct, strict=True)])


def pass_at_k_table(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """``{"k": mean pass@k}`` over tasks ``task -> (n, c)``, for each ``k <= min n``."""
    if not counts:
        return {}
    ns = [n for n, _ in counts.values()]
    cs = [c for _, c in counts.values()]
    out = {}
    for k in sorted(set(ks)):
        if k <= min(ns):
            out[str(k)] = float(estimate_pass_at_k(ns, cs, k).mean())
    return out
