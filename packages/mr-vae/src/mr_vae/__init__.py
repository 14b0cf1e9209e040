"""Multi-Rate VAE (Bae et al., ICLR 2023): one training run gives the whole rate-distortion curve.

A response hypernetwork gates every hidden layer's pre-activation by the standardised log beta (sigmoid gates in
the encoder, ``sqrt(relu(1 - exp(.)))`` gates in the decoder); beta is sampled log-uniformly per example and the
loss is ``D + beta R``. The same code trains plain beta-VAEs (gates off, fixed beta) as the baseline.
"""

from mr_vae.config import TrainConfig
from mr_vae.data import ImageData, load_data, load_digits_images, load_image_folder, read_idx, write_idx
from mr_vae.evaluate import beta_grid, monotone_steps, rate_distortion, rd_curve, weighted_loss
from mr_vae.linear import closed_form, closed_form_curve, optimal_parameters, spectrum
from mr_vae.model import VAE, BetaRange, Gates, LinearVAE, gaussian_kl, sigmoid_gate, sqrt_gate

_LAZY = {"VAEModule", "load_run", "train"}  # from mr_vae.train, which imports Lightning


def __getattr__(name: str):  # noqa: ANN202
    if name in _LAZY:
        import mr_vae.train

        return getattr(mr_vae.train, name)
    raise AttributeError(f"module 'mr_vae' has no attribute {name!r}")


__all__ = [
    "VAE",
    "BetaRange",
    "Gates",
    "ImageData",
    "LinearVAE",
    "TrainConfig",
    "VAEModule",
    "beta_grid",
    "closed_form",
    "closed_form_curve",
    "gaussian_kl",
    "load_data",
    "load_digits_images",
    "load_image_folder",
    "load_run",
    "monotone_steps",
    "optimal_parameters",
    "rate_distortion",
    "rd_curve",
    "read_idx",
    "sigmoid_gate",
    "spectrum",
    "sqrt_gate",
    "train",
    "weighted_loss",
    "write_idx",
]
