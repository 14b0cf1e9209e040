"""Reading inference patterns off ExpressivE's hyper-parallelograms (paper Sec. 4-5, Theorems 5.1-5.2).

The paper's interpretability claim: a pattern is captured when the relations' hyper-parallelograms stand in
the matching spatial relation in the virtual triple space, e.g. hierarchy r1 => r2 when r1's parallelogram lies
inside r2's, symmetry when r's parallelogram is its own mirror image across the line h = t, composition
r1 o r2 => r3 when the *compositionally defined region* of r1 and r2 lies inside r3.

Every parallelogram is a product over the d dimensions of 2-D parallelograms P_i in the (h_i, t_i) plane, so
each check factorises over dimensions. We estimate, per dimension, the fraction of points of a region A_i that
lie in B_i by Monte Carlo on the square [-1, 1]^2 (the range of the tanh-mapped entities), and report

* ``rate``: the product over dimensions, i.e. the fraction of points of A (in R^{2d}) that lie in B: 1 for an
  exact containment;
* ``mean_dim``: the mean per-dimension fraction (how close to contained the dimensions are on average).

Regions: symmetry checks mirror(P_r) in P_r, inversion mirror(P_r1) in P_r2, hierarchy P_r1 in P_r2,
intersection (P_r1 and P_r2) in P_r3, composition {(x, z): exists y in [-1, 1], (x, y) in P_r1, (y, z) in P_r2}
in P_r3 (the existence of y is an interval intersection, computed exactly per sample).

Candidate rules come from the training triples (support and confidence of each rule in the data), so the
report says both what the data implies and what the geometry captured.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from expressive.model import ExpressivE, KGEModel

__all__ = ["Geometry", "analyse_patterns", "inside_fraction", "mine_rules"]


@dataclass
class Geometry:
    """Per relation and dimension: widths, centres, slopes (numpy, shape (R, d)) of a Base ExpressivE model."""

    d_h: np.ndarray
    d_t: np.ndarray
    c_h: np.ndarray
    c_t: np.ndarray
    s_h: np.ndarray
    s_t: np.ndarray

    @classmethod
    def of(cls, model: KGEModel) -> Geometry:
        if not isinstance(model, ExpressivE):
            raise ValueError(f"pattern analysis reads ExpressivE parallelograms; this run is {model.name}")
        if model.variant != "base":
            raise ValueError("Functional ExpressivE has no widths (its relations are lines): analyse a Base run")
        with torch.no_grad():
            p = model.relation_params(None)
        return cls(**{k: v.detach().double().cpu().numpy() for k, v in p.items()})

    def inside(self, r: int | np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether (x, y) (head, tail coordinates; broadcast against (d, ...)) lies in P_r per dimension."""
        g = {
            k: (getattr(self, k)[r][..., None] if np.ndim(r) == 0 else getattr(self, k)[r])
            for k in self.__dataclass_fields__
        }
        return (np.abs(x - g["c_h"] - g["s_t"] * y) <= g["d_h"]) & (np.abs(y - g["c_t"] - g["s_h"] * x) <= g["d_t"])

    def y_interval_from_head(self, r: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tails y with (x, y) in P_r, as an interval per dimension and sample (x: (d, M))."""
        c_h, c_t, s_h, s_t, d_h, d_t = (
            getattr(self, k)[r][:, None] for k in ("c_h", "c_t", "s_h", "s_t", "d_h", "d_t")
        )
        a, b = (x - c_h - d_h) / s_t, (x - c_h + d_h) / s_t  # s_t != 0 (shifted by 1e-4)
        lo1, hi1 = np.minimum(a, b), np.maximum(a, b)
        lo2, hi2 = c_t + s_h * x - d_t, c_t + s_h * x + d_t
        return np.maximum(lo1, lo2), np.minimum(hi1, hi2)

    def y_interval_from_tail(self, r: int, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heads y with (y, z) in P_r, as an interval per dimension and sample."""
        c_h, c_t, s_h, s_t, d_h, d_t = (
            getattr(self, k)[r][:, None] for k in ("c_h", "c_t", "s_h", "s_t", "d_h", "d_t")
        )
        lo1, hi1 = c_h + s_t * z - d_h, c_h + s_t * z + d_h
        safe = np.where(s_h == 0, 1.0, s_h)
        a, b = (z - c_t - d_t) / safe, (z - c_t + d_t) / safe
        lo2 = np.where(s_h == 0, np.where(np.abs(z - c_t) <= d_t, -np.inf, np.inf), np.minimum(a, b))
        hi2 = np.where(s_h == 0, np.where(np.abs(z - c_t) <= d_t, np.inf, -np.inf), np.maximum(a, b))
        return np.maximum(lo1, lo2), np.minimum(hi1, hi2)


def inside_fraction(in_a: np.ndarray, in_b: np.ndarray) -> dict[str, float | int | None]:
    """P(in B | in A) per dimension from boolean samples (d, M); product and mean over dimensions."""
    n_a = in_a.sum(axis=1)
    if (n_a == 0).any():
        return {"rate": None, "mean_dim": None, "min_samples": int(n_a.min())}
    per_dim = (in_a & in_b).sum(axis=1) / n_a
    return {"rate": float(np.prod(per_dim)), "mean_dim": float(per_dim.mean()), "min_samples": int(n_a.min())}


def mine_rules(train: np.ndarray, num_relations: int, max_compose_relations: int = 50) -> dict[str, list[dict]]:
    """Rules supported by the training triples: support (body count) and confidence (head given body)."""
    pairs: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for h, r, t in np.asarray(train):
        pairs[int(r)].add((int(h), int(t)))
    rels = sorted(pairs)
    out: dict[str, list[dict]] = {k: [] for k in ("symmetry", "inversion", "hierarchy", "intersection", "composition")}
    for r in rels:
        p = pairs[r]
        mirrored = {(t, h) for h, t in p}
        out["symmetry"].append({"relations": [r], "support": len(p), "confidence": len(p & mirrored) / len(p)})
        for r2 in rels:
            if r2 == r:
                continue
            out["inversion"].append(
                {"relations": [r, r2], "support": len(p), "confidence": len(mirrored & pairs[r2]) / len(p)}
            )
            out["hierarchy"].append(
                {"relations": [r, r2], "support": len(p), "confidence": len(p & pairs[r2]) / len(p)}
            )
    for i, r1 in enumerate(rels):
        for r2 in rels[i + 1 :]:
            both = pairs[r1] & pairs[r2]
            if not both:
                continue
            for r3 in rels:
                if r3 in (r1, r2):
                    continue
                out["intersection"].append(
                    {"relations": [r1, r2, r3], "support": len(both), "confidence": len(both & pairs[r3]) / len(both)}
                )
    if len(rels) <= max_compose_relations:
        succ: dict[int, dict[int, set[int]]] = {}
        for r in rels:
            s: dict[int, set[int]] = defaultdict(set)
            for h, t in pairs[r]:
                s[h].add(t)
            succ[r] = s
        for r1 in rels:
            for r2 in rels:
                comp = {(x, z) for x, y in pairs[r1] for z in succ[r2].get(y, ())}
                if not comp:
                    continue
                for r3 in rels:
                    out["composition"].append(
                        {
                            "relations": [r1, r2, r3],
                            "support": len(comp),
                            "confidence": len(comp & pairs[r3]) / len(comp),
                        }
                    )
    return out


def _samples(dim: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (dim, m)), rng.uniform(-1, 1, (dim, m))


def sample_region(geo: Geometry, r: int, m: int, seed: int = 0, rounds: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``m`` points per dimension uniform in P_r intersected with [-1, 1]^2, as (d, m) arrays (NaN = none).

    Per dimension, rejection from whichever of the two is smaller: the parallelogram (drawn exactly through its
    band coordinates u = x - c_h - s_t y in [-d_h, d_h], v = y - c_t - s_h x in [-d_t, d_t]) or the square.
    """
    rng = np.random.default_rng(seed)
    c_h, c_t, s_h, s_t, d_h, d_t = (getattr(geo, k)[r][:, None] for k in ("c_h", "c_t", "s_h", "s_t", "d_h", "d_t"))
    det = 1 - s_h * s_t
    area = 4 * d_h * d_t / np.maximum(np.abs(det), 1e-300)
    from_par = (area < 4) & (np.abs(det) > 1e-9)
    dim = c_h.shape[0]
    xs, ys = np.full((dim, m), np.nan), np.full((dim, m), np.nan)
    filled = np.zeros(dim, dtype=np.int64)
    safe_det = np.where(from_par, det, 1.0)
    for _ in range(rounds):
        if (filled >= m).all():
            break
        u = rng.uniform(-1, 1, (dim, m)) * d_h + c_h
        v = rng.uniform(-1, 1, (dim, m)) * d_t + c_t
        px, py = (u + s_t * v) / safe_det, (s_h * u + v) / safe_det
        bx, by = rng.uniform(-1, 1, (dim, m)), rng.uniform(-1, 1, (dim, m))
        cx, cy = np.where(from_par, px, bx), np.where(from_par, py, by)
        ok = (np.abs(cx) <= 1) & (np.abs(cy) <= 1) & geo.inside(r, cx, cy)
        slot = np.cumsum(ok, axis=1) - 1 + filled[:, None]
        take = ok & (slot < m)
        rows = np.nonzero(take)[0]
        xs[rows, slot[take]], ys[rows, slot[take]] = cx[take], cy[take]
        filled = np.minimum(m, filled + ok.sum(axis=1))
    return xs, ys


def geometric_rate(geo: Geometry, kind: str, rels: list[int], samples: int = 4096, seed: int = 0) -> dict:
    """Containment rate of the region a rule's body defines in the region of its head (module docstring)."""
    if kind == "composition":
        r1, r2, r3 = rels
        x, z = _samples(geo.c_h.shape[1], samples, seed)
        lo1, hi1 = geo.y_interval_from_head(r1, x)
        lo2, hi2 = geo.y_interval_from_tail(r2, z)
        lo = np.maximum(np.maximum(lo1, lo2), -1.0)
        hi = np.minimum(np.minimum(hi1, hi2), 1.0)
        return inside_fraction(lo <= hi, geo.inside(r3, x, z))
    x, y = sample_region(geo, rels[0], samples, seed)
    in_a = ~np.isnan(x)
    if kind == "symmetry":
        return inside_fraction(in_a, geo.inside(rels[0], y, x))
    if kind == "inversion":
        return inside_fraction(in_a, geo.inside(rels[1], y, x))
    if kind == "hierarchy":
        return inside_fraction(in_a, geo.inside(rels[1], x, y))
    if kind == "intersection":
        return inside_fraction(in_a & geo.inside(rels[1], x, y), geo.inside(rels[2], x, y))
    raise ValueError(f"unknown pattern {kind!r}")


def pair_inside(model: ExpressivE, r: int, heads: np.ndarray, tails: np.ndarray) -> dict[str, float]:
    """Fraction of entity pairs whose point lies in r's parallelogram (all 2d coordinates), and per coordinate."""
    geo = Geometry.of(model)
    with torch.no_grad():
        e = model.entity_repr(None).detach().double().cpu().numpy()
    ins = geo.inside(r, e[heads].T, e[tails].T)  # (d, n)
    return {"all_coordinates": float(ins.all(axis=0).mean()), "per_coordinate": float(ins.mean()), "n": int(len(heads))}


def analyse_patterns(
    model: KGEModel,
    train: np.ndarray,
    relation_names: list[str] | None = None,
    min_support: int = 10,
    min_confidence: float = 0.5,
    samples: int = 4096,
    seed: int = 0,
    max_compose_relations: int = 50,
) -> dict:
    """Rules the training data supports (confidence >= ``min_confidence``, support >= ``min_support``) with the
    geometric rate at which the trained parallelograms capture each, plus every relation's symmetry rate."""
    geo = Geometry.of(model)
    names = relation_names or [str(i) for i in range(model.num_relations)]
    mined = mine_rules(train, model.num_relations, max_compose_relations)
    report: dict = {
        "rules": {},
        "symmetry_all": [],
        "settings": {
            "min_support": min_support,
            "min_confidence": min_confidence,
            "samples": samples,
            "composition_mined": model.num_relations <= max_compose_relations,
        },
    }
    for kind, rules in mined.items():
        kept = [r for r in rules if r["support"] >= min_support and r["confidence"] >= min_confidence]
        kept.sort(key=lambda r: (-r["confidence"], -r["support"]))
        for rule in kept:
            rule |= geometric_rate(geo, kind, rule["relations"], samples, seed)
            rule["names"] = [names[i] for i in rule["relations"]]
        report["rules"][kind] = kept
    for r in range(model.num_relations):
        report["symmetry_all"].append({"relation": names[r], **geometric_rate(geo, "symmetry", [r], samples, seed)})
    return report


def format_report(report: dict) -> str:
    """A plain-text table of the rules and their geometric capture rates."""
    lines = []
    arrows = {
        "symmetry": "{0}(x,y) => {0}(y,x)",
        "inversion": "{0}(x,y) => {1}(y,x)",
        "hierarchy": "{0} => {1}",
        "intersection": "{0} & {1} => {2}",
        "composition": "{0} o {1} => {2}",
    }
    for kind, rules in report["rules"].items():
        lines.append(
            f"{kind}: {len(rules)} rule(s) with support >= {report['settings']['min_support']} and "
            f"confidence >= {report['settings']['min_confidence']}"
        )
        for rule in rules:
            rate = "empty" if rule["rate"] is None else f"{rule['rate']:.3f}"
            mean = "-" if rule["mean_dim"] is None else f"{rule['mean_dim']:.3f}"
            lines.append(
                f"  {arrows[kind].format(*rule['names']):<60s} conf {rule['confidence']:.2f} "
                f"support {rule['support']:>6d}  geometric rate {rate}  per-dim {mean}"
            )
    return "\n".join(lines)
