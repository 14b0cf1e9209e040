"""One thread; a small digits-dominoes split and a briefly pretrained backbone shared by the tests."""

from __future__ import annotations

import pytest
import torch

from orals23_shared.threads import set_threads

set_threads(1)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def splits():
    from adaptation_sb.data import DominoesConfig, make_digits_dominoes

    return make_digits_dominoes(DominoesConfig(seed=0, correlation=0.9))


@pytest.fixture(scope="session")
def backbone(splits):
    """An encoder after a few epochs of the source task (enough for features that carry both halves)."""
    from adaptation_sb.model import AutoEncoder, BackboneConfig
    from adaptation_sb.train import FitConfig, pretrain_autoencoder

    torch.manual_seed(0)
    ae = AutoEncoder(BackboneConfig(hidden=64, feat_dim=32))
    pretrain_autoencoder(ae, torch.as_tensor(splits.pretrain.x), FitConfig(epochs=5, lr=3e-3, optimizer="adam"))
    return ae.encoder.eval()
