"""Norm computation, alpha scaling and rescaling are exact; the fast transformer equals the notebook's."""

import math

import pytest
import torch

from omnigrok.model import MLP, Transformer, project_norm, scale_init, weight_norm


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.fixture(params=["mlp", "transformer"])
def model(request):
    torch.manual_seed(0)
    if request.param == "mlp":
        return MLP(6, (7, 5), 3).double()
    return Transformer(8, d_model=12, n_heads=2, d_head=3, d_mlp=10).double()


def test_weight_norm_is_the_norm_of_all_parameters(model):
    flat = _flat(model)
    assert weight_norm(model) == pytest.approx(math.sqrt(float((flat**2).sum())), rel=1e-14)
    n_biases = sum(p.numel() for n, p in model.named_parameters() if "bias" in n or n.startswith("b_"))
    assert n_biases > 0  # biases are part of the norm


@pytest.mark.parametrize("alpha", [0.1, 0.8, 1.0, 8.0])
def test_scale_init_multiplies_every_parameter(model, alpha):
    before = _flat(model).clone()
    w0 = scale_init(model, alpha)
    assert w0 == pytest.approx(float(before.norm()), rel=1e-14)
    assert torch.allclose(_flat(model), alpha * before, rtol=1e-14, atol=0)
    assert weight_norm(model) == pytest.approx(alpha * w0, rel=1e-13)


def test_scale_init_refuses_non_positive_alpha(model):
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="alpha"):
            scale_init(model, bad)


def test_project_norm_is_exact_and_keeps_the_direction(model):
    before = _flat(model).clone()
    old = project_norm(model, 3.25)
    assert old == pytest.approx(float(before.norm()), rel=1e-14)
    assert weight_norm(model) == pytest.approx(3.25, rel=1e-14)
    assert torch.allclose(_flat(model), before * (3.25 / before.norm()), rtol=1e-13, atol=1e-15)


def test_mlp_init_is_pytorch_default_with_linear_output():
    torch.manual_seed(1)
    m = MLP(4, (5,), 2)
    torch.manual_seed(1)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    for a, b in zip(m.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    x = torch.randn(9, 4)
    assert torch.allclose(m(x), ref(x))
    assert (m(-10 * x.abs()) < 0).any()  # no activation after the output layer


def _notebook_forward(m: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """The official notebook's full-sequence transformer (causal mask, all positions), written out naively."""
    x = torch.einsum("dbp->bpd", m.W_E.T[:, tokens]) + m.W_pos[: tokens.shape[1]]
    k = torch.einsum("ihd,bpd->biph", m.W_K, x)
    q = torch.einsum("ihd,bpd->biph", m.W_Q, x)
    v = torch.einsum("ihd,bpd->biph", m.W_V, x)
    scores = torch.einsum("biph,biqh->biqp", k, q)
    n = tokens.shape[1]
    mask = torch.tril(torch.ones(n, n, dtype=x.dtype))
    scores = torch.tril(scores) - 1e10 * (1 - mask)
    attn = torch.softmax(scores / math.sqrt(m.d_head), dim=-1)
    z = torch.einsum("biph,biqp->biqh", v, attn)
    z = z.permute(0, 2, 1, 3).reshape(x.shape[0], n, -1)
    x = x + torch.einsum("df,bqf->bqd", m.W_O, z)
    h = torch.relu(torch.einsum("md,bpd->bpm", m.W_in, x) + m.b_in)
    x = x + torch.einsum("dm,bpm->bpd", m.W_out, h) + m.b_out
    return (x @ m.W_U)[:, -1]


def test_transformer_last_position_equals_the_notebook_model():
    torch.manual_seed(3)
    m = Transformer(8, d_model=12, n_heads=3, d_head=4, d_mlp=10).double()
    with torch.no_grad():
        for p in (m.b_in, m.b_out):
            p.normal_()  # non-zero biases so they are exercised too
    tokens = torch.randint(0, 8, (17, 3))
    assert torch.allclose(m(tokens), _notebook_forward(m, tokens), rtol=1e-12, atol=1e-12)
