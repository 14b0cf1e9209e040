"""The one ``summary.json`` format of every ``<name>-reproduce`` run.

    {"package": "elph", "verdict": "reproduced" | "partly" | "not",
     "claims": [{"claim": ..., "paper": ..., "ours": ..., "verdict": ...}],
     "seconds": ..., "plots": ["loss.png", ...], "quick": true, "machine": ...}

A package states each claim with the paper's number, our measured number and the per-claim verdict
computed from the measurement (never typed in). The overall verdict is derived here: "reproduced"
when every claim is, "not" when none is reproduced or partly, "partly" otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from orals23_shared.checkpoint import atomic_write_json

Verdict = Literal["reproduced", "partly", "not"]
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not")

__all__ = ["Claim", "overall_verdict", "write_summary", "add_reproduce_args", "load_summary"]


@dataclass
class Claim:
    """One checked claim: what the paper says, what we measured, and the verdict we derived."""

    claim: str
    paper: Any
    ours: Any
    verdict: Verdict
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @classmethod
    def threshold(cls, claim: str, paper: Any, ours: float, ok: bool, partly: bool = False, **details: Any) -> Claim:
        """Build a claim whose verdict follows from booleans computed on the measurement."""
        verdict: Verdict = "reproduced" if ok else ("partly" if partly else "not")
        return cls(claim=claim, paper=paper, ours=ours, verdict=verdict, details=details)


def overall_verdict(claims: list[Claim] | list[dict]) -> Verdict:
    verdicts = [c.verdict if isinstance(c, Claim) else c["verdict"] for c in claims]
    if not verdicts:
        raise ValueError("a reproduce summary needs at least one claim")
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if all(v == "not" for v in verdicts):
        return "not"
    return "partly"


def write_summary(
    out_dir: str | os.PathLike,
    package: str,
    claims: list[Claim],
    seconds: float,
    plots: list[str | os.PathLike] = (),
    quick: bool | None = None,
    **extra: Any,
) -> Path:
    """Write ``out_dir/summary.json``; plot paths are stored relative to ``out_dir`` when inside it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rel_plots = []
    for p in plots:
        p = Path(p)
        try:
            rel_plots.append(str(p.resolve().relative_to(out.resolve())))
        except ValueError:
            rel_plots.append(str(p))
    record = {
        "package": package,
        "verdict": overall_verdict(claims),
        "claims": [asdict(c) for c in claims],
        "seconds": round(float(seconds), 2),
        "plots": rel_plots,
        "quick": quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        **extra,
    }
    return atomic_write_json(out / "summary.json", record)


def load_summary(path: str | os.PathLike) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    for key in ("package", "verdict", "claims", "seconds", "plots"):
        if key not in data:
            raise ValueError(f"{path}: not a reproduce summary (missing '{key}')")
    if data["verdict"] != overall_verdict(data["claims"]):
        raise ValueError(f"{path}: overall verdict {data['verdict']!r} does not follow from its claims")
    return data


def add_reproduce_args(parser: argparse.ArgumentParser, default_out: str = "reproduce") -> None:
    """The flags every ``<name>-reproduce`` takes."""
    parser.add_argument("--quick", action="store_true", help="small version: a few minutes on 2 CPU cores")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default_out),
        help="output folder for summary.json and plots (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch/jax device (default: %(default)s)")
