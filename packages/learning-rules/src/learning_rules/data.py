"""Synthetic data of the paper's experiments: a few inputs on the sphere and their targets.

Bordelon & Pehlevan (ICLR 2023) train on P ~ 10 points; the theory only sees the input Gram matrix
K_x = X X^T / D and the targets y. Inputs are scaled so |x|^2 = D (K_x has unit diagonal).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from orals23_shared.cli import UsageError

__all__ = ["sphere_inputs", "teacher_targets", "make_dataset", "read_matrix", "inputs_from_gram"]


def sphere_inputs(key: jax.Array, n_points: int, dim: int) -> jnp.ndarray:
    """``n_points`` inputs uniform on the sphere of radius sqrt(dim) in R^dim."""
    if n_points < 1 or dim < 1:
        raise UsageError(f"need n_points >= 1 and dim >= 1, got {n_points}, {dim}")
    z = jax.random.normal(key, (n_points, dim))
    return jnp.sqrt(dim) * z / jnp.linalg.norm(z, axis=1, keepdims=True)


def teacher_targets(key: jax.Array, X: jnp.ndarray, hidden: int = 64) -> jnp.ndarray:
    """Targets of a random two-layer tanh teacher, standardised to zero mean and unit variance."""
    k1, k2 = jax.random.split(key)
    W = jax.random.normal(k1, (hidden, X.shape[1]))
    a = jax.random.normal(k2, (hidden,))
    y = jnp.tanh(X @ W.T / jnp.sqrt(X.shape[1])) @ a / jnp.sqrt(hidden)
    y = y - y.mean()
    return y / jnp.maximum(y.std(), 1e-12)


def make_dataset(seed: int, n_points: int, dim: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(X, y): sphere inputs and teacher targets from one integer seed."""
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    X = sphere_inputs(kx, n_points, dim)
    return X, teacher_targets(ky, X)


def read_matrix(path, name: str) -> np.ndarray:
    """Read a whitespace- or comma-separated numeric matrix (one row per line, '#' comments).

    Bad input raises ``UsageError`` naming the file and the line: a missing file, a non-numeric entry,
    or rows of different lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{name} file not found: {path}")
    rows: list[list[float]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].replace(",", " ").strip()
        if not text:
            continue
        try:
            row = [float(v) for v in text.split()]
        except ValueError:
            raise UsageError(f"{path}:{lineno}: malformed line, expected numbers: {line.strip()!r}") from None
        if rows and len(row) != len(rows[0]):
            raise UsageError(f"{path}:{lineno}: expected {len(rows[0])} values, got {len(row)}")
        rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no numbers found")
    out = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise UsageError(f"{path}: contains non-finite values")
    return out


def inputs_from_gram(Kx: np.ndarray) -> np.ndarray:
    """Inputs X (P x P) with X X^T / P = K_x (a PSD kernel; negative round-off eigenvalues clipped)."""
    lam, V = np.linalg.eigh(Kx)
    return np.sqrt(Kx.shape[0]) * V * np.sqrt(np.clip(lam, 0.0, None))
