"""The two state space models inside H3 (Fu, Dao et al., ICLR 2023, Section 3 and Appendix B).

Both follow ``x_t = A x_{t-1} + B u_t``, ``y_t = C x_t`` (eq. 1, skip terms ``D u`` live in the layers) and offer
three modes that compute the same function:

* convolution mode: materialise ``K_l = C A^l B`` (``kernel``) and convolve (``forward``, FFT conv);
* recurrent mode: ``step`` advances the state by one token (generation, O(1) per token);
* state passing (paper Section 4.2, Algorithm 2): ``forward(u, state)`` adds the contribution of a carried
  state, ``y_j = C A^{j+1} x_prev + (K * u)_j``, and ``forward_state`` returns
  ``x_next = A^{L} x_prev + sum_i A^{L-1-i} B u_i``; ``forward_chunked`` chains them chunk by chunk, which is
  exactly the one-shot convolution (Proposition 2).

``DiagSSM`` is S4D with the S4D-Lin initialisation and the bilinear discretisation of the official H3 code
(``dA = (1 + dt A/2) / (1 - dt A/2)``, ``dB = dt B / (1 - dt A/2)``); kernel and step use the same rule.
``ShiftSSM`` has ``A`` the down-shift matrix, ``B = e_1`` (trainable) and a learnable ``C``: a causal FIR filter of
``d_state`` taps that includes the current token.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from h3_flashconv.fftconv import fftconv_ref
from orals23_shared.cli import UsageError

__all__ = ["DiagSSM", "ShiftSSM", "set_optim"]

ConvFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def set_optim(param: nn.Parameter, lr: float | None, weight_decay: float = 0.0) -> nn.Parameter:
    """Attach optimiser hints (own lr, no weight decay) read by ``train.param_groups`` (official ``_optim``)."""
    param._optim = {"lr": lr, "weight_decay": weight_decay}  # type: ignore[attr-defined]
    return param


def _default_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return fftconv_ref(u, k)


class _StatePassing(nn.Module):
    """State passing (Algorithm 2) for any SSM with ``forward(u, state, conv)`` and ``forward_state(u, state)``."""

    def forward_chunked(
        self, u: torch.Tensor, chunk: int, state: torch.Tensor | None = None, conv: ConvFn = _default_conv
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """State passing (Algorithm 2): chunks of ``chunk`` tokens, state carried; returns ``(y, final_state)``."""
        if chunk < 1:
            raise UsageError(f"state-passing chunk size must be >= 1, got {chunk}")
        ys = []
        for start in range(0, u.shape[-1], chunk):
            uc = u[..., start : start + chunk]
            ys.append(self.forward(uc, state, conv))
            state = self.forward_state(uc, state)
        assert state is not None
        return torch.cat(ys, dim=-1), state


class DiagSSM(_StatePassing):
    """S4D kernel with ``H`` independent channels of ``d_state // 2`` complex modes (conjugate pairs => 2 Re).

    Parameters are kept in float32/float64 (never half): ``log_dt`` (H,), ``log_A_real`` and ``A_imag``
    (H, N/2), ``B`` and ``C`` complex (H, N/2) stored as real views (H, N/2, 2).
    """

    def __init__(
        self, H: int, d_state: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1, lr: float | None = 1e-3
    ) -> None:
        super().__init__()
        if d_state < 2 or d_state % 2:
            raise UsageError(f"d_state must be an even integer >= 2 (conjugate pairs), got {d_state}")
        self.H, self.N = H, d_state
        n2 = d_state // 2
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = set_optim(nn.Parameter(log_dt), lr)
        self.log_A_real = set_optim(nn.Parameter(torch.full((H, n2), math.log(0.5))), lr)
        self.A_imag = set_optim(nn.Parameter(math.pi * torch.arange(n2, dtype=torch.float32).repeat(H, 1)), lr)
        B = torch.ones(H, n2, dtype=torch.cfloat)
        self.B = set_optim(nn.Parameter(torch.view_as_real(B).clone()), lr)
        C = torch.randn(H, n2, dtype=torch.cfloat)  # CN(0, 1)
        self.C = nn.Parameter(torch.view_as_real(C).clone())

    # -- discretisation ------------------------------------------------------------------------
    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bilinear discretisation: returns complex ``(dA, dB, C)``, each (H, N/2)."""
        dt = torch.exp(self.log_dt).unsqueeze(-1)
        A = torch.complex(-torch.exp(self.log_A_real).clamp(min=1e-4), self.A_imag)
        dtA = dt * A
        denom = 1.0 - dtA / 2
        dA = (1.0 + dtA / 2) / denom
        dB = dt * torch.view_as_complex(self.B) / denom
        return dA, dB, torch.view_as_complex(self.C)

    @staticmethod
    def _powers_direct(dA: torch.Tensor, L: int, start: int = 0) -> torch.Tensor:
        """``dA^l`` for ``l = start .. start+L-1`` as a Vandermonde matrix (H, N/2, L): L exponentials per mode
        (the reference the chunked powers are tested against)."""
        exps = torch.arange(start, start + L, device=dA.device, dtype=dA.real.dtype)
        return torch.exp(torch.log(dA).unsqueeze(-1) * exps)

    @staticmethod
    def _chunk_factors(dA: torch.Tensor, L: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``dA^(start + c b)`` (H, N/2, L/b) and ``dA^j`` (H, N/2, b) with b ~ sqrt(L): their outer product is the
        Vandermonde matrix, since exp(dtA (c b + j)) = exp(dtA c b) exp(dtA j); L/b + b exponentials per mode."""
        b = max(1, math.isqrt(max(L - 1, 0)) + 1)
        n_chunks = -(-L // b)
        log_dA = torch.log(dA).unsqueeze(-1)
        real = dA.real.dtype
        outer = torch.exp(log_dA * (start + b * torch.arange(n_chunks, device=dA.device, dtype=real)))
        inner = torch.exp(log_dA * torch.arange(b, device=dA.device, dtype=real))
        return outer, inner

    @classmethod
    def _powers(cls, dA: torch.Tensor, L: int, start: int = 0) -> torch.Tensor:
        """``dA^l`` for ``l = start .. start+L-1`` (H, N/2, L) from chunked powers (one multiply per entry)."""
        outer, inner = cls._chunk_factors(dA, L, start)
        return (outer.unsqueeze(-1) * inner.unsqueeze(-2)).flatten(-2)[..., :L]

    def kernel(self, L: int) -> torch.Tensor:
        """``K_l = 2 Re sum_n C_n dB_n dA_n^l``, l = 0..L-1, shape (H, L): with l = c b + j the sum over the modes is
        a batched matmul ``(C dB dA^(c b))^T dA^j`` (H, L/b, b), never the (H, N/2, L) Vandermonde matrix."""
        dA, dB, C = self.discrete()
        outer, inner = self._chunk_factors(dA, L)
        k = torch.matmul(((C * dB).unsqueeze(-1) * outer).transpose(-1, -2), inner)  # (H, L/b, b)
        return 2 * k.flatten(-2)[..., :L].real

    def kernel_direct(self, L: int) -> torch.Tensor:
        """The kernel from the direct Vandermonde matrix (reference; d N L exponentials)."""
        dA, dB, C = self.discrete()
        return 2 * torch.einsum("hn,hnl->hl", C * dB, self._powers_direct(dA, L)).real

    # -- convolution mode with an optional carried state --------------------------------------
    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None, conv: ConvFn = _default_conv) -> torch.Tensor:
        """``y = K * u`` (+ ``2 Re C dA^{j+1} state`` when a state is carried); u: (..., H, L)."""
        L = u.shape[-1]
        y = conv(u, self.kernel(L))
        if state is not None:
            dA, _, C = self.discrete()
            decay = C.unsqueeze(-1) * self._powers(dA, L, start=1)  # (H, N/2, L)
            y = y + 2 * torch.einsum("...hn,hnl->...hl", state, decay).real
        return y

    def forward_state(self, u: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """State after reading ``u`` (..., H, L): ``dA^L state + sum_i dA^{L-1-i} dB u_i`` (..., H, N/2)."""
        L = u.shape[-1]
        dA, dB, _ = self.discrete()
        powers = self._powers(dA, L).flip(-1)  # dA^{L-1-i}
        new = torch.einsum("...hl,hnl->...hn", u.to(powers.dtype), dB.unsqueeze(-1) * powers)
        if state is not None:
            new = new + state * torch.exp(torch.log(dA) * L)
        return new

    # -- state passing, all chunks at once ------------------------------------------------------
    def forward_chunked(
        self, u: torch.Tensor, chunk: int, state: torch.Tensor | None = None, conv: ConvFn = _default_conv
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """State passing (Algorithm 2) at about one FFT conv per chunk: the within-chunk convolutions run as one
        batched call with the chunk-length kernel, the chunk states come from a scan over the chunks
        (``x_{c+1} = dA^T x_c + sum_i dA^{T-1-i} dB u_{c,i}``, all input sums in one real matmul), and their
        contribution ``2 Re C dA^{j+1} x_c`` to every chunk is one more real matmul. Equal to the chunk-by-chunk
        loop of ``_StatePassing`` and to the one-shot convolution; returns ``(y, final_state)``."""
        if chunk < 1:
            raise UsageError(f"state-passing chunk size must be >= 1, got {chunk}")
        *lead, H, L = u.shape
        T = min(chunk, L)
        n_chunks = -(-L // T)
        last = L - (n_chunks - 1) * T  # real length of the last chunk
        dA, dB, C = self.discrete()
        real = dA.real.dtype
        uc = F.pad(u.to(real), (0, n_chunks * T - L)).unflatten(-1, (n_chunks, T))  # (..., H, n, T)
        # within-chunk convolutions: one batched FFT conv with the kernel of length T
        flat = uc.movedim(-2, -3).reshape(-1, H, T)
        y = conv(flat, self.kernel(T)).reshape(*lead, n_chunks, H, T).movedim(-3, -2)
        # dA^l = dA^(a b) dA^j (l = a b + j): the (H, N/2, T) power matrix is never built, as in ``kernel``
        outer, inner = self._chunk_factors(dA, T)  # (H, N/2, na), (H, N/2, b)
        n2, na, b = dA.shape[-1], outer.shape[-1], inner.shape[-1]
        inner_ri = torch.cat([inner.real, inner.imag], dim=-2)  # (H, N, b)
        outer_t = outer.transpose(-1, -2).unsqueeze(-3)  # (H, 1, na, N/2)
        # input sums of every chunk: sum_l dA^l dB u_{c, T-1-l}, l = a b + j, one real matmul over j
        r = F.pad(uc.flip(-1), (0, na * b - T)).unflatten(-1, (na, b))  # (..., H, n, na, b)
        z = torch.einsum("...hcaj,hmj->...hcam", r, inner_ri)
        z = torch.complex(z[..., :n2], z[..., n2:])  # (..., H, n, na, N/2)
        w = dB.unsqueeze(-2) * (z * outer_t).sum(-2)  # (..., H, n, N/2)
        x = self.default_state(*lead).to(w.dtype) if state is None else state.to(w.dtype)
        decay_T = torch.exp(torch.log(dA) * T)
        starts = []
        for c in range(n_chunks):  # the scan: O(d N) per chunk
            starts.append(x)
            x = decay_T * x + w[..., c, :]
        starts_t = torch.stack(starts, dim=-2)  # state entering each chunk, (..., H, n, N/2)
        # their outputs: 2 Re sum_m (C dA dA^(a b) x_c)_m dA_m^j at t = a b + j, one real matmul over m
        g = (C * dA).unsqueeze(-2).unsqueeze(-2) * starts_t.unsqueeze(-2) * outer_t  # (..., H, n, na, N/2)
        y_state = torch.einsum("...hcam,hmj->...hcaj", torch.cat([g.real, -g.imag], dim=-1), inner_ri)
        y = y + 2 * y_state.flatten(-2)[..., :T]
        y = y.flatten(-2)[..., :L]
        if last < T:  # the scan ran over the padded last chunk: its state from the real tokens only
            x = self.forward_state(u[..., L - last :], starts[-1])
        return y.to(u.dtype) if u.is_floating_point() else y, x

    # -- recurrent mode -----------------------------------------------------------------------
    def default_state(self, *batch: int) -> torch.Tensor:
        dtype = torch.complex128 if self.C.dtype == torch.float64 else torch.complex64
        return torch.zeros(*batch, self.H, self.N // 2, dtype=dtype, device=self.C.device)

    def step(self, u_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: ``x = dA x + dB u_t``, ``y = 2 Re <C, x>``; u_t (..., H), state (..., H, N/2)."""
        dA, dB, C = self.discrete()
        state = dA * state + dB * u_t.unsqueeze(-1)
        return 2 * (C * state).sum(-1).real, state


class ShiftSSM(_StatePassing):
    """Shift SSM: ``A`` = down-shift (``(A x)_i = x_{i-1}``), ``B = e_1`` (trainable), ``C`` learnable (H, N).

    ``K_l = C A^l B = sum_i C_{i+l} B_i`` for ``l < N`` and 0 beyond: a causal FIR filter of ``N`` taps
    (with ``B = e_1`` exactly ``K = C``).
    """

    def __init__(self, H: int, d_state: int = 64, lr: float | None = 1e-3) -> None:
        super().__init__()
        self.H, self.N = H, d_state
        C = torch.empty(H, 1, d_state)
        nn.init.kaiming_uniform_(C, a=math.sqrt(5))  # as nn.Conv1d
        self.C = nn.Parameter(C.squeeze(1))
        B = torch.zeros(H, d_state)
        B[:, 0] = 1.0
        self.B = set_optim(nn.Parameter(B), lr)

    def _toeplitz(self, vec: torch.Tensor, offset: int) -> torch.Tensor:
        """``M[h, j, i] = vec[h, i + j + offset]`` (0 past the end), shape (H, N, N)."""
        N = self.N
        idx = torch.arange(N, device=vec.device)
        full = idx.unsqueeze(1) + idx.unsqueeze(0) + offset  # [j, i]
        padded = F.pad(vec, (0, 2 * N + offset))
        return padded[:, full]

    def kernel(self, L: int) -> torch.Tensor:
        """(H, min(L, N)) FIR taps; the kernel is zero from ``N`` on (pitfall: truncate when ``L < N``)."""
        K = (self._toeplitz(self.C, 0) * self.B.unsqueeze(1)).sum(-1)  # K[l] = sum_i C[i+l] B[i]
        return K[:, :L]

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None, conv: ConvFn = _default_conv) -> torch.Tensor:
        L = u.shape[-1]
        y = conv(u, self.kernel(L))
        if state is not None:
            # (C A^{j+1} x)_j = sum_i C[i + j + 1] x[i]; nonzero only for j < N - 1
            M = self._toeplitz(self.C, 1)[:, : min(L, self.N)]  # (H, j, i)
            extra = torch.einsum("hji,...hi->...hj", M, state.to(M.dtype))
            y = y + F.pad(extra, (0, L - extra.shape[-1]))
        return y

    def forward_state(self, u: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """``x[m] = sum_{s<=m} B[m-s] u_{L-1-s}`` (+ the old state shifted down by ``L``)."""
        L, N = u.shape[-1], self.N
        recent = u[..., max(0, L - N) :].flip(-1)  # r_s = u_{L-1-s}
        recent = F.pad(recent, (0, N - recent.shape[-1]))
        B = self.B.to(recent.dtype)
        new = torch.einsum("...hs,hms->...hm", recent, self._lower_toeplitz(B))
        if state is not None and L < N:
            new = new + F.pad(state[..., : N - L], (L, 0))
        return new

    def _lower_toeplitz(self, B: torch.Tensor) -> torch.Tensor:
        """``T[h, m, s] = B[h, m - s]`` for ``s <= m`` else 0."""
        N = self.N
        idx = torch.arange(N, device=B.device)
        diff = idx.unsqueeze(1) - idx.unsqueeze(0)  # m - s
        T = B[:, diff.clamp(min=0)]
        return T * (diff >= 0).to(B.dtype)

    def default_state(self, *batch: int) -> torch.Tensor:
        return torch.zeros(*batch, self.H, self.N, dtype=self.C.dtype, device=self.C.device)

    def step(self, u_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x = shift_down(x) + B u_t``; ``y = <C, x>``."""
        state = F.pad(state[..., :-1], (1, 0)) + self.B * u_t.unsqueeze(-1)
        return (self.C * state).sum(-1), state
