"""Reward and observation normalisation of the official ``utils.Preprocessor`` (Cetin et al. 2023).

* rewards: divided by the running standard deviation of the discounted return and clipped at 10
  (``reward_pre: normalization_backwards``, gym's ``NormalizeReward``);
* observations (optional, ``--obs-norm``): ``(o - mean) / sqrt(var + eps)`` with running moments
  and clipped at 10 (``observation_pre: normalization``, the Preprocessor's default mode; the Procgen
  config instead maps pixels to [-1, 1] with ``dequantization``). Both use the parallel-moments
  update of Chan et al. (the official ``RunningStats``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RunningMoments", "RewardNormalizer", "ObsNormalizer"]


class RunningMoments:
    """Running mean and (population) variance of batches, merged with Chan et al.'s formula."""

    def __init__(self, shape: tuple[int, ...] = (), count: float = 1e-4) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = count

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, *self.mean.shape)
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), len(batch)
        delta, total = b_mean - self.mean, self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var, self.count = m2 / total, total

    def state_dict(self) -> dict[str, Any]:
        return {"mean": np.array(self.mean), "var": np.array(self.var), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.var = np.asarray(state["var"], dtype=np.float64)
        self.count = float(state["count"])


class RewardNormalizer:
    """Divide rewards by the running std of the discounted return (gym's ``NormalizeReward``)."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.ret = np.zeros(num_envs)
        self.moments = RunningMoments()

    @property
    def var(self) -> float:
        return float(self.moments.var)

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + reward
        self.moments.update(self.ret)
        self.ret[done] = 0.0
        return np.clip(reward / math.sqrt(self.var + self.eps), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"ret": self.ret.copy(), **self.moments.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ret = np.asarray(state["ret"], dtype=np.float64)
        self.moments.load_state_dict(state)


class ObsNormalizer:
    """``clip((o - mean) / sqrt(var + eps), -clip, clip)`` with running moments of the observations."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-8) -> None:
        self.moments = RunningMoments(tuple(shape))
        self.clip, self.eps = clip, eps

    def update(self, obs: np.ndarray) -> None:
        self.moments.update(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        z = (np.asarray(obs, dtype=np.float64) - self.moments.mean) / np.sqrt(self.moments.var + self.eps)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"clip": self.clip, **self.moments.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clip = float(state["clip"])
        self.moments.load_state_dict(state)
