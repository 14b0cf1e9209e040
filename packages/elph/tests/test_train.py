"""Models, metrics, CLIs (train / eval contract, resume, determinism) and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from elph.cli import eval_main, train_main
from elph.model import gcn_propagate, heuristic_scores
from elph.runners import evaluate_scores
from elph.seal import drnl, extract_subgraph

TINY = ["--epochs", "2", "--hidden", "16", "--batch-size", "256", "--quiet"]


def test_hits_mrr_auc_hand_computed():
    pos, neg = torch.tensor([5.0, 3.0, 1.0]), torch.tensor([4.0, 2.0, 0.0])
    m = evaluate_scores(pos, neg, (1, 2, 3, 4))
    assert m["hits@1"] == pytest.approx(1 / 3)  # only 5 > 4 (the best negative)
    assert m["hits@2"] == pytest.approx(2 / 3)  # 5 and 3 > 2
    assert m["hits@3"] == pytest.approx(1.0)  # all > 0
    assert m["hits@4"] == 1.0  # fewer than K negatives: every positive is a hit (OGB)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m["auc"] == pytest.approx(6 / 9)
    tie = evaluate_scores(torch.tensor([1.0]), torch.tensor([1.0, 1.0, 0.0]), (1,))
    assert tie["hits@1"] == 0.0  # strictly above the K-th negative


def test_heuristics_hand_computed():
    # 0-1, 0-2, 1-2, 1-3, 2-3, 3-4 ; degrees 2,3,3,3,1
    e = torch.tensor([[0, 0, 1, 1, 2, 3], [1, 2, 2, 3, 3, 4]])
    ei = torch.cat([e, e.flip(0)], dim=1)
    links = torch.tensor([[0, 3], [1, 2], [0, 4]])
    assert heuristic_scores(ei, 5, links, "cn").tolist() == [2.0, 2.0, 0.0]  # 0,3 share 1,2; 1,2 share 0,3
    assert heuristic_scores(ei, 5, links, "ra").tolist() == pytest.approx([2 / 3, 1 / 2 + 1 / 3, 0.0])
    assert heuristic_scores(ei, 5, links, "aa").tolist() == pytest.approx(
        [2 / np.log(3), 1 / np.log(2) + 1 / np.log(3), 0.0]
    )


def test_gcn_propagate_forms_powers_of_a_hat():
    """Â^2 X is the second power (the official sign_k code multiplies X again; not copied)."""
    e = torch.tensor([[0, 1, 2], [1, 2, 3]])
    ei = torch.cat([e, e.flip(0)], dim=1)
    a = torch.zeros(4, 4)
    a[ei[0], ei[1]] = 1
    a += torch.eye(4)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None]
    x = torch.randn(4, 3)
    assert torch.allclose(gcn_propagate(x, ei, 4, 2), a_hat @ a_hat @ x, atol=1e-6)


def test_drnl_on_a_path():
    """Path 2-0-1-3-4 with target (0,1) and its edge removed: du/dv -> DRNL by the SEAL formula."""
    a = sp.csr_matrix((np.ones(8), ([0, 2, 1, 3, 3, 4, 0, 1], [2, 0, 3, 1, 4, 3, 1, 0])), shape=(5, 5))
    nodes, sub, z = extract_subgraph(a, 0, 1, hops=2)
    assert nodes[:2].tolist() == [0, 1] and sorted(nodes.tolist()) == [0, 1, 2, 3, 4]
    assert sub[0, 1] == 0 and sub[1, 0] == 0
    lab = dict(zip(nodes.tolist(), z.tolist()))
    # node 2: du=1, dv=inf (v unreachable without u) -> 0; node 3: du=inf -> 0; targets -> 1
    assert lab == {0: 1, 1: 1, 2: 0, 3: 0, 4: 0}
    # triangle plus tail: 0-1, 0-2, 1-2, 2-3 ; target (0,1)
    b = sp.csr_matrix((np.ones(8), ([0, 1, 0, 2, 1, 2, 2, 3], [1, 0, 2, 0, 2, 1, 3, 2])), shape=(4, 4))
    nodes, sub, z = extract_subgraph(b, 0, 1, hops=2)
    lab = dict(zip(nodes.tolist(), z.tolist()))
    assert lab[2] == 2  # du = dv = 1: 1 + 1 + 1*(1 + 0 - 1)
    assert lab[3] == 5  # du = dv = 2: 1 + 2 + 2*(2 + 0 - 1)
    assert drnl(sub).tolist() == z.tolist()


@pytest.mark.parametrize(
    "model", ["buddy", "elph", "gcn", "sage", pytest.param("seal", marks=pytest.mark.slow), "heuristic"]
)
def test_train_and_eval_contract(tmp_path, edge_file, model, capsys):
    run = tmp_path / model
    extra = ["--seal-hops", "1", "--epochs", "1"] if model == "seal" else []
    assert train_main(["--model", model, "--edges", str(edge_file), "--out", str(run), *TINY, *extra]) == 0
    capsys.readouterr()
    assert eval_main([str(run), "--json", "--k", "20,50"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"hits@100", "hits@20", "hits@50", "mrr", "auc"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_hits@100"] == pytest.approx(metrics["hits@100"])
    assert summary["test_auc"] == pytest.approx(metrics["auc"])


def test_buddy_learns_and_is_deterministic(tmp_path, edge_file):
    args = [
        "--model",
        "buddy",
        "--edges",
        str(edge_file),
        "--epochs",
        "8",
        "--hidden",
        "32",
        "--batch-size",
        "128",
        "--lr",
        "0.01",
        "--quiet",
        "--seed",
        "3",
        "--k",
        "10",
    ]
    assert train_main([*args, "--out", str(tmp_path / "a")]) == 0
    assert train_main([*args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    for k in ("test_hits@100", "test_mrr", "test_auc", "best_epoch"):
        assert a[k] == b[k]
    # ring lattice: 90% of the edges close triangles, so the sketch features separate links from random pairs
    assert a["test_auc"] > 0.75


@pytest.mark.parametrize("model", ["buddy", "elph", "gcn"])
def test_resume_equals_an_uninterrupted_run(tmp_path, edge_file, model, monkeypatch):
    """2 epochs + 2 resumed epochs = 4 straight epochs (weights to 1e-6); the resumed run trains 2 epochs only,
    so a fresh restart that ignored the checkpoint would fail."""
    import dataclasses
    import importlib

    from elph.config import TrainConfig

    train_mod = importlib.import_module("elph.train")  # the module (the package exports the function as elph.train)

    base = TrainConfig(model=model, edges=edge_file, hidden=16, batch_size=128, quiet=True, seed=1)
    train_mod.train(dataclasses.replace(base, epochs=4, out=tmp_path / "straight"))
    train_mod.train(dataclasses.replace(base, epochs=2, out=tmp_path / "part"))
    calls = []
    make = train_mod.make_runner

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        runner = make(*args, **kwargs)
        epoch = runner.train_epoch
        runner.train_epoch = lambda gen: calls.append(1) or epoch(gen)
        return runner

    monkeypatch.setattr(train_mod, "make_runner", counting)
    resumed = train_mod.train(dataclasses.replace(base, epochs=4, out=tmp_path / "part", resume=True))
    assert len(calls) == 2
    a = torch.load(tmp_path / "straight" / "checkpoints" / "ckpt-00000004.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "checkpoints" / "ckpt-00000004.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.allclose(a["model"][k].double(), b["model"][k].double(), atol=1e-6, rtol=0), k
    straight = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert resumed["test_hits@100"] == pytest.approx(straight["test_hits@100"], abs=1e-9)
    assert resumed["best_epoch"] == straight["best_epoch"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 4]


def test_second_train_into_the_same_out_is_refused(tmp_path, edge_file, capsys):
    run = tmp_path / "run"
    args = ["train_entry", "--model", "heuristic", "--edges", str(edge_file), "--out", str(run), "--quiet"]
    assert _cli(args, capsys)[0] == 0
    code, err = _cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already holds a run" in err
    assert _cli([*args, "--overwrite"], capsys)[0] == 0
    code, err = _cli([*args, "--resume", "--heuristic", "cn"], capsys)
    assert code == 2 and "heuristic" in err and len(err.strip().splitlines()) == 1


def _cli(args: list[str], capsys) -> tuple[int, str]:  # noqa: ANN001
    """Run an entry point in-process through ``run_cli`` (as the console script does)."""
    from elph import cli
    from orals23_shared.cli import run_cli

    main = {"train_entry": cli.train_main, "eval_entry": cli.eval_main}[args[0]]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(main, args[1:])
    return int(exc.value.code), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train_entry", "--model", "buddy"], "exactly one of --dataset or --edges"),
        (["train_entry", "--edges", "/nonexistent/graph.txt"], "edge list not found: /nonexistent/graph.txt"),
        (["train_entry", "--dataset", "cora", "--root", "/nonexistent"], "no Planetoid 'cora' files"),
        (["train_entry", "--edges", "x.txt", "--hll-p", "30"], "hll_p must be in 4..16"),
        (["train_entry", "--dataset", "ogbl-madeup"], "needs --root DIR"),
        (["train_entry", "--dataset", "ogbl-collab", "--root", "/nonexistent"], "no OGB dataset 'ogbl-collab'"),
        (["train_entry", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["eval_entry", "/nonexistent/run", "--json"], "run folder not found"),
        (["eval_entry", "/tmp", "--k", "a,b"], "--k must be comma-separated integers"),
    ],
)
def test_cli_bad_input_one_line_exit_2(args, message, capsys):
    code, err = _cli(args, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_bad_edge_line_console_script(tmp_path):
    """The installed console script: a malformed line is reported with its number, exit code 2."""
    import os
    import shutil
    import subprocess
    import sys

    p = tmp_path / "bad.txt"
    p.write_text("0 1\n1 2\nthree four\n")
    exe = shutil.which("elph-train", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("elph-train console script not installed beside this python")
    out = subprocess.run([exe, "--edges", str(p), "--quiet"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "line 3" in out.stderr and "Traceback" not in out.stderr


def test_seal_batch_and_dgcnn_shapes():
    from elph.data import _undirected, ring_lattice_edges
    from elph.model import DGCNN
    from elph.seal import build_seal_data

    ei = _undirected(ring_lattice_edges(30, 4, 0.0, seed=0), 30)
    links = torch.tensor([[0, 1], [0, 15], [3, 5]])
    data = build_seal_data(ei, 30, links, torch.tensor([1.0, 0.0, 1.0]), hops=1, max_z=10)
    x, e, batch, center, y = data.batch(np.arange(3))
    assert x.shape[1] == 11 and batch.max().item() == 2 and center.tolist()[0] == [0, 1]
    for readout in ("sort", "mean"):
        out = DGCNN(11, 8, 2, k=10, readout=readout)(x, e, batch, center)
        assert out.shape == (3,)
