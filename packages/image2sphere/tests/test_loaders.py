"""PASCAL3D+ release 1.1 and raw ModelNet10-SO(3) LMDB loaders on tiny fixtures written here in the
released formats (no real data is used or imitated under its name: a handful of synthetic images)."""

import io
import json
import pickle

import numpy as np
import pytest
import scipy.io as sio
import torch
from PIL import Image
from scipy.linalg import rq
from scipy.spatial.transform import Rotation

from image2sphere.data import MODELNET10_CLASSES, load_modelnet10
from image2sphere.pascal import (
    PASCAL3D_CLASSES,
    load_pascal3d,
    look_at_box,
    pascal3d_records,
    pascal_intrinsics,
    pascal_object_rotation,
)
from image2sphere.so3 import random_rotations
from orals23_shared.cli import UsageError


def official_camera(a, e, th, focal, viewport, px, py, distance=5.0):
    """P = K [R | -R C] built step by step as PASCAL3D+'s camera model (official get_camera_matrix)."""
    f = focal * viewport
    a, e, th = np.radians([a, e, th])
    c = distance * np.array([np.cos(e) * np.sin(a), -np.cos(e) * np.cos(a), np.sin(e)])
    rz = np.array([[np.cos(-a), -np.sin(-a), 0], [np.sin(-a), np.cos(-a), 0], [0, 0, 1]])
    ee = e - np.pi / 2
    rx = np.array([[1, 0, 0], [0, np.cos(ee), -np.sin(ee)], [0, np.sin(ee), np.cos(ee)]])
    r = rx @ rz
    r2d = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    k = np.array([[1.0, 0, px], [0, 1, py], [0, 0, 1]]) @ np.diag([1.0, -1, 1]) @ r2d @ np.diag([f, f, -1])
    return k @ np.hstack([r, -(r @ c)[:, None]])


@pytest.mark.parametrize("seed", range(5))
def test_object_rotation_and_intrinsics_are_the_rq_split_of_the_camera(seed):
    rng = np.random.default_rng(seed)
    a, e, th = rng.uniform(-180, 180), rng.uniform(-80, 80), rng.uniform(-30, 30)
    focal, viewport, px, py = 1.0, 3000.0, rng.uniform(100, 400), rng.uniform(100, 300)
    p = official_camera(a, e, th, focal, viewport, px, py)
    r, q = rq(p[:, :3])
    d = np.diag(np.sign(np.diag(r)))
    r, q = r @ d, d @ q
    assert np.linalg.det(q) > 0
    np.testing.assert_allclose(pascal_object_rotation(a, e, th), q, atol=1e-10)
    np.testing.assert_allclose(pascal_intrinsics(focal, viewport, px, py), r / r[2, 2], atol=1e-8)


def test_look_at_box_centred_box_keeps_the_camera_and_fits_the_box():
    k = pascal_intrinsics(1.0, 500.0, 100.0, 80.0)
    r, k_new = look_at_box(np.array([60.0, 50.0, 140.0, 110.0]), k, 32)
    np.testing.assert_allclose(r, np.eye(3), atol=1e-12)
    # the box diagonal touches the border of the 32 px output, the centre maps to the centre
    h = k_new @ r @ np.linalg.inv(k)
    corner = h @ [140.0, 110.0, 1.0]
    centre = h @ [100.0, 80.0, 1.0]
    assert np.allclose(centre[:2] / centre[2], 16) and np.isclose(max(abs(corner[:2] / corner[2] - 16)), 16)


def test_look_at_box_axis_is_the_narrowest_cone_and_a_rotation():
    k = pascal_intrinsics(1.0, 400.0, 120.0, 90.0)
    box = np.array([150.0, 20.0, 230.0, 200.0])  # off-centre
    r, k_new = look_at_box(box, k, 64)
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(r), 1)
    corners = np.array([[box[0], box[1], 1], [box[0], box[3], 1], [box[2], box[1], 1], [box[2], box[3], 1]])
    rays = np.linalg.solve(k, corners.T).T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    worst = (rays @ r[2]).min()
    # brute force: no direction near the axis holds all corners in a narrower cone
    dirs = r[2] + np.random.default_rng(0).normal(0, 0.05, (20000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    assert (rays @ dirs.T).min(0).max() <= worst + 1e-9
    # every corner lands inside the output image, one on its border
    pix = (k_new @ r @ rays.T).T
    pix = pix[:, :2] / pix[:, 2:]
    assert pix.min() >= -1e-6 and pix.max() <= 64 + 1e-6 and np.isclose(np.abs(pix - 32).max(), 32)


def _viewpoint(a=30.0, e=10.0, th=5.0, distance=5.0, px=40.0, py=30.0):
    return {
        "azimuth": a,
        "elevation": e,
        "theta": th,
        "distance": distance,
        "focal": 1.0,
        "viewport": 100.0,
        "px": px,
        "py": py,
    }


def _write_record(path, cls, viewpoint, bbox=(20.0, 15.0, 60.0, 45.0), difficult=0):
    dt = [(n, "O") for n in ("class", "bbox", "viewpoint", "occluded", "difficult", "truncated")]
    objs = np.zeros((1, 1), dtype=dt)
    objs[0, 0] = (cls, np.array([bbox]), viewpoint, 0, difficult, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(path, {"record": {"filename": path.stem, "objects": objs}})


def _write_image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((60, 80, 3), np.uint8)
    img[25:35, 35:45] = value  # a bright square at the box centre (40, 30)
    Image.fromarray(img).save(path, quality=95)


def write_pascal3d(tmp_path):
    """A tiny release 1.1 tree: car (PASCAL train 2 usable + 1 difficult + 1 without image, val 1;
    ImageNet train 1, val 1), aeroplane (PASCAL val 1 with an empty viewpoint); empty lists elsewhere."""
    root = tmp_path / "PASCAL3D+_release1.1"
    main = root / "PASCAL" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (root / "Image_sets").mkdir()
    for cls in PASCAL3D_CLASSES:
        for sub in ("train", "val"):
            (main / f"{cls}_{sub}.txt").write_text("")
            (root / "Image_sets" / f"{cls}_imagenet_{sub}.txt").write_text("")
    (main / "car_train.txt").write_text("2008_000001 -1\n2008_000002  1\n2008_000003  1\n2008_000099 -1\n")
    (main / "car_val.txt").write_text("2008_000010  1\n")
    (main / "aeroplane_val.txt").write_text("2008_000020  1\n")
    (root / "Image_sets" / "car_imagenet_train.txt").write_text("n0001\n")
    (root / "Image_sets" / "car_imagenet_val.txt").write_text("n0002\n")
    pas, img = root / "Annotations", root / "Images"
    for i, ident in enumerate(("2008_000001", "2008_000002", "2008_000003", "2008_000010")):
        _write_record(pas / "car_pascal" / f"{ident}.mat", "car", _viewpoint(a=20.0 * i), difficult=int(i == 2))
        _write_image(img / "car_pascal" / f"{ident}.jpg", 200)
    for ident in ("n0001", "n0002"):
        _write_record(pas / "car_imagenet" / f"{ident}.mat", "car", _viewpoint(a=-50.0))
        _write_image(img / "car_imagenet" / f"{ident}.JPEG", 200)
    _write_record(pas / "aeroplane_pascal" / "2008_000020.mat", "aeroplane", np.zeros((0, 0)))
    _write_image(img / "aeroplane_pascal" / "2008_000020.jpg", 200)
    return root


def test_pascal3d_official_split_and_filter(tmp_path):
    root = write_pascal3d(tmp_path)
    train = [p[0].name for p in pascal3d_records(tmp_path, "train")]
    assert train == ["2008_000001.jpg", "2008_000002.jpg", "n0001.JPEG", "n0002.JPEG"]  # difficult one dropped
    test = [p[0].name for p in pascal3d_records(root, "test")]
    assert test == ["2008_000010.jpg"]  # the aeroplane has an empty viewpoint
    d = load_pascal3d(root, "train", size=16)
    assert d.images.shape == (4, 3, 16, 16) and d.labels.tolist() == [5, 5, 5, 5]
    assert d.class_names == PASCAL3D_CLASSES
    # label = virtual-camera rotation @ object rotation (box centred on (px, py): the camera is kept)
    np.testing.assert_allclose(d.rotations[1, 0].numpy(), pascal_object_rotation(20.0, 10.0, 5.0), atol=1e-6)
    # the bright square at the box centre lands at the crop's centre
    img = d.images[0].mean(0)
    assert img[6:10, 6:10].mean() > 0.6 and img[0, 0] < 0.05
    sub = load_pascal3d(root, "train", limit=2, size=8)
    assert len(sub) == 2 and sub.rotations.shape == (2, 1, 3, 3)


def test_pascal3d_bad_files_are_one_line(tmp_path):
    root = write_pascal3d(tmp_path)
    with pytest.raises(UsageError, match="not a PASCAL3D\\+ release 1.1 folder"):
        load_pascal3d(tmp_path / "nope")
    (root / "Image_sets" / "car_imagenet_val.txt").unlink()
    with pytest.raises(UsageError, match="car_imagenet_val.txt"):
        pascal3d_records(root, "train")
    (root / "Image_sets" / "car_imagenet_val.txt").write_text("n0002\n")
    sio.savemat(root / "Annotations" / "car_imagenet" / "n0002.mat", {"foo": 1})
    with pytest.raises(UsageError, match="n0002.mat: not a PASCAL3D\\+ annotation record"):
        pascal3d_records(root, "train")
    (root / "Annotations" / "car_imagenet" / "n0002.mat").unlink()
    with pytest.raises(UsageError, match="annotation missing: .*n0002.mat"):
        pascal3d_records(root, "train")
    with pytest.raises(UsageError, match="unknown PASCAL3D\\+ class"):
        pascal3d_records(root, "test", ("cat",))


def write_modelnet_lmdb(folder, n_per_class=2, classes=("bathtub", "night_stand")):
    lmdb = pytest.importorskip("lmdb")
    folder.mkdir(parents=True)
    rots = random_rotations(n_per_class * len(classes), np.random.default_rng(3))
    views, values = {}, []
    env = lmdb.open(str(folder), map_size=2**24)
    with env.begin(write=True) as txn:
        for i, r in enumerate(rots):
            name = f"{classes[i // n_per_class]}_{i:04d}"
            x, y, z, w = Rotation.from_matrix(r).as_quat()
            views[name] = np.array([w, x, y, z])
            value = 10 * (i + 1)
            buf = io.BytesIO()
            Image.fromarray(np.full((12, 12, 3), value, np.uint8)).save(buf, format="JPEG", quality=100)
            txn.put(name.encode(), buf.getvalue())
            values.append(value)
    env.close()
    with open(folder / "viewID2quat.pkl", "wb") as f:
        pickle.dump(views, f, protocol=2)
    return rots, values


def test_modelnet10_raw_lmdb_loader(tmp_path):
    folder = tmp_path / "ModelNet10-SO3" / "test_20V.Rawjpg.lmdb"
    rots, values = write_modelnet_lmdb(folder)
    d = load_modelnet10(folder)
    assert d.images.shape == (4, 3, 12, 12) and d.labels.tolist() == [0, 0, 6, 6]
    assert d.class_names == MODELNET10_CLASSES
    assert torch.allclose(d.rotations[:, 0], torch.from_numpy(rots).float(), atol=1e-6)
    assert np.allclose(d.images[:, 0, 5, 5].numpy() * 255, values, atol=2)
    assert torch.equal(d.images[:, 0], d.images[:, 2])
    sub = load_modelnet10(folder, limit=2)
    assert sub.labels.tolist() == [0, 6]  # spread over the file: both classes kept


def test_modelnet10_raw_lmdb_bad_input_is_one_line(tmp_path):
    folder = tmp_path / "train_20V.Rawjpg.lmdb"
    write_modelnet_lmdb(folder)
    views = pickle.loads((folder / "viewID2quat.pkl").read_bytes())
    bad = dict(views, lamp_0009=np.array([1.0, 0, 0, 0]))
    (folder / "viewID2quat.pkl").write_bytes(pickle.dumps(bad))
    with pytest.raises(UsageError, match="'lamp_0009' does not start with a ModelNet10 class"):
        load_modelnet10(folder)
    bad = dict(views, bed_0009=np.array([1.0, 0, 0, 0]))
    (folder / "viewID2quat.pkl").write_bytes(pickle.dumps(bad))
    with pytest.raises(UsageError, match="'bed_0009' of viewID2quat.pkl is not in the LMDB"):
        load_modelnet10(folder)
    (folder / "viewID2quat.pkl").write_bytes(b"not a pickle")
    with pytest.raises(UsageError, match="not a view-name -> quaternion pickle"):
        load_modelnet10(folder)
    (folder / "viewID2quat.pkl").unlink()
    with pytest.raises(UsageError, match="no viewID2quat.pkl"):
        load_modelnet10(folder)


SMALL = "--image-size 16 --lmax 2 --sphere-fdim 4 --f-hidden 2 --act-resolution 3 --train-grid-rec 0"
SMALL += " --eval-grid-rec 1 --batch-size 2 --steps 2 --quiet"


def test_train_and_eval_cli_on_pascal3d_and_raw_modelnet10(tmp_path, capsys):
    from image2sphere import cli

    root = write_pascal3d(tmp_path)
    run = tmp_path / "run-pascal"
    assert cli.train_main(f"--dataset pascal3d --data-path {root} --out {run} {SMALL}".split()) == 0
    ev = tmp_path / "ev"
    argv = f"--checkpoint {run} --dataset pascal3d --data-path {root} --n-plots 1 --out {ev} --quiet".split()
    assert cli.eval_main(argv) == 0
    metrics = json.loads((ev / "metrics.json").read_text())["pascal3d"]
    assert metrics["n_images"] == 1 and "class_mean_median_error_deg" in metrics

    folder = tmp_path / "train_20V.Rawjpg.lmdb"
    write_modelnet_lmdb(folder)
    run = tmp_path / "run-mn"
    argv = f"--dataset modelnet10 --data-path {folder} --test-path {folder} --out {run} {SMALL}"
    argv = argv.replace("--image-size 16", "--image-size 12").split()
    assert cli.train_main(argv) == 0
    out = json.loads((run / "summary.json").read_text())
    assert "modelnet10/class_mean_acc15" in out
