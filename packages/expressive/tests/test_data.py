"""Loaders: WN18RR and FB15k-237 counts, the unseen-entity policies, bad files, the synthetic KG's planted rules."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from expressive.data import load_kg, read_triples, synthetic_kg, write_kg
from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data

WN18RR_MD5 = {
    "train.txt": "35e81af3ae233327c52a87f23b30ad3c",
    "valid.txt": "74a2ee9eca9a8d31f1a7d4d95b5e0887",
    "test.txt": "2b45ba1ba436b9d4ff27f1d3511224c9",
}


def test_wn18rr_counts_and_policies():
    root = require_shared_data("wn18rr")
    for name, md5 in WN18RR_MD5.items():
        assert hashlib.md5((root / name).read_bytes()).hexdigest() == md5, name
    kg = load_kg(root)  # keep: vocabulary from all splits
    assert (len(kg.train), len(kg.valid), len(kg.test)) == (86_835, 3_034, 3_134)
    assert (kg.num_entities, kg.num_relations) == (40_943, 11)
    assert kg.stats["duplicates"] == {"train": 0, "valid": 0, "test": 0}
    pk = load_kg(root, unseen="drop")  # PyKEEN: vocabulary from train, unseen triples dropped
    assert (pk.num_entities, len(pk.train), len(pk.valid), len(pk.test)) == (40_559, 86_835, 2_824, 2_924)
    assert pk.stats["dropped_unseen"] == {"train": 0, "valid": 210, "test": 210}
    with pytest.raises(UsageError, match="unknown to the model's vocabulary"):
        load_kg(root, unseen="error")


def test_fb15k237_crlf_counts():
    root = require_shared_data("fb15k-237")
    assert b"\r\n" in (root / "valid.txt").read_bytes()[:4096]
    kg = load_kg(root)
    assert (len(kg.train), len(kg.valid), len(kg.test)) == (272_115, 17_535, 20_466)
    assert (kg.num_entities, kg.num_relations) == (14_541, 237)
    assert not any(e.endswith("\r") for e in kg.entities)


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\nc\tr\n")
    with pytest.raises(UsageError, match=r"train.txt:2: expected 3 tab-separated fields"):
        read_triples(path)
    path.write_text("a\tr\tb\n\n\t r\tb\n")
    with pytest.raises(UsageError, match=r"train.txt:3: empty head"):
        read_triples(path)


def test_crlf_blank_lines_and_duplicates(tmp_path, write_triples):
    folder = tmp_path / "kg"
    folder.mkdir()
    write_triples(folder / "train.txt", [("a", "r", "b"), ("b", "r", "c"), ("a", "r", "b")], newline="\r\n")
    (folder / "valid.txt").write_text("a\tr\tc\r\n\r\n")
    write_triples(folder / "test.txt", [("c", "r", "a")])
    kg = load_kg(folder)
    assert kg.entities == ["a", "b", "c"] and kg.relations == ["r"]
    assert len(kg.train) == 2 and kg.stats["duplicates"]["train"] == 1
    assert len(kg.valid) == 1


def test_missing_and_empty_splits(tmp_path):
    folder = tmp_path / "kg"
    folder.mkdir()
    with pytest.raises(UsageError, match="has no train.txt"):
        load_kg(folder)
    for name in ("train", "valid", "test"):
        (folder / f"{name}.txt").write_text("")
    with pytest.raises(UsageError, match="holds no triples"):
        load_kg(folder)
    with pytest.raises(UsageError, match="data folder not found"):
        load_kg(tmp_path / "nope")


def test_unseen_policies_on_a_tiny_kg(tmp_path, write_triples):
    folder = tmp_path / "kg"
    folder.mkdir()
    write_triples(folder / "train.txt", [("a", "r", "b"), ("b", "r", "c")])
    write_triples(folder / "valid.txt", [("a", "r", "c")])
    write_triples(folder / "test.txt", [("a", "r", "z"), ("b", "s", "c"), ("c", "r", "a")])
    assert load_kg(folder).num_entities == 4 and len(load_kg(folder).test) == 3
    dropped = load_kg(folder, unseen="drop")
    assert dropped.num_entities == 3 and len(dropped.test) == 1 and dropped.stats["dropped_unseen"]["test"] == 2
    with pytest.raises(UsageError, match=r"entity 'z'"):
        load_kg(folder, unseen="error")


def test_synthetic_kg_plants_composition_and_hierarchy(tmp_path):
    syn = synthetic_kg(120, seed=3)
    kg = syn.kg
    every = kg.all_triples()
    by_rel = {r: {(int(h), int(t)) for h, rr, t in every if rr == r} for r in range(5)}
    succ = {}
    for y, z in by_rel[1]:
        succ.setdefault(y, set()).add(z)
    assert by_rel[2] == {(x, z) for x, y in by_rel[0] for z in succ.get(y, ())}  # r3 = r1 o r2 exactly
    assert by_rel[3] <= by_rel[4]  # r4 => r5
    train = {tuple(map(int, t)) for t in kg.train}
    for h, _r, t in syn.groups["hierarchy"]:
        assert (h, 3, t) in train and (h, 4, t) not in train
    for h, r, t in syn.groups["composition"]:
        assert r == 2 and (h, r, t) not in train
    assert {tuple(map(int, t)) for t in kg.test} == {
        tuple(map(int, t)) for t in np.concatenate(list(syn.groups.values()))
    }
    again = load_kg(write_kg(kg, tmp_path / "syn"))
    assert np.array_equal(again.train, kg.train) and again.entities == kg.entities
