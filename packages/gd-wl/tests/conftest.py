"""Shared fixtures: one thread (tiny graphs; the machine is shared) and small graphs as edge-list files."""

from __future__ import annotations

import pickle

import networkx as nx
import numpy as np
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


def _write_zinc(root, n_mols=6, subset=(0, 2, 4)):
    """Tiny files in the benchmarking-gnns format: a pickled list of dicts of tensors + an index file."""
    rng = np.random.default_rng(0)
    mols = []
    for _ in range(n_mols):
        n = int(rng.integers(5, 12))
        tree = nx.random_labeled_tree(n, seed=int(rng.integers(1000)))
        tree.add_edge(0, n - 1)  # one ring
        bonds = torch.zeros(n, n, dtype=torch.long)
        for u, v in tree.edges():
            bonds[u, v] = bonds[v, u] = int(rng.integers(1, 4))
        mols.append({"atom_type": torch.tensor(rng.integers(0, 28, n)), "bond_type": bonds,
                     "logP_SA_cycle_normalized": torch.tensor([float(rng.normal())])})  # fmt: skip
    for split in ("train", "val", "test"):
        with open(root / f"{split}.pickle", "wb") as f:
            pickle.dump(mols, f)
        (root / f"{split}.index").write_text(",".join(map(str, subset)) + "\n")
    return mols


@pytest.fixture
def write_zinc():
    """ZINC files in the benchmarking-gnns format, written by the test (``write_zinc(folder, ...)``)."""
    return _write_zinc
