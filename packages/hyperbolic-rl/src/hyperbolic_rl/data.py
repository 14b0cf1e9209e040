"""Environments: vectorised gymnasium envs with the checks the encoder needs.

The paper (Cetin et al., ICLR 2023, Sec. 5) trains PPO on Procgen and Rainbow on Atari 100K. On
CPU we default to gymnasium's classic control tasks (CartPole-v1, Acrobot-v1). Also supported:

* Atari through ale-py (``ALE/<Game>-v5``, extra ``atari``; the wheel ships the ROMs) with the
  standard wrappers: no-op reset, frame skip 4 with max-pool, 84x84 grayscale, 4-frame stack,
  episodic life for training, rewards clipped to their sign;
* MiniGrid (``MiniGrid-*``, image observation only) and MinAtar (``MinAtar/*``) when those packages
  are installed;
* Procgen (``procgen:<game>``, the paper's benchmark) through ``procgen2`` (a separate
  ``pip install procgen2``: it needs numpy < 2 and gym < 1): 64x64 RGB frames, 15 actions,
  ``distribution_mode="easy"``, training on ``num_levels=200`` levels and testing on the full level
  distribution (``num_levels=0``), as the paper and the official ``cfgs/env/gen.yaml``.

Atari life loss (``EpisodicLife``) ends the episode for the learner only: the game continues from the
next life instead of being reset (the standard DQN/baselines wrapper).

Vector envs step in gymnasium's ``SAME_STEP`` autoreset mode so that the final observation of a
truncated episode is available for bootstrapping (``info["final_obs"]``).
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np

from orals23_shared.cli import UsageError

__all__ = [
    "PROCGEN_GAMES",
    "EpisodicLife",
    "ProcgenVecEnv",
    "check_env_id",
    "make_env",
    "make_vector_env",
    "env_shapes",
    "obs_to_array",
    "collect_states",
]

PROCGEN_GAMES: tuple[str, ...] = (
    "bigfish", "bossfight", "caveflyer", "chaser", "climber", "coinrun", "dodgeball", "fruitbot",
    "heist", "jumper", "leaper", "maze", "miner", "ninja", "plunder", "starpilot",
)  # fmt: skip


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
            elif module == "minatar" and not any(k.startswith("MinAtar/") for k in gym.registry):
                importlib.import_module("minatar.gym").register_envs()


def _procgen_game(env_id: str) -> str | None:
    """``procgen:<game>`` -> the game (checked), other ids -> None."""
    if not env_id.startswith("procgen:"):
        return None
    game = env_id.split(":", 1)[1]
    if game not in PROCGEN_GAMES:
        raise UsageError(f"unknown Procgen game {game!r}; choose one of {', '.join(PROCGEN_GAMES)}")
    try:
        importlib.import_module("procgen")
    except ImportError as e:
        raise UsageError(f"environment {env_id!r} needs procgen: pip install procgen2 (numpy < 2, gym < 1)") from e
    return game


def check_env_id(env_id: str) -> None:
    """Raise ``UsageError`` unless ``env_id`` is a registered gymnasium environment or ``procgen:<game>``."""
    if _procgen_game(env_id) is not None:
        return
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


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode for the learner only; the game goes on (Mnih et al. 2015).

    ``step`` reports ``terminated`` when a life is lost; the following ``reset`` then takes one no-op
    step instead of resetting the game, so the agent continues from the next life. Only a real game
    over resets the game (and its no-op starts). Episode statistics recorded *inside* this wrapper
    therefore count whole games.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def _lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def step(self, action):  # noqa: ANN001, ANN201
        obs, reward, term, trunc, info = self.env.step(action)
        self.game_over = bool(term or trunc)
        lives = self._lives()
        if 0 < lives < self.lives:
            term = True
        self.lives = lives
        return obs, reward, term, trunc, info

    def reset(self, **kwargs):  # noqa: ANN003, ANN201
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:  # continue the game from the next life with a no-op step
            obs, _, term, trunc, info = self.env.step(0)
            if term or trunc:
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = self._lives()
        return obs, info


def make_env(env_id: str, train: bool = True) -> gym.Env:
    """One environment with the wrappers its family needs, episode statistics recorded first."""
    check_env_id(env_id)
    if env_id.startswith("procgen:"):
        raise UsageError("Procgen runs as a vector env only (make_vector_env)")
    if env_id.startswith("ALE/"):
        env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.AtariPreprocessing(
            env, noop_max=30, frame_skip=4, screen_size=84, terminal_on_life_loss=False
        )
        if train:
            env = EpisodicLife(env)
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


class ProcgenVecEnv:
    """Procgen's gym3 env behind the part of gymnasium's vector API the trainer uses.

    ``step`` returns ``(obs, reward, terminated, truncated, infos)`` with channel-first uint8 frames
    (N, 3, 64, 64); an episode ends where gym3 reports ``first`` for the next observation (procgen
    resets by itself; its time limits count as terminal, as in the official code). Finished episodes'
    returns come in ``infos["final_info"]["episode"]`` like gymnasium's ``RecordEpisodeStatistics``.
    """

    def __init__(
        self, game: str, num_envs: int, seed: int, num_levels: int = 200, distribution_mode: str = "easy"
    ) -> None:
        from procgen import ProcgenGym3Env

        self.num_envs = num_envs
        self.env = ProcgenGym3Env(
            num=num_envs,
            env_name=game,
            num_levels=num_levels,
            start_level=0,
            distribution_mode=distribution_mode,
            rand_seed=seed,
        )
        self.single_observation_space = gym.spaces.Box(0, 255, (3, 64, 64), np.uint8)
        self.single_action_space = gym.spaces.Discrete(15)
        self.observation_space, self.action_space = self.single_observation_space, self.single_action_space
        self._ret = np.zeros(num_envs)
        self._len = np.zeros(num_envs, dtype=np.int64)

    @staticmethod
    def _frames(obs: dict) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(obs["rgb"], (0, 3, 1, 2)))

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        _, obs, _ = self.env.observe()
        return self._frames(obs), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        self.env.act(np.asarray(actions, dtype=np.int32))
        rew, obs, first = self.env.observe()
        rew = np.asarray(rew, dtype=np.float64)
        self._ret += rew
        self._len += 1
        done = np.asarray(first, dtype=bool)
        infos: dict = {}
        if done.any():
            ep = {"r": np.where(done, self._ret, 0.0), "l": np.where(done, self._len, 0), "_r": done.copy()}
            infos["final_info"] = {"episode": ep}
            self._ret[done], self._len[done] = 0.0, 0
        return self._frames(obs), rew, done, np.zeros_like(done), infos

    def close(self) -> None:
        pass


def make_vector_env(
    env_id: str, num_envs: int, seed: int, train: bool = True, procgen_levels: int = 200
) -> gym.vector.SyncVectorEnv | ProcgenVecEnv:
    """``num_envs`` copies in one process (SAME_STEP autoreset); reset them with ``reset(seed=seed)``.

    Procgen (``procgen:<game>``): ``procgen_levels`` training levels when ``train``, the full level
    distribution (``num_levels=0``) otherwise.
    """
    if num_envs < 1:
        raise UsageError(f"num_envs must be >= 1, got {num_envs}")
    game = _procgen_game(env_id)
    if game is not None:
        return ProcgenVecEnv(game, num_envs, seed, num_levels=procgen_levels if train else 0)
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
