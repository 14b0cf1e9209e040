"""Shared fixtures: a tiny triple folder in the real TSV format, and one thread per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from expressive.data import synthetic_kg, write_kg


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)  # tiny models: one thread avoids oversubscribing a shared machine
    torch.manual_seed(0)


def write_triples(path: Path, rows: list[tuple[str, str, str]], newline: str = "\n") -> Path:
    path.write_text("".join(f"{h}\t{r}\t{t}{newline}" for h, r, t in rows), encoding="utf-8")
    return path


@pytest.fixture(name="write_triples")
def _write_triples_fixture():
    return write_triples


@pytest.fixture
def tiny_kg_dir(tmp_path: Path) -> Path:
    """A random KG of 30 entities and 3 relations written as train/valid/test.txt."""
    rng = np.random.default_rng(0)
    triples = {(f"e{rng.integers(30)}", f"r{rng.integers(3)}", f"e{rng.integers(30)}") for _ in range(260)}
    triples = sorted(triples)
    order = rng.permutation(len(triples))
    folder = tmp_path / "kg"
    folder.mkdir()
    write_triples(folder / "train.txt", [triples[i] for i in order[:-40]])
    write_triples(folder / "valid.txt", [triples[i] for i in order[-40:-20]])
    write_triples(folder / "test.txt", [triples[i] for i in order[-20:]])
    return folder


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    write_kg(synthetic_kg(60, seed=0).kg, folder)
    return folder
