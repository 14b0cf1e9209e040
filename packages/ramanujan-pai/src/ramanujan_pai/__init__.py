"""ramanujan-pai: pruning at initialization through the lens of Ramanujan graphs.

Hoang, Liu, Marculescu, Wang, "Revisiting Pruning at Initialization through the Lens of Ramanujan
Graph", ICLR 2023 (official code VITA-Group/ramanujan-on-pai).
"""

from ramanujan_pai.graph import imdb, layer_metrics, model_metrics, narc, ramanujan_bound, top_singular_values
from ramanujan_pai.prune import METHODS, apply_masks, erk_densities, prune

__all__ = [
    "METHODS",
    "apply_masks",
    "erk_densities",
    "imdb",
    "layer_metrics",
    "model_metrics",
    "narc",
    "prune",
    "ramanujan_bound",
    "top_singular_values",
]
