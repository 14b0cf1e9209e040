"""The classifier: exact resume (2 + 2 steps = 4), weights that are exactly a subset when zero."""

import numpy as np
import torch

from failure_directions.train import ClassifierConfig, predict, train_classifier


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + 2 * (x[:, 2] > 0)
    return x, y


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_resume_two_plus_two_equals_four(tmp_path):
    x, y = _data()
    cfg4 = ClassifierConfig(hidden=(16,), steps=4, checkpoint_every=2)
    straight, _ = train_classifier(x, y, cfg4, seed=3, ckpt_dir=tmp_path / "a")
    cfg2 = ClassifierConfig(hidden=(16,), steps=2, checkpoint_every=2)
    _, first = train_classifier(x, y, cfg2, seed=3, ckpt_dir=tmp_path / "b")
    resumed, info = train_classifier(x, y, cfg4, seed=3, ckpt_dir=tmp_path / "b", resume=True)
    assert first["steps_run"] == 2 and info["steps_run"] == 2 and info["resumed_from"] == 2  # a restart runs 4
    torch.testing.assert_close(_params(resumed), _params(straight), atol=1e-6, rtol=0)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ckpt-00000004.pt"]


def test_zero_weights_equal_training_on_the_subset():
    x, y = _data()
    keep = np.arange(len(y)) % 3 != 0
    cfg = ClassifierConfig(hidden=(16,), steps=30)
    w = keep.astype(float)
    a, _ = train_classifier(x, y, cfg, seed=1, weights=w, n_classes=4)
    b, _ = train_classifier(x[keep], y[keep], cfg, seed=1, n_classes=4)
    torch.testing.assert_close(_params(a), _params(b), atol=1e-5, rtol=1e-5)
    pred, prob = predict(a, x)
    assert prob.shape == (len(y), 4) and np.allclose(prob.sum(1), 1)
    assert (pred == prob.argmax(1)).all()
