"""Run records: ``runs/<experiment>/<timestamp>-<short-id>/`` with config, metrics, summary and env.

    run = make_run_dir("runs", "cora-buddy", config=asdict(cfg), seed=cfg.seed)
    with RunLogger(run, quiet=cfg.quiet) as log:
        for step in log.progress(range(n), desc="train"):
            log.log(step, loss=loss)
        log.summary(test_hits=0.88)

Files: ``config.json`` (the resolved config), ``env.json`` (python, platform, package versions,
git commit when in a checkout, seed, argv), ``metrics.jsonl`` (one JSON object per ``log`` call,
``{"step": ..., "time": ..., <metric>: ...}``), ``summary.json`` (final numbers).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import secrets
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from orals23_shared.checkpoint import _json_default, atomic_write_bytes, atomic_write_json

T = TypeVar("T")

__all__ = ["RunLogger", "make_run_dir", "environment_info", "read_metrics"]

_TRACKED = (
    "numpy",
    "torch",
    "jax",
    "jaxlib",
    "flax",
    "torch-geometric",
    "e3nn",
    "lightning",
    "gymnasium",
    "scikit-learn",
    "scipy",
    "orals23-shared",
)


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment_info(seed: int | None = None, extra_packages: Iterable[str] = ()) -> dict[str, Any]:
    versions: dict[str, str] = {}
    for name in (*_TRACKED, *extra_packages):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "hostname": platform.node(),
        "packages": versions,
        "git_commit": _git_commit(Path(__file__).resolve().parent),
        "seed": seed,
        "argv": sys.argv,
    }


def make_run_dir(
    root: str | os.PathLike,
    experiment: str,
    config: dict[str, Any] | None = None,
    seed: int | None = None,
    exact: bool = False,
) -> Path:
    """Create ``root/<experiment>/<timestamp>-<id>/`` (or ``root`` itself when ``exact``).

    ``exact=True`` is for a CLI's ``--out RUN`` that names the run folder directly (and for
    ``--resume``, where the folder exists already: config.json is then kept, not overwritten).
    """
    if exact:
        run = Path(root)
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run = Path(root) / experiment / f"{stamp}-{secrets.token_hex(3)}"
    run.mkdir(parents=True, exist_ok=True)
    if config is not None and not (run / "config.json").exists():
        atomic_write_json(run / "config.json", config)
    atomic_write_json(run / "env.json", environment_info(seed))
    return run


class RunLogger:
    """Append-only JSONL metrics, optional TensorBoard scalars, and a tqdm progress bar.

    The progress bar is off when ``quiet`` or when stderr is not a TTY (CI logs stay clean).
    TensorBoard is used when ``tensorboard=True`` and a ``SummaryWriter`` is importable
    (``torch.utils.tensorboard`` or ``tensorboardX``); otherwise it is silently skipped.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        quiet: bool = False,
        tensorboard: bool = False,
        resume_step: int | None = None,
    ) -> None:
        """``resume_step``: the step of the checkpoint a resumed run continues from; records logged after
        it by the killed run are dropped (they are logged again), so a resumed run's metrics equal an
        uninterrupted run's. Pass -1 when a resumed folder had no checkpoint (the run restarts)."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet
        path = self.run_dir / "metrics.jsonl"
        self.dropped_tail = _drop_torn_tail(path)
        if resume_step is not None and path.exists():
            kept = [r for r in read_metrics(self.run_dir) if r.get("step", -1) <= resume_step]
            atomic_write_bytes(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in kept).encode())
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._t0 = time.time()
        self._tb = _summary_writer(self.run_dir / "tensorboard") if tensorboard else None
        self._bar = None

    # -- logging -----------------------------------------------------------------------------
    def log(self, step: int, **metrics: Any) -> None:
        record = {"step": int(step), "time": round(time.time() - self._t0, 4), **metrics}
        self._file.write(json.dumps(record, default=_json_default) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
        if self._bar is not None:
            shown = {k: f"{v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float))}
            self._bar.set_postfix(shown, refresh=False)

    def summary(self, **values: Any) -> Path:
        """Merge ``values`` into ``summary.json`` (atomic)."""
        path = self.run_dir / "summary.json"
        current: dict[str, Any] = {}
        if path.exists():
            current = json.loads(path.read_text())
        current.update(values)
        current.setdefault("seconds", round(time.time() - self._t0, 3))
        return atomic_write_json(path, current)

    def progress(self, iterable: Iterable[T], total: int | None = None, desc: str | None = None) -> Iterator[T]:
        enabled = not self.quiet and sys.stderr.isatty()
        if not enabled:
            yield from iterable
            return
        from tqdm.auto import tqdm

        with tqdm(iterable, total=total, desc=desc, leave=False) as bar:
            self._bar = bar
            try:
                yield from bar
            finally:
                self._bar = None

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _summary_writer(path: Path):  # noqa: ANN202
    try:
        from torch.utils.tensorboard import SummaryWriter  # type: ignore[import-not-found]

        return SummaryWriter(str(path))
    except Exception:
        try:
            from tensorboardX import SummaryWriter  # type: ignore[import-not-found]

            return SummaryWriter(str(path))
        except Exception:
            return None


def _drop_torn_tail(path: Path) -> str | None:
    """Cut a torn last line (a killed writer's half record) off ``path`` before appending to it.

    Returns the dropped text (also reported on stderr), or None when the file ends cleanly.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return None
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
    dropped = data[keep:].decode("utf-8", errors="replace")
    print(f"orals23: dropped a torn last line of {path} ({len(dropped)} bytes) before resuming", file=sys.stderr)
    return dropped


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``metrics.jsonl`` back; a line that is not JSON (a torn write) is skipped and reported."""
    rows = []
    path = Path(run_dir) / "metrics.jsonl"
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{lineno}: skipped a line that is not JSON (a torn write)", stacklevel=2)
    return rows
