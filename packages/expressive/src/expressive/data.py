"""Knowledge graphs as triples: the standard TSV folders, vocabularies, and a synthetic KG with planted rules.

File format (WN18RR, FB15k-237 as released with ConvE, Dettmers et al. 2018): a folder with ``train.txt``,
``valid.txt`` and ``test.txt``, one ``head<TAB>relation<TAB>tail`` per line. CRLF line endings (FB15k-237)
are accepted; blank lines are skipped; any other line without exactly three non-empty tab-separated fields is
an error naming the file and line number. A triple repeated inside one split is kept once (the count is
reported in ``KG.stats``).

Unseen entities (those that occur in valid/test but not in train) follow one of three documented policies:

* ``keep`` (default; ConvE, libkge, the paper's tables for most baselines): the vocabulary is built from all
  three splits, so WN18RR has 40,943 entities and all 3,134 test triples are ranked; the 384 entities that
  occur only in valid/test keep their initial embeddings.
* ``drop`` (PyKEEN's ``TriplesFactory`` convention, which the official ExpressivE code inherits): the
  vocabulary is built from train only and valid/test triples with an unseen entity or relation are dropped
  (WN18RR: 40,559 entities, valid 2,824 of 3,034, test 2,924 of 3,134).
* ``error``: any valid/test triple with an entity or relation unseen in train is an error.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from orals23_shared.cli import UsageError

__all__ = [
    "KG",
    "SPLITS",
    "SyntheticKG",
    "UnseenPolicy",
    "encode",
    "load_kg",
    "read_triples",
    "synthetic_kg",
    "write_kg",
]

SPLITS = ("train", "valid", "test")
UnseenPolicy = Literal["keep", "drop", "error"]


def read_triples(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """Read one split file: ``head<TAB>relation<TAB>tail`` per line (CRLF accepted, blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"triple file not found: {path}")
    out: list[tuple[str, str, str]] = []
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise UsageError(
                    f"{path}:{lineno}: expected 3 tab-separated fields (head, relation, tail), got {len(parts)}: "
                    f"{line[:80]!r}"
                )
            h, r, t = (p.strip() for p in parts)
            if not (h and r and t):
                raise UsageError(f"{path}:{lineno}: empty head, relation or tail field: {line[:80]!r}")
            out.append((h, r, t))
    return out


@dataclass
class KG:
    """A KG with integer ids: ``train``/``valid``/``test`` are (n, 3) int64 arrays of (head, relation, tail)."""

    entities: list[str]
    relations: list[str]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    policy: str = "keep"
    stats: dict = field(default_factory=dict)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise UsageError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def all_triples(self) -> np.ndarray:
        """train + valid + test: the known true triples that the filtered setting removes from the candidates."""
        return np.concatenate([self.train, self.valid, self.test], axis=0)

    def entity_index(self) -> dict[str, int]:
        return {e: i for i, e in enumerate(self.entities)}

    def relation_index(self) -> dict[str, int]:
        return {r: i for i, r in enumerate(self.relations)}


def _dedupe(triples: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], int]:
    seen: dict[tuple[str, str, str], None] = dict.fromkeys(triples)
    return list(seen), len(triples) - len(seen)


def encode(
    triples: list[tuple[str, str, str]],
    entity_index: dict[str, int],
    relation_index: dict[str, int],
    unseen: UnseenPolicy,
    where: str,
) -> tuple[np.ndarray, int]:
    """Map string triples to ids; triples naming an unknown entity/relation are dropped or refused (``unseen``).

    ``keep`` cannot keep what the vocabulary lacks, so here it refuses like ``error`` (a run's vocabulary is
    fixed once trained). Returns the (n, 3) array and the number dropped.
    """
    ids = np.empty((len(triples), 3), dtype=np.int64)
    n = dropped = 0
    for h, r, t in triples:
        hi, ri, ti = entity_index.get(h), relation_index.get(r), entity_index.get(t)
        if hi is None or ri is None or ti is None:
            if unseen == "drop":
                dropped += 1
                continue
            what = f"entity {h!r}" if hi is None else (f"relation {r!r}" if ri is None else f"entity {t!r}")
            raise UsageError(
                f"{where}: triple ({h}, {r}, {t}) names {what}, unknown to the model's vocabulary "
                f"(pass --unseen drop to skip such triples, as PyKEEN does)"
            )
        ids[n] = (hi, ri, ti)
        n += 1
    return ids[:n], dropped


def load_kg(folder: str | os.PathLike, unseen: UnseenPolicy = "keep") -> KG:
    """Load ``folder/{train,valid,test}.txt`` with the unseen-entity policy (module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"data folder not found: {folder}")
    if unseen not in ("keep", "drop", "error"):
        raise UsageError(f"unknown unseen-entity policy {unseen!r}; choose keep, drop or error")
    raw: dict[str, list[tuple[str, str, str]]] = {}
    stats: dict = {"duplicates": {}, "dropped_unseen": {}}
    for name in SPLITS:
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise UsageError(f"{folder} has no {name}.txt (expected train.txt, valid.txt and test.txt)")
        raw[name], stats["duplicates"][name] = _dedupe(read_triples(path))
    if not raw["train"]:
        raise UsageError(f"{folder / 'train.txt'} holds no triples")
    vocab_splits = SPLITS if unseen == "keep" else ("train",)
    ents: dict[str, None] = {}
    rels: dict[str, None] = {}
    for name in vocab_splits:
        for h, r, t in raw[name]:
            ents.setdefault(h)
            ents.setdefault(t)
            rels.setdefault(r)
    entities, relations = sorted(ents), sorted(rels)
    e_index = {e: i for i, e in enumerate(entities)}
    r_index = {r: i for i, r in enumerate(relations)}
    arrays = {}
    for name in SPLITS:
        policy: UnseenPolicy = "drop" if unseen == "drop" else "error"
        arrays[name], stats["dropped_unseen"][name] = encode(raw[name], e_index, r_index, policy, str(folder / name))
    train_pairs = {(h, r, t) for h, r, t in raw["train"]}
    stats["test_in_train"] = sum(1 for tr in raw["test"] if tr in train_pairs)
    stats["counts"] = {name: len(arrays[name]) for name in SPLITS}
    return KG(entities, relations, arrays["train"], arrays["valid"], arrays["test"], policy=unseen, stats=stats)


def write_kg(kg: KG, folder: str | os.PathLike) -> Path:
    """Write ``kg`` as a triple folder (train/valid/test.txt) that ``load_kg`` and the CLIs read."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        lines = [f"{kg.entities[h]}\t{kg.relations[r]}\t{kg.entities[t]}\n" for h, r, t in kg.split(name)]
        (folder / f"{name}.txt").write_text("".join(lines), encoding="utf-8")
    return folder


@dataclass
class SyntheticKG:
    """A synthetic KG and the ids of its planted rules' held-out triples (rows of ``kg.test``/``kg.valid``)."""

    kg: KG
    groups: dict[str, np.ndarray]  # name -> (n, 3) test triples of that group
    rules: dict[str, str]


def synthetic_kg(
    num_entities: int = 300,
    seed: int = 0,
    max_out: int = 3,
    extra_fraction: float = 0.5,
    held_out: float = 0.2,
    valid_fraction: float = 0.1,
) -> SyntheticKG:
    """A KG with planted composition and hierarchy (brief, Sec. 3(d)2).

    * ``r1``, ``r2``: near-functional random relations, every entity has 1..``max_out`` tails (~600 triples each
      at 300 entities);
    * ``r3 = r1 o r2``: (x, r3, z) iff there is y with r1(x, y) and r2(y, z) (general composition);
    * ``r4``: random like r1; ``r5 = r4 u extra`` (hierarchy r4 => r5) with ``extra_fraction`` * |r4| more pairs.

    Held out (``held_out`` to test, ``valid_fraction`` to valid): r3 triples, and r5 triples whose r4 version is
    in train (the *implied* hierarchy triples). Everything else is training data. ``groups`` holds the test
    triples of each rule: ``composition`` (r3) and ``hierarchy`` (implied r5).
    """
    if num_entities < 20:
        raise UsageError(f"a synthetic KG needs at least 20 entities, got {num_entities}")
    rng = np.random.default_rng(seed)
    n = num_entities

    def functional() -> set[tuple[int, int]]:
        pairs = set()
        for x in range(n):
            for y in rng.choice(n, size=int(rng.integers(1, max_out + 1)), replace=False):
                pairs.add((x, int(y)))
        return pairs

    r1, r2, r4 = functional(), functional(), functional()
    succ2: dict[int, list[int]] = {}
    for y, z in r2:
        succ2.setdefault(y, []).append(z)
    r3 = {(x, z) for x, y in r1 for z in succ2.get(y, [])}
    extra: set[tuple[int, int]] = set()
    while len(extra) < int(extra_fraction * len(r4)):
        pair = (int(rng.integers(n)), int(rng.integers(n)))
        if pair not in r4:
            extra.add(pair)
    r5_implied = sorted(r4)

    def split(pairs: list[tuple[int, int]]) -> tuple[list, list, list]:
        order = rng.permutation(len(pairs))
        n_test, n_valid = int(round(held_out * len(pairs))), int(round(valid_fraction * len(pairs)))
        test = [pairs[i] for i in order[:n_test]]
        valid = [pairs[i] for i in order[n_test : n_test + n_valid]]
        train = [pairs[i] for i in order[n_test + n_valid :]]
        return train, valid, test

    r3_train, r3_valid, r3_test = split(sorted(r3))
    r5_train, r5_valid, r5_test = split(r5_implied)
    rel = {"r1": 0, "r2": 1, "r3": 2, "r4": 3, "r5": 4}

    def rows(pairs, r: str) -> list[tuple[int, int, int]]:
        return [(x, rel[r], y) for x, y in pairs]

    train = (
        rows(sorted(r1), "r1")
        + rows(sorted(r2), "r2")
        + rows(r3_train, "r3")
        + rows(sorted(r4), "r4")
        + rows(r5_train, "r5")
        + rows(sorted(extra), "r5")
    )
    valid = rows(r3_valid, "r3") + rows(r5_valid, "r5")
    test_comp, test_hier = rows(r3_test, "r3"), rows(r5_test, "r5")
    as_array = lambda x: np.asarray(x, dtype=np.int64).reshape(-1, 3)  # noqa: E731
    width = len(str(n - 1))
    kg = KG(
        entities=[f"e{i:0{width}d}" for i in range(n)],
        relations=list(rel),
        train=as_array(train),
        valid=as_array(valid),
        test=as_array(test_comp + test_hier),
        policy="keep",
        stats={
            "relation_sizes": {"r1": len(r1), "r2": len(r2), "r3": len(r3), "r4": len(r4), "r5": len(r4) + len(extra)}
        },
    )
    kg.stats["counts"] = {s: len(kg.split(s)) for s in SPLITS}
    return SyntheticKG(
        kg=kg,
        groups={"composition": as_array(test_comp), "hierarchy": as_array(test_hier)},
        rules={"composition": "r1(x,y) & r2(y,z) => r3(x,z)", "hierarchy": "r4(x,y) => r5(x,y)"},
    )


def relation_counts(triples: np.ndarray, num_relations: int) -> np.ndarray:
    """Triples per relation."""
    return np.bincount(triples[:, 1], minlength=num_relations)


def degree_stats(triples: np.ndarray, num_relations: int) -> tuple[np.ndarray, np.ndarray]:
    """Per relation: average tails per head (tph) and heads per tail (hpt), for Bernoulli sampling."""
    tph = np.ones(num_relations)
    hpt = np.ones(num_relations)
    for r in range(num_relations):
        sel = triples[triples[:, 1] == r]
        if len(sel):
            heads = Counter(sel[:, 0].tolist())
            tails = Counter(sel[:, 2].tolist())
            tph[r] = len(sel) / len(heads)
            hpt[r] = len(sel) / len(tails)
    return tph, hpt
