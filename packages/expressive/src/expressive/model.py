"""ExpressivE (Pavlovic & Sallinger, ICLR 2023, Sec. 3-4) and the baselines TransE, DistMult, RotatE, BoxE.

ExpressivE embeds an entity pair (h, t) as the point [h; t] of the *virtual triple space* R^{2d} and a relation
as a hyper-parallelogram: per dimension i the intersection of two bands,

    head band  |h_i - c^h_i - s^t_i t_i| <= d^h_i        tail band  |t_i - c^t_i - s^h_i h_i| <= d^t_i.

With tau = |[h; t] - [c^h; c^t] - [s^t; s^h] * [t; h]| (in R^{2d}), w = 2 [d^h; d^t] + 1 and
k = 0.5 (w - 1)(w - 1/w), the distance of the paper (Sec. 4, adopted from BoxE) is

    D = tau / w          where tau <= d (inside)
    D = tau * w - k      elsewhere (outside),

and the score is -||D||_p. Both branches equal d/(2d+1) at tau = d, so D is continuous per coordinate.

The paper writes the case split with the element-wise order, which we apply per coordinate (``switch =
"coordinate"``, the default). The official code (``ExpressivEInteraction.get_score``) switches per *triple*:
the inside branch only when all 2d coordinates are inside, otherwise every coordinate uses the outside branch.
That makes the score jump when one coordinate crosses its band while the others are inside (brief, Sec. 3(b));
``switch = "triple"`` reproduces it. Functional ExpressivE drops the widths: score = -||tau||_p.

Parameterisation as in the official ``Utils.preprocess_relations``: entities and centres through tanh, widths
tanh(|d|), slopes free except s^t += sign(s^t) * 1e-4 (never 0) and, for ``min_denom > 0`` (Base only), s^h
shifted so that |1 - s^h s^t| >= min_denom. Relation embeddings are stored as one (R, 6d) table in the
official order (d^h, d^t, c^h, c^t, s^h, s^t); initialisation N(0, 1) like PyKEEN's default.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "MODELS",
    "BoxE",
    "DistMult",
    "ExpressivE",
    "KGEModel",
    "RotatE",
    "TransE",
    "build_model",
    "expressive_distance",
    "preprocess_relation",
]

Switch = Literal["coordinate", "triple"]


def _sign1(x: Tensor) -> Tensor:
    """sign(x) with sign(0) = +1 (the official ``positive_sign``)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def preprocess_relation(
    raw: Tensor, variant: str = "base", tanh_map: bool = True, min_denom: float = 0.0
) -> dict[str, Tensor]:
    """Split a relation embedding (..., 6d) or (..., 4d) into widths, centres and slopes (module docstring)."""
    if variant == "functional":
        c_h, c_t, s_h, s_t = raw.tensor_split(4, dim=-1)
        if tanh_map:
            c_h, c_t = torch.tanh(c_h), torch.tanh(c_t)
        return {"c_h": c_h, "c_t": c_t, "s_h": s_h, "s_t": s_t}
    d_h, d_t, c_h, c_t, s_h, s_t = raw.tensor_split(6, dim=-1)
    d_h, d_t = d_h.abs(), d_t.abs()
    if tanh_map:
        d_h, d_t, c_h, c_t = torch.tanh(d_h), torch.tanh(d_t), torch.tanh(c_h), torch.tanh(c_t)
    s_t = s_t + _sign1(s_t) * 1e-4
    if min_denom > 0:
        denom = 1 - s_h * s_t
        fix = denom.abs() < min_denom
        s_h = torch.where(fix, s_h + (denom - _sign1(denom) * min_denom) / s_t, s_h)
    return {"d_h": d_h, "d_t": d_t, "c_h": c_h, "c_t": c_t, "s_h": s_h, "s_t": s_t}


def expressive_distance(tau: Tensor, width: Tensor, switch: Switch = "coordinate") -> Tensor:
    """The piecewise distance D(tau; d) of ExpressivE (module docstring); ``tau``, ``width`` broadcastable, (..., 2d).

    Per coordinate, D = max(tau / w, tau * w - k): the outside line has slope w >= 1 >= 1/w and meets the
    inside line at tau = d, so it lies below it inside and above it outside. The maximum is the same function
    as the case split, written without a branch (one pass fewer in eager torch).
    """
    w = 2 * width + 1
    inside = tau / w
    outside = torch.addcmul(-0.5 * (w - 1) * (w - 1 / w), tau, w)
    if switch == "coordinate":
        return torch.maximum(inside, outside)
    if switch == "triple":
        all_in = (tau <= width).all(dim=-1, keepdim=True)
        return torch.where(all_in, inside, outside)
    raise ValueError(f"switch must be 'coordinate' or 'triple', got {switch!r}")


def _norm(x: Tensor, p: int) -> Tensor:
    return torch.linalg.vector_norm(x, ord=p, dim=-1)


class KGEModel(nn.Module):
    """A KGE model: ``score(h, r, t)`` for broadcastable index tensors; higher is more plausible.

    Subclasses define ``entity_repr``/``relation_repr`` (gathered, preprocessed representations) and
    ``interaction(h, r, t)`` on representations. ``score_all`` scores every entity as tail (or head).
    """

    name = "kge"

    def __init__(self, num_entities: int, num_relations: int, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.num_entities, self.num_relations, self.dim = num_entities, num_relations, dim

    # -- representations ------------------------------------------------------------------
    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def relation_repr(self, idx: Tensor) -> Tensor:
        raise NotImplementedError

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of triples given as broadcastable index tensors; returns the broadcast shape."""
        return self.interaction(self.entity_repr(h), self.relation_repr(r), self.entity_repr(t))

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        """(anchor representation, relation representation) such that scoring every candidate as a *tail*
        with them gives the scores of ``side``. Models whose score is symmetric under swapping the roles of
        head and tail with a transformed relation (all of ours) map head prediction onto tail prediction, so
        one kernel (and one compiled graph) serves both sides."""
        raise NotImplementedError

    def tail_kernel(self, a: Tensor, rr: Tensor, cand: Tensor) -> Tensor:
        """(B, N) scores of (a_b, rr_b, cand_n): ``a`` (B, .), ``rr`` (B, .), ``cand`` (N, .) representations."""
        return self.interaction(a[:, None], rr[:, None], cand[None])

    def score_all(
        self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"], chunk: int = 0, kernel=None
    ) -> Tensor:
        """(B, N) scores of (anchor, r, e) for every entity e (``side="tail"``) or (e, r, anchor) (``"head"``).

        ``chunk`` > 0 splits the candidates so the (B, chunk, dim) intermediates stay in cache (eager mode);
        ``kernel`` replaces ``tail_kernel`` (e.g. a ``torch.compile``d copy of it).
        """
        a, rr = self.side_repr(anchor, r, side)
        return self.score_all_from(a, rr, self.entity_repr(None), chunk, kernel)

    def score_all_from(self, a: Tensor, rr: Tensor, cand: Tensor, chunk: int = 0, kernel=None) -> Tensor:
        """``score_all`` on representations from ``side_repr`` and ``entity_repr(None)``."""
        fn = kernel or self.tail_kernel
        n = cand.shape[0]
        if chunk <= 0 or chunk >= n:
            return fn(a, rr, cand)
        return torch.cat([fn(a, rr, cand[s : s + chunk]) for s in range(0, n, chunk)], dim=1)

    @torch.no_grad()
    def post_step(self) -> None:
        """Constraints applied after each optimiser step (e.g. TransE's unit-norm entities)."""

    def extra_repr(self) -> str:
        return f"entities={self.num_entities}, relations={self.num_relations}, dim={self.dim}"


class ExpressivE(KGEModel):
    """ExpressivE, Base (``variant="base"``) or Functional (``"functional"``); see the module docstring."""

    name = "expressive"

    def __init__(
        self,
        num_entities: int,
        num_relations: int,
        dim: int,
        variant: Literal["base", "functional"] = "base",
        switch: Switch = "coordinate",
        p: int = 2,
        tanh_map: bool = True,
        min_denom: float = 0.0,
    ) -> None:
        super().__init__(num_entities, num_relations, dim)
        if variant not in ("base", "functional"):
            raise ValueError(f"variant must be 'base' or 'functional', got {variant!r}")
        if min_denom > 0 and variant != "base":
            raise ValueError("min_denom applies to Base ExpressivE only (the official code refuses it too)")
        self.variant, self.switch, self.p, self.tanh_map, self.min_denom = variant, switch, p, tanh_map, min_denom
        self.entity = nn.Embedding(num_entities, dim)
        self.relation = nn.Embedding(num_relations, (6 if variant == "base" else 4) * dim)
        nn.init.normal_(self.entity.weight)
        nn.init.normal_(self.relation.weight)

    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        if not self.tanh_map:
            return self.entity.weight if idx is None else self.entity(idx)
        if idx is None or idx.numel() > self.num_entities:  # fewer tanh evaluations on the table
            table = torch.tanh(self.entity.weight)
            return table if idx is None else table[idx]
        return torch.tanh(self.entity(idx))

    def relation_repr(self, idx: Tensor) -> Tensor:
        return self.relation(idx)

    _ORDER = {"base": ("d_h", "d_t", "c_h", "c_t", "s_h", "s_t"), "functional": ("c_h", "c_t", "s_h", "s_t")}
    _MIRROR = {"d_h": "d_t", "d_t": "d_h", "c_h": "c_t", "c_t": "c_h", "s_h": "s_t", "s_t": "s_h"}

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        # score(e, r, t) = score(t, mirror(r), e): mirroring swaps the head and tail bands (and the order of
        # the 2d coordinates of tau, which no norm sees); done on the *preprocessed* parameters.
        rel = self.relation_params(r)
        names = self._ORDER[self.variant]
        if side == "head":
            names = tuple(self._MIRROR[n] for n in names)
        return self.entity_repr(anchor), torch.cat([rel[n] for n in names], dim=-1)

    def tail_kernel(self, a: Tensor, rr: Tensor, cand: Tensor) -> Tensor:
        parts = rr[:, None].tensor_split(len(self._ORDER[self.variant]), dim=-1)
        rel = dict(zip(self._ORDER[self.variant], parts))
        return self._score_params(a[:, None], rel, cand[None])

    def relation_params(self, idx: Tensor | None = None) -> dict[str, Tensor]:
        """Preprocessed widths, centres and slopes of relations ``idx`` (all when None)."""
        raw = self.relation.weight if idx is None else self.relation(idx)
        return preprocess_relation(raw, self.variant, self.tanh_map, self.min_denom)

    def tau(self, h: Tensor, rel: dict[str, Tensor], t: Tensor) -> tuple[Tensor, Tensor]:
        """The head and tail halves of tau = |[h; t] - [c^h; c^t] - [s^t; s^h] * [t; h]| (each (..., d))."""
        tau_h = torch.addcmul(h - rel["c_h"], rel["s_t"], t, value=-1).abs()
        tau_t = torch.addcmul(t - rel["c_t"], rel["s_h"], h, value=-1).abs()
        return tau_h, tau_t

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self._score_params(h, preprocess_relation(r, self.variant, self.tanh_map, self.min_denom), t)

    def _score_params(self, h: Tensor, rel: dict[str, Tensor], t: Tensor) -> Tensor:
        """-||D||_p over the 2d coordinates, computed half by half (no concatenated copy of tau)."""
        tau_h, tau_t = self.tau(h, rel, t)
        if self.variant == "functional":
            return -_norm2(_norm(tau_h, self.p), _norm(tau_t, self.p), self.p)
        if self.switch == "triple":
            all_in = ((tau_h <= rel["d_h"]).all(-1) & (tau_t <= rel["d_t"]).all(-1))[..., None]
            d_h = _branch(tau_h, rel["d_h"], all_in)
            d_t = _branch(tau_t, rel["d_t"], all_in)
        else:
            d_h = expressive_distance(tau_h, rel["d_h"])
            d_t = expressive_distance(tau_t, rel["d_t"])
        return -_norm2(_norm(d_h, self.p), _norm(d_t, self.p), self.p)


def _branch(tau: Tensor, width: Tensor, inside: Tensor) -> Tensor:
    w = 2 * width + 1
    return torch.where(inside, tau / w, torch.addcmul(-0.5 * (w - 1) * (w - 1 / w), tau, w))


def _norm2(a: Tensor, b: Tensor, p: int) -> Tensor:
    """The p-norm of the concatenation of two vectors, from their p-norms a and b."""
    a, b = torch.broadcast_tensors(a, b)
    return a + b if p == 1 else torch.linalg.vector_norm(torch.stack([a, b], dim=-1), ord=p, dim=-1)


class TransE(KGEModel):
    """TransE (Bordes et al., 2013): score = -||h + r - t||_p, entities renormalised to unit L2 norm after
    every step; Xavier-uniform init (entities) and Xavier-uniform then unit-norm (relations), as PyKEEN."""

    name = "transe"

    def __init__(self, num_entities: int, num_relations: int, dim: int, p: int = 1) -> None:
        super().__init__(num_entities, num_relations, dim)
        self.p = p
        self.entity = nn.Embedding(num_entities, dim)
        self.relation = nn.Embedding(num_relations, dim)
        bound = math.sqrt(6 / dim)  # PyKEEN's xavier_uniform_ on an embedding table: fan_out = dim
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.uniform_(self.relation.weight, -bound, bound)
        with torch.no_grad():
            self.relation.weight.div_(self.relation.weight.norm(dim=-1, keepdim=True))
            self.post_step()

    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        return self.entity.weight if idx is None else self.entity(idx)

    def relation_repr(self, idx: Tensor) -> Tensor:
        return self.relation(idx)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return -_norm(h + r - t, self.p)

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        # ||e + r - t|| = ||(t - r) - e||: head prediction is tail prediction with -r
        rr = self.relation(r)
        return self.entity(anchor), (rr if side == "tail" else -rr)

    def tail_kernel(self, a: Tensor, rr: Tensor, cand: Tensor) -> Tensor:
        return -torch.cdist(a + rr, cand, p=self.p, compute_mode="donot_use_mm_for_euclid_dist")

    @torch.no_grad()
    def post_step(self) -> None:
        w = self.entity.weight
        w.div_(w.norm(dim=-1, keepdim=True).clamp_min(1e-12))


class DistMult(KGEModel):
    """DistMult (Yang et al., 2015): score = <h, r, t>; PyKEEN's init (Xavier-uniform entities, unit-norm
    Xavier-normal relations) and unit-norm entities after every step; no regulariser (like every run here)."""

    name = "distmult"

    def __init__(self, num_entities: int, num_relations: int, dim: int) -> None:
        super().__init__(num_entities, num_relations, dim)
        self.entity = nn.Embedding(num_entities, dim)
        self.relation = nn.Embedding(num_relations, dim)
        bound = math.sqrt(6 / dim)
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.normal_(self.relation.weight)
        with torch.no_grad():
            self.relation.weight.div_(self.relation.weight.norm(dim=-1, keepdim=True))
            self.post_step()

    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        return self.entity.weight if idx is None else self.entity(idx)

    def relation_repr(self, idx: Tensor) -> Tensor:
        return self.relation(idx)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(-1)

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        return self.entity(anchor), self.relation(r)  # symmetric in head and tail

    def tail_kernel(self, a: Tensor, rr: Tensor, cand: Tensor) -> Tensor:
        return (a * rr) @ cand.T

    @torch.no_grad()
    def post_step(self) -> None:
        w = self.entity.weight
        w.div_(w.norm(dim=-1, keepdim=True).clamp_min(1e-12))


class RotatE(KGEModel):
    """RotatE (Sun et al., 2019): entities in C^d (2d reals), relations are phases; score = -sum_i |h_i r_i - t_i|
    (p = 1 over the complex moduli, the RotatE paper; p = 2 is PyKEEN's). Entities uniform in
    [-(gamma + 2)/d, (gamma + 2)/d] with gamma = 3 (RotatE's init), phases uniform in [-pi, pi]."""

    name = "rotate"

    def __init__(self, num_entities: int, num_relations: int, dim: int, p: int = 1, margin: float = 3.0) -> None:
        super().__init__(num_entities, num_relations, dim)
        self.p = p
        self.entity = nn.Embedding(num_entities, 2 * dim)
        self.phase = nn.Embedding(num_relations, dim)
        bound = (margin + 2.0) / dim
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.uniform_(self.phase.weight, -math.pi, math.pi)

    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        return self.entity.weight if idx is None else self.entity(idx)

    def relation_repr(self, idx: Tensor) -> Tensor:
        return self.phase(idx)

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        # |e o r - t| = |t o conj(r) - e| since |r_i| = 1: head prediction rotates by the negative phase
        ph = self.phase(r)
        return self.entity(anchor), (ph if side == "tail" else -ph)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        hr, hi = h.chunk(2, dim=-1)
        tr, ti = t.chunk(2, dim=-1)
        cos, sin = torch.cos(r), torch.sin(r)
        re = hr * cos - hi * sin - tr
        im = hr * sin + hi * cos - ti
        modulus = (re * re + im * im + 1e-12).sqrt()
        return -_norm(modulus, self.p)


class BoxE(KGEModel):
    """BoxE (Abboud et al., 2020) as in PyKEEN's ``BoxEInteraction``: entities have a base position and a bump,
    relations a head box and a tail box (centre, shape normalised to geometric mean 1, size elu(s) + 1);
    score = -||dist(tanh(h + b_t), box_h)||_p - ||dist(tanh(t + b_h), box_t)||_p with the same piecewise
    point-to-box distance as ExpressivE (w = box width + 1)."""

    name = "boxe"

    def __init__(self, num_entities: int, num_relations: int, dim: int, p: int = 2, tanh_map: bool = True) -> None:
        super().__init__(num_entities, num_relations, dim)
        self.p, self.tanh_map = p, tanh_map
        self.entity = nn.Embedding(num_entities, 2 * dim)  # [position; bump]
        self.relation = nn.Embedding(num_relations, 4 * dim + 2)  # [base_h; delta_h; base_t; delta_t; size_h, size_t]
        with torch.no_grad():  # PyKEEN: uniform_norm_ (uniform, then unit norm per vector) and uniform_ sizes
            for table, parts in ((self.entity.weight, 2), (self.relation.weight[:, : 4 * dim], 4)):
                for j in range(parts):
                    block = torch.rand(table.shape[0], dim)
                    table[:, j * dim : (j + 1) * dim] = block / block.norm(dim=-1, keepdim=True)
            self.relation.weight[:, 4 * dim :] = torch.rand(num_relations, 2)

    def entity_repr(self, idx: Tensor | None = None) -> Tensor:
        return self.entity.weight if idx is None else self.entity(idx)

    def relation_repr(self, idx: Tensor) -> Tensor:
        return self.relation(idx)

    def side_repr(self, anchor: Tensor, r: Tensor, side: Literal["tail", "head"]) -> tuple[Tensor, Tensor]:
        # the score is symmetric under swapping head/tail together with the two boxes
        rr = self.relation(r)
        if side == "head":
            d = self.dim
            rr = torch.cat([rr[:, 2 * d : 4 * d], rr[:, : 2 * d], rr[:, 4 * d + 1 :], rr[:, 4 * d : 4 * d + 1]], dim=-1)
        return self.entity(anchor), rr

    def _box(self, base: Tensor, delta: Tensor, size: Tensor) -> tuple[Tensor, Tensor]:
        delta = delta / delta.abs().clamp_min(1e-12).log().mean(-1, keepdim=True).exp().clamp_min(1e-12)
        half = 0.5 * (nn.functional.elu(size) + 1) * delta
        low, high = torch.minimum(base - half, base + half), torch.maximum(base - half, base + half)
        if self.tanh_map:
            low, high = torch.tanh(low), torch.tanh(high)
        return low, high

    def _position_score(self, point: Tensor, low: Tensor, high: Tensor) -> Tensor:
        if self.tanh_map:
            point = torch.tanh(point)
        width = high - low
        w = width + 1
        tau = (point - 0.5 * (low + high)).abs()
        inside = (point >= low) & (point <= high)
        dist = torch.where(inside, tau / w, tau * w - 0.5 * width * (w - 1 / w))
        return -_norm(dist, self.p)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        d = self.dim
        h_pos, h_bump = h.split(d, dim=-1)
        t_pos, t_bump = t.split(d, dim=-1)
        base_h, delta_h, base_t, delta_t = r[..., : 4 * d].split(d, dim=-1)
        size_h, size_t = r[..., 4 * d : 4 * d + 1], r[..., 4 * d + 1 : 4 * d + 2]
        low_h, high_h = self._box(base_h, delta_h, size_h)
        low_t, high_t = self._box(base_t, delta_t, size_t)
        return self._position_score(h_pos + t_bump, low_h, high_h) + self._position_score(t_pos + h_bump, low_t, high_t)


MODELS = ("expressive", "transe", "distmult", "rotate", "boxe")


def build_model(
    name: str,
    num_entities: int,
    num_relations: int,
    dim: int,
    *,
    variant: str = "base",
    switch: str = "coordinate",
    p: int | None = None,
    tanh_map: bool = True,
    min_denom: float = 0.0,
    margin: float = 3.0,
) -> KGEModel:
    """One of ``MODELS``; ``p=None`` takes each model's default norm (ExpressivE/BoxE 2, TransE/RotatE 1)."""
    if name == "expressive":
        return ExpressivE(num_entities, num_relations, dim, variant, switch, p or 2, tanh_map, min_denom)  # type: ignore[arg-type]
    if name == "transe":
        return TransE(num_entities, num_relations, dim, p or 1)
    if name == "distmult":
        return DistMult(num_entities, num_relations, dim)
    if name == "rotate":
        return RotatE(num_entities, num_relations, dim, p or 1, margin)
    if name == "boxe":
        return BoxE(num_entities, num_relations, dim, p or 2, tanh_map)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
