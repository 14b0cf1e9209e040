"""Command-line entry points ``hyperbolic-rl-train`` and ``hyperbolic-rl-eval``.

Cetin et al., "Hyperbolic Deep Reinforcement Learning" (ICLR 2023): train PPO with a Euclidean,
naive hyperbolic or S-RYM hyperbolic head (``--head``) on a gymnasium environment, log metrics as
JSONL (and TensorBoard with ``--tensorboard``), checkpoint atomically and resume with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from orals23_shared.cli import add_dataclass_args, check, config_from_args, run_cli

__all__ = ["train_main", "eval_main", "train_entry", "eval_entry", "EvalConfig"]


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.replace(" ", ",").split(",") if s]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integer seeds, got {text!r}") from e
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds, got {text!r}")
    return seeds


def train_main(argv: Sequence[str] | None = None) -> int:
    from hyperbolic_rl.data import check_env_id
    from hyperbolic_rl.train import TrainConfig, train

    parser = argparse.ArgumentParser(
        prog="hyperbolic-rl-train",
        description="Train PPO with a Euclidean, naive hyperbolic or S-RYM head (Cetin et al., ICLR 2023).",
    )
    add_dataclass_args(parser, TrainConfig)
    parser.add_argument(
        "--seeds", type=_seed_list, default=None, help="several seeds, one run each in OUT/seed-<s> (overrides --seed)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/hyperbolic-rl"), help="run folder (default: %(default)s)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out (default: refuse a used --out)"
    )
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, TrainConfig, namespace=args)
    cfg.validate()
    check_env_id(cfg.env_id)
    seeds = args.seeds if args.seeds is not None else [cfg.seed]
    results = {}
    for seed in seeds:
        run_cfg = replace(cfg, seed=seed)
        out = args.out / f"seed-{seed}" if args.seeds is not None else args.out
        res = train(
            run_cfg,
            out=out,
            resume=args.resume,
            overwrite=args.overwrite,
            quiet=args.quiet,
            tensorboard=args.tensorboard,
        )
        results[seed] = {
            "final_return": res["final_return"],
            "auc": res["auc"],
            "nonfinite": res["nonfinite"],
            "run": str(out),
        }
        if not args.quiet:
            print(
                f"seed {seed}: final return (last 20 episodes) {res['final_return']:.1f}, "
                f"non-finite updates {res['nonfinite']}, run {out}"
            )
    if args.quiet:
        print(json.dumps(results))
    return 0


@dataclass
class EvalConfig:
    """Evaluate a trained checkpoint."""

    checkpoint: Path = field(default=Path(""), metadata={"help": "checkpoint file or run folder (newest checkpoint)"})
    episodes: int = field(default=10, metadata={"help": "evaluation episodes"})
    greedy: bool = field(
        default=False, metadata={"help": "argmax actions (default: sampled, like the official tester)"}
    )
    env_id: str | None = field(default=None, metadata={"help": "environment (default: the one trained on)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    delta: bool = field(
        default=False, metadata={"help": "also report the relative delta-hyperbolicity of the features"}
    )


def eval_main(argv: Sequence[str] | None = None) -> int:
    import torch

    from hyperbolic_rl.evaluate import evaluate, load_checkpoint
    from hyperbolic_rl.preprocess import ObsNormalizer
    from hyperbolic_rl.train import TrainConfig, build_model

    parser = argparse.ArgumentParser(prog="hyperbolic-rl-eval", description="Evaluate a hyperbolic-rl checkpoint.")
    add_dataclass_args(parser, EvalConfig)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON to this file")
    parser.add_argument("--quiet", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=args)
    check(str(cfg.checkpoint) not in ("", "."), "--checkpoint is required (a .pt file or a run folder)")
    check(cfg.episodes >= 1, f"--episodes must be >= 1, got {cfg.episodes}")
    path = cfg.checkpoint
    if path.is_dir():
        from orals23_shared.checkpoint import latest

        found = latest(path / "checkpoints") or latest(path)
        check(found is not None, f"no checkpoint (ckpt-*.pt) in {path}")
        path = found
    state = load_checkpoint(path, cfg.device)
    check(isinstance(state, dict) and "model" in state and "config" in state, f"{path}: not a hyperbolic-rl checkpoint")
    saved = dict(state["config"])
    if saved.get("normal_init") == "official":  # checkpoints of version 0.1 named the "normal" init so
        saved["normal_init"] = "normal"
    tcfg = TrainConfig(**{**saved, "hidden": tuple(saved["hidden"]), "device": cfg.device})
    model, _ = build_model(tcfg, tuple(state["obs_shape"]), state["n_actions"])
    model.load_state_dict(state["model"])
    onorm = None
    if state.get("obs_normalizer") is not None:
        onorm = ObsNormalizer(tuple(state["obs_shape"]))
        onorm.load_state_dict(state["obs_normalizer"])
    env_id = cfg.env_id or tcfg.env_id
    res = evaluate(model, env_id, cfg.episodes, seed=cfg.seed, greedy=cfg.greedy, device=cfg.device, obs_norm=onorm)
    out = {"checkpoint": str(path), "env_id": env_id, "head": tcfg.head, **res}
    if cfg.delta:
        from hyperbolic_rl.data import collect_states
        from hyperbolic_rl.diagnostics import relative_delta

        states = collect_states(env_id, 500, seed=cfg.seed)
        if onorm is not None:
            states = onorm(states)
        with torch.no_grad():
            z, x = model.features(torch.as_tensor(states, dtype=next(model.parameters()).dtype))
        out["delta_rel_features"] = relative_delta(z)["delta_rel"]
    text = json.dumps(out)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.quiet:
        print(text)
    else:
        print(f"{env_id} ({tcfg.head}): mean return {res['mean']:.1f} +- {res['std']:.1f} over {cfg.episodes} episodes")
    return 0


def train_entry() -> None:
    run_cli(train_main)


def eval_entry() -> None:
    run_cli(eval_main)
