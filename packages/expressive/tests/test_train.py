"""NSSA loss by hand, negative sampling, exact resume, the run-folder policy, and learning on planted rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from expressive.cli import eval_main, train_main
from expressive.data import synthetic_kg
from expressive.evaluate import FilterIndex, evaluate
from expressive.train import NegativeSampler, TrainConfig, nssa_loss, train_model
from orals23_shared.cli import run_cli
from orals23_shared.runfolder import prepare_run_dir


def _logsig(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_nssa_loss_by_hand():
    pos = torch.tensor([-1.0, -2.5])
    neg = torch.tensor([[-4.0, -3.0, -6.0], [-2.0, -5.0, -2.0]])
    gamma, alpha = 3.0, 2.0
    expected = 0.0
    for p, ns in zip(pos.tolist(), neg.tolist()):
        z = [math.exp(alpha * n) for n in ns]
        w = [v / sum(z) for v in z]
        expected += -_logsig(gamma + p) - sum(wi * _logsig(-n - gamma) for wi, n in zip(w, ns))
    assert float(nssa_loss(pos, neg, gamma, alpha)) == pytest.approx(expected, rel=1e-6)
    # the adversarial weights carry no gradient: d loss / d neg_i = w_i * sigmoid(neg_i + gamma)
    neg_g = neg.clone().requires_grad_(True)
    nssa_loss(pos, neg_g, gamma, alpha).backward()
    w = torch.softmax(alpha * neg, dim=-1)
    assert torch.allclose(neg_g.grad, w * torch.sigmoid(neg + gamma), atol=1e-6)


def test_uniform_sampler_corrupts_one_side_never_the_original():
    train = np.array([[0, 0, 1], [2, 0, 3], [4, 1, 5]] * 50)
    s = NegativeSampler("uniform", train, 7, 2)
    pos = torch.as_tensor(train)
    neg = s.sample(pos, 64, torch.Generator().manual_seed(0))
    head_changed = neg[..., 0] != pos[:, None, 0]
    tail_changed = neg[..., 2] != pos[:, None, 2]
    assert bool((head_changed ^ tail_changed).all())  # exactly one side, never the original entity
    assert bool((neg[..., 1] == pos[:, None, 1]).all())
    assert 0.45 < head_changed.float().mean() < 0.55
    assert set(neg[..., [0, 2]].unique().tolist()) == set(range(7))


def test_bernoulli_sampler_follows_tph_hpt():
    # relation 0 is 1-to-N: head 0 has 9 tails -> tph 9, hpt 1 -> corrupt the head with p = 0.9
    train = np.array([[0, 0, t] for t in range(1, 10)] + [[h, 1, 0] for h in range(1, 10)])
    s = NegativeSampler("bernoulli", train, 10, 2)
    assert s.p_head.tolist() == pytest.approx([0.9, 0.1])
    neg = s.sample(torch.as_tensor(train), 400, torch.Generator().manual_seed(1))
    head_rate = (neg[..., 0] != torch.as_tensor(train)[:, None, 0]).float().mean(1)
    assert float(head_rate[:9].mean()) == pytest.approx(0.9, abs=0.03)
    assert float(head_rate[9:].mean()) == pytest.approx(0.1, abs=0.03)


def _weights(run: Path, epoch: int) -> dict:
    return torch.load(run / f"ckpt-{epoch:08d}.pt", weights_only=False)["model"]


@pytest.mark.parametrize("model", ["expressive", "boxe"])
def test_resume_two_plus_two_equals_four(tiny_kg_dir, tmp_path, model):
    common = [
        "--data",
        str(tiny_kg_dir),
        "--model",
        model,
        "--dim",
        "8",
        "--batch-size",
        "32",
        "--negatives",
        "4",
        "--eval-every",
        "1",
        "--quiet",
        "--threads",
        "1",
    ]
    assert train_main([*common, "--epochs", "4", "--out", str(tmp_path / "straight")]) == 0
    assert train_main([*common, "--epochs", "2", "--out", str(tmp_path / "split")]) == 0
    assert train_main([*common, "--epochs", "4", "--out", str(tmp_path / "split"), "--resume"]) == 0
    straight, split = _weights(tmp_path / "straight", 4), _weights(tmp_path / "split", 4)
    for k in straight:
        assert torch.allclose(straight[k], split[k], atol=1e-6), k
    rows = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    # a fresh restart (no checkpoint, same epochs 3-4 from new weights) does not give the same weights
    assert train_main([*common, "--epochs", "2", "--out", str(tmp_path / "fresh"), "--seed", "0"]) == 0
    fresh = _weights(tmp_path / "fresh", 2)
    assert not all(torch.allclose(straight[k], fresh[k], atol=1e-6) for k in straight)


def test_second_train_into_same_out_exits_2(tiny_kg_dir, tmp_path, capsys):
    args = ["--data", str(tiny_kg_dir), "--out", str(tmp_path / "run"), "--epochs", "1", "--dim", "4", "--quiet"]
    assert train_main(args) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli(train_main, args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0]


def test_eval_json_contract(tiny_kg_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_main(["--data", str(tiny_kg_dir), "--out", str(run), "--epochs", "2", "--dim", "4", "--quiet"]) == 0
    capsys.readouterr()
    assert eval_main([str(run), "--data", str(tiny_kg_dir), "--split", "test", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["mrr", "hits@1", "hits@3", "hits@10"]
    assert all(0 <= v <= 1 for v in out.values()) and out["hits@1"] <= out["hits@3"] <= out["hits@10"]


def _fit(kg, tmp_path: Path, name: str, epochs: int) -> torch.nn.Module:
    from expressive.train import load_run

    cfg = TrainConfig(
        data=Path("x"),
        out=tmp_path / name,
        model=name,
        dim=16,
        epochs=epochs,
        batch_size=128,
        negatives=16,
        lr=0.05,
        eval_every=0,
        quiet=True,
    )
    run, _ = prepare_run_dir(cfg.out, {})
    train_model(cfg, kg, run)
    return load_run(run)[1]


def test_training_learns_the_planted_hierarchy(tmp_path):
    """Trained ExpressivE ranks held-out implied r5 triples far better than the same model untrained."""
    syn = synthetic_kg(80, seed=1)
    filt = FilterIndex(syn.kg.all_triples())
    trained = evaluate(_fit(syn.kg, tmp_path, "expressive", 30), syn.groups["hierarchy"], filt)
    untrained = evaluate(_untrained(syn.kg), syn.groups["hierarchy"], filt)
    assert trained["hits@10"] > untrained["hits@10"] + 0.3


def _untrained(kg):
    from expressive.model import build_model

    return build_model("expressive", kg.num_entities, kg.num_relations, 16)
