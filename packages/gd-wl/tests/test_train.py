"""Training: run folders, exact resume (2 + 2 steps = 4 steps; kill -9 then --resume), eval, other data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gd_wl.cli import eval_main, train_main
from gd_wl.train import TrainConfig, load_run, train
from orals23_shared.checkpoint import latest
from orals23_shared.cli import run_cli
from orals23_shared.runs import read_metrics

TINY = ["--layers", "1", "--hidden", "8", "--ffn", "8", "--heads", "2", "--kernels", "4", "--n-train", "24",
        "--n-val", "8", "--n-test", "8", "--batch-size", "8", "--threads", "1", "--quiet"]  # fmt: skip


def tiny(out, **kw) -> TrainConfig:
    base = dict(layers=1, hidden=8, ffn=8, heads=2, kernels=4, n_train=24, n_val=8, n_test=8, batch_size=8,
                threads=1, quiet=True, attn_dropout=0.3, act_dropout=0.3, out=Path(out))  # fmt: skip
    return TrainConfig(**{**base, **kw})


def weights(run) -> dict[str, torch.Tensor]:
    return torch.load(latest(Path(run) / "checkpoints", ".ckpt"), weights_only=False)["state_dict"]


def call(main, argv, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_train_writes_a_run_and_refuses_a_used_out(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = call(train_main, [*TINY, "--epochs", "2", "--out", str(out)], capsys)
    assert code == 0 and "test_node_acc" in json.loads(stdout)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and 0 <= summary["test_edge_graph_acc"] <= 1
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2]
    code, _, err = call(train_main, [*TINY, "--epochs", "2", "--out", str(out)], capsys)
    assert code == 2 and "already holds a run" in err and len(err.strip().splitlines()) == 1
    code, stdout, _ = call(eval_main, [str(out), "--json"], capsys)
    assert code == 0 and json.loads(stdout)["node_acc"] == pytest.approx(summary["test_node_acc"])


@pytest.mark.parametrize("model", ["graphormer-gd", "gin"])
def test_two_plus_two_resumed_steps_equal_four(tmp_path, model):
    # 3 batches per epoch: the resumed half starts mid-epoch; dropout > 0, so the RNG state must be restored too
    straight = tmp_path / "straight"
    train(tiny(straight, model=model, max_steps=4, epochs=3))
    split = tmp_path / "split"
    train(tiny(split, model=model, max_steps=2, epochs=3, checkpoint_every=1))
    train(tiny(split, model=model, max_steps=4, epochs=3, checkpoint_every=1, resume=True))
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    losses = lambda run: [r["train_loss"] for r in read_metrics(run)]  # noqa: E731
    assert losses(straight) == pytest.approx(losses(split), abs=1e-6)


def test_resume_refuses_a_changed_model(tmp_path, capsys):
    out = tmp_path / "run"
    train(tiny(out, max_steps=1))
    code, _, err = call(train_main, [*TINY, "--hidden", "16", "--out", str(out), "--resume"], capsys)
    assert code == 2 and "hidden" in err


def test_kill_9_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    args = [*TINY, "--epochs", "15", "--checkpoint-every", "5", "--seed", "3"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", "from gd_wl.cli import train_entry; train_entry()", *args,
                             "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 300
    while latest(killed / "checkpoints", ".ckpt") is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"
    resumed = subprocess.run([sys.executable, "-c", "from gd_wl.cli import train_entry; train_entry()", *args,
                              "--out", str(killed), "--resume"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    train(tiny(straight, epochs=15, checkpoint_every=5, seed=3, attn_dropout=0.1, act_dropout=0.1))
    a, b = json.loads((straight / "summary.json").read_text()), json.loads((killed / "summary.json").read_text())
    for k in a:
        if k.startswith(("test_", "val_")) or k in ("steps", "epochs"):
            assert a[k] == pytest.approx(b[k], abs=1e-9), k
    wa, wb = weights(straight), weights(killed)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6, rtol=0) for k in wa)
    epochs = [r["epoch"] for r in read_metrics(killed)]
    assert epochs == list(range(1, 16))  # records after the checkpoint were dropped and logged again, once


def test_pyg_list_and_zinc_files_train_and_evaluate(tmp_path, capsys, write_zinc):
    from torch_geometric.data import Data

    datas = []
    for i in range(30):
        n = 4 + i % 5
        ring = [(j, (j + 1) % n) for j in range(n)]
        ei = torch.tensor(ring + [(v, u) for u, v in ring]).t()
        datas.append(Data(edge_index=ei, num_nodes=n, x=torch.randn(n, 3), y=torch.tensor([[float(n)]])))
    torch.save(datas, tmp_path / "graphs.pt")
    out = tmp_path / "pyg"
    code, stdout, _ = call(train_main, [*TINY, "--data", "pyg", "--data-path", str(tmp_path / "graphs.pt"),
                                        "--task", "graph-regression", "--epochs", "1", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0 and "test_mae" in json.loads(stdout)
    zinc = tmp_path / "zinc"
    zinc.mkdir()
    write_zinc(zinc, n_mols=12, subset=tuple(range(10)))
    code, stdout, _ = call(train_main, [*TINY, "--data", "zinc", "--data-path", str(zinc), "--epochs", "1",
                                        "--out", str(tmp_path / "z")], capsys)  # fmt: skip
    assert code == 0 and "test_mae" in json.loads(stdout)
    _, module = load_run(tmp_path / "z")
    assert module.model.encoder.spd_add.edge is not None  # bond types feed the multi-hop edge encoding
    code, _, err = call(train_main, [*TINY, "--data", "pyg", "--data-path", str(tmp_path / "graphs.pt"),
                                     "--out", str(tmp_path / "p2")], capsys)  # fmt: skip
    assert code == 2 and "--task" in err


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_resumes_from_its_checkpoint(tmp_path):
    exe = shutil.which("gd-wl-train", path=str(Path(sys.executable).parent)) or shutil.which("gd-wl-train")
    if exe is None:  # Lightning relaunches the command line of rank 0 for the other ranks: it must be a script
        pytest.skip("gd-wl-train is not installed as a script")
    cmd = [exe, *TINY, "--strategy", "ddp",
           "--devices", "2", "--epochs", "3", "--checkpoint-every", "1", "--attn-dropout", "0", "--act-dropout", "0"]  # fmt: skip
    env = {**os.environ, "PL_DISABLE_FORK": "1"}
    run = lambda *a: subprocess.run([*cmd, *a], capture_output=True, text=True, timeout=900, env=env)  # noqa: E731
    split, straight = tmp_path / "split", tmp_path / "straight"
    first = run("--max-steps", "2", "--out", str(split))
    assert first.returncode == 0, first.stderr[-2000:]
    assert latest(split / "checkpoints", ".ckpt").name == "ckpt-00000002.ckpt"
    second = run("--max-steps", "4", "--out", str(split), "--resume")
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads((split / "summary.json").read_text())["steps"] == 4
    third = run("--max-steps", "4", "--out", str(straight))
    assert third.returncode == 0, third.stderr[-2000:]
    a, b = weights(straight), weights(split)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    records = lambda r: [(m["epoch"], round(m["train_loss"], 6)) for m in read_metrics(r)]  # noqa: E731
    assert records(split) == records(straight) and len(records(split)) == 2  # 2 batches per rank and epoch
