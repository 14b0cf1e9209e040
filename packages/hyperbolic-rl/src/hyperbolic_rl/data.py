"""Environments: vectorised gymnasium envs with the checks the encoder needs.

The paper (Cetin et al., ICLR 2023, Sec. 5) trains PPO on Procgen and Rainbow on Atari 100K. On
CPU we default to gymnasium's classic control tasks (CartPole-v1, Acrobot-v1). Also supported:

* Atari through ale-py (``ALE/<Game>-v5``, extra ``atari``; the wheel ships the ROMs) with the
  standard wrappers: no-op reset, frame skip 4 with max-pool, 84x84 grayscale, 4-frame stack,
  episodic life for training, rewards clipped to their sign;
* MiniGrid (``MiniGrid-*``, image observation only) and MinAtar (``MinAtar/*``) when those packages
  are installed.

Vector envs step in gymnasium's ``SAME_STEP`` autoreset mode so that the final observation of a
truncated episode is available for bootstrapping (``info["final_obs"]``).
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["check_env_id", "make_env", "make_vector_env", "env_shapes", "obs_to_array", "collect_states"]


def _register_optional(env_id: str) -> None:
    prefixes = {"ALE/": ("ale_py", "atari"), "MiniGrid": ("minigrid", "minigrid"), "MinAtar": ("minatar", "minatar")}
    for prefix, (module, extra) in prefixes.items():
        if env_id.startswith(prefix):
            try:
                mod = importlib.import_module(module)
            except ImportError as e:
                raise UsageError(
                    f"environment {env_id!r} needs the {module!r} package (pip install 'hyperbolic-rl[{extra}]')"
                ) from e
            if module == "ale_py":
                gym.register_envs(mod)


def check_env_id(env_id: str) -> None:
    """Raise ``UsageError`` unless ``env_id`` is a registered gymnasium environment."""
    _register_optional(env_id)
    try:
        gym.spec(env_id)
    except gym.error.Error as e:
        raise UsageError(f"unknown environment id {env_id!r} ({e}); try CartPole-v1, Acrobot-v1 or ALE/Pong-v5") from e


class _ChannelFirst(gym.ObservationWrapper):
    """(H, W, C) image -> (C, H, W) float32."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        h, w, ch = env.observation_space.shape
        high = float(np.max(env.observation_space.high))
        self.observation_space = gym.spaces.Box(0.0, high, (ch, h, w), np.float32)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return np.transpose(np.asarray(obs, dtype=np.float32), (2, 0, 1))


def make_env(env_id: str, train: bool = True) -> gym.Env:
    """One environment with the wrappers its family needs, episode statistics recorded first."""
    check_env_id(env_id)
    if env_id.startswith("ALE/"):
        env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.AtariPreprocessing(
            env, noop_max=30, frame_skip=4, screen_size=84, terminal_on_life_loss=train
        )
        env = gym.wrappers.FrameStackObservation(env, 4)
        if train:
            env = gym.wrappers.TransformReward(env, np.sign)
        return env
    env = gym.make(env_id)
    if env_id.startswith("MiniGrid"):
        from minigrid.wrappers import ImgObsWrapper

        env = ImgObsWrapper(env)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    shape = env.observation_space.shape
    if shape is not None and len(shape) == 3 and shape[-1] < min(shape[0], shape[1]):
        env = _ChannelFirst(env)
    return env


def env_shapes(env: gym.Env | gym.vector.VectorEnv) -> tuple[tuple[int, ...], int, float]:
    """(observation shape, number of actions, observation scale) or ``UsageError``.

    The encoder takes Box observations with 1 or 3 dimensions and a Discrete action space; uint8
    frames are scaled by 1/255.
    """
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(act_space, gym.spaces.Discrete):
        raise UsageError(f"only discrete action spaces are supported, got {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) not in (1, 3):
        raise UsageError(f"the encoder takes Box observations of shape (n,) or (C, H, W); got {obs_space}")
    scale = 1 / 255.0 if obs_space.dtype == np.uint8 else 1.0
    return tuple(int(s) for s in obs_space.shape), int(act_space.n), scale


def make_vector_env(env_id: str, num_envs: int, seed: int, train: bool = True) -> gym.vector.SyncVectorEnv:
    """``num_envs`` copies in one process (SAME_STEP autoreset); reset them with ``reset(seed=seed)``."""
    if num_envs < 1:
        raise UsageError(f"num_envs must be >= 1, got {num_envs}")
    check_env_id(env_id)
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id, train) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    env_shapes(envs)
    envs.action_space.seed(seed)
    return envs


def obs_to_array(obs: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32) * scale


def collect_states(env_id: str, n: int, seed: int = 0, policy=None) -> np.ndarray:  # noqa: ANN001
    """``n`` observations visited by ``policy(obs_batch) -> actions`` (uniformly random when None)."""
    env = make_env(env_id, train=False)
    _, _, scale = env_shapes(env)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    states, episode = [], 0
    while len(states) < n:
        x = obs_to_array(obs, scale)
        states.append(x)
        action = env.action_space.sample() if policy is None else int(policy(x[None])[0])
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return np.stack(states)
