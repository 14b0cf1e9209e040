"""The number of activated experts k during training (SMoE-Dropout, Sec. 3; official ``calculate_gate_number``).

``linear``: k grows linearly from ``k_start`` to ``k_end`` (= N in the paper) over the run,

    k(t) = clip(round((k_end - k_start) * t / (T - 1)) + k_start, k_start, k_end),   t = 0 .. T-1,

with Python's ``round`` as the official code. The official code divides by T (``dynamic_overall_steps``)
and so reaches k_end only when T > 2 (k_end - k_start); dividing by T - 1 makes the last step run at k_end
for any T (identical in the limit of long runs). ``constant``: k throughout (the learned-router baseline, k = 2,
and fine-tuning at k = N).
"""

from __future__ import annotations

from dataclasses import dataclass

from orals23_shared.cli import UsageError

__all__ = ["KSchedule"]


@dataclass(frozen=True)
class KSchedule:
    """k as a function of the training step; validated on construction."""

    kind: str
    k_start: int
    k_end: int
    total_steps: int
    n_experts: int

    def __post_init__(self) -> None:
        n = self.n_experts
        if self.kind not in ("linear", "constant"):
            raise UsageError(f"unknown k schedule {self.kind!r} (choose linear or constant)")
        for name, k in (("k_start" if self.kind == "linear" else "k", self.k_start), ("k_end", self.k_end)):
            if k < 1:
                raise UsageError(f"{name} must be >= 1, got {k}")
            if k > n:
                raise UsageError(f"{name} = {k} exceeds the number of experts N = {n}")
        if self.k_end < self.k_start:
            raise UsageError(f"the k schedule ends at {self.k_end}, below where it starts ({self.k_start})")
        if self.total_steps < 1:
            raise UsageError(f"the schedule needs at least one step, got {self.total_steps}")

    @classmethod
    def constant(cls, k: int, total_steps: int, n_experts: int) -> KSchedule:
        return cls("constant", k, k, total_steps, n_experts)

    def __call__(self, step: int) -> int:
        if self.kind == "constant" or self.total_steps == 1:
            return self.k_end if self.kind == "linear" else self.k_start
        t = min(max(int(step), 0), self.total_steps - 1)
        k = round((self.k_end - self.k_start) * t / (self.total_steps - 1)) + self.k_start
        return int(min(max(k, self.k_start), self.k_end))

    def mean_k(self) -> float:
        """Average k over the run: the FFN's share of training compute is ``mean_k / N`` of the dense FFN's."""
        return sum(self(t) for t in range(self.total_steps)) / self.total_steps
