"""OGB link datasets read from local files in OGB's on-disk layout (a made-up tiny dataset, never a real one)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from elph.cli import eval_main, train_main
from elph.data import ring_lattice_edges
from elph.ogb import load_ogb
from elph.runners import evaluate_scores
from orals23_shared.cli import UsageError

N = 80


def _write_csv_gz(path: Path, rows: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        for row in np.atleast_2d(rows):
            f.write(",".join(fmt % v for v in row) + "\n")


def _make_ogb(
    root: Path, name: str, citation: bool = False, features: bool = True, seed: int = 0, numpy: bool = False
) -> dict:
    """Write ``root/<name with _>`` as ``LinkPropPredDataset`` lays it out; return what was written."""
    rng = np.random.default_rng(seed)
    edges = ring_lattice_edges(N, 6, 0.1, seed=seed)
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    perm = rng.permutation(len(edges))
    n_val, n_test = len(edges) // 10, len(edges) // 5
    val, test, train = edges[perm[:n_val]], edges[perm[n_val : n_val + n_test]], edges[perm[n_val + n_test :]]
    folder = root / name.replace("-", "_")
    raw = folder / "raw"
    _write_csv_gz(raw / "edge.csv.gz", train, "%d")
    _write_csv_gz(raw / "num-node-list.csv.gz", np.array([[N]]), "%d")
    _write_csv_gz(raw / "num-edge-list.csv.gz", np.array([[len(train)]]), "%d")
    x = rng.normal(size=(N, 4)).astype(np.float32)
    if features:
        _write_csv_gz(raw / "node-feat.csv.gz", x, "%.6f")
    split = folder / "split" / ("time" if citation else "tiny")
    split.mkdir(parents=True)
    written = {"train": train, "val": val, "test": test, "x": x}
    for part, pos in (("train", train), ("valid", val), ("test", test)):
        t = torch.from_numpy(pos)
        if citation:
            d = {"source_node": t[:, 0], "target_node": t[:, 1]}
            if part != "train":
                d["target_node_neg"] = torch.from_numpy(rng.integers(0, N, (len(pos), 5)))
        else:
            d = {"edge": t}
            if part != "train":
                d["edge_neg"] = torch.from_numpy(rng.integers(0, N, (3 * len(pos), 2)))
        torch.save({k: v.numpy() for k, v in d.items()} if numpy else d, split / f"{part}.pt")
        written[part + "_split"] = d
    return written


def _pairs(t: torch.Tensor) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in t.tolist()}


def test_ogb_loader_counts_splits_and_negatives(tmp_path):
    w = _make_ogb(tmp_path, "ogbl-tiny")
    g, splits, info = load_ogb(tmp_path, "ogbl-tiny", seed=0)
    assert (info.split, info.metric, info.k) == ("tiny", "hits", 100)
    assert g.num_nodes == N and g.num_edges == len(w["train"])
    assert torch.allclose(g.x, torch.from_numpy(w["x"]), atol=1e-6)
    assert torch.equal(splits["train"].pos, torch.from_numpy(w["train"]))
    for ours, theirs in (("val", "valid_split"), ("test", "test_split")):
        assert torch.equal(splits[ours].pos, w[theirs]["edge"])  # OGB positives as given
        assert torch.equal(splits[ours].neg, w[theirs]["edge_neg"])  # OGB negatives as given, none resampled
        assert splits[ours].neg_per_pos == 0
    # message passing: the training graph for every split (the validation edges are added only for collab)
    for sp in splits.values():
        assert _pairs(sp.edge_index.t()) == _pairs(torch.from_numpy(w["train"]))
    # training negatives: sampled once, 1:1, never a training edge nor a self-loop, the same for the same seed
    neg = splits["train"].neg
    assert len(neg) == len(w["train"]) and not (_pairs(neg) & _pairs(torch.from_numpy(w["train"])))
    assert bool((neg[:, 0] != neg[:, 1]).all())
    assert torch.equal(neg, load_ogb(tmp_path, "ogbl-tiny", seed=0)[1]["train"].neg)
    # the root may also be the dataset folder itself
    assert load_ogb(tmp_path / "ogbl_tiny", "ogbl-tiny")[0].num_edges == g.num_edges


def test_ogb_split_files_holding_numpy_arrays(tmp_path):
    """Some OGB split files store numpy arrays, not tensors: read them the same (and nothing else unpickles)."""
    w = _make_ogb(tmp_path, "ogbl-tiny", numpy=True)
    splits = load_ogb(tmp_path, "ogbl-tiny", seed=0)[1]
    assert torch.equal(splits["test"].pos, w["test_split"]["edge"])
    assert torch.equal(splits["test"].neg, w["test_split"]["edge_neg"])
    torch.save({"edge": w["test_split"]["edge"], "evil": print}, tmp_path / "ogbl_tiny" / "split" / "tiny" / "test.pt")
    with pytest.raises(UsageError, match="not a readable OGB split file"):
        load_ogb(tmp_path, "ogbl-tiny", seed=0)


def test_ogb_citation_style_mrr_per_source(tmp_path):
    w = _make_ogb(tmp_path, "ogbl-tinycite", citation=True, features=False)
    g, splits, info = load_ogb(tmp_path, "ogbl-tinycite")
    assert info.metric == "mrr" and g.x is None
    te, d = splits["test"], w["test_split"]
    assert te.neg_per_pos == 5 and len(te.neg) == 5 * len(te.pos)
    assert torch.equal(te.neg[:, 0], d["source_node"].repeat_interleave(5))  # source-major, like OGB
    assert torch.equal(te.neg[:, 1], d["target_node_neg"].reshape(-1))
    assert torch.equal(splits["train"].neg[:, 0], splits["train"].pos[:, 0])  # same-source training negatives
    # per-positive ranks against its own negatives: scores by hand
    pos = torch.tensor([5.0, 1.0])
    neg = torch.tensor([1.0, 2.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    m = evaluate_scores(pos, neg, (1, 2), neg_per_pos=5)
    # positive 0: one negative above (9) -> rank 2; positive 1: one tie (1) -> rank 1.5
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 1.5) / 2)
    assert m["hits@1"] == 0.0 and m["hits@2"] == 1.0


def test_ogb_collab_adds_validation_edges_at_test_and_filters_years(tmp_path):
    w = _make_ogb(tmp_path, "ogbl-collab")  # name only selects OGB's collab rules; the files are the tiny graph
    (tmp_path / "ogbl_collab" / "split" / "tiny").rename(tmp_path / "ogbl_collab" / "split" / "time")
    years = torch.arange(len(w["train"])) % 3 + 2005
    d = torch.load(tmp_path / "ogbl_collab" / "split" / "time" / "train.pt")
    torch.save(d | {"year": years}, tmp_path / "ogbl_collab" / "split" / "time" / "train.pt")
    g, splits, info = load_ogb(tmp_path, "ogbl-collab")
    assert (info.metric, info.k) == ("hits", 50)
    train, val = _pairs(torch.from_numpy(w["train"])), _pairs(torch.from_numpy(w["val"]))
    assert _pairs(splits["val"].edge_index.t()) == train
    assert _pairs(splits["test"].edge_index.t()) == train | val
    g7, s7, _ = load_ogb(tmp_path, "ogbl-collab", year=2007)
    kept = torch.from_numpy(w["train"])[years >= 2007]
    assert torch.equal(s7["train"].pos, kept) and _pairs(g7.edge_index.t()) == _pairs(kept)


def test_ogb_missing_file_is_named(tmp_path):
    _make_ogb(tmp_path, "ogbl-tiny")
    (tmp_path / "ogbl_tiny" / "split" / "tiny" / "valid.pt").unlink()
    with pytest.raises(UsageError, match=r"OGB file missing: .*ogbl_tiny/split/tiny/valid\.pt"):
        load_ogb(tmp_path, "ogbl-tiny")
    (tmp_path / "ogbl_tiny" / "raw" / "num-node-list.csv.gz").unlink()
    with pytest.raises(UsageError, match=r"num-node-list\.csv\.gz"):
        load_ogb(tmp_path, "ogbl-tiny")
    with pytest.raises(UsageError, match=r"no OGB dataset 'ogbl-ppa'.*ogbl_ppa/raw/edge\.csv\.gz"):
        load_ogb(tmp_path, "ogbl-ppa")


def test_ogb_bad_rows_are_reported(tmp_path):
    _make_ogb(tmp_path, "ogbl-tiny")
    _write_csv_gz(tmp_path / "ogbl_tiny" / "raw" / "edge.csv.gz", np.array([[0, 1], [1, N + 5]]), "%d")
    with pytest.raises(UsageError, match=r"edge\.csv\.gz: node ids outside"):
        load_ogb(tmp_path, "ogbl-tiny")
    with gzip.open(tmp_path / "ogbl_tiny" / "raw" / "edge.csv.gz", "wt") as f:
        f.write("0,1\n1,two\n")
    with pytest.raises(UsageError, match=r"edge\.csv\.gz: not a readable"):
        load_ogb(tmp_path, "ogbl-tiny")


@pytest.mark.parametrize("model", ["buddy", "heuristic"])
def test_elph_train_on_ogb_layout_end_to_end(tmp_path, model, capsys):
    _make_ogb(tmp_path / "data", "ogbl-tiny")
    run = tmp_path / "run"
    args = ["--dataset", "ogbl-tiny", "--root", str(tmp_path / "data"), "--model", model, "--out", str(run)]
    assert train_main([*args, "--epochs", "2", "--hidden", "16", "--batch-size", "64", "--quiet", "--k", "10"]) == 0
    capsys.readouterr()
    assert eval_main([str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"hits@10", "hits@100", "mrr", "auc"} <= set(metrics)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_nodes"] == N and summary["selection_metric"] == "hits@10"
    assert summary["test_hits@10"] == pytest.approx(metrics["hits@10"])
