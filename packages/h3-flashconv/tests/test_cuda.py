"""The fused CUDA kernel: the source builds with nvcc; on a GPU it equals the reference; clear opt-in errors."""

import shutil
import subprocess

import pytest
import torch

from h3_flashconv.cuda_ext import SWITCH, cuda_source_dir, reference_gated_conv
from h3_flashconv.model import H3
from orals23_shared.cli import UsageError

NO_NVCC = pytest.mark.skipif(
    shutil.which("nvcc") is None, reason="nvcc not found (no CUDA toolkit): the .cu is not compiled"
)


@NO_NVCC
def test_cuda_kernel_translation_unit_compiles(tmp_path):
    """Default run: the device code alone (``-DH3_FLASHCONV_KERNEL_ONLY``, one architecture, no torch headers),
    a few CPU-seconds of nvcc. The whole file with the torch binding is the slow test below (~2 CPU-minutes)."""
    src = cuda_source_dir() / "fftconv.cu"
    cmd = ["nvcc", "-c", "-x", "cu", "-std=c++17", "-arch=sm_80", "-DH3_FLASHCONV_KERNEL_ONLY", "-Xcompiler", "-fPIC"]
    cmd += [str(src), "-o", str(tmp_path / "kernel.o")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "kernel.o").stat().st_size > 0
    ours = [line for line in res.stderr.splitlines() if "fftconv.cu" in line and "warning" in line]
    assert not ours, "\n".join(ours)


@pytest.mark.slow
@NO_NVCC
def test_whole_cuda_source_compiles_with_torch_headers(tmp_path):
    """The kernel and its torch binding compile as ``torch.utils.cpp_extension.load`` would build them (torch's
    include paths, C++20, the Python headers), without warnings from our own file (e.g. deprecated c10::optional).
    Slow: parsing torch's headers costs about 2 CPU-minutes of nvcc."""
    import sysconfig

    from torch.utils.cpp_extension import include_paths

    src = cuda_source_dir() / "fftconv.cu"
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    cmd = ["nvcc", "-c", "-x", "cu", "-std=c++20", "-arch=sm_80", "-DTORCH_EXTENSION_NAME=h3_flashconv_cuda"]
    cmd += ["-DTORCH_API_INCLUDE_EXTENSION_H", f"-D_GLIBCXX_USE_CXX11_ABI={abi}", "-Xcompiler", "-fPIC"]
    cmd += [f"-I{p}" for p in [*include_paths(), sysconfig.get_paths()["include"]]]
    cmd += [str(src), "-o", str(tmp_path / "fftconv.o")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "fftconv.o").stat().st_size > 0
    ours = [line for line in res.stderr.splitlines() if "fftconv.cu" in line and "warning" in line]
    assert not ours, "\n".join(ours)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_path_without_cuda_names_the_switch():
    layer = H3(4, d_state=8, conv_impl="cuda")
    with pytest.raises(UsageError, match=SWITCH):
        layer(torch.randn(1, 8, 4))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_env_switch_without_cuda_is_a_clear_error(monkeypatch):
    layer = H3(4, d_state=8)
    x = torch.randn(1, 8, 4)
    assert layer(x).shape == x.shape  # default: the reference path
    monkeypatch.setenv(SWITCH, "1")
    with pytest.raises(UsageError, match=SWITCH):
        layer(x)


@pytest.mark.gpu
@pytest.mark.parametrize("L", [1, 7, 256, 1000, 8192])
@pytest.mark.parametrize("gated", [False, True])
def test_cuda_kernel_equals_reference(L, gated):
    from h3_flashconv.cuda_ext import fftconv_cuda

    g = torch.Generator(device="cuda").manual_seed(L)
    B, H = 2, 16
    u = torch.randn(B, H, L, device="cuda", generator=g)
    k = torch.randn(H, L, device="cuda", generator=g) / L**0.5
    D = torch.randn(H, device="cuda", generator=g)
    v = torch.randn(B, H, L, device="cuda", generator=g) if gated else None
    q = torch.randn(B, H, L, device="cuda", generator=g) if gated else None
    ref = reference_gated_conv(
        u.double(), k.double(), D.double(), None if v is None else v.double(), None if q is None else q.double()
    )
    out = fftconv_cuda(u, k, D, v, q)
    torch.testing.assert_close(out.double(), ref, atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_h3_layer_cuda_path_equals_torch_path():
    torch.manual_seed(0)
    ref = H3(32, d_state=64).cuda()
    fused = H3(32, d_state=64, conv_impl="cuda").cuda()
    fused.load_state_dict(ref.state_dict())
    u = torch.randn(2, 512, 32, device="cuda")
    torch.testing.assert_close(fused(u), ref(u), atol=1e-3, rtol=1e-3)
