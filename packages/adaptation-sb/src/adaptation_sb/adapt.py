"""The three adaptation protocols on top of a pretrained backbone (Trivedi et al., ICLR 2023, Sec. 3):
LP, FT and LP+FT, with any probe of ``probes.py`` as the LP (LP(VAT)+FT, LP(UDP)+FT, LP(Soup)+FT)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adaptation_sb.data import Split
from adaptation_sb.model import Classifier, Encoder, check_inputs, make_head
from adaptation_sb.probes import ProbeConfig, extract_features, train_probe
from adaptation_sb.train import FitConfig, finetune, freeze, rank_zero, save_torch
from orals23_shared.cli import UsageError
from orals23_shared.runs import RunLogger

__all__ = ["PROTOCOLS", "AdaptResult", "build_model", "check_inputs", "run_protocol"]

PROTOCOLS = ("lp", "ft", "lp+ft")


@dataclass
class AdaptResult:
    model: Classifier
    lp_head: nn.Linear | None
    record: dict[str, Any] = field(default_factory=dict)


def _tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(split.x, dtype=torch.float32), torch.as_tensor(split.y, dtype=torch.long)


def build_model(
    backbone0: Encoder,
    train: Split,
    val: Split,
    protocol: str,
    probe: ProbeConfig,
    n_classes: int,
    seed: int = 0,
    lp_file: Path | None = None,
) -> tuple[Classifier, nn.Linear | None, dict[str, Any]]:
    """The model FT starts from: a copy of the backbone with the probe's head (LP, LP+FT) or a fresh head (FT).

    ``lp_file``: where the probe is saved (atomically) and, when it exists, read back (a resumed run).
    """
    if protocol not in PROTOCOLS:
        raise UsageError(f"protocol {protocol!r} is not defined (choose from {', '.join(PROTOCOLS)})")
    check_inputs(backbone0, train, "train")
    backbone = copy.deepcopy(backbone0)
    record: dict[str, Any] = {"protocol": protocol, "probe": probe.variant if protocol != "ft" else None}
    if protocol == "ft":
        return Classifier(backbone, make_head(backbone.feat_dim, n_classes, seed=seed)), None, record
    if lp_file is not None and lp_file.is_file():
        blob = torch.load(lp_file, map_location="cpu", weights_only=True)
        head = nn.Linear(backbone.feat_dim, n_classes)
        saved = tuple(blob["state_dict"]["weight"].shape)
        if saved != tuple(head.weight.shape):
            raise UsageError(f"{lp_file}: the saved probe takes {saved[1]} features for {saved[0]} classes, but the "
                             f"backbone gives {backbone.feat_dim} for {n_classes} classes")  # fmt: skip
        head.load_state_dict(blob["state_dict"])
        record["probe_record"] = blob["record"]
    else:
        freeze(backbone)
        xt, yt = _tensors(train)
        xv, yv = _tensors(val)
        h, hv = extract_features(backbone, xt), extract_features(backbone, xv)
        head, probe_record = train_probe(h, yt, n_classes, probe, seed=seed, val=(hv, yv))
        record["probe_record"] = probe_record
        if lp_file is not None and rank_zero():
            save_torch(lp_file, {"state_dict": head.state_dict(), "record": probe_record})
    return Classifier(backbone, head), copy.deepcopy(head), record


def run_protocol(
    backbone0: Encoder,
    train: Split,
    val: Split,
    protocol: str,
    probe: ProbeConfig,
    ft: FitConfig,
    n_classes: int,
    seed: int = 0,
    run: Path | None = None,
    resume: bool = False,
    log: RunLogger | None = None,
) -> AdaptResult:
    """LP, FT or LP+FT; the backbone given is never modified (FT trains a copy)."""
    lp_file = run / "lp_head.pt" if run is not None else None
    model, lp_head, record = build_model(backbone0, train, val, protocol, probe, n_classes, seed, lp_file)
    if protocol == "lp":
        freeze(model.backbone)
        return AdaptResult(model.eval(), lp_head, record)
    xt, yt = _tensors(train)
    torch.manual_seed(seed)
    record["ft_steps"] = finetune(model, xt, yt, ft, run=run, log=log, resume=resume)
    return AdaptResult(model.eval(), lp_head, record)
