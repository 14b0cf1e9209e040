"""adaptation-sb: model adaptation protocols (LP, FT, LP+FT) and simplicity-bias-mitigating probes, with safety
metrics — Trivedi, Koutra & Thiagarajan, "A Closer Look at Model Adaptation using Feature Distortion and Simplicity
Bias", ICLR 2023."""

from importlib import import_module
from typing import Any

# Lazy re-exports: ``import adaptation_sb`` stays light (Lightning is imported only by what trains).
_WHERE = {
    "PROTOCOLS": "adapt", "AdaptResult": "adapt", "build_model": "adapt", "run_protocol": "adapt",
    "DominoesConfig": "data", "DominoesSplits": "data", "Split": "data", "bar_pattern": "data",
    "load_npz_split": "data", "make_digits_dominoes": "data",
    "AutoEncoder": "model", "BackboneConfig": "model", "Classifier": "model", "MLPEncoder": "model",
    "ConvEncoder": "model", "make_encoder": "model",
    "PROBES": "probes", "ProbeConfig": "probes", "SoupHeads": "probes", "train_probe": "probes",
    "udp_perturbation": "probes", "vat_lds": "probes", "vat_perturbation": "probes",
    "corrupt": "safety", "detection_metrics": "safety", "ece_15": "safety", "rms_calibration_error": "safety",
    "ToyConfig": "toy", "run_toy": "toy",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"adaptation_sb.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'adaptation_sb' has no attribute {name!r}")


__all__ = [
    "PROBES",
    "PROTOCOLS",
    "AdaptResult",
    "AutoEncoder",
    "BackboneConfig",
    "Classifier",
    "ConvEncoder",
    "DominoesConfig",
    "DominoesSplits",
    "MLPEncoder",
    "ProbeConfig",
    "SoupHeads",
    "Split",
    "ToyConfig",
    "bar_pattern",
    "build_model",
    "corrupt",
    "detection_metrics",
    "ece_15",
    "load_npz_split",
    "make_digits_dominoes",
    "make_encoder",
    "rms_calibration_error",
    "run_protocol",
    "run_toy",
    "train_probe",
    "udp_perturbation",
    "vat_lds",
    "vat_perturbation",
]
