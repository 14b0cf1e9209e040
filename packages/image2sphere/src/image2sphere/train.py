"""Training loop of Image2Sphere (Klee et al., ICLR 2023, Sec. 4.3): cross-entropy between the softmax over
the SO(3) train grid (Eq. 6) and the grid rotation nearest the label.

Official defaults (src/train.py): SGD momentum 0.9 Nesterov, lr 1e-3, StepLR(15 epochs, 0.1), 40 epochs,
batch 64, lmax 6, sphere_fdim 512, f_hidden 8, train grid rec 3, eval grid rec 5. The defaults below are
the small CPU configuration of our rendered-shape experiment (Adam, lmax 4, 48x48 renders); every option
can be set back to the official value from the command line.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from image2sphere.data import PoseData, concat_pose_data, load_modelnet10, load_symsol, rendered_dataset
from image2sphere.evaluate import evaluate
from image2sphere.model import I2S, I2SConfig
from image2sphere.pascal import load_pascal3d
from image2sphere.render import SHAPES
from orals23_shared.checkpoint import atomic_save, checkpoint_path, latest
from orals23_shared.cli import RunFields, UsageError
from orals23_shared.runfolder import jsonable, prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything
from orals23_shared.threads import set_threads

__all__ = ["TrainConfig", "build_data", "train", "load_model"]


@dataclass
class TrainConfig(RunFields):
    """Options of ``image2sphere-train``; the run-control fields (out, resume, overwrite, seed, device,
    threads, quiet) come from ``RunFields``. Training runs in one process: the Lightning fields devices,
    num_nodes and strategy must keep their defaults."""

    dataset: Literal["rendered", "symsol", "modelnet10", "pascal3d"] = field(
        default="rendered",
        metadata={"help": "rendered (offline SYMSOL-like shapes), or symsol, modelnet10, pascal3d from --data-path"},
    )
    shapes: tuple[str, ...] = field(
        default=("cube", "tetrahedron", "cube_marked"),
        metadata={"help": f"rendered shapes ({', '.join(SHAPES)}) or SYMSOL shape names; one model is trained on all"},
    )
    data_path: Path | None = field(
        default=None,
        metadata={
            "help": "SYMSOL root folder; ModelNet10-SO(3) train npz or <split>.Rawjpg.lmdb folder; "
            "PASCAL3D+_release1.1 folder (official train/test lists)"
        },
    )
    test_path: Path | None = field(
        default=None, metadata={"help": "ModelNet10-SO(3) test npz or test_20V.Rawjpg.lmdb folder"}
    )
    n_train: int = field(default=6000, metadata={"help": "training images per shape"})
    n_test: int = field(default=200, metadata={"help": "test images per shape"})
    image_size: int = field(default=48, metadata={"help": "image side in pixels (official: 224)"})
    encoder: str = field(default="small_cnn", metadata={"help": "small_cnn or resnet18/34/50/101 (official: resnet50)"})
    encoder_weights: Path | None = field(default=None, metadata={"help": "torchvision-format ResNet state_dict file"})
    lmax: int = field(default=4, metadata={"help": "band limit (official: 6)"})
    sphere_fdim: int = field(default=32, metadata={"help": "sphere feature channels (official: 512)"})
    f_hidden: int = field(default=8, metadata={"help": "SO(3) hidden channels"})
    n_subset: int | None = field(default=20, metadata={"help": "random sphere points per training forward (none: all)"})
    act_resolution: int = field(default=5, metadata={"help": "SO3Activation grid resolution (official: 10)"})
    train_grid_rec: int = field(default=2, metadata={"help": "HEALPix level of the train grid (official: 3)"})
    eval_grid_rec: int = field(default=3, metadata={"help": "HEALPix level of the eval grid (official: 5)"})
    optimizer: Literal["adam", "sgd"] = field(
        default="adam", metadata={"help": "adam, or sgd (Nesterov momentum 0.9, official)"}
    )
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    lr_step: int = field(default=0, metadata={"help": "StepLR step size in steps (0: constant lr)"})
    lr_gamma: float = field(default=0.1, metadata={"help": "StepLR decay"})
    steps: int = field(default=1500, metadata={"help": "optimisation steps"})
    batch_size: int = field(default=32, metadata={"help": "batch size"})
    eval_every: int = field(default=0, metadata={"help": "evaluate every N steps (0: only at the end)"})
    checkpoint_every: int = field(default=250, metadata={"help": "checkpoint every N steps"})
    out: Path = field(default=Path("runs/image2sphere"), metadata={"help": "run directory"})
    device: str = field(default="cpu", metadata={"help": "torch device (cpu, cuda, cuda:1, ...)"})

    def __post_init__(self) -> None:
        for name in (
            "n_train",
            "n_test",
            "image_size",
            "lmax",
            "sphere_fdim",
            "f_hidden",
            "steps",
            "batch_size",
            "act_resolution",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not self.shapes:
            raise UsageError("--shapes needs at least one shape")
        if self.lr <= 0:
            raise UsageError(f"--lr must be > 0, got {self.lr}")
        problems = self.run_problems()
        if (self.devices, self.num_nodes, self.strategy) != (1, 1, "auto"):
            problems.append(
                "image2sphere trains in one process: --devices, --num-nodes and --strategy are not supported"
            )
        if problems:
            raise UsageError(problems[0])

    def model_config(self, in_channels: int) -> I2SConfig:
        return I2SConfig(
            encoder=self.encoder,
            in_channels=in_channels,
            image_size=self.image_size,
            encoder_weights=self.encoder_weights,
            lmax=self.lmax,
            sphere_fdim=self.sphere_fdim,
            f_hidden=self.f_hidden,
            n_subset=self.n_subset,
            act_resolution=self.act_resolution,
            train_grid_rec=self.train_grid_rec,
            eval_grid_rec=self.eval_grid_rec,
        )


def build_data(cfg: TrainConfig, with_train: bool = True) -> tuple[PoseData | None, dict[str, PoseData]]:
    """Training set (all shapes together; None unless ``with_train``) and one test set per shape."""
    if cfg.dataset == "rendered":
        trains, tests = [], {}
        for i, shape in enumerate(cfg.shapes):
            if with_train:
                trains.append(rendered_dataset(shape, cfg.n_train, cfg.image_size, seed=1000 * cfg.seed + 2 * i))
            tests[shape] = rendered_dataset(shape, cfg.n_test, cfg.image_size, seed=1000 * cfg.seed + 2 * i + 1)
        if not with_train:
            return None, tests
        return concat_pose_data(trains, "train"), tests
    if cfg.data_path is None:
        raise UsageError(f"--data-path is required for dataset {cfg.dataset}")
    if cfg.dataset == "symsol":
        tests = {s: load_symsol(cfg.data_path, "test", (s,), cfg.n_test, cfg.image_size) for s in cfg.shapes}
        if not with_train:
            return None, tests
        parts = [load_symsol(cfg.data_path, "train", (s,), cfg.n_train, cfg.image_size) for s in cfg.shapes]
        return concat_pose_data(parts, "symsol-train"), tests
    if cfg.dataset == "pascal3d":
        tests = {"pascal3d": load_pascal3d(cfg.data_path, "test", cfg.n_test, cfg.image_size)}
        return (load_pascal3d(cfg.data_path, "train", cfg.n_train, cfg.image_size) if with_train else None), tests
    if cfg.test_path is None:
        raise UsageError("--test-path (ModelNet10-SO(3) test npz or LMDB folder) is required for dataset modelnet10")
    tests = {"modelnet10": load_modelnet10(cfg.test_path, cfg.n_test)}
    return (load_modelnet10(cfg.data_path, cfg.n_train) if with_train else None), tests


def _make_optimizer(cfg: TrainConfig, model: I2S) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step = cfg.lr_step if cfg.lr_step > 0 else 10**12
    return opt, torch.optim.lr_scheduler.StepLR(opt, step, cfg.lr_gamma)


def load_model(path: str | Path, device: str = "cpu") -> tuple[I2S, dict]:
    """Model and saved config from a checkpoint file or a run folder (its newest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = latest(path / "checkpoints")
        if found is None:
            raise UsageError(f"no checkpoint (ckpt-*.pt) in {path / 'checkpoints'}")
        path = found
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise UsageError(f"{path} is not an image2sphere checkpoint")
    mcfg = I2SConfig(**state["model_config"])
    model = I2S(mcfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def train(cfg: TrainConfig) -> tuple[I2S, dict[str, dict[str, float]], Path]:
    """Train, checkpoint atomically every ``checkpoint_every`` steps, evaluate; returns (model, metrics, run dir)."""
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    # the data is read (and bad paths refused) before the run folder is touched
    ckpt_dir = Path(cfg.out) / "checkpoints"
    found = latest(ckpt_dir) if cfg.resume and ckpt_dir.is_dir() else None
    state = torch.load(found, map_location="cpu", weights_only=False) if found is not None else None
    start = state["step"] if state is not None else 0
    train_data, tests = build_data(cfg, with_train=start < cfg.steps)
    run, resumed = prepare_run_dir(cfg.out, cfg, resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)
    if not resumed:  # nothing to resume: a new run from step 0
        found, state, start = None, None, 0
    in_channels = next(iter(tests.values())).images.shape[1]
    model = I2S(cfg.model_config(in_channels)).to(cfg.device)
    opt, sched = _make_optimizer(cfg, model)
    gen = torch.Generator().manual_seed(cfg.seed)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    def save(step: int) -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "model_config": dataclasses.asdict(model.cfg),
            "train_config": jsonable(cfg),
        }
        atomic_save(checkpoint_path(ckpt_dir, step), lambda f: torch.save(state, f))

    n = len(train_data) if train_data is not None else 0
    metrics: dict[str, dict[str, float]] = {}
    with RunLogger(run, quiet=cfg.quiet, resume_step=(start if found is not None else -1) if resumed else None) as log:
        t0 = time.time()
        model.train()
        for step in log.progress(range(start, cfg.steps), total=cfg.steps - start, desc="train"):
            idx = torch.randint(n, (cfg.batch_size,), generator=gen)
            img, rot = train_data.batch(idx, gen)
            loss, err = model.loss(img.to(cfg.device), rot.to(cfg.device))
            if not torch.isfinite(loss):
                raise RuntimeError(f"non-finite loss at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 10 == 0 or step == cfg.steps - 1:
                log.log(
                    step,
                    loss=float(loss.detach()),
                    train_median_error_deg=float(err.median()) * 180 / math.pi,
                    lr=sched.get_last_lr()[0],
                )
            done = step + 1
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save(done)
            if cfg.eval_every > 0 and done % cfg.eval_every == 0 and done < cfg.steps:
                for name, d in tests.items():
                    log.log(done, **{f"{name}/{k}": v for k, v in evaluate(model, d, device=cfg.device).items()})
                model.train()
        train_seconds = time.time() - t0
        for name, d in tests.items():
            metrics[name] = evaluate(model, d, device=cfg.device)
            log.log(cfg.steps, **{f"test/{name}/{k}": v for k, v in metrics[name].items()})
        log.summary(
            train_seconds=round(train_seconds, 2), **{f"{s}/{k}": v for s, m in metrics.items() for k, v in m.items()}
        )
    return model, metrics, run
