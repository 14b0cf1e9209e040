"""Shared fixtures: one thread (tiny graphs; the machine is shared) and small graphs as edge-list files."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def write_edges(tmp_path):
    """Write an edge-list file from text and return its path."""

    def write(name: str, text: str):
        p = tmp_path / name
        p.write_text(text)
        return p

    return write
