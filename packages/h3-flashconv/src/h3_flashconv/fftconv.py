"""FlashConv reference paths in pure PyTorch (H3 paper, Section 4; Fu, Dao et al., ICLR 2023).

This module never imports the CUDA extension (see ``cuda_ext.py``): it is the reference that the fused
kernel is checked against, and the default path everywhere in the package.

* ``fftconv_ref`` -- the causal long convolution ``y = K * u + D u`` computed as
  ``irfft(rfft(u, n) . rfft(K, n), n)[:L]`` with ``n >= L + L_K - 1`` (paper Section 4, "FFT convolution").
  Zero padding to ``n`` turns the circular convolution into a linear one, and cropping to the first ``L``
  outputs is what makes it causal: with ``n < L + L_K - 1`` the circular wrap would leak future tokens.
* ``direct_causal_conv`` -- the same convolution as an O(L^2) sum ``y_t = sum_{j<=t} K_j u_{t-j}``
  (the exact reference the FFT path is tested against).
* ``block_fft`` / ``block_fft_conv`` -- the block FFT of Section 4.1: for ``N = N1 * N2`` the DFT matrix
  factorises as ``F_N = P (I_{N2} (x) F_{N1}) P^T T (I_{N1} (x) F_{N2}) P`` (``T`` the twiddle diagonal,
  ``P`` a reshape/transpose), i.e. the FFT is two stages of dense batched DFT matrix multiplies with a
  pointwise twiddle between them. That is the formulation that maps to tensor cores (matmul units).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from orals23_shared.cli import UsageError

__all__ = [
    "fftconv_ref",
    "direct_causal_conv",
    "dft_matrix",
    "block_fft",
    "block_fft_conv",
    "split_fft_size",
    "default_fft_size",
    "check_fft_size",
]


def default_fft_size(seqlen: int, kernel_len: int | None = None, power_of_two: bool = False) -> int:
    """Smallest FFT size with no circular wrap: ``L + L_K`` rounded up to even (torch path, as the official
    code) or ``max(16, next_pow2(2L))`` (the fused kernel's rule)."""
    kernel_len = seqlen if kernel_len is None else kernel_len
    if power_of_two:
        return max(16, 1 << (2 * max(seqlen, kernel_len) - 1).bit_length())
    n = seqlen + kernel_len
    return n + n % 2


def check_fft_size(n: int, seqlen: int, kernel_len: int) -> None:
    """Raise ``UsageError`` unless ``n`` is an even FFT size that turns the circular conv into a causal one."""
    if not isinstance(n, int) or n <= 0:
        raise UsageError(f"FFT size must be a positive integer, got {n!r}")
    if n % 2:
        raise UsageError(f"FFT size must be even (real FFT of half length + 1 bins), got {n}")
    if n < seqlen + kernel_len - 1:
        raise UsageError(
            f"FFT size {n} is too small for sequence length {seqlen} and kernel length {kernel_len}: "
            f"need n >= L + L_K - 1 = {seqlen + kernel_len - 1}, otherwise the circular wrap leaks future tokens"
        )


def _check_conv_shapes(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None) -> None:
    if u.dim() < 2:
        raise UsageError(f"u must have shape (..., H, L), got {tuple(u.shape)}")
    if k.dim() != 2 or k.shape[0] != u.shape[-2]:
        raise UsageError(f"kernel must have shape (H, L_K) with H = {u.shape[-2]}, got {tuple(k.shape)}")
    if D is not None and D.shape != (u.shape[-2],):
        raise UsageError(f"D must have shape (H,) = ({u.shape[-2]},), got {tuple(D.shape)}")


def fftconv_ref(
    u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None = None, fft_size: int | None = None
) -> torch.Tensor:
    """Causal FFT convolution ``y[..., h, t] = sum_{j<=t} k[h, j] u[..., h, t-j] + D[h] u[..., h, t]``.

    ``u``: (..., H, L); ``k``: (H, L_K) with any ``L_K`` (kernels longer than ``L`` are cropped);
    ``D``: (H,) or None. ``fft_size`` defaults to ``L + L_K`` and must be >= ``L + L_K - 1``.
    """
    _check_conv_shapes(u, k, D)
    L = u.shape[-1]
    k = k[..., :L]
    n = default_fft_size(L, k.shape[-1]) if fft_size is None else fft_size
    check_fft_size(n, L, k.shape[-1])
    dtype = torch.promote_types(u.dtype, k.dtype)
    u_f = torch.fft.rfft(u.to(dtype), n=n)
    k_f = torch.fft.rfft(k.to(dtype), n=n)
    y = torch.fft.irfft(u_f * k_f, n=n)[..., :L]
    if D is not None:
        y = y + D.unsqueeze(-1).to(dtype) * u
    return y


def direct_causal_conv(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None = None) -> torch.Tensor:
    """The O(L^2) reference: a depthwise causal ``conv1d`` (left zero padding, flipped kernel)."""
    _check_conv_shapes(u, k, D)
    L = u.shape[-1]
    k = k[..., :L]
    H, Lk = k.shape
    batch_shape = u.shape[:-2]
    x = u.reshape(-1, H, L)
    dtype = torch.promote_types(u.dtype, k.dtype)
    y = F.conv1d(F.pad(x.to(dtype), (Lk - 1, 0)), k.flip(-1).unsqueeze(1).to(dtype), groups=H)
    y = y.reshape(*batch_shape, H, L)
    if D is not None:
        y = y + D.unsqueeze(-1).to(dtype) * u
    return y


@lru_cache(maxsize=64)
def _dft_cached(n: int, inverse: bool, dtype: torch.dtype, device: str) -> torch.Tensor:
    idx = torch.arange(n, dtype=torch.float64)
    sign = 1.0 if inverse else -1.0
    # exponent taken mod n in integers first, so large n keeps full precision
    jk = torch.outer(idx, idx).remainder(n)
    w = torch.polar(torch.ones(n, n, dtype=torch.float64), sign * 2 * math.pi * jk / n)
    return w.to(dtype=dtype, device=device)


def dft_matrix(
    n: int, inverse: bool = False, dtype: torch.dtype = torch.complex64, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Dense DFT matrix ``F[j, k] = exp(-+ 2 pi i j k / n)`` (unnormalised)."""
    return _dft_cached(int(n), bool(inverse), dtype, str(torch.device(device)))


@lru_cache(maxsize=64)
def _twiddle_cached(n1: int, n2: int, inverse: bool, dtype: torch.dtype, device: str) -> torch.Tensor:
    k1 = torch.arange(n1, dtype=torch.float64)
    m2 = torch.arange(n2, dtype=torch.float64)
    sign = 1.0 if inverse else -1.0
    prod = torch.outer(k1, m2).remainder(n1 * n2)
    return torch.polar(torch.ones(n1, n2, dtype=torch.float64), sign * 2 * math.pi * prod / (n1 * n2)).to(
        dtype=dtype, device=device
    )


def split_fft_size(n: int) -> tuple[int, int]:
    """Factor ``n = n1 * n2`` with ``n1`` the largest divisor <= sqrt(n) (balanced blocks)."""
    if not isinstance(n, int) or n < 1:
        raise UsageError(f"FFT size must be a positive integer, got {n!r}")
    n1 = int(math.isqrt(n))
    while n % n1:
        n1 -= 1
    return n1, n // n1


def block_fft(x: torch.Tensor, n1: int | None = None, inverse: bool = False) -> torch.Tensor:
    """DFT over the last axis as two stages of dense DFT matmuls (paper Section 4.1).

    With ``N = N1 N2``, input index ``m = N2 m1 + m2`` and output index ``k = k1 + N1 k2``::

        X[k1 + N1 k2] = sum_{m2} W_{N2}^{m2 k2} W_N^{m2 k1} sum_{m1} W_{N1}^{m1 k1} x[N2 m1 + m2]

    stage 1: ``F_{N1} @ x.view(N1, N2)``; twiddle ``W_N^{k1 m2}``; stage 2: ``@ F_{N2}``; then a transpose
    (the permutation ``P``). ``inverse=True`` gives ``ifft`` (conjugate matrices, divided by ``N``).
    """
    N = x.shape[-1]
    if n1 is None:
        n1, n2 = split_fft_size(N)
    else:
        if n1 < 1 or N % n1:
            raise UsageError(f"block FFT: N1 = {n1} does not divide the FFT length N = {N}")
        n2 = N // n1
    cdtype = torch.complex128 if x.dtype in (torch.float64, torch.complex128) else torch.complex64
    xc = x.to(cdtype).reshape(*x.shape[:-1], n1, n2)
    dev = str(x.device)
    f1 = _dft_cached(n1, inverse, cdtype, dev)
    f2 = _dft_cached(n2, inverse, cdtype, dev)
    tw = _twiddle_cached(n1, n2, inverse, cdtype, dev)
    a = torch.matmul(f1, xc) * tw  # (.., k1, m2)
    b = torch.matmul(a, f2)  # (.., k1, k2); f2 is symmetric
    out = b.transpose(-1, -2).reshape(*x.shape[:-1], N)  # index k2 * N1 + k1
    if inverse:
        out = out / N
    return out


def block_fft_conv(
    u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None = None, fft_size: int | None = None, n1: int | None = None
) -> torch.Tensor:
    """``fftconv_ref`` with every FFT replaced by the two-stage block FFT (``fft_size`` power of 2 by default)."""
    _check_conv_shapes(u, k, D)
    L = u.shape[-1]
    k = k[..., :L]
    n = default_fft_size(L, k.shape[-1], power_of_two=True) if fft_size is None else fft_size
    check_fft_size(n, L, k.shape[-1])
    u_f = block_fft(F.pad(u, (0, n - L)), n1)
    k_f = block_fft(F.pad(k, (0, n - k.shape[-1])), n1)
    y = block_fft(u_f * k_f, n1, inverse=True).real[..., :L]
    y = y.to(torch.promote_types(u.dtype, k.dtype))
    if D is not None:
        y = y + D.unsqueeze(-1).to(y.dtype) * u
    return y
