"""Planetoid data from the team folder through PyG's reader; GNN heads; graph stitching."""

import numpy as np
import pytest
import torch

from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data
from relreps.build import TrainConfig, build_data, build_model, choose_anchors
from relreps.data import load_planetoid
from relreps.graph import feature_dropout
from relreps.stitching import score, stitch_outputs


@pytest.mark.parametrize(("name", "nodes", "edges", "classes"), [("cora", 2708, 10556, 7), ("citeseer", 3327, 9104, 6)])
def test_planetoid_matches_the_published_sizes(name, nodes, edges, classes):
    require_shared_data(name)
    data, split = load_planetoid(name)
    assert data.num_nodes == nodes and data.edge_index.shape[1] == edges and data.num_classes == classes
    assert len(split.train) + len(split.val) + len(split.test) == nodes
    assert not set(split.train) & set(split.test)
    rows = torch.sparse.sum(data.x, dim=1).to_dense()
    nonzero = rows[rows > 0]
    torch.testing.assert_close(nonzero, torch.ones_like(nonzero))  # NormalizeFeatures: rows sum to one


def test_planetoid_folder_errors(tmp_path):
    (tmp_path / "ind.cora.x").write_bytes(b"")
    with pytest.raises(UsageError, match="missing Planetoid file"):
        load_planetoid("cora", tmp_path)


def test_graph_anchors_are_training_nodes_and_carry_no_gradient():
    require_shared_data("cora")
    cfg = TrainConfig(dataset="cora", quiet=True)
    data = build_data(cfg)
    ids = choose_anchors(cfg, data)
    assert len(ids) == 300 and set(ids) <= set(data[1].train)
    torch.manual_seed(0)
    model = build_model(cfg, data, ids).eval()
    z, anchors = model.latents(data[0])
    assert not anchors.requires_grad and z.requires_grad
    torch.testing.assert_close(anchors, z.detach()[torch.as_tensor(ids)])
    out = stitch_outputs(model, model, data)
    assert score(out, data) == score(model(data[0])[torch.as_tensor(data[1].test)], data)


def test_sparse_feature_dropout_matches_dense_dropout_in_distribution():
    x = torch.rand(200, 50) * (torch.rand(200, 50) < 0.1)
    torch.manual_seed(0)
    out = feature_dropout(x.to_sparse(), 0.5, True).to_dense()
    kept = out[x > 0] / x[x > 0]
    assert set(np.unique(np.round(kept.numpy(), 5))) <= {0.0, 2.0}  # zeroed or scaled by 1 / (1 - p)
    assert 0.4 < float((kept > 0).float().mean()) < 0.6
    assert torch.equal(out[x == 0], torch.zeros_like(out[x == 0]))
    assert torch.equal(feature_dropout(x.to_sparse(), 0.5, False).to_dense(), x)
