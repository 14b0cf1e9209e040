import numpy as np
import pytest
import torch
from PIL import Image

from image2sphere.data import PoseData, load_modelnet10, load_symsol, rendered_dataset
from image2sphere.so3 import random_rotations
from orals23_shared.cli import UsageError


def write_symsol(root, n=3, shape="cube", k=24):
    folder = root / "test"
    (folder / "images").mkdir(parents=True)
    rots = np.repeat(random_rotations(n, np.random.default_rng(0))[:, None], k, axis=1)
    np.savez(folder / "rotations.npz", **{shape: rots})
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / "images" / f"{shape}_{i:05d}.png")
    return rots


def test_symsol_loader(tmp_path):
    rots = write_symsol(tmp_path)
    d = load_symsol(tmp_path, "test", ("cube",), size=8)
    assert d.images.shape == (3, 3, 8, 8) and d.rotations.shape == (3, 24, 3, 3)
    assert torch.allclose(d.rotations, torch.from_numpy(rots).float())
    assert abs(float(d.images[1].mean()) - 40 / 255) < 1e-6
    img, rot = d.batch(torch.tensor([0, 2]))
    assert img.shape == (2, 3, 8, 8) and rot.shape == (2, 3, 3)


def test_symsol_missing_files_are_named(tmp_path):
    write_symsol(tmp_path)
    (tmp_path / "test" / "images" / "cube_00001.png").unlink()
    with pytest.raises(UsageError, match="cube_00001.png"):
        load_symsol(tmp_path, "test", ("cube",), size=8)
    with pytest.raises(UsageError, match="no entry for shape 'tet'"):
        load_symsol(tmp_path, "test", ("tet",), size=8)
    with pytest.raises(UsageError, match="missing rotations.npz"):
        load_symsol(tmp_path / "nope", "test")


def test_modelnet10_loader(tmp_path):
    rots = random_rotations(4, np.random.default_rng(1)).astype(np.float32)
    imgs = np.random.default_rng(2).integers(0, 255, (4, 10, 10, 1), dtype=np.uint8)
    np.savez(tmp_path / "m.npz", imgs=imgs, rots=rots, cat_ids=np.zeros(4))
    d = load_modelnet10(tmp_path / "m.npz")
    assert d.images.shape == (4, 3, 10, 10)
    assert torch.allclose(d.images[:, 2], torch.from_numpy(imgs[..., 0] / 255.0).float())
    np.savez(tmp_path / "bad.npz", imgs=imgs)
    with pytest.raises(UsageError, match="missing array"):
        load_modelnet10(tmp_path / "bad.npz")
    with pytest.raises(UsageError, match="not found"):
        load_modelnet10(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("hello\n")
    with pytest.raises(UsageError, match="text.npz: not a ModelNet10-SO\\(3\\) npz"):
        load_modelnet10(tmp_path / "text.npz")


def test_non_orthonormal_labels_rejected():
    rots = torch.eye(3).repeat(2, 1, 1)
    rots[1, 0, 0] = 1.5
    with pytest.raises(UsageError, match="matrix 1 is not a rotation"):
        PoseData(torch.zeros(2, 1, 4, 4), rots, name="x")
    with pytest.raises(UsageError, match="2 images but rotations"):
        PoseData(torch.zeros(2, 1, 4, 4), torch.eye(3).repeat(3, 1, 1), name="x")


def test_rendered_dataset_labels_and_images():
    d = rendered_dataset("tetrahedron", 5, size=16, seed=3)
    assert d.images.shape == (5, 1, 16, 16) and d.rotations.shape == (5, 1, 3, 3)
    assert d.symmetries.shape == (12, 3, 3)


def test_shapes_trained_together_keep_all_their_equivalent_labels(tmp_path):
    """Issue 19: with cube (24 equivalents) and tet (12) in one run, cube labels were cut to 12 of 24."""
    from image2sphere.render import make_shape
    from image2sphere.train import TrainConfig, build_data

    folder = tmp_path / "train"
    (folder / "images").mkdir(parents=True)
    base = random_rotations(4, np.random.default_rng(1))
    groups = {"cube": make_shape("cube").symmetries, "tet": make_shape("tetrahedron").symmetries}
    np.savez(folder / "rotations.npz", **{s: base[:, None] @ g[None] for s, g in groups.items()})
    for s in groups:
        for i in range(4):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "images" / f"{s}_{i:05d}.png")
    (tmp_path / "test").symlink_to(folder)
    cfg = TrainConfig(dataset="symsol", data_path=tmp_path, shapes=("cube", "tet"), n_train=4, n_test=4, image_size=8)
    train, _ = build_data(cfg)
    assert len(train) == 8
    gen = torch.Generator().manual_seed(0)
    _, rot = train.batch(torch.zeros(800, dtype=torch.long), gen)  # image 0 is a cube
    rel = base[0].T @ rot.double().numpy()  # the cube symmetry of each drawn label
    cube_ids = {int(np.argmin(np.abs(groups["cube"] - r).sum((1, 2)))) for r in rel}
    assert cube_ids == set(range(24))  # the old code drew from only 12 of them
    tet_rel = base[0].T @ train.batch(torch.full((400,), 4, dtype=torch.long), gen)[1].double().numpy()
    tet_ids = {int(np.argmin(np.abs(groups["tet"] - r).sum((1, 2)))) for r in tet_rel}
    assert tet_ids == set(range(12))  # and tet draws only (all) its own 12


def test_concat_of_equal_label_counts_keeps_plain_sampling():
    from image2sphere.data import concat_pose_data

    a = rendered_dataset("cube", 2, 16, seed=0)
    b = rendered_dataset("tetrahedron", 2, 16, seed=1)
    d = concat_pose_data([a, b])
    assert d.n_equiv is None and d.rotations.shape == (4, 1, 3, 3)
