"""CUDA runs (``-m gpu``): training on the GPU and compare on the GPU agree with the CPU."""

import numpy as np
import pytest
import torch

from relreps.anchors import ParallelAnchors, uniform_anchors
from relreps.build import TrainConfig
from relreps.metrics import compare_spaces
from relreps.train import train


@pytest.mark.gpu
def test_training_and_compare_on_cuda(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    r = train(TrainConfig(out=tmp_path / "gpu", device="gpu", epochs=3, quiet=True))
    assert r.summary["test_acc"] > 0.8
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3000, 32)).astype(np.float32), rng.normal(size=(3000, 16)).astype(np.float32)
    anchors = ParallelAnchors.same(uniform_anchors(3000, 100, 0))
    cpu, gpu = compare_spaces(a, b, anchors), compare_spaces(a, b, anchors, device="cuda")
    for key, value in cpu.items():
        assert value is None and gpu[key] is None or abs(value - gpu[key]) < 1e-3, key
