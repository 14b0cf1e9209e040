"""One run-folder policy for every training CLI: a used ``--out`` never mixes two runs.

    run, resumed = prepare_run_dir(cfg.out, asdict(cfg), resume=cfg.resume, overwrite=cfg.overwrite)

* ``--out`` missing or empty: a new run (``config.json`` and ``env.json`` written).
* ``--out`` holds a run (it has ``config.json``) and neither flag is given: refused with one line.
* ``--overwrite``: the old run's folder is emptied first (only a run folder: a non-empty folder without
  ``config.json`` is never deleted).
* ``--resume``: continues the run; refused with one line when the given config differs from the saved
  one in a field that changes the model (every field except the ``free`` ones: where the output goes,
  how long to train, how to log, which device and threads). Nothing to resume starts a new run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orals23_shared.checkpoint import _json_default, atomic_write_json
from orals23_shared.cli import UsageError
from orals23_shared.runs import environment_info

__all__ = ["FREE_FIELDS", "config_differences", "holds_run", "is_worker_process", "jsonable", "prepare_run_dir"]

#: Config fields that may differ between a run and its resumption (they do not change the model).
FREE_FIELDS: frozenset[str] = frozenset(
    {
        "out",
        "resume",
        "overwrite",
        "config",
        "quiet",
        "device",
        "accelerator",
        "devices",
        "num_nodes",
        "strategy",
        "threads",
        "num_workers",
        "progress",
        "epochs",
        "max_epochs",
        "steps",
        "max_steps",
        "total_timesteps",
        "log_every",
        "eval_every",
        "checkpoint_every",
        "keep_checkpoints",
    }
)


def holds_run(folder: str | os.PathLike) -> bool:
    """A folder holds a run when it has the ``config.json`` every run writes first."""
    return (Path(folder) / "config.json").is_file()


def jsonable(config: Any) -> Any:
    """A config (dict or dataclass) as JSON would store it: tuples as lists, paths as strings.

    Use it for a config that goes anywhere JSON-like (a checkpoint's ``hyper_parameters``, a log record).
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return json.loads(json.dumps(config, default=_json_default))


def is_worker_process() -> bool:
    """A distributed child process (DDP, torchrun, SLURM) other than global rank 0.

    Lightning relaunches the training command in each child with these variables set; only rank 0
    prepares the run folder and logs.
    """
    names = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return any(int(os.environ.get(v, "0") or 0) > 0 for v in names)


def config_differences(saved: dict[str, Any], given: dict[str, Any], free: Iterable[str] = FREE_FIELDS) -> list[str]:
    """``field (saved X, given Y)`` for every non-free field whose value differs."""
    free = set(free)
    saved, given = jsonable(saved), jsonable(given)
    out = []
    for key in sorted(set(saved) | set(given)):
        if key in free:
            continue
        a, b = saved.get(key, "<absent>"), given.get(key, "<absent>")
        if a != b:
            out.append(f"{key} (saved {a!r}, given {b!r})")
    return out


def prepare_run_dir(
    out: str | os.PathLike,
    config: dict[str, Any],
    *,
    resume: bool = False,
    overwrite: bool = False,
    free: Iterable[str] = FREE_FIELDS,
    seed: int | None = None,
) -> tuple[Path, bool]:
    """Apply the policy to ``out`` and return ``(run folder, resumed)``; bad requests raise ``UsageError``.

    ``config`` is a dict or a config dataclass (stored through :func:`jsonable`).
    """
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other: continue the run or start it over")
    run = Path(out)
    if run.exists() and not run.is_dir():
        raise UsageError(f"--out {run} is a file, not a run folder")
    non_empty = run.is_dir() and any(run.iterdir())
    resumed = False
    if non_empty and not holds_run(run):
        raise UsageError(f"--out {run} is not empty and holds no run (no config.json); choose another folder")
    if non_empty and resume:
        saved = json.loads((run / "config.json").read_text())
        diffs = config_differences(saved, config, free)
        if diffs:
            raise UsageError(f"--resume: the config differs from the saved run in {'; '.join(diffs)}")
        resumed = True
    elif non_empty and overwrite:
        shutil.rmtree(run)
    elif non_empty:
        raise UsageError(f"--out {run} already holds a run; pass --resume to continue it or --overwrite to replace it")
    elif resume:
        print(f"orals23: nothing to resume in {run}; starting a new run", file=sys.stderr)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run / "config.json", jsonable(config))
    atomic_write_json(run / "env.json", environment_info(seed))
    return run, resumed
