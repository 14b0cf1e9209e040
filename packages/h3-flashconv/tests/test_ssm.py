"""Convolution mode == recurrent step == state passing, for the diagonal and the shift SSM."""

import pytest
import torch

from h3_flashconv.fftconv import direct_causal_conv
from h3_flashconv.ssm import DiagSSM, ShiftSSM

TOL = {torch.float32: 1e-4, torch.float64: 1e-9}


def _recurrent(ssm, u):
    state = ssm.default_state(*u.shape[:-2])
    ys = []
    for t in range(u.shape[-1]):
        y, state = ssm.step(u[..., t], state)
        ys.append(y)
    return torch.stack(ys, -1), state


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cls", [DiagSSM, ShiftSSM])
def test_conv_mode_equals_recurrence(cls, dtype):
    torch.manual_seed(0)
    ssm = cls(4, 16).to(dtype)
    u = torch.randn(2, 4, 80, dtype=dtype)
    with torch.no_grad():
        y_conv = ssm(u)
        y_rec, state = _recurrent(ssm, u)
        torch.testing.assert_close(y_conv, y_rec, atol=TOL[dtype], rtol=TOL[dtype])
        torch.testing.assert_close(ssm.forward_state(u), state, atol=TOL[dtype], rtol=TOL[dtype])


def test_kernel_matches_its_definition():
    torch.manual_seed(0)
    ssm = DiagSSM(3, 8).double()
    dA, dB, C = ssm.discrete()
    K = ssm.kernel(10)
    for l in (0, 3, 9):
        assert torch.allclose(K[:, l], 2 * (C * dB * dA**l).sum(-1).real, atol=1e-12)
    # bilinear rule, and S4D-Lin init: A = -1/2 + i pi n
    dt = torch.exp(ssm.log_dt)[:, None]
    A = torch.complex(-torch.exp(ssm.log_A_real), ssm.A_imag)
    assert torch.allclose(dA, (1 + dt * A / 2) / (1 - dt * A / 2))
    assert torch.allclose(
        A[0, :3], torch.tensor([-0.5 + 0j, -0.5 + torch.pi * 1j, -0.5 + 2 * torch.pi * 1j], dtype=A.dtype)
    )


def test_shift_kernel_is_C_and_truncated():
    torch.manual_seed(0)
    ssm = ShiftSSM(3, 16).double()
    assert torch.equal(ssm.kernel(100), ssm.C)  # B = e_1 => K = C, only N taps
    assert ssm.kernel(5).shape == (3, 5)
    u = torch.randn(2, 3, 40, dtype=torch.float64)
    torch.testing.assert_close(ssm(u), direct_causal_conv(u, ssm.C), atol=1e-12, rtol=0)


def test_shift_with_trained_B_still_matches_recurrence():
    torch.manual_seed(1)
    ssm = ShiftSSM(2, 8).double()
    with torch.no_grad():
        ssm.B.add_(0.3 * torch.randn_like(ssm.B))
        u = torch.randn(1, 2, 30, dtype=torch.float64)
        y_rec, state = _recurrent(ssm, u)
        torch.testing.assert_close(ssm(u), y_rec, atol=1e-9, rtol=0)
        torch.testing.assert_close(ssm.forward_state(u), state, atol=1e-9, rtol=0)


@pytest.mark.parametrize("cls", [DiagSSM, ShiftSSM])
def test_state_passing_equals_one_shot_L4096(cls):
    torch.manual_seed(0)
    ssm = cls(4, 64)
    u = torch.randn(1, 4, 4096)
    with torch.no_grad():
        y_full = ssm(u)
        y_chunk, state = ssm.forward_chunked(u, 256)
        torch.testing.assert_close(y_chunk, y_full, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(state, ssm.forward_state(u), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 16, 17, 100])
def test_state_passing_odd_chunks_fp64(chunk):
    torch.manual_seed(chunk)
    for cls in (DiagSSM, ShiftSSM):
        ssm = cls(3, 16).double()
        u = torch.randn(2, 3, 41 if chunk == 1 else 97, dtype=torch.float64)
        with torch.no_grad():
            y_chunk, _ = ssm.forward_chunked(u, chunk)
            torch.testing.assert_close(y_chunk, ssm(u), atol=1e-9, rtol=0)


def test_ssm_params_carry_optimiser_hints():
    ssm = DiagSSM(2, 4, lr=5e-4)
    hinted = {n for n, p in ssm.named_parameters() if hasattr(p, "_optim")}
    assert hinted == {"log_dt", "log_A_real", "A_imag", "B"}
    assert ssm.log_dt._optim == {"lr": 5e-4, "weight_decay": 0.0}


@pytest.mark.parametrize("L", [1, 2, 7, 64, 1000, 4099])
def test_chunked_powers_and_kernel_equal_the_direct_vandermonde(L):
    """exp(dtA (c b + j)) = exp(dtA c b) exp(dtA j): the chunked powers and kernel equal the direct ones to 1e-5."""
    from h3_flashconv.ssm import DiagSSM

    torch.manual_seed(L)
    ssm = DiagSSM(8, d_state=16)
    dA, _, _ = ssm.discrete()
    for start in (0, 1, 37):
        torch.testing.assert_close(ssm._powers(dA, L, start), ssm._powers_direct(dA, L, start), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ssm.kernel(L), ssm.kernel_direct(L), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("L", "chunk"), [(1000, 128), (1024, 256), (97, 1), (97, 200), (4096, 4096)])
def test_batched_state_passing_equals_unchunked_to_1e5(L, chunk):
    """DiagSSM.forward_chunked (all chunks in one batched conv + a scan) = the one-shot conv and the chunk-by-chunk
    loop of Algorithm 2, outputs and final state, with a carried initial state (fp32, 1e-5 relative)."""
    torch.manual_seed(L + chunk)
    ssm = DiagSSM(6, 32)
    u = torch.randn(2, 6, L)
    x0 = torch.randn(2, 6, 16, dtype=torch.cfloat)
    with torch.no_grad():
        y, state = ssm.forward_chunked(u, chunk, x0)
        y_ref = ssm(u, x0)
        scale = y_ref.abs().max()
        torch.testing.assert_close(y / scale, y_ref / scale, atol=1e-5, rtol=0)
        torch.testing.assert_close(state, ssm.forward_state(u, x0), atol=1e-5, rtol=1e-5)
        y_loop, state_loop = super(DiagSSM, ssm).forward_chunked(u, chunk, x0)  # the generic chunk loop
        torch.testing.assert_close(y / scale, y_loop / scale, atol=1e-5, rtol=0)
        torch.testing.assert_close(state, state_loop, atol=1e-5, rtol=1e-5)


def test_batched_state_passing_gradient_equals_one_shot():
    torch.manual_seed(3)
    ssm = DiagSSM(3, 8).double()
    u = torch.randn(1, 3, 50, dtype=torch.float64, requires_grad=True)
    y_chunk, _ = ssm.forward_chunked(u, 16)
    g_chunk = torch.autograd.grad(y_chunk.square().sum(), [u, ssm.log_dt, ssm.C])
    g_full = torch.autograd.grad(ssm(u).square().sum(), [u, ssm.log_dt, ssm.C])
    for a, b in zip(g_chunk, g_full, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
