"""The one ``summary.json`` format of every ``<name>-reproduce`` run.

    {"package": "elph", "verdict": "reproduced" | "partly" | "not" | "not run",
     "claims": [{"claim": ..., "paper": ..., "ours": ..., "verdict": ..., "reason": ...}],
     "counts": {"reproduced": 3, "partly": 1, "not": 0, "not run": 1},
     "seconds": ..., "plots": ["loss.png", ...], "quick": true, "machine": {...}}

A package states each claim with the paper's number, our measured number and the per-claim verdict
computed from the measurement (never typed in). A claim that could not be measured (a toolchain is
missing, it needs a GPU) is ``"not run"`` with its reason: it is shown, never counted as reproduced
and never dropped. The overall verdict is derived here from the claims that ran: "reproduced" when
every one of them is, "not" when none is reproduced or partly, "partly" otherwise; "not run" when no
claim ran. ``counts`` says how many claims were not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from orals23_shared.checkpoint import atomic_write_json

Verdict = Literal["reproduced", "partly", "not", "not run"]
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not", "not run")
NOT_RUN = "not run"

__all__ = [
    "Claim",
    "NOT_RUN",
    "ReproduceFields",
    "VERDICTS",
    "add_reproduce_args",
    "load_summary",
    "machine_info",
    "overall_verdict",
    "verdict_counts",
    "write_summary",
]


@dataclass
class Claim:
    """One checked claim: what the paper says, what we measured, and the verdict we derived.

    ``reason`` is required for a ``"not run"`` claim (why it could not be measured) and optional
    otherwise (e.g. the bar the measurement was judged against).
    """

    claim: str
    paper: Any
    ours: Any
    verdict: Verdict
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.verdict == NOT_RUN and not self.reason:
            raise ValueError(f"claim {self.claim!r} is 'not run' without a reason")

    @classmethod
    def threshold(cls, claim: str, paper: Any, ours: float, ok: bool, partly: bool = False, **details: Any) -> Claim:
        """Build a claim whose verdict follows from booleans computed on the measurement."""
        verdict: Verdict = "reproduced" if ok else ("partly" if partly else "not")
        return cls(claim=claim, paper=paper, ours=ours, verdict=verdict, details=details)

    @classmethod
    def not_run(cls, claim: str, paper: Any, reason: str, **details: Any) -> Claim:
        """A claim we could not measure here, with the reason (e.g. "toolchain for Go missing")."""
        return cls(claim=claim, paper=paper, ours=None, verdict=NOT_RUN, details=details, reason=reason)


def _verdicts(claims: list[Claim] | list[dict]) -> list[str]:
    return [c.verdict if isinstance(c, Claim) else c["verdict"] for c in claims]


def verdict_counts(claims: list[Claim] | list[dict]) -> dict[str, int]:
    """How many claims have each verdict (every verdict present, zero included)."""
    verdicts = _verdicts(claims)
    return {v: verdicts.count(v) for v in VERDICTS}


def overall_verdict(claims: list[Claim] | list[dict]) -> Verdict:
    """The package verdict over the claims that ran; "not run" only when none ran."""
    verdicts = _verdicts(claims)
    if not verdicts:
        raise ValueError("a reproduce summary needs at least one claim")
    ran = [v for v in verdicts if v != NOT_RUN]
    if not ran:
        return NOT_RUN
    if all(v == "reproduced" for v in ran):
        return "reproduced"
    if all(v == "not" for v in ran):
        return "not"
    return "partly"


def machine_info() -> dict[str, Any]:
    """Cores, platform, Python and the framework versions present (torch/jax read without importing)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    versions = {}
    for name in ("torch", "jax", "jaxlib", "torch-geometric", "lightning", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cores": usable,
        "cpu_count": os.cpu_count(),
        "platform": f"{platform.machine()}, {platform.system()}",
        "python": platform.python_version(),
        "threads": os.environ.get("ORALS23_THREADS"),
        "packages": versions,
    }


def write_summary(
    out_dir: str | os.PathLike,
    package: str,
    claims: list[Claim],
    seconds: float,
    plots: list[str | os.PathLike] = (),
    quick: bool | None = None,
    **extra: Any,
) -> Path:
    """Write ``out_dir/summary.json``; plot paths are stored relative to ``out_dir`` when inside it.

    The first plot is the package's main plot (the one the report embeds).
    """
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
        "counts": verdict_counts(claims),
        "claims": [asdict(c) for c in claims],
        "seconds": round(float(seconds), 2),
        "plots": rel_plots,
        "quick": quick,
        "machine": machine_info(),
        **extra,
    }
    return atomic_write_json(out / "summary.json", record)


def load_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Read a summary back; refuse one whose verdict or counts do not follow from its claims."""
    data = json.loads(Path(path).read_text())
    for key in ("package", "verdict", "claims", "seconds", "plots"):
        if key not in data:
            raise ValueError(f"{path}: not a reproduce summary (missing '{key}')")
    for c in data["claims"]:
        if c.get("verdict") not in VERDICTS:
            raise ValueError(f"{path}: claim {c.get('claim')!r} has an unknown verdict {c.get('verdict')!r}")
    if data["verdict"] != overall_verdict(data["claims"]):
        raise ValueError(f"{path}: overall verdict {data['verdict']!r} does not follow from its claims")
    if "counts" in data and data["counts"] != verdict_counts(data["claims"]):
        raise ValueError(f"{path}: claim counts do not follow from its claims")
    data["counts"] = verdict_counts(data["claims"])
    return data


@dataclass
class ReproduceFields:
    """``add_reproduce_args``'s flags as config fields, for a ``-reproduce`` whose options are one config
    dataclass (so that ``--config file.json`` sets them too)."""

    quick: bool = field(default=False, metadata={"help": "small version: a few minutes on 2 CPU cores"})
    out: Path = field(default=Path("reproduce"), metadata={"help": "output folder for summary.json and plots"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "torch/jax device"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS or the usable cores)"})


def add_reproduce_args(parser: argparse.ArgumentParser, default_out: str = "reproduce") -> None:
    """The flags every ``<name>-reproduce`` takes: ``ReproduceFields`` (--quick --out --seed --device --threads)."""
    from orals23_shared.cli import add_field_flags

    add_field_flags(parser, ReproduceFields, out=Path(default_out))
