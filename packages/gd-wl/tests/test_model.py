"""Graphormer-GD: attention-bias shapes and padding masks, batching/permutation equivariance, baselines."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch

from gd_wl.data import counterexample_1, to_data
from gd_wl.distances import precompute
from gd_wl.graph import Graph
from gd_wl.model import GaussianBasis, GraphModel, ModelConfig, PairLayout


def model(kind="graphormer-gd", **kw):
    torch.manual_seed(0)
    m = GraphModel(ModelConfig(kind=kind, hidden=16, ffn=16, heads=4, kernels=8, layers=2, attn_dropout=0.0,
                               act_dropout=0.0, **kw), node_out=2, edge_out=2, graph_out=1)  # fmt: skip
    return m.eval()


def strong(m):
    """Weights far from the tiny N(0, 0.02) init, so that any leak through padding would show."""
    torch.manual_seed(1)
    for p in m.parameters():
        if p.dim() >= 2:
            p.data.normal_(0, 0.4)
    return m


def batch(*graphs):
    return Batch.from_data_list(precompute([to_data(g) for g in graphs]))


SMALL = Graph.from_networkx(nx.cycle_graph(5))
LARGE = Graph.from_networkx(nx.lollipop_graph(5, 4))


def test_attention_bias_shape_and_padding_mask():
    m = strong(model())
    b = batch(SMALL, LARGE)
    _, _, bias = m.encoder(b)
    assert bias.shape == (2, 4, LARGE.n + 1, LARGE.n + 1)
    # the small graph's padded keys get -inf after masking: check through a padded batch equal to alone
    h_alone, g_alone, _ = m.encoder(batch(SMALL))
    h_pad, g_pad, _ = m.encoder(b)
    torch.testing.assert_close(h_pad[: SMALL.n], h_alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(g_pad[:1], g_alone, atol=1e-5, rtol=0)


def test_padding_really_is_masked():
    # without the key mask, the padded (zero) positions would change the small graph's outputs
    m = strong(model())
    enc = m.encoder
    b = batch(SMALL, LARGE)
    import gd_wl.model as mod

    orig = mod.GDAttention.forward

    def unmasked(self, x, bias_add, bias_mul, key_pad):
        return orig(self, x, bias_add, bias_mul, torch.zeros_like(key_pad))

    h_ok, _, _ = enc(b)
    mod.GDAttention.forward = unmasked
    try:
        h_bad, _, _ = enc(b)
    finally:
        mod.GDAttention.forward = orig
    assert (h_ok[: SMALL.n] - h_bad[: SMALL.n]).abs().max() > 1e-2


@pytest.mark.parametrize("kind", ["graphormer-gd", "graphormer-gd-spd", "graphormer", "gin"])
def test_permutation_equivariance(kind):
    m = strong(model(kind))
    perm = torch.randperm(LARGE.n, generator=torch.Generator().manual_seed(3))
    out = m(batch(LARGE))
    out_p = m(batch(LARGE.relabel(perm.numpy())))
    torch.testing.assert_close(out_p["node"][perm], out["node"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out_p["graph"], out["graph"], atol=1e-4, rtol=0)


def test_disconnected_graph_has_finite_outputs():
    g = Graph.from_edges(5, [(0, 1), (2, 3)])
    out = model()(batch(g))
    assert all(torch.isfinite(v).all() for v in out.values())
    out["node"].sum().backward()


def test_gin_cannot_tell_a_1wl_equivalent_pair_apart():
    m = strong(model("gin"))
    a, b = counterexample_1(1, 3, False), counterexample_1(1, 3, True)
    oa, ob = m(batch(a)), m(batch(b))
    torch.testing.assert_close(oa["node"][-1], ob["node"][-1], atol=1e-5, rtol=0)  # the hubs
    torch.testing.assert_close(oa["graph"], ob["graph"], atol=1e-5, rtol=0)
    og = strong(model("graphormer-gd"))
    assert (og(batch(a))["graph"] - og(batch(b))["graph"]).abs().max() > 1e-6


def test_gaussian_basis_matches_the_formula_and_has_learnable_parameters():
    gb = GaussianBasis(4, 3)
    d = torch.tensor([0.0, 1.0, 2.5])
    t = torch.tensor([0, 1, 2])
    out = gb(d, t, t)
    x = (2 * d).unsqueeze(-1)  # a = 1 + 1 (summed over the pair), b = 0
    std = gb.stds.abs() + 0.01
    ref = torch.exp(-0.5 * ((x - gb.means) / std) ** 2) / ((2 * torch.pi) ** 0.5 * std)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert gb.means.grad is not None and gb.stds.grad is not None and gb.mul.grad is not None
    assert 0 <= gb.means.min() and gb.means.max() <= 3


def test_plain_graphormer_has_no_rd_and_no_multiplicative_bias():
    enc = model("graphormer").encoder
    assert enc.rd_add is None and enc.spd_mul is None
    gd = model("graphormer-gd").encoder
    assert gd.rd_add is not None and gd.rd_mul is not None and gd.spd_mul is not None


def test_pair_layout_round_trip():
    b = batch(SMALL, LARGE)
    lay = PairLayout.from_ptr(b.ptr)
    dense = lay.dense(b.pair_spd, fill=-7)
    assert dense.shape == (2, LARGE.n, LARGE.n)
    assert (dense[0, : SMALL.n, : SMALL.n] == b.pair_spd[: SMALL.n**2].view(SMALL.n, SMALL.n)).all()
    assert (dense[0, SMALL.n :] == -7).all()
