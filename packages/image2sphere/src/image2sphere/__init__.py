"""image2sphere: Image2Sphere (Klee, Biza, Platt, Walters, ICLR 2023) -- equivariant pose distributions on SO(3).

An image encoder, an orthographic projection of its features onto a HEALPix hemisphere, an S2
convolution to SO(3), an SO(3) activation and an SO(3) convolution give the Fourier coefficients of a
distribution over rotations, queried on any SO(3) HEALPix grid. Includes an offline renderer of
SYMSOL-like symmetric shapes and loaders for SYMSOL and ModelNet10-SO(3).
"""

from image2sphere.data import PoseData, load_modelnet10, load_symsol, rendered_dataset
from image2sphere.evaluate import count_modes, evaluate
from image2sphere.model import (
    I2S,
    I2SConfig,
    ResNet,
    RotationGrid,
    S2Convolution,
    SmallCNN,
    SO3Convolution,
    SpatialS2Projector,
)
from image2sphere.render import SHAPES, make_shape, render, symmetry_group
from image2sphere.so3 import (
    flat_wigner,
    healpix_pix2ang,
    nearest_rotation,
    rotation_error,
    s2_healpix_grid,
    so3_healpix_grid,
    symmetric_rotation_error,
)
from image2sphere.train import TrainConfig, load_model, train

__version__ = "0.1.0"

__all__ = [
    "I2S",
    "I2SConfig",
    "PoseData",
    "ResNet",
    "RotationGrid",
    "S2Convolution",
    "SHAPES",
    "SO3Convolution",
    "SmallCNN",
    "SpatialS2Projector",
    "TrainConfig",
    "count_modes",
    "evaluate",
    "flat_wigner",
    "healpix_pix2ang",
    "load_model",
    "load_modelnet10",
    "load_symsol",
    "make_shape",
    "nearest_rotation",
    "render",
    "rendered_dataset",
    "rotation_error",
    "s2_healpix_grid",
    "so3_healpix_grid",
    "symmetric_rotation_error",
    "symmetry_group",
    "train",
]
