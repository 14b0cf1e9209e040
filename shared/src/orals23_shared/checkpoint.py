"""Atomic checkpoint files: a run that is killed mid-write keeps its previous checkpoint.

The writer goes to a temp file in the *same folder* (so ``os.replace`` is an atomic rename on the
same filesystem), is flushed and fsynced, then renamed over the target. Framework-free: pass a
callable that writes to a binary file object, e.g. ``atomic_save(path, lambda f: torch.save(state, f))``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_save", "atomic_write_bytes", "atomic_write_json", "latest", "checkpoint_path"]


def atomic_save(path: str | os.PathLike, writer: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically by calling ``writer(fileobj)`` on a temp file, then renaming it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_save(path, lambda f: f.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def checkpoint_path(folder: str | os.PathLike, step: int, suffix: str = ".pt") -> Path:
    """Canonical name ``ckpt-<step:08d><suffix>`` so ``latest`` can find the newest by step."""
    return Path(folder) / f"ckpt-{step:08d}{suffix}"


_CKPT = re.compile(r"^ckpt-(\d+)(\.[A-Za-z0-9.]+)?$")


def latest(folder: str | os.PathLike, suffix: str | None = None) -> Path | None:
    """The checkpoint with the highest step in ``folder`` (names ``ckpt-<step>.*``), or None.

    Temp files of interrupted writes (``.ckpt-*.tmp``) are never returned.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for p in folder.iterdir():
        m = _CKPT.match(p.name)
        if not m or (suffix is not None and p.suffix != suffix):
            continue
        step = int(m.group(1))
        if best is None or step > best[0]:
            best = (step, p)
    return None if best is None else best[1]
