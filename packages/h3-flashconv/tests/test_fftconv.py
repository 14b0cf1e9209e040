"""FFT convolution vs the direct O(L^2) causal convolution; block FFT vs torch.fft; bad FFT sizes."""

import pytest
import torch

from h3_flashconv.fftconv import (
    block_fft,
    block_fft_conv,
    check_fft_size,
    default_fft_size,
    direct_causal_conv,
    fftconv_ref,
    split_fft_size,
)
from orals23_shared.cli import UsageError


@pytest.mark.parametrize(("L", "Lk"), [(1, 1), (7, 7), (64, 64), (100, 16), (333, 333)])
def test_fftconv_equals_direct_conv(L, Lk):
    g = torch.Generator().manual_seed(L)
    u = torch.randn(2, 3, L, generator=g, dtype=torch.float64)
    k = torch.randn(3, Lk, generator=g, dtype=torch.float64)
    D = torch.randn(3, generator=g, dtype=torch.float64)
    ref = direct_causal_conv(u, k, D)
    # the O(L^2) reference written as an explicit sum for one entry
    t = L - 1
    explicit = sum(k[1, j] * u[0, 1, t - j] for j in range(min(t + 1, Lk))) + D[1] * u[0, 1, t]
    assert abs(float(ref[0, 1, t] - explicit)) < 1e-9
    torch.testing.assert_close(fftconv_ref(u, k, D), ref, atol=1e-9, rtol=0)
    torch.testing.assert_close(block_fft_conv(u, k, D), ref, atol=1e-9, rtol=0)


def test_fftconv_fp32_tolerance():
    g = torch.Generator().manual_seed(1)
    u, k = torch.randn(4, 8, 1024, generator=g), torch.randn(8, 1024, generator=g) / 32
    torch.testing.assert_close(fftconv_ref(u, k), direct_causal_conv(u, k), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(block_fft_conv(u, k), direct_causal_conv(u, k), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("N", [16, 96, 1024, 4096])
def test_block_fft_equals_torch_fft(N):
    g = torch.Generator().manual_seed(N)
    x = torch.complex(torch.randn(3, N, generator=g), torch.randn(3, N, generator=g))
    scale = N**0.5
    torch.testing.assert_close(block_fft(x) / scale, torch.fft.fft(x) / scale, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(block_fft(x, inverse=True) * scale, torch.fft.ifft(x) * scale, atol=1e-4, rtol=1e-4)
    xd = x.to(torch.complex128)
    torch.testing.assert_close(block_fft(xd, n1=4), torch.fft.fft(xd), atol=1e-9, rtol=1e-9)


def test_split_fft_size():
    assert split_fft_size(4096) == (64, 64)
    assert split_fft_size(8192) == (64, 128)
    assert split_fft_size(96) == (8, 12)


def test_no_future_leakage_fftconv():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(1, 2, 64, generator=g, dtype=torch.float64)
    k = torch.randn(2, 64, generator=g, dtype=torch.float64)
    t = 30
    u2 = u.clone()
    u2[..., t + 1 :] += torch.randn(1, 2, 64 - t - 1, generator=g, dtype=torch.float64)
    for conv in (fftconv_ref, block_fft_conv):
        y1, y2 = conv(u, k), conv(u2, k)
        assert (
            torch.equal(y1[..., : t + 1], y2[..., : t + 1]) or (y1[..., : t + 1] - y2[..., : t + 1]).abs().max() < 1e-12
        )
        assert (y1[..., t + 1 :] - y2[..., t + 1 :]).abs().max() > 1e-3


def test_too_small_fft_would_leak_and_is_refused():
    L = 32
    u = torch.zeros(1, 1, L, dtype=torch.float64)
    u[..., -1] = 1.0  # only the last token is non-zero
    k = torch.ones(1, L, dtype=torch.float64)
    # circular conv with n = L wraps the last token onto position 0: this is the leak the padding prevents
    wrapped = torch.fft.irfft(torch.fft.rfft(u, n=L) * torch.fft.rfft(k, n=L), n=L)
    assert wrapped[0, 0, 0] == pytest.approx(1.0)
    assert fftconv_ref(u, k)[0, 0, 0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(UsageError, match="leaks future"):
        fftconv_ref(u, k, fft_size=L)


@pytest.mark.parametrize("n", [63, 0, -4])
def test_bad_fft_sizes(n):
    with pytest.raises(UsageError):
        check_fft_size(n, 32, 32)


def test_block_fft_bad_split():
    with pytest.raises(UsageError, match="does not divide"):
        block_fft(torch.randn(64, dtype=torch.complex64), n1=5)


def test_bad_shapes():
    with pytest.raises(UsageError, match="kernel must have shape"):
        fftconv_ref(torch.randn(2, 3, 8), torch.randn(4, 8))
    with pytest.raises(UsageError, match="D must have shape"):
        fftconv_ref(torch.randn(2, 3, 8), torch.randn(3, 8), torch.randn(2))


def test_default_fft_size():
    assert default_fft_size(100) == 200
    assert default_fft_size(100, power_of_two=True) == 256
    assert default_fft_size(3, power_of_two=True) == 16
