"""relreps: relative representations enable zero-shot latent space communication (Moschella et al., ICLR 2023).

The relative projection (``RelativeProjection``, ``relative_projection``), anchor choices, models with an absolute
or a relative head, zero-shot stitching and latent-space similarity metrics. See the package README.
"""

from relreps.anchors import (
    ParallelAnchors,
    farthest_point_anchors,
    read_anchor_ids,
    select_anchors,
    stratified_anchors,
    uniform_anchors,
)
from relreps.metrics import (
    compare_spaces,
    jaccard_at_k,
    linear_cka,
    mean_cosine,
    mrr_at_k,
    rbf_cka,
)
from relreps.model import (
    CNNEncoder,
    EmbeddingEncoder,
    FrozenEncoder,
    LatentModel,
    MLPEncoder,
    RelativeModel,
)
from relreps.projection import RelativeProjection, check_anchor_count, relative_projection
from relreps.stitching import stitched_forward

__all__ = [
    "CNNEncoder",
    "EmbeddingEncoder",
    "FrozenEncoder",
    "LatentModel",
    "MLPEncoder",
    "ParallelAnchors",
    "RelativeModel",
    "RelativeProjection",
    "check_anchor_count",
    "compare_spaces",
    "farthest_point_anchors",
    "jaccard_at_k",
    "linear_cka",
    "mean_cosine",
    "mrr_at_k",
    "rbf_cka",
    "read_anchor_ids",
    "relative_projection",
    "select_anchors",
    "stitched_forward",
    "stratified_anchors",
    "uniform_anchors",
]
