"""Hyperbolic Deep Reinforcement Learning (Cetin, Chamberlain, Bronstein, Hunt; ICLR 2023).

PPO with Euclidean, naive hyperbolic and S-RYM (spectrally-regularised hyperbolic mappings) heads
on gymnasium environments. Modules: ``ball`` (Poincaré-ball operations), ``model`` (encoders and
heads), ``optim`` (Riemannian Adam), ``train`` (PPO), ``diagnostics`` (delta-hyperbolicity, norms),
``data`` (environments), ``ppo`` (GAE and the PPO loss), ``preprocess`` (normalisers),
``evaluate``, ``cli`` / ``reproduce`` / ``ablation`` / ``bench`` (entry points).
"""

from hyperbolic_rl import ball
from hyperbolic_rl.diagnostics import delta_hyperbolicity, relative_delta
from hyperbolic_rl.evaluate import evaluate
from hyperbolic_rl.model import ActorCritic, HyperbolicMLR, ModelConfig
from hyperbolic_rl.optim import RiemannianAdam
from hyperbolic_rl.train import TrainConfig, compute_gae, ppo_loss, train

__all__ = [
    "ball",
    "ActorCritic",
    "HyperbolicMLR",
    "ModelConfig",
    "RiemannianAdam",
    "TrainConfig",
    "compute_gae",
    "ppo_loss",
    "train",
    "evaluate",
    "delta_hyperbolicity",
    "relative_delta",
]
