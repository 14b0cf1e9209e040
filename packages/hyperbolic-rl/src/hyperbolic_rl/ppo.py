"""PPO's pure pieces (Schulman et al. 2017; GAE: Schulman et al. 2016, Eq. 16), as used by
Cetin et al. (ICLR 2023, Sec. 5.1): advantages/returns and the clipped loss of one minibatch.
The formulas are written out in ``train.py``'s module docstring."""

from __future__ import annotations

import torch
from torch.distributions import Categorical

__all__ = ["compute_gae", "ppo_loss"]


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, shapes (T, N); ``dones[t]`` = the episode ended after step t."""
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nv = next_value if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t].to(rewards.dtype)
        delta = rewards[t] + gamma * nv * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def ppo_loss(
    logits: torch.Tensor,
    values: torch.Tensor,
    actions: torch.Tensor,
    old_logp: torch.Tensor,
    old_values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    clip: float = 0.2,
    clip_value: bool = True,
    ent_coef: float = 0.01,
    vf_coef: float = 0.5,
    normalize_advantages: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO loss of one minibatch and its statistics (approx KL = E[(rho - 1) - log rho])."""
    dist = Categorical(logits=logits, validate_args=False)
    logp = dist.log_prob(actions)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    adv = advantages
    if normalize_advantages and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()
    if clip_value:
        v_clipped = old_values + (values - old_values).clamp(-clip, clip)
        v_loss = 0.5 * torch.max((values - returns) ** 2, (v_clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((values - returns) ** 2).mean()
    entropy = dist.entropy().mean()
    loss = pg_loss - ent_coef * entropy + vf_coef * v_loss
    with torch.no_grad():
        stats = {
            "pg_loss": float(pg_loss),
            "v_loss": float(v_loss),
            "entropy": float(entropy),
            "approx_kl": float(((ratio - 1) - log_ratio).mean()),
            "clipfrac": float(((ratio - 1).abs() > clip).float().mean()),
        }
    return loss, stats
