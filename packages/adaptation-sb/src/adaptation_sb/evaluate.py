"""Evaluation of an adapted model: accuracy and every safety metric of the paper (see ``safety.py``), and loading
the files that ``adaptation-sb-pretrain`` and ``adaptation-sb-train`` write."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adaptation_sb.data import Split
from adaptation_sb.model import BackboneConfig, Classifier, Encoder, make_encoder
from adaptation_sb.probes import extract_features
from adaptation_sb.safety import (
    CORRUPTIONS,
    SYNTHETIC_OOD,
    anomaly_scores,
    corrupt,
    detection_metrics,
    ece_15,
    rms_calibration_error,
    synthetic_ood,
)
from orals23_shared.cli import UsageError

#: what ``torch.load`` of a file that is not ours raises
_LOAD_ERRORS = (
    KeyError,
    RuntimeError,
    TypeError,
    ValueError,
    AttributeError,
    EOFError,
    OSError,
    pickle.UnpicklingError,
)

__all__ = ["classification_metrics", "load_backbone", "load_model", "predict_probs", "safety_report"]


@torch.no_grad()
def predict_probs(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    was = model.training
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    out = torch.cat([torch.softmax(model(xt[i : i + batch_size]), dim=1) for i in range(0, xt.shape[0], batch_size)])
    model.train(was)
    return out.double().numpy()


def classification_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy, 15-bin ECE, and the authors' RMS adaptive-bin calibration error (beta = 100)."""
    correct = probs.argmax(1) == y
    return {
        "acc": float(correct.mean()),
        "ece_15": ece_15(probs, y),
        "rms_calib": rms_calibration_error(probs.max(1), correct, beta=min(100, len(y))),
    }


def _distortion(f0: nn.Module, f1: nn.Module, x: np.ndarray) -> dict[str, float]:
    xt = torch.as_tensor(x, dtype=torch.float32)
    a, b = extract_features(f0, xt), extract_features(f1, xt)
    change = (b - a).norm(dim=1).mean().item()
    return {"change": change, "relative": change / max(a.norm(dim=1).mean().item(), 1e-12)}


def safety_report(
    model: Classifier,
    splits: dict[str, Split],
    id_split: str = "test",
    ood_splits: tuple[str, ...] = ("test_random",),
    pretrained: Encoder | None = None,
    corruptions: bool = True,
    anomaly_sets: dict[str, np.ndarray] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics per split; corruption accuracy/calibration and anomaly detection on ``id_split``;
    feature distortion (vs ``pretrained``) on the ID split and each OOD split."""
    out: dict[str, Any] = {}
    for name, split in splits.items():
        out[name] = classification_metrics(predict_probs(model, split.x), split.y)
    base = splits[id_split]
    if corruptions:
        rows = []
        for cname in CORRUPTIONS:
            for sev in range(1, 6):
                xc = corrupt(base.x, cname, sev, seed=seed + sev)
                rows.append(
                    {"corruption": cname, "severity": sev, **classification_metrics(predict_probs(model, xc), base.y)}
                )
        out["corruption"] = {
            "acc": float(np.mean([r["acc"] for r in rows])),
            "ece_15": float(np.mean([r["ece_15"] for r in rows])),
            "rms_calib": float(np.mean([r["rms_calib"] for r in rows])),
            "rows": rows,
        }
    score_in = anomaly_scores(predict_probs(model, base.x))
    sets = (
        anomaly_sets
        if anomaly_sets is not None
        else {k: synthetic_ood(k, base.x.shape, seed=seed + i) for i, k in enumerate(SYNTHETIC_OOD)}
    )
    det = {k: detection_metrics(score_in, anomaly_scores(predict_probs(model, v))) for k, v in sets.items()}
    if det:
        det["mean_auroc"] = float(np.mean([d["auroc"] for d in det.values()]))
    out["anomaly"] = det
    if pretrained is not None:
        out["distortion"] = {
            name: _distortion(pretrained, model.backbone, splits[name].x) for name in (id_split, *ood_splits)
        }
    return out


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _backbone_config(d: dict[str, Any]) -> BackboneConfig:
    """A ``BackboneConfig`` from its stored dict (files of round 3 have no ``arch``: an MLP)."""
    return BackboneConfig(
        in_shape=tuple(d["in_shape"]),
        hidden=int(d["hidden"]),
        feat_dim=int(d["feat_dim"]),
        arch=str(d.get("arch", "mlp")),
        channels=int(d.get("channels", 16)),
    )


def _load_state(module: nn.Module, state: dict[str, Any], what: str) -> None:
    """``load_state_dict`` with one line naming the first parameter whose name or shape disagrees."""
    own = module.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise UsageError(f"{what}: parameters do not match the architecture (missing {missing[:3]}, "
                         f"unexpected {extra[:3]})")  # fmt: skip
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise UsageError(
                f"{what}: {k} has shape {tuple(state[k].shape)} but the architecture needs {tuple(v.shape)}"
            )
    module.load_state_dict(state)


def load_backbone(path: str | Path) -> tuple[Encoder, dict[str, Any]]:
    """The encoder of an ``adaptation-sb-pretrain`` run folder (``backbone.pt``) or such a file.

    A user's own checkpoint works when it has this layout: ``{"config": {"in_shape": [...], "hidden": ...,
    "feat_dim": ..., "arch": "mlp" | "conv", "channels": ...}, "state_dict": <the encoder's state dict>}``.
    """
    path = Path(path)
    file = path / "backbone.pt" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(f"{path}: no backbone (an adaptation-sb-pretrain run folder or its backbone.pt)")
    try:
        blob = torch.load(file, map_location="cpu", weights_only=True)
        cfg = _backbone_config(blob["config"])
        state = blob["state_dict"]
    except _LOAD_ERRORS as e:
        raise UsageError(f"{file}: not a backbone written by adaptation-sb-pretrain ({_first_line(e)})") from None
    enc = make_encoder(cfg)
    _load_state(enc, state, f"{file} (feature size {cfg.feat_dim})")
    enc.eval()
    return enc, blob.get("meta", {})


def load_model(run: str | Path) -> tuple[Classifier, Encoder, dict[str, Any]]:
    """The adapted classifier of an ``adaptation-sb-train`` run, its pretrained backbone, and its meta."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"run folder not found: {run}")
    if not (run / "model.pt").is_file():
        raise UsageError(f"{run}: not a finished adaptation-sb-train run (no model.pt)")
    try:
        blob = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
        cfg = _backbone_config(blob["backbone"])
        head_w = blob["state_dict"]["head.weight"]
        n_classes = int(blob["n_classes"])
    except _LOAD_ERRORS as e:
        raise UsageError(f"{run / 'model.pt'}: not written by adaptation-sb-train ({_first_line(e)})") from None
    if head_w.ndim != 2 or head_w.shape[1] != cfg.feat_dim:
        raise UsageError(
            f"{run / 'model.pt'}: the head takes {head_w.shape[-1]} features but the backbone gives {cfg.feat_dim}"
        )
    model = Classifier(make_encoder(cfg), nn.Linear(cfg.feat_dim, n_classes))
    _load_state(model, blob["state_dict"], str(run / "model.pt"))
    pre = make_encoder(cfg)
    _load_state(pre, blob["pretrained_state_dict"], f"{run / 'model.pt'} (pretrained backbone)")
    return model.eval(), pre.eval(), blob["meta"]
