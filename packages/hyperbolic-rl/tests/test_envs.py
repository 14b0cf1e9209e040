"""Environment stacks: MiniGrid, MinAtar, ALE (episodic life), Procgen, and truncation bootstrapping."""

import importlib

import gymnasium as gym
import numpy as np
import pytest
import torch

from hyperbolic_rl.data import EpisodicLife, env_shapes, make_env, make_vector_env
from hyperbolic_rl.model import ActorCritic
from hyperbolic_rl.train import TrainConfig, train

train_module = importlib.import_module("hyperbolic_rl.train")  # the module (the package exports train())

TINY = {"num_envs": 2, "num_steps": 16, "epochs": 1, "minibatches": 2, "hidden": (8,), "embed_dim": 4, "threads": 1}


def _smoke(env_id: str, head: str = "srym") -> dict:
    res = train(TrainConfig(env_id=env_id, head=head, total_steps=64, **TINY))
    assert res["global_step"] == 64 and res["nonfinite"] == 0
    assert all(np.isfinite(h["pg_loss"]) for h in res["history"])
    return res


def test_minigrid_stack():
    pytest.importorskip("minigrid")
    env = make_env("MiniGrid-Empty-5x5-v0")
    assert env_shapes(env)[:2] == ((3, 7, 7), 7)  # ImgObsWrapper + channel-first
    _smoke("MiniGrid-Empty-5x5-v0")


def test_minatar_stack():
    pytest.importorskip("minatar")
    env = make_env("MinAtar/Breakout-v1")
    assert env_shapes(env)[:2] == ((4, 10, 10), 3)
    _smoke("MinAtar/Breakout-v1", head="hyperbolic")


def test_ale_stack_and_episodic_life():
    pytest.importorskip("ale_py")
    env = make_env("ALE/Breakout-v5", train=True)
    assert env_shapes(env) == ((4, 84, 84), 4, 1 / 255)
    life = env
    while not isinstance(life, EpisodicLife):
        life = life.env
    ale = env.unwrapped.ale
    env.reset(seed=0)
    env.action_space.seed(0)
    start = ale.lives()
    for _ in range(5000):
        _, r, term, trunc, _ = env.step(env.action_space.sample())
        assert r in (-1.0, 0.0, 1.0)  # sign-clipped in training
        if term or trunc:
            break
    assert term and ale.lives() == start - 1  # a lost life ends the learner's episode ...
    frame = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == start - 1 and ale.getEpisodeFrameNumber() > frame  # ... but not the game
    env.close()
    evaluation = make_env("ALE/Breakout-v5", train=False)  # evaluation plays whole games
    e = evaluation
    while hasattr(e, "env"):
        assert not isinstance(e, EpisodicLife)
        e = e.env
    _smoke("ALE/Breakout-v5")


def test_procgen_adapter_and_impala_smoke():
    pytest.importorskip("procgen")
    envs = make_vector_env("procgen:bigfish", 2, seed=0)
    assert env_shapes(envs) == ((3, 64, 64), 15, 1 / 255)
    obs, _ = envs.reset()
    assert obs.shape == (2, 3, 64, 64) and obs.dtype == np.uint8
    obs, rew, term, trunc, _ = envs.step(np.zeros(2, dtype=np.int64))
    assert rew.shape == term.shape == trunc.shape == (2,)
    res = train(TrainConfig(env_id="procgen:bigfish", head="srym", total_steps=32, **{**TINY, "hidden": ()}))
    assert res["nonfinite"] == 0 and res["model"].encoder[0].__class__.__name__ == "ImpalaStack"


class _Counter(gym.Env):
    """Observation = [t]; reward 1 each step; never terminates (a time limit truncates it)."""

    observation_space = gym.spaces.Box(-1e3, 1e3, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), 1.0, False, False, {}


def test_truncated_episodes_bootstrap_from_the_final_observation(monkeypatch):
    if "HrlCounter-v0" not in gym.registry:
        gym.register("HrlCounter-v0", entry_point=_Counter, max_episode_steps=3)
    captured = []
    real = train_module.compute_gae

    def spy(rewards, values, dones, next_value, gamma, lam):
        captured.append((rewards.clone(), dones.clone()))
        return real(rewards, values, dones, next_value, gamma, lam)

    monkeypatch.setattr(train_module, "compute_gae", spy)
    cfg = TrainConfig(
        env_id="HrlCounter-v0", head="euclidean", total_steps=16, norm_reward=False, obs_norm=False, gamma=0.9, **TINY
    )
    cfg.num_steps, cfg.num_envs = 8, 2
    res = train(cfg)
    rewards, dones = captured[0]
    model = ActorCritic((1,), 2, cfg.model_config())
    model.load_state_dict(res["initial_state"])
    model.eval()
    with torch.no_grad():
        _, v_final, _ = model(torch.tensor([[3.0]]))  # the observation the truncated episode ended in
    # steps 3 and 6 (0-based 2, 5) end an episode by truncation: r = 1 + gamma * V(final obs) and done = 1
    for t in range(8):
        expected = 1.0 + 0.9 * float(v_final) if t in (2, 5) else 1.0
        assert torch.allclose(rewards[t], torch.full((2,), expected), atol=1e-5), (t, rewards[t], expected)
        assert torch.equal(dones[t], torch.full((2,), 1.0 if t in (2, 5) else 0.0))
    assert abs(float(v_final)) > 1e-4  # the check is not vacuous: the bootstrap term is non-zero


class _Gym3Stub:
    """gym3's ``observe() -> (reward, {"rgb": (N, 64, 64, 3)}, first)`` / ``act`` protocol (as
    ``procgen.ProcgenGym3Env``): env i's episode lasts i + 2 steps with reward 1 per step. Not Procgen:
    it only checks the adapter's bookkeeping where procgen2 cannot be installed (the nox session)."""

    made: list[dict] = []

    def __init__(self, num, env_name, num_levels, start_level, distribution_mode, rand_seed):
        _Gym3Stub.made.append({"env_name": env_name, "num_levels": num_levels, "mode": distribution_mode})
        self.num, self.t = num, np.zeros(num, dtype=np.int64)
        self.rew, self.first = np.zeros(num), np.ones(num, dtype=bool)

    def observe(self):
        rgb = np.zeros((self.num, 64, 64, 3), np.uint8)
        rgb[..., 0] = self.t[:, None, None]  # the red channel holds the step count
        return self.rew, {"rgb": rgb}, self.first

    def act(self, actions):
        assert actions.dtype == np.int32 and actions.shape == (self.num,)
        self.t += 1
        self.rew = np.ones(self.num)
        self.first = self.t >= np.arange(self.num) + 2
        self.t[self.first] = 0


def test_procgen_adapter_bookkeeping_against_a_gym3_stub(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "procgen", types.SimpleNamespace(ProcgenGym3Env=_Gym3Stub))
    _Gym3Stub.made.clear()
    envs = make_vector_env("procgen:bigfish", 2, seed=0)
    make_vector_env("procgen:bigfish", 2, seed=0, train=False)
    assert [m["num_levels"] for m in _Gym3Stub.made] == [200, 0]  # 200 training levels, full distribution
    assert _Gym3Stub.made[0] == {"env_name": "bigfish", "num_levels": 200, "mode": "easy"}
    obs, _ = envs.reset()
    assert obs.shape == (2, 3, 64, 64) and obs.flags["C_CONTIGUOUS"]
    finished = []
    for step in range(1, 7):
        obs, rew, term, trunc, infos = envs.step(np.zeros(2, dtype=np.int64))
        assert np.array_equal(rew, [1.0, 1.0]) and not trunc.any()
        assert np.array_equal(obs[:, 0, 0, 0], envs.env.t) and not obs[:, 1:].any()  # channel-first frames
        if "final_info" in infos:
            ep = infos["final_info"]["episode"]
            finished += [(step, i, ep["r"][i], ep["l"][i]) for i in np.flatnonzero(ep["_r"])]
        assert np.array_equal(term, [step % 2 == 0, step % 3 == 0])
    # env 0: episodes of 2 steps end at steps 2, 4, 6; env 1: episodes of 3 steps end at 3, 6
    assert sorted(finished) == [(2, 0, 2.0, 2), (3, 1, 3.0, 3), (4, 0, 2.0, 2), (6, 0, 2.0, 2), (6, 1, 3.0, 3)]
