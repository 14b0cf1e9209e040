"""PPO (Schulman et al. 2017) with Euclidean, naive hyperbolic and S-RYM heads.

Cetin et al., "Hyperbolic Deep Reinforcement Learning" (ICLR 2023), Sec. 5.1 trains PPO with the
official defaults listed in the package README. Pieces implemented here:

* generalised advantage estimation (Schulman et al. 2016, Eq. 16)::

      delta_t = r_t + gamma V(s_{t+1}) (1 - done_t) - V(s_t)
      A_t     = delta_t + gamma lambda (1 - done_t) A_{t+1},   R_t = A_t + V(s_t)

  with truncated episodes bootstrapped from the value of their final observation;
* the clipped surrogate objective, clipped value loss and entropy bonus (PPO Eq. 7 and 9)::

      L = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)] + c_v E[max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)] / 2
          - c_e E[H(pi)]

  with advantages normalised per minibatch;
* rewards divided by the running standard deviation of the discounted return and clipped at 10
  (official ``running_rw`` preprocessor);
* the diagnostics the paper uses to show the instability of naive hyperbolic agents: norms of the
  final representations, fraction of ball points near the edge, pre-clip gradient norms, approx-KL
  spikes and non-finite updates.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.distributions import Categorical
from torch.nn.utils import parametrize

from hyperbolic_rl.data import env_shapes, make_vector_env, obs_to_array
from hyperbolic_rl.evaluate import evaluate, load_checkpoint
from hyperbolic_rl.model import ENCODERS, HEADS, NORMAL_INITS, ActorCritic, ModelConfig
from hyperbolic_rl.optim import RiemannianAdam
from hyperbolic_rl.ppo import compute_gae, ppo_loss
from hyperbolic_rl.preprocess import ObsNormalizer, RewardNormalizer
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import check
from orals23_shared.runfolder import FREE_FIELDS, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = [
    "TrainConfig",
    "compute_gae",
    "ppo_loss",
    "RewardNormalizer",
    "ObsNormalizer",
    "RUN_FREE_FIELDS",
    "build_model",
    "train",
    "evaluate",
    "load_checkpoint",
]


@dataclass
class TrainConfig:
    """One PPO run (defaults: CleanRL-style CartPole PPO, the package's small-experiment design)."""

    env_id: str = field(default="CartPole-v1", metadata={"help": "gymnasium environment id"})
    head: Literal["euclidean", "euclidean_sn", "hyperbolic", "srym"] = field(
        default="srym",
        metadata={
            "help": "euclidean | euclidean_sn (spectral norm, official ppo_sn) | hyperbolic (naive, no S-RYM) "
            "| srym (hyperbolic + S-RYM)"
        },
    )
    total_steps: int = field(default=100_000, metadata={"help": "environment steps (all envs together)"})
    num_envs: int = field(default=4, metadata={"help": "parallel environments"})
    num_steps: int = field(default=128, metadata={"help": "rollout length per environment"})
    epochs: int = field(default=4, metadata={"help": "PPO epochs per rollout"})
    minibatches: int = field(default=4, metadata={"help": "minibatches per epoch"})
    lr: float = field(default=2.5e-4, metadata={"help": "learning rate (Adam / Riemannian Adam)"})
    anneal_lr: bool = field(default=True, metadata={"help": "linearly anneal the learning rate to 0"})
    adam_eps: float = field(default=1e-5, metadata={"help": "Adam epsilon"})
    gamma: float = field(default=0.99, metadata={"help": "discount factor"})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda"})
    clip: float = field(default=0.2, metadata={"help": "PPO ratio clip (also the value clip)"})
    clip_value: bool = field(default=True, metadata={"help": "clip the value loss"})
    ent_coef: float = field(default=0.01, metadata={"help": "entropy bonus coefficient"})
    vf_coef: float = field(default=0.5, metadata={"help": "value loss coefficient"})
    max_grad_norm: float = field(default=0.5, metadata={"help": "global gradient-norm clip"})
    norm_reward: bool = field(default=True, metadata={"help": "divide rewards by the running std of returns"})
    reward_clip: float = field(default=10.0, metadata={"help": "clip normalised rewards to +-this"})
    obs_norm: bool = field(
        default=True,
        metadata={
            "help": "normalise vector observations by running mean/std, clip 10 (official Preprocessor "
            "'normalization'; frames are scaled to [0, 1] instead)"
        },
    )
    encoder: Literal["auto", "mlp", "nature", "small", "impala"] = field(
        default="auto", metadata={"help": "auto: MLP (vectors), IMPALA (64x64, Procgen), Nature CNN (84x84), small CNN"}
    )
    hidden: tuple[int, ...] = field(default=(64, 64), metadata={"help": "encoder hidden widths"})
    embed_dim: int = field(default=32, metadata={"help": "dimension d of the final representation / ball"})
    curvature: float = field(default=1.0, metadata={"help": "ball curvature c > 0 (curvature -c)"})
    rescale_gain: float = field(default=1.0, metadata={"help": "S-RYM gain: v = gain * x / sqrt(d)"})
    clip_norm: float = field(default=60.0, metadata={"help": "clip feature norms before exp_0 (0: off)"})
    softmax_rescale: float = field(default=0.5, metadata={"help": "multiplier of the hyperbolic MLR outputs"})
    normal_init: Literal["small", "normal", "intended"] = field(
        default="small",
        metadata={
            "help": "hyperbolic MLR normals: small N(0.01/sqrt(d), 1) (official S-RYM config), "
            "normal N(1/sqrt(d), 1), intended N(0, 1/d)"
        },
    )
    procgen_levels: int = field(default=200, metadata={"help": "Procgen training levels (test: all levels)"})
    float64: bool = field(default=False, metadata={"help": "train in float64 (safer near the ball's edge)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS, else the usable cores)"})
    checkpoint_every: int = field(default=20, metadata={"help": "updates between checkpoints (0: only at the end)"})
    eval_episodes: int = field(default=0, metadata={"help": "evaluation episodes at the end (0: none)"})

    def validate(self) -> None:
        from hyperbolic_rl.ball import check_curvature

        check_curvature(self.curvature)
        check(self.head in HEADS, f"--head must be one of {', '.join(HEADS)}, got {self.head!r}")
        check(self.normal_init in NORMAL_INITS, f"--normal-init must be one of {', '.join(NORMAL_INITS)}")
        check(self.encoder in ENCODERS, f"--encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        check(self.threads >= 0, f"--threads must be >= 0, got {self.threads}")
        check(self.procgen_levels >= 0, f"--procgen-levels must be >= 0, got {self.procgen_levels}")
        for name in ("total_steps", "num_envs", "num_steps", "epochs", "minibatches", "embed_dim"):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        check(
            (self.num_envs * self.num_steps) % self.minibatches == 0,
            f"num_envs * num_steps ({self.num_envs * self.num_steps}) must be divisible by minibatches ({self.minibatches})",
        )
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1, "gamma must be in (0, 1] and gae-lambda in [0, 1]")
        check(all(h >= 1 for h in self.hidden), f"--hidden widths must be >= 1, got {self.hidden}")
        check(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            head=self.head,
            hidden=tuple(self.hidden),
            embed_dim=self.embed_dim,
            curvature=self.curvature,
            rescale_gain=self.rescale_gain,
            clip_norm=self.clip_norm,
            softmax_rescale=self.softmax_rescale,
            normal_init=self.normal_init,
            encoder=self.encoder,
        )


#: config fields a ``--resume`` may change (how long, where, how to log): the shared ones and ours
RUN_FREE_FIELDS = FREE_FIELDS | {"total_steps", "eval_episodes"}


# -- model and optimiser ----------------------------------------------------------------------


def build_model(
    cfg: TrainConfig, obs_shape: tuple[int, ...], n_actions: int
) -> tuple[ActorCritic, torch.optim.Optimizer]:
    """The agent and its optimiser: Adam for the Euclidean head, Riemannian Adam for hyperbolic heads."""
    model = ActorCritic(obs_shape, n_actions, cfg.model_config())
    if cfg.float64:
        model = model.double()
    model = model.to(cfg.device)
    if model.hyperbolic:  # official: geoopt RiemannianAdam for hyperbolic agents, torch Adam otherwise
        opt: torch.optim.Optimizer = RiemannianAdam(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
    return model, opt


def _tensor(x: np.ndarray, model: ActorCritic, device: str) -> torch.Tensor:
    dtype = next(model.parameters()).dtype
    return torch.as_tensor(x, dtype=dtype, device=device)


def _grad_norm(model: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return torch.stack(grads).norm() if grads else torch.tensor(0.0)


# -- training loop ----------------------------------------------------------------------------


def _env_state(envs: object, obs_np: np.ndarray) -> bytes | None:
    """The environments' exact state (gymnasium envs pickle; ALE / Procgen do not: None)."""
    try:
        return pickle.dumps({"envs": envs.envs, "obs": obs_np})  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - unpicklable emulators: resume restarts their episodes
        return None


def _checkpoint(ckpt_dir: Path, update: int, state: dict[str, Any], keep: int = 2) -> None:
    """Write ``ckpt-<update>.pt`` atomically; drop this run's older ones, never a newer step."""
    atomic_save(checkpoint_path(ckpt_dir, update), lambda f: torch.save(state, f))
    older = sorted(
        (int(p.stem.split("-")[1]), p) for p in ckpt_dir.glob("ckpt-*.pt") if int(p.stem.split("-")[1]) < update
    )
    for _, p in older[: max(0, len(older) - (keep - 1))]:
        p.unlink(missing_ok=True)


def train(
    cfg: TrainConfig,
    out: str | Path | None = None,
    resume: bool = False,
    quiet: bool = True,
    tensorboard: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train one agent; with ``out``, log to ``out/metrics.jsonl`` and checkpoint to ``out/checkpoints``.

    ``out`` follows the shared run-folder policy (``prepare_run_dir``): a folder holding a run is
    refused unless ``resume`` (continue from its newest checkpoint, same model config) or
    ``overwrite`` (start over in an emptied folder). A resumed run continues exactly where the
    checkpoint left off when the environments can be pickled (gymnasium's classic control, MiniGrid,
    MinAtar); ALE and Procgen restart their episodes.

    Returns ``{"episodes": [(step, return), ...], "history": [per-update metrics], "final_return",
    "auc", "nonfinite", "model", "initial_state", "obs_norm", "seconds", "global_step"}``.
    """
    cfg.validate()
    run: Path | None = None
    resumed = False
    if out is not None:
        run, resumed = prepare_run_dir(
            out, asdict(cfg), resume=resume, overwrite=overwrite, free=RUN_FREE_FIELDS, seed=cfg.seed
        )
    elif resume:
        check(False, "--resume needs --out (the run folder to resume)")
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.seed, procgen_levels=cfg.procgen_levels)
    obs_shape, n_actions, scale = env_shapes(envs)
    model, opt = build_model(cfg, obs_shape, n_actions)
    initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rnorm = RewardNormalizer(cfg.num_envs, cfg.gamma, cfg.reward_clip)
    onorm = ObsNormalizer(obs_shape) if cfg.obs_norm and len(obs_shape) == 1 else None
    episodes: list[tuple[int, float]] = []
    history: list[dict[str, Any]] = []
    start_update, global_step, nonfinite = 0, 0, 0

    ckpt_dir = run / "checkpoints" if run is not None else None
    env_state: bytes | None = None
    resume_step: int | None = None
    if resumed and ckpt_dir is not None:
        ckpt = latest(ckpt_dir)
        resume_step = -1  # the killed run wrote no checkpoint yet: start over, dropping its records
        if ckpt is not None:
            state = load_checkpoint(ckpt, cfg.device)
            model.load_state_dict(state["model"])
            initial_state = state.get("initial_state", initial_state)
            opt.load_state_dict(state["optimizer"])
            rnorm.load_state_dict(state["reward_normalizer"])
            if onorm is not None:
                onorm.load_state_dict(state["obs_normalizer"])
            start_update, global_step = state["update"], state["global_step"]
            episodes, history, nonfinite = state["episodes"], state["history"], state["nonfinite"]
            torch.set_rng_state(state["torch_rng"])
            np.random.set_state(state["numpy_rng"])
            env_state = state.get("env_state")
            resume_step = global_step

    logger = None
    if run is not None:
        logger = RunLogger(run, quiet=quiet, tensorboard=tensorboard, resume_step=resume_step)
    if env_state is not None:
        saved = pickle.loads(env_state)
        envs.envs, obs_np = saved["envs"], saved["obs"]
    else:
        obs_np, _ = envs.reset(seed=cfg.seed + 7919 * start_update)
        if onorm is not None:
            onorm.update(obs_to_array(obs_np, scale))

    def prep(o: np.ndarray) -> torch.Tensor:
        x = obs_to_array(o, scale)
        return _tensor(onorm(x) if onorm is not None else x, model, dev)

    T, N = cfg.num_steps, cfg.num_envs
    dev = cfg.device
    dtype = next(model.parameters()).dtype
    buf_obs = torch.zeros((T, N, *obs_shape), dtype=dtype, device=dev)
    buf_act = torch.zeros((T, N), dtype=torch.long, device=dev)
    buf_logp = torch.zeros((T, N), dtype=dtype, device=dev)
    buf_val = torch.zeros((T, N), dtype=dtype, device=dev)
    buf_rew = torch.zeros((T, N), dtype=dtype, device=dev)
    buf_done = torch.zeros((T, N), dtype=dtype, device=dev)
    t0 = time.time()
    updates = range(start_update, cfg.num_updates)
    iterator = logger.progress(updates, total=len(updates), desc=f"{cfg.head}") if logger else updates
    try:
        for update in iterator:
            ut0 = time.time()
            lr = cfg.lr * (1 - update / cfg.num_updates) if cfg.anneal_lr else cfg.lr
            for g in opt.param_groups:
                g["lr"] = lr
            # ---- rollout
            model.eval()  # spectral-norm power iteration only runs in train mode (during updates)
            ball_norms, feat_norms, new_eps = [], [], []
            obs = prep(obs_np)
            # the weights are fixed during a rollout: compute each spectrally normalised weight once
            # (parametrize.cached; eval mode runs no power iteration, so the values are the same)
            with parametrize.cached():
                for t in range(T):
                    with torch.no_grad():
                        logits, value, info = model(obs)
                        dist = Categorical(logits=logits, validate_args=False)
                        action = dist.sample()
                    buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = obs, action, dist.log_prob(action), value
                    feat_norms.append(info["feature_norm"])
                    if "ball_norm" in info:
                        ball_norms.append(info["ball_norm"])
                    obs_np, reward, term, trunc, infos = envs.step(action.cpu().numpy())
                    global_step += N
                    done = np.logical_or(term, trunc)
                    r = rnorm(reward, done) if cfg.norm_reward else reward.astype(np.float64)
                    r = torch.as_tensor(r, dtype=dtype, device=dev)
                    boot = np.logical_and(trunc, ~term)
                    if boot.any():  # bootstrap truncated episodes from their final observation
                        final = np.stack([infos["final_obs"][i] for i in np.flatnonzero(boot)])
                        with torch.no_grad():
                            _, v_final, _ = model(prep(final))
                        r[torch.as_tensor(np.flatnonzero(boot), device=dev)] += cfg.gamma * v_final
                    buf_rew[t], buf_done[t] = r, torch.as_tensor(done, dtype=dtype, device=dev)
                    if "final_info" in infos and "episode" in infos["final_info"]:
                        ep = infos["final_info"]["episode"]
                        for i in np.flatnonzero(ep["_r"]):
                            new_eps.append((global_step, float(ep["r"][i])))
                    if onorm is not None:
                        onorm.update(obs_to_array(obs_np, scale))
                    obs = prep(obs_np)
                with torch.no_grad():
                    _, next_value, _ = model(obs)
            adv, ret = compute_gae(buf_rew, buf_val, buf_done, next_value, cfg.gamma, cfg.gae_lambda)
            episodes.extend(new_eps)
            # ---- update
            model.train()
            b_obs = buf_obs.reshape(T * N, *obs_shape)
            b_act, b_logp, b_val = buf_act.reshape(-1), buf_logp.reshape(-1), buf_val.reshape(-1)
            b_adv, b_ret = adv.reshape(-1), ret.reshape(-1)
            mb = cfg.batch_size // cfg.minibatches
            stats: list[dict[str, float]] = []
            grad_norms: list[float] = []
            skipped = 0
            for _ in range(cfg.epochs):
                perm = torch.randperm(cfg.batch_size, device=dev)
                for s in range(0, cfg.batch_size, mb):
                    idx = perm[s : s + mb]
                    logits, value, _ = model(b_obs[idx])
                    loss, st = ppo_loss(
                        logits,
                        value,
                        b_act[idx],
                        b_logp[idx],
                        b_val[idx],
                        b_adv[idx],
                        b_ret[idx],
                        cfg.clip,
                        cfg.clip_value,
                        cfg.ent_coef,
                        cfg.vf_coef,
                    )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    if not (torch.isfinite(loss) and torch.isfinite(gn)):
                        skipped += 1  # NaN guard: never apply a non-finite update
                        opt.zero_grad(set_to_none=True)
                        continue
                    opt.step()
                    stats.append(st)
                    grad_norms.append(float(gn))
            nonfinite += skipped
            recent = [r for _, r in episodes[-20:]]
            row: dict[str, Any] = {
                "global_step": global_step,
                "lr": lr,
                "episodic_return": float(np.mean([r for _, r in new_eps])) if new_eps else None,
                "return_last20": float(np.mean(recent)) if recent else None,
                "nonfinite_updates": skipped,
                "grad_norm": float(np.mean(grad_norms)) if grad_norms else None,
                "grad_norm_max": float(np.max(grad_norms)) if grad_norms else None,
                "feature_norm_mean": float(torch.cat(feat_norms).mean()),
                "feature_norm_max": float(torch.cat(feat_norms).max()),
                "sps": round(cfg.batch_size / max(time.time() - ut0, 1e-9), 1),
            }
            if stats:
                for k in stats[0]:
                    row[k] = float(np.mean([s[k] for s in stats]))
                row["approx_kl_max"] = float(np.max([s["approx_kl"] for s in stats]))
            if ball_norms:
                bn = torch.cat(ball_norms)
                row.update(
                    ball_norm_mean=float(bn.mean()),
                    ball_norm_max=float(bn.max()),
                    ball_frac_edge=float((bn > 0.99).float().mean()),
                )
            history.append(row)
            if logger is not None:
                logger.log(global_step, **row)
            last = update + 1 == cfg.num_updates
            if ckpt_dir is not None and (last or (cfg.checkpoint_every and (update + 1) % cfg.checkpoint_every == 0)):
                state = {
                    "config": asdict(cfg),
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "reward_normalizer": rnorm.state_dict(),
                    "obs_normalizer": onorm.state_dict() if onorm is not None else None,
                    "initial_state": initial_state,
                    "env_state": _env_state(envs, obs_np),
                    "update": update + 1,
                    "global_step": global_step,
                    "episodes": episodes,
                    "history": history,
                    "nonfinite": nonfinite,
                    "torch_rng": torch.get_rng_state(),
                    "numpy_rng": np.random.get_state(),
                    "obs_shape": obs_shape,
                    "n_actions": n_actions,
                }
                _checkpoint(ckpt_dir, update + 1, state)
    finally:
        envs.close()
    final = [r for _, r in episodes[-20:]]
    result = {
        "episodes": episodes,
        "history": history,
        "final_return": float(np.mean(final)) if final else float("nan"),
        "auc": float(np.mean([r for _, r in episodes])) if episodes else float("nan"),
        "nonfinite": nonfinite,
        "model": model,
        "initial_state": initial_state,
        "obs_norm": onorm,
        "seconds": time.time() - t0,
        "global_step": global_step,
    }
    if cfg.eval_episodes > 0:
        result["eval"] = evaluate(
            model, cfg.env_id, cfg.eval_episodes, seed=cfg.seed + 10_000, device=dev, obs_norm=onorm
        )
    if logger is not None:
        summary = {
            k: v for k, v in result.items() if k in ("final_return", "auc", "nonfinite", "global_step", "seconds")
        }
        if "eval" in result:
            summary["eval_return"] = result["eval"]["mean"]
        logger.summary(**summary)
        logger.close()
    return result
