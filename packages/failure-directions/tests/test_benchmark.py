"""The planted digits: disjoint splits, the planted rates, determinism, bad configs."""

import numpy as np
import pytest

from failure_directions.benchmark import PlantedConfig, caption_for, encoder_corpus, make_planted_digits, render
from orals23_shared.cli import UsageError


def test_splits_are_disjoint_and_the_minority_is_planted_where_asked():
    b = make_planted_digits(seed=1)
    bases = [set(b[s].base.tolist()) for s in ("train", "val", "test", "pool")]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not bases[i] & bases[j]
    for s, rate in (("train", 0.02), ("val", 0.3), ("test", 0.3), ("pool", 0.3)):
        sp = b[s]
        aff = np.isin(sp.labels, (2, 5, 8))
        assert not sp.minority[~aff].any()
        assert abs(sp.minority[aff].mean() - rate) < (0.02 if s == "train" else 0.08)
        assert (sp.groups == 2 * sp.labels + sp.minority).all()
        assert sp.images.min() >= 0 and sp.images.max() <= 1
    # inverted images have a bright background
    tr = b["val"]
    assert tr.images[tr.minority][:, 0, 0].mean() > 0.5 > tr.images[~tr.minority & ~tr.styles["noisy"]][:, 0, 0].mean()


def test_same_seed_same_benchmark():
    a, b = make_planted_digits(seed=3), make_planted_digits(seed=3)
    np.testing.assert_array_equal(a["test"].images, b["test"].images)
    assert not np.array_equal(a["test"].labels, make_planted_digits(seed=4)["test"].labels)


def test_render_without_jitter_is_identity_and_corpus_is_balanced():
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(render(x, np.random.default_rng(0), jitter=0), x)
    imgs, caps = encoder_corpus(make_planted_digits(seed=0), renders=1)
    assert len(imgs) == len(caps)
    assert 0.35 < np.mean(["inverted" in c for c in caps]) < 0.5  # 1/2 drawn, 80% of words kept
    assert caption_for(3, {"inverted": True}) == "a photo of a inverted three"


@pytest.mark.parametrize("kw,msg", [({"affected": (11,)}, "digits 0-9"), ({"train_rate": 1.5}, "train-rate"),
                                    ({"fractions": (0.5, 0.5, 0.5, 0.5)}, "sum to 1"), ({"renders": (1, 1, 0, 1)}, "renders")])  # fmt: skip
def test_bad_config(kw, msg):
    with pytest.raises(UsageError, match=msg):
        make_planted_digits(PlantedConfig(**kw))
