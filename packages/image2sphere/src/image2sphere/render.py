"""Offline renderer of SYMSOL-like objects (Murphy et al. 2021; used in Klee et al. 2023, Sec. 5.3).

Every shape is a convex polyhedron ``{x : n_k . x <= h_k}``: cube, tetrahedron, icosahedron, a cone
(pyramid over a regular 64-gon) and a cylinder (prism over a 64-gon). Rays are orthographic along the
camera's -z axis; a ray hits when its entry parameter ``max_k`` over front-facing planes is below its
exit ``min_k`` over back-facing planes, and the hit face is the arg-max of the entry. The face is shaded
with a Lambert term from a light fixed in the camera frame times the face's albedo:

    I = albedo_k * (ambient + (1 - ambient) * max(0, (R n_k) . L))

With equal albedo on all faces the image at pose ``R`` equals the image at ``R S`` for every proper
symmetry ``S`` of the shape (S permutes the faces), so labels are ambiguous exactly up to the group:
24 rotations for the cube, 12 for the tetrahedron, 60 for the icosahedron, 64 (cone) and 128
(cylinder) for the polygonal solids. ``cube_marked`` gives its six faces six different albedos, which
leaves only the identity.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["Shape", "SHAPES", "make_shape", "render", "symmetry_group"]

_PHI = (1 + 5**0.5) / 2
N_SIDES = 64


@dataclass(frozen=True)
class Shape:
    """A convex polyhedron: unit face normals (F, 3), offsets (F,), albedo per face, symmetry group."""

    name: str
    normals: np.ndarray
    offsets: np.ndarray
    albedo: np.ndarray
    symmetries: np.ndarray  # (G, 3, 3) proper rotations S with S(shape) = shape (and equal albedos)


def _proper_signed_permutations() -> np.ndarray:
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for i, j in enumerate(perm):
                m[i, j] = signs[i]
            if np.linalg.det(m) > 0:
                mats.append(m)
    return np.array(mats)


def _stabiliser(candidates: np.ndarray, normals: np.ndarray, albedo: np.ndarray) -> np.ndarray:
    """The candidates that map the set of (normal, albedo) pairs onto itself."""
    keep = []
    for s in candidates:
        mapped = normals @ s.T
        d = np.linalg.norm(mapped[:, None, :] - normals[None, :, :], axis=-1)
        j = d.argmin(axis=1)
        if np.all(d[np.arange(len(j)), j] < 1e-6) and np.allclose(albedo[j], albedo):
            keep.append(s)
    return np.array(keep)


def _closure(generators: list[np.ndarray]) -> np.ndarray:
    group = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier:
        new = []
        for g in frontier:
            for h in generators:
                m = g @ h
                if not any(np.allclose(m, q, atol=1e-8) for q in group):
                    group.append(m)
                    new.append(m)
        frontier = new
    return np.array(group)


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _from_vertices(normals: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    v = vertices / np.linalg.norm(vertices, axis=1).max()  # circumradius 1
    return n, (v @ n.T).max(axis=0)


def make_shape(name: str) -> Shape:
    """Build one of ``SHAPES`` (circumradius 1, centred at the origin)."""
    if name in ("cube", "cube_marked"):
        verts = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))
        normals = np.concatenate([np.eye(3), -np.eye(3)])
        n, h = _from_vertices(normals, verts)
        albedo = np.ones(6) if name == "cube" else np.array([1.0, 0.85, 0.7, 0.55, 0.45, 0.35])
        return Shape(name, n, h, albedo, _stabiliser(_proper_signed_permutations(), n, albedo))
    if name == "tetrahedron":
        verts = np.array([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
        n, h = _from_vertices(-verts, verts)
        albedo = np.ones(4)
        return Shape(name, n, h, albedo, _stabiliser(_proper_signed_permutations(), n, albedo))
    if name == "icosahedron":
        verts = []
        for a, b in itertools.product((-1.0, 1.0), repeat=2):
            verts += [[0, a, b * _PHI], [a, b * _PHI, 0], [b * _PHI, 0, a]]
        verts = np.array(verts)
        normals = [list(s) for s in itertools.product((-1.0, 1.0), repeat=3)]
        for a, b in itertools.product((-1.0, 1.0), repeat=2):
            normals += [[a / _PHI, 0, b * _PHI], [b * _PHI, a / _PHI, 0], [0, b * _PHI, a / _PHI]]
        n, h = _from_vertices(np.array(normals), verts)
        gens = [_axis_rotation(np.array([0, 1.0, _PHI]), 2 * np.pi / 5), _axis_rotation(np.ones(3), 2 * np.pi / 3)]
        albedo = np.ones(len(n))
        return Shape(name, n, h, albedo, _closure(gens))
    if name in ("cone", "cylinder"):
        theta = 2 * np.pi * np.arange(N_SIDES) / N_SIDES
        ring = np.stack([np.cos(theta), np.sin(theta), np.zeros(N_SIDES)], 1)
        rot_z = [_axis_rotation(np.array([0, 0, 1.0]), t) for t in theta]
        if name == "cylinder":
            r, half = 0.6, 0.8
            verts = np.concatenate([r * ring + [0, 0, half], r * ring - [0, 0, half]])
            normals = np.concatenate([ring, [[0, 0, 1.0], [0, 0, -1.0]]])
            flip = _axis_rotation(np.array([1.0, 0, 0]), np.pi)
            syms = np.array(rot_z + [m @ flip for m in rot_z])
        else:
            r, half = 0.7, 0.7
            verts = np.concatenate([r * ring - [0, 0, half], [[0, 0, half]]])
            normals = np.concatenate([2 * half * ring + [0, 0, r], [[0, 0, -1.0]]])
            syms = np.array(rot_z)
        # face normals at the polygon's edge midpoints: rotate by half a step
        half_step = _axis_rotation(np.array([0, 0, 1.0]), np.pi / N_SIDES)
        normals = normals @ half_step.T
        n, h = _from_vertices(normals, verts)
        return Shape(name, n, h, np.ones(len(n)), syms)
    raise UsageError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")


SHAPES = ("cube", "tetrahedron", "icosahedron", "cone", "cylinder", "cube_marked")


def symmetry_group(name: str) -> np.ndarray:
    """(G, 3, 3) proper symmetry rotations of a shape."""
    return make_shape(name).symmetries


def render(
    shape: Shape,
    rotations: np.ndarray,
    size: int = 64,
    ambient: float = 0.3,
    light: tuple[float, float, float] = (0.4, 0.5, 1.0),
    half_width: float = 1.1,
) -> np.ndarray:
    """Grayscale images (N, size, size) float32 in [0, 1] of ``shape`` posed by ``rotations`` (N, 3, 3).

    Pixel (row, col) looks along -z at camera coordinates x = col, y = -row (both spanning
    [-half_width, half_width]); the object point p sits at ``R p``.
    """
    rot = np.asarray(rotations, dtype=np.float64)
    if rot.ndim == 2:
        rot = rot[None]
    lin = (np.arange(size) + 0.5) / size * 2 * half_width - half_width
    ys, xs = np.meshgrid(-lin, lin, indexing="ij")
    origin = np.stack([xs, ys, np.full_like(xs, 3.0)], -1).reshape(-1, 3)  # (P, 3) camera frame
    direction = np.array([0.0, 0.0, -1.0])
    L = np.asarray(light, dtype=np.float64)
    L = L / np.linalg.norm(L)
    out = np.zeros((rot.shape[0], size * size), dtype=np.float32)
    for b, r in enumerate(rot):
        n_world = shape.normals @ r.T  # (F, 3)
        nd = n_world @ direction  # (F,)
        no = origin @ n_world.T  # (P, F)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (shape.offsets[None, :] - no) / nd[None, :]
        front = nd < 0
        t_in = np.where(front[None, :], t, -np.inf)
        t_out = np.where(~front[None, :], t, np.inf)
        enter = t_in.max(axis=1)
        hit = enter <= t_out.min(axis=1)
        face = t_in.argmax(axis=1)
        shade = shape.albedo * (ambient + (1 - ambient) * np.clip(n_world @ L, 0, None))
        out[b] = np.where(hit, shade[face], 0.0)
    return out.reshape(-1, size, size)
