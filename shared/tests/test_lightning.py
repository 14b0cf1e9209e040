"""Atomic Lightning checkpoints: names ``latest`` finds, the newest kept, a resume that continues."""

import pytest

pytest.importorskip("lightning")

import lightning as L  # noqa: E402
import torch  # noqa: E402

from orals23_shared.checkpoint import latest  # noqa: E402
from orals23_shared.lightning import (  # noqa: E402
    AtomicCheckpointIO,
    EpochSampler,
    atomic_checkpointing,
    quiet_lightning,
    resumable_loader,
)


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.lin(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))


def _fit(folder, max_steps, ckpt_path=None):
    quiet_lightning()
    torch.manual_seed(0)
    model = _Tiny()
    plugin, callback = atomic_checkpointing(folder, every_n_train_steps=2, keep=2)
    loader, resume = resumable_loader(_data(), batch_size=4, seed=3)
    trainer = L.Trainer(
        max_steps=max_steps,
        plugins=[plugin],
        callbacks=[callback, resume],
        use_distributed_sampler=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    return model


def test_checkpoints_are_named_for_latest_and_the_newest_kept(tmp_path):
    _fit(tmp_path, max_steps=6)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-00000004.ckpt", "ckpt-00000006.ckpt"]
    assert latest(tmp_path, ".ckpt").name == "ckpt-00000006.ckpt"


@pytest.mark.parametrize("stop", [4, 10])  # inside the first epoch, and inside the second (8 batches each)
def test_resume_mid_epoch_equals_a_straight_run(tmp_path, stop):
    straight = _fit(tmp_path / "a", max_steps=14)
    _fit(tmp_path / "b", max_steps=stop)
    resumed = _fit(tmp_path / "b", max_steps=14, ckpt_path=str(latest(tmp_path / "b", ".ckpt")))
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def test_atomic_io_leaves_no_partial_file(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "ckpt-00000001.ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-00000001.ckpt"]
    with pytest.raises(ValueError):
        atomic_checkpointing(tmp_path)


def test_epoch_sampler_orders_by_seed_and_epoch_and_shards_ranks():
    s = EpochSampler(10, seed=1)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e0) == list(range(10)) and e0 != e1
    s.set_epoch(0)
    assert list(s) == e0
    s.skip = 3
    assert list(s) == e0[3:] and list(s) == e0  # the skip applies once
    ranks = []
    for r in range(3):
        s.rank, s.replicas = r, 3
        ranks.append(list(s))
    assert all(len(x) == 4 for x in ranks) and set(sum(ranks, [])) == set(range(10))
