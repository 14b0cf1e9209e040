"""adaptation-sb: model adaptation protocols (LP, FT, LP+FT) and simplicity-bias-mitigating probes, with safety
metrics — Trivedi, Koutra & Thiagarajan, "A Closer Look at Model Adaptation using Feature Distortion and Simplicity
Bias", ICLR 2023."""

from adaptation_sb.adapt import PROTOCOLS, AdaptResult, build_model, run_protocol
from adaptation_sb.data import DominoesConfig, DominoesSplits, Split, bar_pattern, load_npz_split, make_digits_dominoes
from adaptation_sb.model import AutoEncoder, BackboneConfig, Classifier, MLPEncoder
from adaptation_sb.probes import (
    PROBES,
    ProbeConfig,
    SoupHeads,
    train_probe,
    udp_perturbation,
    vat_lds,
    vat_perturbation,
)
from adaptation_sb.safety import corrupt, detection_metrics, ece_15, rms_calibration_error
from adaptation_sb.toy import ToyConfig, run_toy

__all__ = [
    "PROBES",
    "PROTOCOLS",
    "AdaptResult",
    "AutoEncoder",
    "BackboneConfig",
    "Classifier",
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
    "rms_calibration_error",
    "run_protocol",
    "run_toy",
    "train_probe",
    "udp_perturbation",
    "vat_lds",
    "vat_perturbation",
]
