"""The one place that resolves the team data folder (``../shared/data`` beside the checkout).

Tests read real datasets from there; packages never need it to install or run on user data.
Override with the environment variable ``ORALS23_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ORALS23_DATA"


def _repo_root(start: Path) -> Path | None:
    for parent in [start, *start.parents]:
        if (parent / "noxfile.py").is_file() and (parent / "shared" / "pyproject.toml").is_file():
            return parent
    return None


def shared_data_dir(name: str | None = None) -> Path | None:
    """Path to ``shared/data`` (or its subfolder ``name``), or None when it is not there."""
    env = os.environ.get(ENV_VAR)
    candidates: list[Path] = []
    if env:
        candidates.append(Path(env))
    else:
        for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
            root = _repo_root(start)
            if root is not None:
                candidates.append(root.parent / "shared" / "data")
    for base in candidates:
        path = base / name if name else base
        if path.exists():
            return path
    return None


def require_shared_data(name: str) -> Path:
    """Like ``shared_data_dir`` but for tests: skip the calling test with the reason when absent."""
    path = shared_data_dir(name)
    if path is None:
        import pytest

        pytest.skip(f"shared data '{name}' not found (set {ENV_VAR} or place the checkout beside shared/)")
    return path
