"""One bench protocol for every ``<name>-bench``: timings, memory, flags and ``bench.json``.

    parser = argparse.ArgumentParser(prog="elph-bench")
    add_bench_args(parser, "elph")           # --seed --device --out --threads --repeats --warmup
    args = parser.parse_args(argv)
    set_threads(args.threads)
    t = time_call(lambda: model(x), repeats=args.repeats, warmup=args.warmup, sync=cuda_sync)
    mem = peak_rss("elph.bench:preprocess_cora", {"k": 2})
    write_bench(args.out, "elph", rows=[{"phase": "preprocess", **t.as_dict(), **mem}], config=vars(args))

* ``time_call``: warm-up runs, then the median of >= 5 timed runs with their min and max
  (``time.perf_counter``; pass ``sync`` to wait for a GPU before each clock read).
* ``peak_rss``: peak resident memory of a call measured in a *fresh* process (``VmHWM``), so torch
  tensors count (``tracemalloc`` does not see them) and nothing earlier in the bench inflates it.
* ``write_bench``: ``bench.json`` written atomically, with the machine, the thread count and the load
  average before and after (a ratio measured on a loaded machine says so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import add_field_flags
from orals23_shared.threads import usable_cores

__all__ = [
    "MIN_REPEATS",
    "BenchFields",
    "Timing",
    "add_bench_args",
    "default_bench_dir",
    "load_snapshot",
    "peak_rss",
    "time_call",
    "write_bench",
]

MIN_REPEATS = 5


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median of ``n`` timed runs, with their min and max."""

    median: float
    min: float
    max: float
    n: int

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}

    def ratio(self, other: Timing) -> float:
        """``self.median / other.median`` (how many times slower ``self`` is)."""
        return self.median / other.median


def time_call(
    fn: Callable[[], object],
    repeats: int = MIN_REPEATS,
    warmup: int = 1,
    sync: Callable[[], object] | None = None,
    number: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time ``fn``: ``warmup`` untimed calls, then ``repeats`` (>= 5) timings of ``number`` calls each.

    ``clock=time.process_time`` (CPU seconds of this process) holds up better than wall time on a
    machine shared with other jobs, for single-threaded work; the default is wall time."""
    if repeats < MIN_REPEATS:
        raise ValueError(f"repeats must be >= {MIN_REPEATS} (a median of fewer is noise), got {repeats}")
    if number < 1:
        raise ValueError(f"number must be >= 1, got {number}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    times = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(number):
            fn()
        if sync is not None:
            sync()
        times.append((clock() - t0) / number)
    return Timing(median=statistics.median(times), min=min(times), max=max(times), n=repeats)


# VmHWM (the peak RSS of this process image) rather than ru_maxrss, which Linux carries over from the
# parent across fork + exec: a child of a large process would report the parent's size.
_CHILD = """
import json, resource, sys, importlib
def hwm_kb():
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mod, name = sys.argv[1].split(":")
kwargs = json.loads(sys.argv[2])
fn = getattr(importlib.import_module(mod), name)
base = hwm_kb()
result = fn(**kwargs)
peak = hwm_kb()
print("ORALS23_RSS " + json.dumps({"baseline_kb": base, "peak_kb": peak, "result": result}, default=str))
"""


def peak_rss(target: str, kwargs: dict[str, Any] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Peak resident memory (MiB) of ``module:function(**kwargs)`` run in a fresh Python process.

    Returns ``peak_mib`` (the whole process), ``baseline_mib`` (after importing the module, before the
    call) and ``delta_mib`` (what the call added), plus the function's JSON-able return value.
    """
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"target must look like 'package.module:function', got {target!r}")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, target, json.dumps(kwargs or {})],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("ORALS23_RSS ")), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory measurement of {target} failed (exit {proc.returncode}): {tail}")
    data = json.loads(line.removeprefix("ORALS23_RSS "))
    peak, base = data["peak_kb"] / 1024, data["baseline_kb"] / 1024
    return {
        "peak_mib": round(peak, 1),
        "baseline_mib": round(base, 1),
        "delta_mib": round(peak - base, 1),
        "result": data["result"],
    }


def default_bench_dir(package: str) -> Path:
    """The one default place: ``runs/bench/<package>/`` (``bench.json`` inside)."""
    return Path("runs") / "bench" / package


@dataclass
class BenchFields:
    """``add_bench_args``'s flags as config fields, for a ``-bench`` whose options are one config dataclass
    (so that ``--config file.json`` sets them too). Inherit it and redeclare ``out`` with
    ``default_bench_dir("<package>")``."""

    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "torch/jax device"})
    out: Path = field(default=Path("bench"), metadata={"help": "folder for bench.json"})
    repeats: int = field(default=MIN_REPEATS, metadata={"help": "timed runs per row, median reported"})
    warmup: int = field(default=1, metadata={"help": "untimed runs before timing"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS or the usable cores)"})


def add_bench_args(parser: argparse.ArgumentParser, package: str) -> None:
    """The flags every ``<name>-bench`` takes: ``BenchFields`` (--seed --device --out --repeats --warmup
    --threads), with --out defaulting to ``default_bench_dir(package)``."""
    add_field_flags(parser, BenchFields, out=default_bench_dir(package))


def load_snapshot() -> dict[str, Any]:
    """Load average and usable cores now (recorded before and after a bench)."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover
        one = five = float("nan")
    return {"loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2), "cores": usable_cores()}


def write_bench(
    out: str | os.PathLike,
    package: str,
    rows: Sequence[dict[str, Any]],
    config: dict[str, Any] | None = None,
    load_before: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Write ``out/bench.json`` atomically: the rows, the config, the machine and its load."""
    from orals23_shared.reproduce import machine_info

    record = {
        "package": package,
        "rows": list(rows),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in (config or {}).items()},
        "machine": machine_info(),
        "threads": os.environ.get("ORALS23_THREADS"),
        "load_before": load_before,
        "load_after": load_snapshot(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }
    return atomic_write_json(Path(out) / "bench.json", record)


def allocate_mib(mib: int) -> int:
    """Touch ``mib`` MiB of memory (a known allocation for testing ``peak_rss``)."""
    block = bytearray(mib * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)
