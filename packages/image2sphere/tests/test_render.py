import numpy as np
import pytest

from image2sphere.render import SHAPES, make_shape, render
from image2sphere.so3 import check_rotations, random_rotations

GROUP_SIZES = {"cube": 24, "tetrahedron": 12, "icosahedron": 60, "cone": 64, "cylinder": 128, "cube_marked": 1}


@pytest.mark.parametrize("name", SHAPES)
def test_symmetry_group_is_a_group_of_rotations(name):
    g = make_shape(name).symmetries
    assert len(g) == GROUP_SIZES[name]
    check_rotations(g, atol=1e-9)
    # closed under composition
    flat = g.reshape(len(g), 9)
    for a in g[:: max(1, len(g) // 8)]:
        prods = (a @ g).reshape(len(g), 9)
        d = np.abs(prods[:, None, :] - flat[None]).max(-1).min(1)
        assert d.max() < 1e-8


@pytest.mark.parametrize("name", ["cube", "tetrahedron", "icosahedron", "cube_marked", "cone"])
def test_images_of_equivalent_rotations_are_equal(name):
    shape = make_shape(name)
    rng = np.random.default_rng(0)
    n = 6 if name == "cone" else 12
    rots = random_rotations(n, rng)
    sym = shape.symmetries[rng.integers(len(shape.symmetries), size=n)]
    a = render(shape, rots, size=32)
    b = render(shape, rots @ sym, size=32)
    assert (a > 0).mean() > 0.1
    # equal up to pixels whose ray grazes an edge (float round-off decides the face there)
    assert (np.abs(a - b) > 1e-5).mean() < 1e-3


def test_marked_cube_breaks_the_cube_symmetry():
    cube = make_shape("cube")
    marked = make_shape("cube_marked")
    rots = random_rotations(8, np.random.default_rng(1))
    non_identity = cube.symmetries[~np.all(np.isclose(cube.symmetries, np.eye(3)), axis=(1, 2))]
    for s in non_identity[:6]:
        a = render(marked, rots, size=32)
        b = render(marked, rots @ s, size=32)
        assert np.all(np.abs(a - b).reshape(8, -1).max(axis=1) > 0.05)


def test_render_shape_and_range():
    img = render(make_shape("cube"), np.eye(3), size=20)
    assert img.shape == (1, 20, 20) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
