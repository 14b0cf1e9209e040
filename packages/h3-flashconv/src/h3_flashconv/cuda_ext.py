"""Opt-in loader of the fused FlashConv CUDA kernel (``csrc/fftconv.cu``; paper Section 4, "FlashConv").

The kernel fuses, per (batch, channel) row: optional input gating ``u <- u * v`` (H3's ``k (.) v``), the FFT,
the pointwise product with the kernel's spectrum, the inverse FFT, the skip term ``D u`` and the optional output
gating by ``q`` -- one pass over global memory. It is compiled just in time with ``torch.utils.cpp_extension``
the first time it is asked for, and only when the switch is on::

    H3_FLASHCONV_CUDA=1   (environment)    or   conv_impl="cuda"  (model / layer option)

The default path everywhere is the pure-PyTorch reference in ``fftconv.py``. The backward pass of the fused
op is the reference's (recomputed with autograd), so training through it is exact but not faster.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from orals23_shared.cli import UsageError

__all__ = ["SWITCH", "cuda_source_dir", "cuda_enabled", "load_extension", "fftconv_cuda", "MAX_FFT_SIZE"]

SWITCH = "H3_FLASHCONV_CUDA"
MAX_FFT_SIZE = 16384
_EXT = None


def cuda_source_dir() -> Path:
    """Folder with ``fftconv.cu`` (inside the installed package, or ``csrc/`` of a source checkout)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "csrc", here.parents[1] / "csrc"):
        if (cand / "fftconv.cu").is_file():
            return cand
    raise UsageError(f"the CUDA source fftconv.cu was not found next to {here} (a broken install?)")


def cuda_enabled() -> bool:
    return os.environ.get(SWITCH, "0").lower() in ("1", "true", "yes", "on")


def load_extension(verbose: bool = False):
    """Compile (first call) and return the extension module; clear ``UsageError`` when it cannot be used."""
    global _EXT
    if _EXT is not None:
        return _EXT
    if not torch.cuda.is_available():
        raise UsageError(
            f"the fused CUDA FFT conv was requested ({SWITCH}=1 or conv_impl='cuda') but no CUDA device "
            "is available; unset it to use the PyTorch reference path"
        )
    from torch.utils.cpp_extension import load

    src = cuda_source_dir()
    _EXT = load(name="h3_flashconv_cuda", sources=[str(src / "fftconv.cu")], extra_cuda_cflags=["-O3"], verbose=verbose)
    return _EXT


class _FusedFFTConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, k, D, v, q):
        ext = load_extension()
        L = u.shape[-1]
        n = max(16, 1 << (2 * L - 1).bit_length())
        if n > MAX_FFT_SIZE:
            raise UsageError(
                f"the fused CUDA FFT conv supports L <= {MAX_FFT_SIZE // 2}, got L = {L}; "
                "use state passing (chunk_size) for longer sequences"
            )
        k_f = torch.fft.fft(k.float(), n=n)  # (H, n) complex64, the kernel's spectrum (done in torch)
        shape = u.shape
        u3 = u.reshape(-1, shape[-2], L).float().contiguous()
        v3 = v.reshape(u3.shape).float().contiguous() if v is not None else None
        q3 = q.reshape(u3.shape).float().contiguous() if q is not None else None
        Dv = D.float().contiguous() if D is not None else torch.zeros(shape[-2], device=u.device)
        stream = torch.cuda.current_stream(u.device).cuda_stream
        y = ext.fftconv_fwd(u3, torch.view_as_real(k_f).contiguous(), Dv, v3, q3, n, stream)
        ctx.save_for_backward(u, k, D, v, q)
        return y.reshape(shape).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        u, k, D, v, q = ctx.saved_tensors
        with torch.enable_grad():
            ins = [t.detach().requires_grad_(t.requires_grad) if t is not None else None for t in (u, k, D, v, q)]
            y = reference_gated_conv(*ins)
            needed = [t for t in ins if t is not None and t.requires_grad]
            grads = iter(torch.autograd.grad(y, needed, grad, allow_unused=True))
        return tuple(next(grads) if (t is not None and t.requires_grad) else None for t in ins)


def reference_gated_conv(u, k, D=None, v=None, q=None):
    """What the fused kernel computes, in PyTorch: ``q * (K * (u v) + D (u v))``."""
    from h3_flashconv.fftconv import fftconv_ref

    x = u * v if v is not None else u
    y = fftconv_ref(x, k, D)
    return y * q if q is not None else y


def fftconv_cuda(
    u: torch.Tensor,
    k: torch.Tensor,
    D: torch.Tensor | None = None,
    v: torch.Tensor | None = None,
    q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fused ``q * (K * (u v) + D (u v))`` on CUDA; u, v, q: (..., H, L), k: (H, L_K <= L), D: (H,)."""
    if not u.is_cuda:
        raise UsageError(f"the fused CUDA FFT conv needs CUDA tensors, got device {u.device}; unset {SWITCH}")
    k = torch.nn.functional.pad(k[..., : u.shape[-1]], (0, max(0, u.shape[-1] - k.shape[-1])))
    return _FusedFFTConv.apply(u, k, D, v, q)
