"""Official ELPH / BUDDY / SEAL options: feature_prop='cat', add_normed_features, use_RA, SEAL node features."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
import torch

from elph.cli import train_main
from elph.config import TrainConfig
from elph.data import Graph, _undirected, ring_lattice_edges, split_links
from elph.model import BUDDY, ELPH, degree_normalised
from elph.runners import make_runner


def _graph(n: int = 60, seed: int = 0) -> Graph:
    ei = _undirected(ring_lattice_edges(n, 6, 0.2, seed=seed), n)
    x = torch.randn(n, 5, generator=torch.Generator().manual_seed(seed))
    return Graph(num_nodes=n, edge_index=ei, x=x, name="ring")


def _adjacency(edge_index: torch.Tensor) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = defaultdict(set)
    for u, v in edge_index.t().tolist():
        adj[u].add(v)
    return adj


def test_degree_normalised_matches_direct_formula():
    sf = torch.tensor([[2.0, 4.0], [3.0, -1.0], [1.0, 1.0]])
    du, dv = torch.tensor([4, 0, 1]), torch.tensor([1, 5, 9])
    out = degree_normalised(sf, du, dv)
    assert out.shape == (3, 4) and torch.equal(out[:, :2], sf)
    assert out[0, 2:].tolist() == pytest.approx([2 / 2, 4 / 2])  # sqrt(4 * 1) = 2
    assert out[1, 2:].tolist() == [0.0, 0.0]  # zero degree: 0, not nan/inf
    assert out[2, 2:].tolist() == pytest.approx([1 / 3, 1 / 3])


@pytest.mark.parametrize("model", ["buddy", "elph"])
def test_normed_features_and_ra_inputs_equal_direct_computation(model):
    g = _graph()
    splits = split_links(g, seed=1)
    cfg = TrainConfig(model=model, hidden=8, add_normed_features=True, use_ra=True)
    runner = make_runner(cfg, g, splits)
    dim = len(runner.labels)
    assert runner.sf_dim == 2 * dim
    for name in ("train", "test"):
        adj = _adjacency(splits[name].edge_index)  # the split's own message-passing graph
        d = runner.data[name]
        assert d["sf"].shape == (len(d["links"]), 2 * dim)
        for i, (u, v) in enumerate(d["links"].tolist()):
            norm = np.sqrt(len(adj[u]) * len(adj[v]))
            want = d["sf"][i, :dim] / norm if norm > 0 else torch.zeros(dim)
            assert torch.allclose(d["sf"][i, dim:], want, atol=1e-6)
            ra = sum(1.0 / len(adj[w]) for w in adj[u] & adj[v])
            assert d["ra"][i].item() == pytest.approx(ra, abs=1e-6)
    runner.model.eval()
    pos, neg = runner.score("test")
    assert pos.shape == (len(splits["test"].pos),) and torch.isfinite(torch.cat([pos, neg])).all()
    head = runner.model.head
    assert head.lin.in_features == 2 * dim + 8 + 1  # normed sf, node branch, RA


def test_elph_feature_prop_cat_concatenates_every_hop():
    g = _graph()
    torch.manual_seed(0)
    m = ELPH(5, 8, hidden=6, num_layers=2, feature_prop="cat").eval()
    z = m.encode(g.x, g.edge_index)
    assert z.shape == (g.num_nodes, 6 * 3)
    h0 = m.lin_in(g.x)
    h1 = m.convs[0](h0, g.edge_index)  # official feature_conv: no nonlinearity between the layers
    h2 = m.convs[1](h1, g.edge_index)
    assert torch.allclose(z, torch.cat([h0, h1, h2], dim=1), atol=1e-6)
    assert m.head.lin_out.in_features == 18
    res = ELPH(5, 8, hidden=6, num_layers=2, feature_prop="residual").eval()
    r0 = res.lin_in(g.x)
    r1 = r0 + res.convs[0](r0, g.edge_index)
    assert torch.allclose(res.encode(g.x, g.edge_index), r1 + res.convs[1](r1, g.edge_index), atol=1e-6)
    gcn = ELPH(5, 8, hidden=6, num_layers=2, feature_prop="gcn").eval()  # official default: no encoder
    assert gcn.lin_in is None and gcn.convs[0].in_channels == 5
    assert gcn.encode(g.x, g.edge_index).shape == (g.num_nodes, 6)
    links = torch.tensor([[0, 1], [2, 7]])
    assert m(g.x, g.edge_index, links, torch.zeros(2, 8)).shape == (2,)


def test_buddy_use_ra_needs_scores():
    from orals23_shared.cli import UsageError

    b = BUDDY(5, 8, 4, use_ra=True).eval()
    x = torch.randn(3, 5)
    assert b(torch.zeros(3, 8), x, x, torch.tensor([0.0, 0.5, 1.0])).shape == (3,)
    with pytest.raises(UsageError, match="use_ra"):
        b(torch.zeros(3, 8), x, x)


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("elph", ["--feature-prop", "cat", "--add-normed-features", "--use-ra"]),
        ("buddy", ["--add-normed-features", "--use-ra"]),
    ],
)
def test_train_with_official_options(tmp_path, edge_file, model, extra):
    run = tmp_path / model
    args = ["--model", model, "--edges", str(edge_file), "--out", str(run), "--epochs", "2", "--hidden", "16"]
    assert train_main([*args, "--batch-size", "256", "--quiet", *extra]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert 0.0 <= summary["test_auc"] <= 1.0


def test_seal_node_features_concatenated_with_drnl():
    from elph.seal import build_seal_data

    g = _graph(40)
    links = torch.tensor([[0, 1], [0, 20], [3, 5]])
    data = build_seal_data(g.edge_index, g.num_nodes, links, torch.tensor([1.0, 0.0, 1.0]), hops=1, max_z=10)
    plain, ei, batch, center, _ = data.batch(np.arange(3))
    x, ei2, batch2, center2, _ = data.batch(np.arange(3), g.x)
    nodes = np.concatenate([data.subgraphs[i][0] for i in range(3)])
    assert x.shape == (len(nodes), 11 + 5)
    assert torch.equal(x[:, :11], plain)  # the DRNL one-hot first
    assert torch.equal(x[:, 11:], g.x[torch.from_numpy(nodes)])  # then each node's own features
    assert torch.equal(ei, ei2) and torch.equal(batch, batch2) and torch.equal(center, center2)
    for i, (u, v) in enumerate(links.tolist()):  # the two targets sit at the centre positions
        assert torch.equal(x[center[i, 0], 11:], g.x[u]) and torch.equal(x[center[i, 1], 11:], g.x[v])


@pytest.mark.parametrize("use_feature", [True, False])
def test_seal_runner_input_width(use_feature):
    g = _graph(40)
    splits = split_links(g, seed=0)
    runner = make_runner(TrainConfig(model="seal", seal_hops=1, use_feature=use_feature), g, splits)
    width = runner.data["train"].max_z + 1 + (5 if use_feature else 0)
    assert runner.model.convs[0].in_channels == width
    runner.model.eval()
    pos, neg = runner.score("val")
    assert pos.shape == (len(splits["val"].pos),) and torch.isfinite(torch.cat([pos, neg])).all()


def test_gcn_official_setup_mlp_decoder_and_fixed_negatives(tmp_path, edge_file):
    from elph.model import GNNLink

    g = _graph()
    m = GNNLink(5, 16, 16, "gcn", decoder="mlp").eval()
    z = m.encode(g.x, g.edge_index)
    links = torch.tensor([[0, 1], [4, 9]])
    want = m.mlp(z[links[:, 0]] * z[links[:, 1]]).squeeze(-1)  # MLP on the Hadamard product
    assert torch.allclose(m.decode(z, links), want)
    dot = GNNLink(5, 16, 8, "gcn")
    zd = dot.encode(g.x, g.edge_index)
    assert torch.allclose(dot.decode(zd, links), (zd[links[:, 0]] * zd[links[:, 1]]).sum(-1))
    splits = split_links(g, seed=0)
    runner = make_runner(TrainConfig(model="gcn", gnn_setup="official"), g, splits)
    lr = runner.optimizer.param_groups[0]["lr"]
    assert lr == 1e-4 and runner.model.conv2.out_channels == 256  # official run_gnn.py defaults
    assert make_runner(TrainConfig(model="gcn"), g, splits).optimizer.param_groups[0]["lr"] == 0.01  # PyG
    run = tmp_path / "gcn"
    args = ["--model", "gcn", "--gnn-setup", "official", "--edges", str(edge_file), "--out", str(run)]
    assert train_main([*args, "--epochs", "1", "--quiet"]) == 0
    assert 0.0 <= json.loads((run / "summary.json").read_text())["test_auc"] <= 1.0


def test_per_graph_cache_keys_on_the_edge_content():
    """Two message-passing graphs with the same edge count and id sum get their own sketches and features."""
    from elph.data import LinkSplit, edge_hash
    from elph.sketch import knock_out_leaking

    g = _graph(60)
    pairs = g.edge_index.t()[g.edge_index[0] < g.edge_index[1]].tolist()
    present = set(map(tuple, pairs))
    i = next(i for i, (u, v) in enumerate(pairs) if v - u > 2 and (u + 1, v - 1) not in present)
    moved = [*pairs[:i], [pairs[i][0] + 1, pairs[i][1] - 1], *pairs[i + 1 :]]  # same count, same id sum
    ei_b = _undirected(np.array(moved), g.num_nodes)
    assert ei_b.shape == g.edge_index.shape and int(ei_b.sum()) == int(g.edge_index.sum())
    assert edge_hash(ei_b) != edge_hash(g.edge_index) and edge_hash(g.edge_index.clone()) == edge_hash(g.edge_index)
    u, v = pairs[i]
    links = torch.tensor([[u, v], [u + 1, v - 1], [u, 30], [v, 8]])  # around the moved edge
    split = LinkSplit(links[:2], links[2:], g.edge_index)
    splits = {"train": split, "val": LinkSplit(links[:2], links[2:], ei_b), "test": split}
    runner = make_runner(TrainConfig(model="buddy", hidden=4), g, splits)
    from elph.model import gcn_propagate
    from elph.sketch import Sketcher

    for name, ei in (("train", g.edge_index), ("val", ei_b)):
        table = Sketcher(g.num_nodes, seed=1).propagate(ei)
        assert torch.equal(runner.data[name]["sf"], knock_out_leaking(table.subgraph_features(links), 2))
        assert torch.allclose(runner.data[name]["x"], gcn_propagate(g.x, ei, g.num_nodes))
    assert not torch.equal(runner.data["train"]["sf"], runner.data["val"]["sf"])  # a shared key would fail above
    assert len(runner._cache) == 4  # (sketches, features) x two distinct graphs
