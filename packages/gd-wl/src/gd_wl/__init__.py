"""GD-WL and Graphormer-GD (Zhang, Luo, Wang, He: "Rethinking the Expressive Power of GNNs via Graph
Biconnectivity", ICLR 2023) in PyTorch Geometric.

Names are re-exported lazily, so ``gd-wl-biconnectivity`` and ``gd-wl-test-iso`` do not pay for importing
PyTorch Geometric and Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Graph": "gd_wl.graph",
    "read_edge_list": "gd_wl.graph",
    "parse_edge_list": "gd_wl.graph",
    "write_edge_list": "gd_wl.graph",
    "Biconnectivity": "gd_wl.biconnectivity",
    "biconnectivity": "gd_wl.biconnectivity",
    "edge_biconnected_components": "gd_wl.biconnectivity",
    "resistance_distance": "gd_wl.distances",
    "resistance_distances": "gd_wl.distances",
    "shortest_path_distance": "gd_wl.distances",
    "ResistanceDistance": "gd_wl.distances",
    "ShortestPathDistance": "gd_wl.distances",
    "ShortestPathEdges": "gd_wl.distances",
    "precompute": "gd_wl.distances",
    "refine": "gd_wl.wl",
    "distinguishes": "gd_wl.wl",
    "test_isomorphism": "gd_wl.wl",
    "counterexample_pairs": "gd_wl.data",
    "synthetic_dataset": "gd_wl.data",
    "load_zinc": "gd_wl.data",
    "load_pyg_list": "gd_wl.data",
    "ModelConfig": "gd_wl.model",
    "GraphModel": "gd_wl.model",
    "GraphormerGD": "gd_wl.model",
    "TrainConfig": "gd_wl.train",
    "train": "gd_wl.train",
    "load_run": "gd_wl.train",
    "evaluate": "gd_wl.tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gd_wl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
