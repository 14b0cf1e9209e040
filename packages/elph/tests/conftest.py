"""Shared fixtures: one thread per test process, a small ring-lattice graph written as an edge list."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from elph.data import ring_lattice_edges
from orals23_shared.threads import ENV_VAR, set_threads


@pytest.fixture(autouse=True)
def _threads(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")  # tiny graphs: the CLIs' default thread count becomes 1 too
    set_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def edge_file(tmp_path: Path) -> Path:
    edges = ring_lattice_edges(160, 6, 0.1, seed=1)
    path = tmp_path / "graph.txt"
    lines = ["# ring lattice with 10% rewired edges"] + [f"{u} {v}" for u, v in edges]
    path.write_text("\n".join(lines) + "\n")
    return path
