"""Evaluation of a trained agent and checkpoint loading (Cetin et al., ICLR 2023, Sec. 5).

The official ``ModularTester`` runs one episode in each of 10 evaluation environments with sampled
actions (``det=False``); on Procgen the evaluation environments draw from the full level
distribution while training uses 200 levels (the generalisation protocol). ``evaluate`` does the
same: ``episodes`` environments, the first finished episode of each, sampled (or greedy) actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyperbolic_rl.data import env_shapes, make_vector_env, obs_to_array
from hyperbolic_rl.model import ActorCritic
from hyperbolic_rl.preprocess import ObsNormalizer
from orals23_shared.cli import UsageError, check

__all__ = ["evaluate", "load_checkpoint"]


def load_checkpoint(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """A checkpoint written by ``train`` (``UsageError`` when missing or foreign)."""
    if not Path(path).is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # corrupted or foreign file
        raise UsageError(f"{path}: not a hyperbolic-rl checkpoint ({type(e).__name__}: {e})") from e


@torch.no_grad()
def evaluate(
    model: ActorCritic,
    env_id: str,
    episodes: int = 10,
    seed: int = 0,
    greedy: bool = False,
    device: str = "cpu",
    max_steps: int = 100_000,
    obs_norm: ObsNormalizer | None = None,
    train_levels: int | None = None,
) -> dict[str, Any]:
    """Mean return of the first episode of each of ``episodes`` environments.

    Actions are sampled like the official tester (or greedy). ``obs_norm``: the agent's frozen
    observation normaliser. Procgen: the full level distribution, or the ``train_levels`` training
    levels when given. Atari: whole games, unclipped rewards (no episodic life).
    """
    check(episodes >= 1, f"episodes must be >= 1, got {episodes}")
    levels = train_levels if train_levels is not None else 200
    envs = make_vector_env(env_id, episodes, seed, train=train_levels is not None, procgen_levels=levels)
    obs_shape, n_actions, scale = env_shapes(envs)
    check(
        tuple(obs_shape) == model.obs_shape,
        f"the model takes observations of shape {model.obs_shape}, {env_id} gives {obs_shape}",
    )
    check(n_actions == model.n_actions, f"the model has {model.n_actions} actions, {env_id} has {n_actions}")
    model.eval()
    dtype = next(model.parameters()).dtype
    gen = torch.Generator(device="cpu").manual_seed(seed)
    returns: list[float | None] = [None] * episodes
    obs, _ = envs.reset(seed=seed)
    steps = 0
    try:
        while any(r is None for r in returns) and steps < max_steps:
            x = obs_to_array(obs, scale)
            x = obs_norm(x) if obs_norm is not None else x
            logits, _, _ = model(torch.as_tensor(x, dtype=dtype, device=device))
            if greedy:
                actions = logits.argmax(-1).cpu().numpy()
            else:
                actions = torch.multinomial(torch.softmax(logits.float().cpu(), -1), 1, generator=gen)[:, 0].numpy()
            obs, _, _, _, infos = envs.step(actions)
            steps += 1
            if "final_info" in infos and "episode" in infos["final_info"]:
                ep = infos["final_info"]["episode"]
                for i in np.flatnonzero(ep["_r"]):
                    if returns[i] is None:
                        returns[i] = float(ep["r"][i])
    finally:
        envs.close()
    done = [r for r in returns if r is not None]
    check(bool(done), f"no episode finished within {max_steps} steps")
    return {"mean": float(np.mean(done)), "std": float(np.std(done)), "returns": done}
