"""h3-flashconv: H3 (Hungry Hungry Hippos, Fu, Dao et al., ICLR 2023) with FlashConv in PyTorch.

* ``fftconv`` -- reference FFT convolution, direct O(L^2) convolution, block FFT (Section 4.1);
* ``ssm`` -- diagonal (S4D-Lin, bilinear) and shift SSMs with conv / recurrent / state-passing modes (Section 4.2);
* ``model`` -- the H3 layer (Algorithm 1), S4D and attention mixers, H3 / hybrid / Transformer / S4D LMs, generation;
* ``cuda_ext`` -- opt-in fused CUDA FFT-conv kernel (``H3_FLASHCONV_CUDA=1``), never imported by the reference;
* ``data`` / ``train`` -- char/byte corpora and synthetic languages; Lightning training.
"""

from h3_flashconv.fftconv import block_fft, block_fft_conv, direct_causal_conv, fftconv_ref
from h3_flashconv.model import H3, CausalSelfAttention, LanguageModel, ModelConfig, S4DLayer, generate
from h3_flashconv.ssm import DiagSSM, ShiftSSM

__all__ = [
    "fftconv_ref",
    "direct_causal_conv",
    "block_fft",
    "block_fft_conv",
    "DiagSSM",
    "ShiftSSM",
    "H3",
    "S4DLayer",
    "CausalSelfAttention",
    "LanguageModel",
    "ModelConfig",
    "generate",
]
__version__ = "0.1.0"
