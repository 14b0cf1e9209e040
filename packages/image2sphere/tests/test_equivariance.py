"""Equivariance of the I2S head (paper Sec. 4.2): rotating the S2 input by R rotates the SO(3) output by R."""

import numpy as np
import pytest
import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from image2sphere.model import S2Convolution, SO3Convolution
from image2sphere.so3 import flat_wigner, random_rotations, s2_irreps, so3_irreps

LMAX = 4


@pytest.fixture
def f64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _angles(seed):
    r = torch.from_numpy(random_rotations(1, np.random.default_rng(seed))[0])
    return r, o3.matrix_to_angles(r)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_s2_convolution_wigner_equivariance(f64, seed):
    torch.manual_seed(seed)
    conv = S2Convolution(5, 3, LMAX).double()
    x = torch.randn(4, 5, (LMAX + 1) ** 2)
    _, ang = _angles(seed)
    d_in = s2_irreps(LMAX).D_from_angles(*ang)
    d_out = so3_irreps(LMAX).D_from_angles(*ang)
    with torch.no_grad():
        lhs = conv(x @ d_in.T)
        rhs = conv(x) @ d_out.T
    assert float((lhs - rhs).abs().max() / rhs.abs().max()) < 1e-12


def test_s2_convolution_output_signal_is_translated(f64):
    """As signals on SO(3): f'(g) = f(g R) for the input rotated by R, checked at random g."""
    torch.manual_seed(0)
    conv = S2Convolution(2, 1, LMAX).double()
    x = torch.randn(1, 2, (LMAX + 1) ** 2)
    r, ang = _angles(3)
    g = torch.from_numpy(random_rotations(16, np.random.default_rng(4)))
    f_rot = conv(x @ s2_irreps(LMAX).D_from_angles(*ang).T)[0, 0] @ flat_wigner(LMAX, *o3.matrix_to_angles(g)).T
    f_at_gr = conv(x)[0, 0] @ flat_wigner(LMAX, *o3.matrix_to_angles(g @ r)).T
    assert torch.allclose(f_rot, f_at_gr, atol=1e-10 * float(f_at_gr.abs().max()))


def test_so3_convolution_equivariance(f64):
    torch.manual_seed(1)
    conv = SO3Convolution(3, 2, LMAX).double()
    dim = so3_irreps(LMAX).dim
    x = torch.randn(4, 3, dim)
    _, ang = _angles(5)
    d = so3_irreps(LMAX).D_from_angles(*ang)
    assert torch.allclose(conv(x @ d.T), conv(x) @ d.T, atol=1e-12 * float(conv(x).abs().max()))


def test_so3_activation_equivariance_improves_with_resolution(f64):
    torch.manual_seed(2)
    lmax = 2
    x = torch.randn(2, 1, so3_irreps(lmax).dim)
    _, ang = _angles(6)
    d = so3_irreps(lmax).D_from_angles(*ang)
    errs = []
    for res in (5, 10):
        act = e3nn_nn.SO3Activation(lmax, lmax, torch.relu, res)
        y = act(x)
        errs.append(float((act(x @ d.T) - y @ d.T).abs().max() / y.abs().max()))
    assert errs[1] < 1e-2
    assert errs[1] < errs[0]


def test_full_head_equivariance(f64):
    """S2 conv -> SO3Activation -> SO(3) conv, as in the model; aliasing of the activation only."""
    torch.manual_seed(3)
    lmax = 3
    s2 = S2Convolution(4, 2, lmax).double()
    act = e3nn_nn.SO3Activation(lmax, lmax, torch.relu, 10)
    so3 = SO3Convolution(2, 1, lmax).double()
    head = lambda z: so3(act(s2(z)))  # noqa: E731
    x = torch.randn(1, 4, (lmax + 1) ** 2)
    _, ang = _angles(7)
    with torch.no_grad():
        y = head(x)
        y_rot = head(x @ s2_irreps(lmax).D_from_angles(*ang).T)
    rel = float((y_rot - y @ so3_irreps(lmax).D_from_angles(*ang).T).abs().max() / y.abs().max())
    assert rel < 1e-2
