"""Training: sLCWA with uniform or Bernoulli negatives, the self-adversarial NSSA loss, Adam (paper Sec. 5).

A plain torch loop rather than Lightning: one KGE step is a few embedding gathers and elementwise ops, so a
framework's per-step overhead would dominate on CPU, and the whole model fits one device (the paper's largest,
WN18RR d=500, has 20 M parameters). What the project asks of a trainer is here: a run folder
(``prepare_run_dir``), metrics (``RunLogger``), atomic per-epoch checkpoints, and an exact ``--resume`` (every
epoch's shuffling and negatives come from a generator seeded by (seed, epoch), and the checkpoint holds the
weights, Adam's moments and the early-stopping state).

Loss (Sun et al., 2019; PyKEEN ``NSSALoss`` with ``reduction="sum"``, the official configs), scores s = model
score (higher = more plausible), margin gamma, adversarial temperature alpha:

    L = sum_batch [ -log sigmoid(gamma + s+) - sum_i w_i log sigmoid(-s-_i - gamma) ],   w = softmax(alpha s-)

with w treated as a constant (no gradient). Negatives (PyKEEN's ``BasicNegativeSampler`` and the Bernoulli
sampler of Wang et al., 2014): every negative replaces the head or the tail of its positive by an entity drawn
uniformly from all others (never the original one); the side is a fair coin (``uniform``) or, for ``bernoulli``,
the head with probability tph / (tph + hpt) of the relation. False negatives are not filtered (as the official
runs).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from expressive.data import KG, degree_stats, load_kg
from expressive.evaluate import FilterIndex, evaluate
from expressive.model import KGEModel, build_model
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import UsageError, check
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["NegativeSampler", "TrainConfig", "load_run", "nssa_loss", "train", "train_model"]


@dataclass
class TrainConfig:
    """One training run (``expressive-train``)."""

    data: Path | None = field(default=None, metadata={"help": "folder with train.txt, valid.txt, test.txt (required)"})
    out: Path | None = field(default=None, metadata={"help": "run folder to write (required)"})
    model: Literal["expressive", "transe", "distmult", "rotate", "boxe"] = field(
        default="expressive", metadata={"help": "the KGE model"}
    )
    variant: Literal["base", "functional"] = field(
        default="base", metadata={"help": "ExpressivE variant: base (widths) or functional (no widths)"}
    )
    switch: Literal["coordinate", "triple"] = field(
        default="coordinate",
        metadata={
            "help": "inside/outside switch of ExpressivE's distance: per coordinate (paper) or per triple "
            "(official code; discontinuous score)"
        },
    )
    dim: int = field(default=32, metadata={"help": "embedding dimension d (paper: 500 on WN18RR)"})
    epochs: int = field(default=50, metadata={"help": "training epochs (paper: up to 1000 with early stopping)"})
    batch_size: int = field(default=128, metadata={"help": "positive triples per step (paper: 512 on WN18RR)"})
    negatives: int = field(default=16, metadata={"help": "negatives per positive (paper: 100 on WN18RR)"})
    sampler: Literal["uniform", "bernoulli"] = field(default="uniform", metadata={"help": "corrupted side"})
    margin: float = field(default=3.0, metadata={"help": "NSSA margin gamma (paper: 3 on WN18RR)"})
    temperature: float = field(default=2.0, metadata={"help": "NSSA adversarial temperature alpha (paper: 2)"})
    lr: float = field(default=0.05, metadata={"help": "Adam learning rate (paper: 1e-3 at d=500 and 1000 epochs)"})
    p: int | None = field(
        default=None, metadata={"help": "norm order; none = the model's (ExpressivE/BoxE 2, TransE/RotatE 1)"}
    )
    min_denom: float = field(
        default=0.0, metadata={"help": "Base ExpressivE slope repair |1 - s_h s_t| >= min_denom (0: off)"}
    )
    tanh_map: bool = field(default=True, metadata={"help": "tanh on entities, centres and widths (ExpressivE, BoxE)"})
    unseen: Literal["keep", "drop", "error"] = field(
        default="keep",
        metadata={
            "help": "entities seen only in valid/test: keep them in the vocabulary, drop their triples "
            "(PyKEEN), or refuse them"
        },
    )
    eval_every: int = field(
        default=10, metadata={"help": "validate every N epochs and keep the best weights (0: never)"}
    )
    patience: int = field(default=0, metadata={"help": "stop after N validations without improvement (0: never)"})
    select_metric: Literal["mrr", "hits@10"] = field(
        default="hits@10", metadata={"help": "validation metric for the best weights (official: hits@10)"}
    )
    relative_delta: float = field(default=0.005, metadata={"help": "relative gain that counts as an improvement"})
    valid_max: int = field(default=0, metadata={"help": "validate on a fixed random subset of N triples (0: all)"})
    eval_batch: int = field(default=64, metadata={"help": "queries scored against all entities at once"})
    compile: Literal["auto", "on", "off"] = field(
        default="auto",
        metadata={"help": "torch.compile the all-entity scoring (auto: when large and a C++ compiler exists)"},
    )
    seed: int = field(default=0, metadata={"help": "random seed"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out from its newest checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace the run in --out"})
    checkpoint_every: int = field(default=1, metadata={"help": "checkpoint every N epochs"})
    keep_checkpoints: int = field(default=2, metadata={"help": "newest checkpoints kept"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS or all usable cores)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})

    def validate(self) -> None:
        check(self.data is not None, "--data is required (a folder with train.txt, valid.txt, test.txt)")
        check(self.out is not None, "--out is required (the run folder)")
        for name in ("dim", "epochs", "batch_size", "negatives", "eval_batch", "checkpoint_every", "keep_checkpoints"):
            check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "patience", "valid_max"):
            check(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")
        check(self.temperature >= 0, f"--temperature must be >= 0, got {self.temperature}")
        check(self.p in (None, 1, 2), f"--p must be 1 or 2, got {self.p}")
        check(self.min_denom >= 0, f"--min-denom must be >= 0, got {self.min_denom}")
        check(
            self.min_denom == 0 or (self.model == "expressive" and self.variant == "base"),
            "--min-denom applies to Base ExpressivE only",
        )


def nssa_loss(pos: torch.Tensor, neg: torch.Tensor, margin: float, temperature: float) -> torch.Tensor:
    """Self-adversarial negative sampling loss, summed over the batch (module docstring). pos (B,), neg (B, K)."""
    weights = torch.softmax(temperature * neg.detach(), dim=-1)
    pos_term = -F.logsigmoid(margin + pos).sum()
    neg_term = -(weights * F.logsigmoid(-neg - margin)).sum()
    return pos_term + neg_term


class NegativeSampler:
    """Corrupt the head or the tail of each positive (uniform coin, or Bernoulli per relation)."""

    def __init__(self, kind: str, train: np.ndarray, num_entities: int, num_relations: int) -> None:
        if num_entities < 2:
            raise UsageError("negative sampling needs at least 2 entities")
        self.kind, self.num_entities = kind, num_entities
        if kind == "bernoulli":
            tph, hpt = degree_stats(train, num_relations)
            self.p_head = torch.as_tensor(tph / (tph + hpt), dtype=torch.float32)
        elif kind == "uniform":
            self.p_head = torch.full((num_relations,), 0.5)
        else:
            raise ValueError(f"unknown sampler {kind!r}")

    def sample(self, pos: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
        """(B, k, 3) negatives for (B, 3) positives."""
        b = pos.shape[0]
        head = torch.rand(b, k, generator=generator) < self.p_head[pos[:, 1]][:, None]
        repl = torch.randint(self.num_entities - 1, (b, k), generator=generator)
        orig = torch.where(head, pos[:, 0:1], pos[:, 2:3])
        repl = repl + (repl >= orig).long()  # skip the original entity (PyKEEN's shift)
        neg = pos[:, None, :].repeat(1, k, 1)
        neg[..., 0] = torch.where(head, repl, neg[..., 0])
        neg[..., 2] = torch.where(head, neg[..., 2], repl)
        return neg


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _model_kwargs(cfg: TrainConfig, kg_or_sizes) -> dict:
    n_ent, n_rel = (kg_or_sizes.num_entities, kg_or_sizes.num_relations) if isinstance(kg_or_sizes, KG) else kg_or_sizes
    return dict(
        name=cfg.model,
        num_entities=n_ent,
        num_relations=n_rel,
        dim=cfg.dim,
        variant=cfg.variant,
        switch=cfg.switch,
        p=cfg.p,
        tanh_map=cfg.tanh_map,
        min_denom=cfg.min_denom,
        margin=cfg.margin,
    )


def _make_model(kwargs: dict) -> KGEModel:
    kw = dict(kwargs)
    return build_model(kw.pop("name"), kw.pop("num_entities"), kw.pop("num_relations"), kw.pop("dim"), **kw)


def train_epoch(
    model: KGEModel,
    opt: torch.optim.Optimizer,
    train_ids: torch.Tensor,
    sampler: NegativeSampler,
    cfg: TrainConfig,
    epoch: int,
) -> float:
    """One pass over the training triples; returns the summed loss divided by the number of positives."""
    g = _epoch_generator(cfg.seed, epoch)
    n = train_ids.shape[0]
    order = torch.randperm(n, generator=g)
    total = 0.0
    model.train()
    for start in range(0, n, cfg.batch_size):
        pos = train_ids[order[start : start + cfg.batch_size]]
        neg = sampler.sample(pos, cfg.negatives, g)
        pos, neg = pos.to(cfg.device), neg.to(cfg.device)
        s_pos = model.score(pos[:, 0], pos[:, 1], pos[:, 2])
        s_neg = model.score(neg[..., 0], pos[:, 1:2], neg[..., 2])
        loss = nssa_loss(s_pos, s_neg, cfg.margin, cfg.temperature)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} in epoch {epoch}; lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.post_step()
        total += float(loss.detach())
    return total / n


def _save_checkpoint(run: Path, epoch: int, model: KGEModel, opt, state: dict, keep: int) -> None:
    payload = {"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(), "state": state}
    atomic_save(checkpoint_path(run, epoch), lambda f: torch.save(payload, f))
    ckpts = sorted(run.glob("ckpt-*.pt"))
    for old in ckpts[:-keep]:
        old.unlink(missing_ok=True)


def train_model(cfg: TrainConfig, kg: KG, run: Path, resumed: bool = False) -> dict:
    """Train on ``kg`` into the prepared run folder ``run``; returns the summary (also written to summary.json)."""
    cfg.validate()
    seed_everything(cfg.seed)
    kwargs = _model_kwargs(cfg, kg)
    model = _make_model(kwargs).to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"epoch": 0, "best": None, "best_epoch": 0, "bad_evals": 0, "stopped": False}
    resume_step = None
    if resumed:
        ckpt = latest(run, ".pt")
        if ckpt is not None and ckpt.name.startswith("ckpt-"):
            payload = torch.load(ckpt, map_location=cfg.device, weights_only=False)
            model.load_state_dict(payload["model"])
            opt.load_state_dict(payload["optimizer"])
            state = payload["state"]
            resume_step = payload["epoch"]
        else:
            resume_step = -1
    if not (run / "entities.txt").exists() or not resumed:
        (run / "entities.txt").write_text("".join(e + "\n" for e in kg.entities), encoding="utf-8")
        (run / "relations.txt").write_text("".join(r + "\n" for r in kg.relations), encoding="utf-8")
        (run / "model.json").write_text(json.dumps(kwargs, indent=2) + "\n")
    train_ids = torch.as_tensor(kg.train, dtype=torch.long)
    sampler = NegativeSampler(cfg.sampler, kg.train, kg.num_entities, kg.num_relations)
    valid = kg.valid
    if cfg.valid_max and len(valid) > cfg.valid_max:
        valid = valid[np.sort(np.random.default_rng(cfg.seed).choice(len(valid), cfg.valid_max, replace=False))]
    do_valid = cfg.eval_every > 0 and len(valid) > 0
    if cfg.eval_every > 0 and len(valid) == 0:
        print("expressive-train: valid.txt holds no triples; training without validation", file=sys.stderr)
    filt = FilterIndex(kg.all_triples()) if do_valid else None
    t0 = time.perf_counter()
    with RunLogger(run, quiet=cfg.quiet, resume_step=resume_step) as log:
        epochs = range(state["epoch"] + 1, cfg.epochs + 1)
        for epoch in log.progress(epochs, total=len(epochs), desc="epochs"):
            if state["stopped"]:
                break
            te = time.perf_counter()
            loss = train_epoch(model, opt, train_ids, sampler, cfg, epoch)
            record = {"loss": loss, "epoch_seconds": round(time.perf_counter() - te, 4)}
            if do_valid and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                metrics = evaluate(model, valid, filt, cfg.eval_batch, cfg.compile, cfg.device)
                value = metrics[cfg.select_metric]
                record |= {f"valid_{k}": metrics[k] for k in ("mrr", "hits@1", "hits@3", "hits@10")}
                if state["best"] is None or value > state["best"] * (1 + cfg.relative_delta):
                    state.update(best=value, best_epoch=epoch, bad_evals=0)
                    atomic_save(run / "best.pt", lambda f: torch.save(model.state_dict(), f))
                else:
                    state["bad_evals"] += 1
                    if cfg.patience and state["bad_evals"] >= cfg.patience:
                        state["stopped"] = True
            state["epoch"] = epoch
            log.log(epoch, **record)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or state["stopped"]:
                _save_checkpoint(run, epoch, model, opt, state, cfg.keep_checkpoints)
        if do_valid and (run / "best.pt").exists():
            model.load_state_dict(torch.load(run / "best.pt", map_location=cfg.device, weights_only=True))
        atomic_save(run / "model.pt", lambda f: torch.save(model.state_dict(), f))
        summary = {
            "model": cfg.model,
            "epochs_trained": state["epoch"],
            "best_epoch": state["best_epoch"] if do_valid else state["epoch"],
            f"valid_{cfg.select_metric}": state["best"],
            "early_stopped": state["stopped"],
            "train_seconds_this_session": round(time.perf_counter() - t0, 2),
            "num_entities": kg.num_entities,
            "num_relations": kg.num_relations,
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "data_stats": kg.stats,
        }
        log.summary(**summary)
    return summary


def train(cfg: TrainConfig) -> dict:
    """``expressive-train``: load the data, prepare the run folder, train, write ``model.pt`` and the summary."""
    cfg.validate()
    set_threads(cfg.threads)
    kg = load_kg(cfg.data, cfg.unseen)
    run, resumed = prepare_run_dir(cfg.out, asdict(cfg), resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)
    summary = train_model(cfg, kg, run, resumed)
    return summary | {"run": str(run)}


def load_run(run: str | Path, device: str = "cpu") -> tuple[dict, KGEModel, list[str], list[str]]:
    """(config, model with its final weights, entity names, relation names) of a finished run folder."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    for name in ("config.json", "model.json", "entities.txt", "relations.txt"):
        if not (run / name).is_file():
            raise UsageError(f"{run} is not an expressive-train run folder (no {name})")
    weights = run / "model.pt"
    if not weights.is_file():
        ckpt = latest(run, ".pt")
        if ckpt is None or not ckpt.name.startswith("ckpt-"):
            raise UsageError(f"{run} holds no trained weights (model.pt); did the training finish?")
        print(f"expressive: {run} has no model.pt (unfinished run); using {ckpt.name}", file=sys.stderr)
        state = torch.load(ckpt, map_location=device, weights_only=False)["model"]
    else:
        state = torch.load(weights, map_location=device, weights_only=True)
    cfg = json.loads((run / "config.json").read_text())
    model = _make_model(json.loads((run / "model.json").read_text())).to(device)
    model.load_state_dict(state)
    model.eval()
    entities = (run / "entities.txt").read_text(encoding="utf-8").splitlines()
    relations = (run / "relations.txt").read_text(encoding="utf-8").splitlines()
    return cfg, model, entities, relations


def evaluate_run(run: str | Path, data: str | Path, split: str = "test", unseen: str | None = None, **kw) -> dict:
    """Filtered metrics of a run on ``data/<split>.txt``, filtering with every triple of ``data`` the run can encode."""
    from expressive.data import SPLITS, encode, read_triples

    cfg, model, entities, relations = load_run(run, kw.get("device", "cpu"))
    policy = unseen or ("drop" if cfg.get("unseen") == "drop" else "error")
    data = Path(data)
    if not data.is_dir():
        raise UsageError(f"data folder not found: {data}")
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    e_index = {e: i for i, e in enumerate(entities)}
    r_index = {r: i for i, r in enumerate(relations)}
    target, dropped = encode(read_triples(data / f"{split}.txt"), e_index, r_index, policy, str(data / f"{split}.txt"))
    target = np.unique(target, axis=0) if len(target) else target
    if len(target) == 0:
        raise UsageError(
            f"{data / f'{split}.txt'} has no triples to evaluate"
            + (f" ({dropped} dropped as unseen)" if dropped else "")
        )
    known = [target]
    for name in SPLITS:
        path = data / f"{name}.txt"
        if path.is_file():
            known.append(encode(read_triples(path), e_index, r_index, "drop", str(path))[0])
    metrics = evaluate(model, target, np.concatenate(known), **kw)
    metrics["dropped_unseen"] = dropped
    return metrics
