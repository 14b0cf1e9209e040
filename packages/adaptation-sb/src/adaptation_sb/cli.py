"""Command lines: ``adaptation-sb-pretrain`` (the source task), ``adaptation-sb-train`` (alias
``adaptation-sb-adapt``: LP, FT, LP+FT with any probe) and ``adaptation-sb-eval`` (every safety metric)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import RunFields, UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.runfolder import FREE_FIELDS

__all__ = ["EvalConfig", "PretrainConfig", "TrainConfig", "eval_main", "pretrain_main", "train_main"]

#: fields a resumed run may change: the epochs set the cosine schedule's horizon, so they are not free here
RESUME_FREE = (FREE_FIELDS - {"epochs"}) | {"stop_after"}

_DATA_HELP = (
    "'digits-dominoes' (built offline from scikit-learn's digits) or a folder of .npz files (arrays x in [0, 1], "
    "y): train.npz, val.npz, test.npz; every other *.npz there is an extra (OOD) test split"
)


@dataclass
class _Common(RunFields):
    data: str = field(default="digits-dominoes", metadata={"help": _DATA_HELP})
    correlation: float = field(default=0.9, metadata={"help": "digits-dominoes: fraction whose bar shows the label"})
    data_seed: int = field(default=0, metadata={"help": "digits-dominoes: the seed of the split (keep it equal "
                                                "for pretrain and train: their images are then disjoint)"})  # fmt: skip
    batch_size: int = field(default=64, metadata={"help": "mini-batch size"})
    stop_after: int = field(default=0, metadata={"help": "stop after this many steps (0 = all); --resume later"})
    checkpoint_every: int = field(default=50, metadata={"help": "steps between atomic checkpoints"})
    log_every: int = field(default=10, metadata={"help": "steps between metric records"})
    out: Path = field(default=Path("runs/adaptation-sb"), metadata={"help": "run folder"})

    def _check(self, extra: list[tuple[bool, str]]) -> None:
        checks = [
            (0.0 <= self.correlation <= 1.0, f"--correlation must lie in [0, 1], got {self.correlation}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.stop_after >= 0, "--stop-after must be >= 0"),
            (self.checkpoint_every >= 1 and self.log_every >= 1, "--checkpoint-every and --log-every must be >= 1"),
            (self.devices >= 1 and self.num_nodes >= 1, "--devices and --num-nodes must be >= 1"),
            *extra,
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)


@dataclass
class PretrainConfig(_Common):
    """The source task: an autoencoder on unlabelled inputs; its encoder is the "pretrained" backbone."""

    arch: Literal["mlp", "conv"] = field(default="mlp", metadata={"help": "encoder: mlp, or conv (3 conv layers "
                                         "for images (n, H, W) or (n, C, H, W))"})  # fmt: skip
    channels: int = field(default=16, metadata={"help": "conv: channels of the first layer (then 2x, 2x)"})
    hidden: int = field(default=256, metadata={"help": "hidden width of the MLP encoder and of the decoder"})
    feat_dim: int = field(default=64, metadata={"help": "feature size (the probe's input)"})
    epochs: int = field(default=100, metadata={"help": "epochs of the source task"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (cosine to 1e-5)"})
    out: Path = field(default=Path("runs/adaptation-sb-pretrain"), metadata={"help": "run folder"})

    def __post_init__(self) -> None:
        self._check([(self.hidden >= 1 and self.feat_dim >= 1 and self.channels >= 1,
                      "--hidden, --feat-dim and --channels must be >= 1"),
                     (self.epochs >= 1 and self.lr > 0, "--epochs must be >= 1 and --lr > 0")])  # fmt: skip


@dataclass
class TrainConfig(_Common):
    """Adapt a pretrained backbone with LP, FT or LP+FT (the LP being any probe variant)."""

    backbone: Path | None = field(default=None, metadata={"help": "adaptation-sb-pretrain run folder or backbone.pt"})
    protocol: Literal["lp", "ft", "lp+ft"] = field(default="lp+ft", metadata={"help": "adaptation protocol"})
    probe: str = field(default="lp", metadata={"help": "the LP of LP / LP+FT: lp | vat | udp | soup"})
    epochs: int = field(default=20, metadata={"help": "FT epochs (paper: 20)"})
    lr: float | None = field(default=None, metadata={"help": "FT learning rate (SGD, Nesterov momentum 0.9, cosine); "
                             "default 0.01 for an mlp backbone, 0.001 for a conv one"})  # fmt: skip
    weight_decay: float = field(default=0.0, metadata={"help": "FT weight decay"})
    probe_epochs: int = field(default=200, metadata={"help": "probe epochs (paper: 200)"})
    probe_batch_size: int = field(default=256, metadata={"help": "probe batch size (paper: 256)"})
    probe_lr: float | None = field(default=None, metadata={"help": "probe learning rate (SGD, Nesterov, cosine); "
                                   "default 0.1 for an mlp backbone, 0.03 (the official) for a conv one"})  # fmt: skip
    probe_weight_decay: float = field(default=1e-4, metadata={"help": "probe weight decay"})
    vat_alpha: float = field(default=1.0, metadata={"help": "VAT: weight of the LDS term"})
    vat_eps: float = field(default=1.0, metadata={"help": "VAT: L2 radius of the adversarial feature perturbation"})
    vat_xi: float = field(default=10.0, metadata={"help": "VAT: power-iteration step"})
    udp_eps: float = field(default=0.1, metadata={"help": "UDP: L-inf radius of the entropy-raising perturbation"})
    udp_step: float = field(default=0.1, metadata={"help": "UDP: signed-gradient step"})
    udp_steps: int = field(default=10, metadata={"help": "UDP: ascent steps"})
    udp_weight: float = field(default=1.0, metadata={"help": "UDP: weight of CE on the perturbed features"})
    soup_heads: int = field(default=20, metadata={"help": "Soup: number of sparse, disjointly initialised heads"})
    soup: Literal["uniform", "greedy"] = field(default="uniform", metadata={"help": "Soup: uniform or greedy "
                                                                            "(greedy selects on val.npz)"})  # fmt: skip
    out: Path = field(default=Path("runs/adaptation-sb"), metadata={"help": "run folder"})

    def __post_init__(self) -> None:
        from adaptation_sb.probes import PROBES

        if self.probe not in PROBES:
            raise UsageError(f"probe variant {self.probe!r} is not defined (choose from {', '.join(PROBES)})")
        self._check([(self.epochs >= 1, "--epochs must be >= 1"),
                     (self.lr is None or self.lr > 0, "--lr must be > 0"),
                     (self.probe_lr is None or self.probe_lr > 0, "--probe-lr must be > 0")])  # fmt: skip

    def with_defaults_for(self, arch: str) -> TrainConfig:
        """The learning rates left unset, filled in for the backbone's architecture.

        On the conv backbone (features ~3x the MLP's norm, no normalisation layers) a probe at lr 0.1 reaches
        logits in the thousands and FT at 0.01 from the probe's head diverges to a constant prediction (measured
        on digits-dominoes); 0.03 (the official probe lr) and 0.001 train stably. An MLP keeps 0.1 and 0.01.
        """
        conv = arch == "conv"
        return replace(
            self,
            lr=self.lr if self.lr is not None else (0.001 if conv else 0.01),
            probe_lr=self.probe_lr if self.probe_lr is not None else (0.03 if conv else 0.1),
        )

    def probe_config(self):  # noqa: ANN201
        from adaptation_sb.probes import ProbeConfig

        return ProbeConfig(
            variant=self.probe, epochs=self.probe_epochs, batch_size=self.probe_batch_size, lr=self.probe_lr,
            weight_decay=self.probe_weight_decay, vat_alpha=self.vat_alpha, vat_eps=self.vat_eps, vat_xi=self.vat_xi,
            udp_eps=self.udp_eps, udp_step=self.udp_step, udp_steps=self.udp_steps, udp_weight=self.udp_weight,
            soup_heads=self.soup_heads, soup=self.soup,
        )  # fmt: skip

    def fit_config(self):  # noqa: ANN201

        return _fit(self, epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay, optimizer="sgd")


def _fit(cfg: _Common, **kw):  # noqa: ANN003, ANN202
    from adaptation_sb.train import FitConfig

    return FitConfig(
        batch_size=cfg.batch_size, seed=cfg.seed, stop_after=cfg.stop_after, checkpoint_every=cfg.checkpoint_every,
        log_every=cfg.log_every, device=cfg.device, devices=cfg.devices, num_nodes=cfg.num_nodes,
        strategy=cfg.strategy, quiet=cfg.quiet, **kw,
    )  # fmt: skip


def load_splits(cfg: _Common) -> dict:
    """The named splits of ``--data``."""
    from adaptation_sb.data import DominoesConfig, load_npz_split, make_digits_dominoes

    if cfg.data == "digits-dominoes":
        return make_digits_dominoes(DominoesConfig(correlation=cfg.correlation, seed=cfg.data_seed)).as_dict()
    folder = Path(cfg.data)
    if not folder.is_dir():
        raise UsageError(f"--data {folder}: not 'digits-dominoes' and not a folder of .npz files")
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise UsageError(f"--data {folder}: no .npz files (train.npz, val.npz, test.npz)")
    return {f.stem: load_npz_split(f) for f in files}


def _prepare(cfg: _Common):  # noqa: ANN202
    from adaptation_sb.train import rank_zero
    from orals23_shared.runfolder import prepare_run_dir
    from orals23_shared.runs import RunLogger
    from orals23_shared.seed import seed_everything
    from orals23_shared.threads import set_threads

    set_threads(cfg.threads)
    run, main = Path(cfg.out), rank_zero()
    resumed = False
    if main:
        run, resumed = prepare_run_dir(cfg.out, json.loads(json.dumps(asdict(cfg), default=str)),
                                       resume=cfg.resume, overwrite=cfg.overwrite, free=RESUME_FREE)  # fmt: skip
    seed_everything(cfg.seed)
    from orals23_shared.checkpoint import latest

    ckpt = latest(run / "checkpoints", ".ckpt") if cfg.resume else None
    resume_step = None if not cfg.resume else (-1 if ckpt is None else int(ckpt.stem.split("-")[-1]))
    log = RunLogger(run, quiet=True, resume_step=resume_step) if main else None
    return run, main, log, resumed


def pretrain_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adaptation-sb-pretrain",
        description="Train the backbone on the source task (an autoencoder on unlabelled inputs: the pretrain "
        "split of digits-dominoes, whose bars are random, or --data's pretrain.npz / train.npz).",
    )
    add_dataclass_args(parser, PretrainConfig)
    cfg = config_from_args(parser, PretrainConfig, argv)
    import torch

    from adaptation_sb.model import AutoEncoder, BackboneConfig
    from adaptation_sb.train import plain, pretrain_autoencoder, save_torch

    splits = load_splits(cfg)
    source = splits.get("pretrain") or splits.get("train")
    if source is None:
        raise UsageError(f"--data {cfg.data}: needs pretrain.npz or train.npz for the source task")
    bcfg = BackboneConfig(in_shape=tuple(source.x.shape[1:]), hidden=cfg.hidden, feat_dim=cfg.feat_dim,
                          arch=cfg.arch, channels=cfg.channels)  # fmt: skip
    run, main, log, _ = _prepare(cfg)
    torch.manual_seed(cfg.seed)
    ae = AutoEncoder(bcfg)
    fit = _fit(cfg, epochs=cfg.epochs, lr=cfg.lr, optimizer="adam")
    try:
        steps = pretrain_autoencoder(ae, torch.as_tensor(source.x), fit, run=run, log=log, resume=cfg.resume)
        if main:
            with torch.no_grad():
                mse = float(torch.nn.functional.mse_loss(ae(torch.as_tensor(source.x)), torch.as_tensor(source.x)))
            meta = {"source": cfg.data, "data_seed": cfg.data_seed, "steps": steps, "recon_mse": mse}
            save_torch(run / "backbone.pt", {"config": bcfg.as_dict(), "state_dict": ae.encoder.state_dict(),
                                              "meta": meta})  # fmt: skip
            assert log is not None
            log.summary(**meta, backbone=plain(bcfg.as_dict()))
            print(f"pretrained {steps} steps, reconstruction MSE {mse:.4f}: {run / 'backbone.pt'}")
    finally:
        if log is not None:
            log.close()
    return 0


def _need(splits: dict, names: tuple[str, ...], data: str) -> None:
    missing = [n for n in names if n not in splits]
    if missing:
        raise UsageError(f"--data {data}: missing split(s) {', '.join(n + '.npz' for n in missing)}")


def _n_classes(splits: dict) -> int:
    return int(max(int(s.y.max()) for s in splits.values() if len(s)) + 1)


def train_main(argv: Sequence[str] | None = None, prog: str = "adaptation-sb-train") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Adapt a pretrained backbone: LP (a probe on frozen features), FT (all parameters, fresh "
        "head) or LP+FT (FT from the probe's head); the probe is lp, vat, udp or soup. Writes model.pt and "
        "every safety metric of the test splits to summary.json.",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    if cfg.backbone is None:
        raise UsageError("--backbone is required (an adaptation-sb-pretrain run folder or its backbone.pt)")
    import torch

    from adaptation_sb.adapt import check_inputs, run_protocol
    from adaptation_sb.evaluate import load_backbone, safety_report
    from adaptation_sb.train import save_torch

    backbone, _ = load_backbone(cfg.backbone)
    cfg = cfg.with_defaults_for(backbone.cfg.arch)
    splits = load_splits(cfg)
    _need(splits, ("train", "val", "test"), cfg.data)
    for name, split in splits.items():
        check_inputs(backbone, split, f"{name} split")
    probe = cfg.probe_config()
    run, main, log, _ = _prepare(cfg)
    try:
        res = run_protocol(
            backbone, splits["train"], splits["val"], cfg.protocol, probe, cfg.fit_config(), _n_classes(splits),
            seed=cfg.seed, run=run, resume=cfg.resume, log=log,
        )  # fmt: skip
        if main:
            assert log is not None
            evals = {k: v for k, v in splits.items() if k not in ("pretrain", "train")}
            oods = tuple(k for k in evals if k not in ("val", "test"))
            report = safety_report(res.model, evals, "test", oods, pretrained=backbone, seed=cfg.seed)
            save_torch(run / "model.pt", {
                "state_dict": res.model.state_dict(), "pretrained_state_dict": backbone.state_dict(),
                "backbone": backbone.cfg.as_dict(), "n_classes": _n_classes(splits),
                "meta": {"protocol": cfg.protocol, "probe": cfg.probe, "data": cfg.data},
            })  # fmt: skip
            log.log(res.record.get("ft_steps", 0), **{f"{k}_acc": v["acc"] for k, v in report.items() if "acc" in v})
            log.summary(**res.record, safety=report)
            for k in ("val", "test", *oods):
                r = report[k]
                print(
                    f"{k:>12}: acc {r['acc']:.4f}  ECE(15 bins) {r['ece_15']:.4f}  RMS calib (adaptive) {r['rms_calib']:.4f}"
                )
            print(f"  corrupted test: acc {report['corruption']['acc']:.4f}; anomaly AUROC (MSP, mean of synthetic "
                  f"sets) {report['anomaly']['mean_auroc']:.4f}; wrote {run / 'summary.json'}")  # fmt: skip
    finally:
        if log is not None:
            log.close()
    torch.set_grad_enabled(True)
    return 0


@dataclass
class EvalConfig:
    """Every safety metric of an adapted model on its run's data or on new .npz files."""

    data: str | None = field(default=None, metadata={"help": "folder of .npz splits (default: the run's --data); "
                                                    "test.npz is the ID split, every other *.npz is OOD"})  # fmt: skip
    ood: tuple[str, ...] = field(default=(), metadata={"help": "extra .npz files used as anomaly sets (x only)"})
    corruptions: bool = field(default=True, metadata={"help": "evaluate the 6 corruptions x 5 severities"})
    out: Path | None = field(default=None, metadata={"help": "where eval.json goes (default RUN/eval.json)"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})
    seed: int = field(default=0, metadata={"help": "seed of the corruptions and synthetic outliers"})
    device: str = field(default="cpu", metadata={"help": "torch device (evaluation runs on the CPU)"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS or the usable cores)"})
    quiet: bool = field(default=False, metadata={"help": "no progress output"})


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adaptation-sb-eval",
        description="Accuracy, calibration (15-bin ECE and the authors' adaptive RMS error), corruption robustness, "
        "anomaly detection (MSP AUROC/AUPR/FPR95) and feature distortion of an adaptation-sb-train run.",
    )
    parser.add_argument("run", type=Path, help="run folder written by adaptation-sb-train --out")
    add_dataclass_args(parser, EvalConfig)
    ns = parser.parse_args(argv)
    cfg = config_from_args(parser, EvalConfig, namespace=ns)
    from adaptation_sb.data import load_npz_split
    from adaptation_sb.evaluate import load_model, safety_report
    from adaptation_sb.model import check_inputs
    from orals23_shared.threads import set_threads

    set_threads(cfg.threads)
    model, pretrained, meta = load_model(ns.run)
    saved = json.loads((Path(ns.run) / "config.json").read_text())
    source = TrainConfig(**{**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__},
                            "data": cfg.data or saved["data"], "backbone": None, "out": Path(ns.run)})  # fmt: skip
    splits = load_splits(source)
    _need(splits, ("test",), source.data)
    evals = {k: v for k, v in splits.items() if k not in ("pretrain", "train")}
    for name, split in evals.items():
        check_inputs(pretrained, split, f"{name} split")
    anomaly = None
    if cfg.ood:
        anomaly = {}
        for p in cfg.ood:
            s = load_npz_split(p, require_labels=False)
            check_inputs(pretrained, s, p)
            anomaly[Path(p).stem] = s.x
    oods = tuple(k for k in evals if k not in ("val", "test"))
    report = safety_report(model, evals, "test", oods, pretrained=pretrained, corruptions=cfg.corruptions,
                           anomaly_sets=anomaly, seed=cfg.seed)  # fmt: skip
    record = {"run": str(ns.run), "data": source.data, **meta, "metrics": report}
    out = cfg.out or Path(ns.run) / "eval.json"
    atomic_write_json(out, record)
    if cfg.json:
        print(json.dumps(record))
    else:
        for k in evals:
            r = report[k]
            print(
                f"{k:>12}: acc {r['acc']:.4f}  ECE(15 bins) {r['ece_15']:.4f}  RMS calib (adaptive) {r['rms_calib']:.4f}"
            )
        if "corruption" in report:
            print(f"  corrupted test (6 x 5): acc {report['corruption']['acc']:.4f}")
        for k, d in report["anomaly"].items():
            if isinstance(d, dict):
                print(f"  anomaly {k}: AUROC {d['auroc']:.4f}  AUPR {d['aupr']:.4f}  FPR95 {d['fpr95']:.4f}")
        print(f"wrote {out}")
    return 0


def dominoes_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adaptation-sb-dominoes",
        description="Build MNIST-CIFAR dominoes (the paper's SB benchmark) from your CIFAR-10 (python pickles) and "
        "MNIST (idx) files into a folder of .npz splits for --data.",
    )
    parser.add_argument("--cifar", type=Path, required=True, help="folder with data_batch_1..5 and test_batch")
    parser.add_argument("--mnist", type=Path, required=True, help="folder with the four MNIST idx files (.gz or not)")
    parser.add_argument("--out", type=Path, required=True, help="folder for train/val/test/test_random.npz")
    parser.add_argument("--correlation", type=float, default=0.9, help="share whose digit shows the label (0.9)")
    parser.add_argument("--limit", type=int, default=0, help="use at most this many train and test images (0 = all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    from adaptation_sb.mnist_cifar import make_mnist_cifar_dominoes

    out = make_mnist_cifar_dominoes(args.cifar, args.mnist, args.out, args.correlation, args.seed, limit=args.limit)
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('*.npz')))} to {out}")
    return 0


def dominoes_entry() -> None:
    run_cli(dominoes_main)


def pretrain_entry() -> None:
    run_cli(pretrain_main)


def train_entry() -> None:
    run_cli(train_main)


def adapt_entry() -> None:
    run_cli(lambda argv: train_main(argv, prog="adaptation-sb-adapt"))


def eval_entry() -> None:
    run_cli(eval_main)


if __name__ == "__main__":  # ``python -m adaptation_sb.cli pretrain|train|eval ...`` (Lightning's DDP relaunches it)
    commands = {"pretrain": pretrain_main, "train": train_main, "eval": eval_main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python -m adaptation_sb.cli pretrain|train|eval [options]", file=sys.stderr)
        sys.exit(2)
    run_cli(commands[sys.argv[1]], sys.argv[2:])
