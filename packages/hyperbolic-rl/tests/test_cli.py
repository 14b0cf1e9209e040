"""CLIs: --help, bad input -> one line + exit 2, checkpoint + resume, eval, reproduce summary."""

import json
import subprocess
import sys

import pytest
import torch

from hyperbolic_rl.cli import eval_main, train_main
from hyperbolic_rl.data import check_env_id, env_shapes, make_env
from orals23_shared.cli import UsageError
from orals23_shared.reproduce import load_summary

TINY = [
    "--total-steps",
    "256",
    "--num-envs",
    "2",
    "--num-steps",
    "32",
    "--epochs",
    "1",
    "--minibatches",
    "2",
    "--hidden",
    "8",
    "--embed-dim",
    "4",
    "--quiet",
]


@pytest.mark.parametrize(
    "module,func",
    [("cli", "train_main"), ("cli", "eval_main"), ("reproduce", "main"), ("bench", "main"), ("ablation", "main")],
)
def test_every_cli_answers_help(module, func, capsys):
    import importlib

    main = getattr(importlib.import_module(f"hyperbolic_rl.{module}"), func)
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "usage" in capsys.readouterr().out.lower()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--env-id", "NoSuchEnv-v9"], "unknown environment id"),
        (["--env-id", "Pendulum-v1"], "discrete action"),
        (["--env-id", "Blackjack-v1"], "Box observations"),
        (["--curvature", "0"], "curvature"),
        (["--curvature", "-2"], "curvature"),
        (["--num-envs", "3", "--num-steps", "5", "--minibatches", "4"], "divisible"),
    ],
)
def test_train_bad_input_raises_usage_error(tmp_path, argv, message):
    with pytest.raises(UsageError, match=message):
        train_main([*argv, "--out", str(tmp_path / "run"), "--quiet"])


def test_bad_input_exits_2_with_one_line(tmp_path):
    code = "from hyperbolic_rl.cli import train_entry; train_entry()"
    out = subprocess.run(
        [sys.executable, "-c", code, "--curvature", "-1", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "curvature" in lines[0], out.stderr


def test_env_checks():
    with pytest.raises(UsageError, match="unknown environment id"):
        check_env_id("CartPole-v99")
    env = make_env("Acrobot-v1")
    assert env_shapes(env)[:2] == ((6,), 3)
    env.close()
    with pytest.raises(UsageError, match="discrete action"):
        env_shapes(make_env("MountainCarContinuous-v0"))


def test_train_checkpoint_resume_and_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_main([*TINY, "--head", "srym", "--out", str(run), "--checkpoint-every", "2"]) == 0
    ckpts = sorted((run / "checkpoints").glob("ckpt-*.pt"))
    assert ckpts and ckpts[-1].name == "ckpt-00000004.pt"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in rows] == [64, 128, 192, 256]
    assert all("ball_norm_max" in r and "grad_norm" in r and "approx_kl" in r for r in rows)

    # a run killed after logging update 5 but before its checkpoint: the extra row is dropped on resume
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 320, "time": 0.0, "global_step": 320}) + "\n")
    # a longer run resumes from update 4 instead of starting over
    assert train_main([*TINY, "--head", "srym", "--out", str(run), "--total-steps", "384", "--resume"]) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in rows] == [64, 128, 192, 256, 320, 384]
    state = torch.load(sorted((run / "checkpoints").glob("ckpt-*.pt"))[-1], weights_only=False)
    assert state["update"] == 6 and state["global_step"] == 384

    capsys.readouterr()
    assert eval_main(["--checkpoint", str(run), "--episodes", "2", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["head"] == "srym" and len(res["returns"]) == 2
    with pytest.raises(UsageError, match="Acrobot-v1"):
        eval_main(["--checkpoint", str(run), "--episodes", "1", "--env-id", "Acrobot-v1"])
    with pytest.raises(UsageError, match="not found|no checkpoint"):
        eval_main(["--checkpoint", str(tmp_path / "missing.pt")])
    with pytest.raises(UsageError, match="config differs"):  # --resume keeps the model config
        train_main([*TINY, "--head", "euclidean", "--out", str(run), "--resume"])


def test_second_train_into_a_used_out_exits_2_with_one_line(tmp_path):
    run = tmp_path / "run"
    assert train_main([*TINY, "--total-steps", "128", "--out", str(run)]) == 0
    code = "from hyperbolic_rl.cli import train_entry; train_entry()"
    argv = [sys.executable, "-c", code, *TINY, "--total-steps", "128", "--out", str(run)]
    second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1 and "already holds a run" in lines[0], second.stderr


def test_overwrite_never_mixes_a_longer_old_run_with_the_new_one(tmp_path, capsys):
    """Round 1 bug: a fresh run into a folder holding a longer run deleted its own new checkpoints
    (name-sorted rotation) and eval/resume then loaded the old, longer run's model."""
    run = tmp_path / "run"
    assert train_main([*TINY, "--total-steps", "384", "--checkpoint-every", "1", "--out", str(run)]) == 0
    assert train_main([*TINY, "--head", "euclidean", "--out", str(run), "--overwrite"]) == 0
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.pt"))
    assert ckpts == ["ckpt-00000004.pt"]  # only the new run's checkpoint; nothing of the old one
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["global_step"] for r in rows] == [64, 128, 192, 256]
    capsys.readouterr()
    assert eval_main(["--checkpoint", str(run), "--episodes", "1", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["head"] == "euclidean"


def test_checkpoint_rotation_keeps_the_newest_two(tmp_path):
    from hyperbolic_rl.train import TrainConfig, train

    cfg = TrainConfig(total_steps=320, num_envs=2, num_steps=32, epochs=1, minibatches=2, hidden=(8,), embed_dim=4)
    cfg.checkpoint_every = 1
    train(cfg, out=tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("ckpt-*.pt"))
    assert names == ["ckpt-00000004.pt", "ckpt-00000005.pt"]


def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path):
    """2 updates + 2 resumed updates give the weights of 4 straight ones (1e-6), and the resumed run did
    not start over: the rows the first run logged before its checkpoint are kept byte for byte."""
    import shutil

    from hyperbolic_rl.train import TrainConfig, train

    cfg = TrainConfig(
        total_steps=256, num_envs=2, num_steps=32, epochs=2, minibatches=2, hidden=(8,), embed_dim=4, seed=3
    )
    cfg.checkpoint_every = 2
    straight = train(cfg, out=tmp_path / "straight")
    # the "killed" run: a copy of the straight run as it was after update 2 (checkpoint 2, 2 rows + 1 extra)
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "straight", killed)
    (killed / "checkpoints" / "ckpt-00000004.pt").unlink()
    lines = (killed / "metrics.jsonl").read_text().splitlines(keepends=True)
    (killed / "metrics.jsonl").write_text("".join(lines[:3]))
    resumed = train(cfg, out=killed, resume=True)
    for (k, a), b in zip(straight["model"].state_dict().items(), resumed["model"].state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=k)
    assert resumed["episodes"] == straight["episodes"]
    assert (killed / "metrics.jsonl").read_text().splitlines(keepends=True)[:2] == lines[:2]
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 4
    # not vacuous: 2 updates alone end elsewhere
    two = torch.load(tmp_path / "straight" / "checkpoints" / "ckpt-00000002.pt", weights_only=False)["model"]
    assert any((two[k] - v).abs().max() > 1e-4 for k, v in straight["model"].state_dict().items())


def test_reproduce_writes_a_shared_format_summary(tmp_path):
    from hyperbolic_rl.reproduce import main

    out = tmp_path / "rep"
    assert (
        main(
            [
                "--quick",
                "--steps",
                "512",
                "--seeds",
                "1",
                "--workers",
                "1",
                "--probe-states",
                "64",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    data = load_summary(out / "summary.json")
    assert data["package"] == "hyperbolic-rl" and len(data["claims"]) == 6 and data["quick"] is True
    assert (out / data["plots"][0]).is_file()
    assert data["claims"][-1]["verdict"] == "not run" and "Procgen" in data["claims"][-1]["claim"]


def test_bench_writes_the_shared_bench_format(tmp_path):
    from hyperbolic_rl.bench import main

    assert main(["--repeats", "5", "--train-steps", "0", "--threads", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    rows = {(r["head"], r["phase"]): r for r in data["rows"]}
    assert rows[("euclidean", "act")]["x_euclidean"] == 1.0 and rows[("srym", "update")]["seconds_n"] == 5
    assert data["package"] == "hyperbolic-rl" and "load_after" in data


def test_ablation_writes_a_table_and_skips_finished_runs(tmp_path, capsys):
    from hyperbolic_rl.ablation import main, render_table

    argv = ["--out", str(tmp_path), "--seeds", "1", "--steps", "512", "--variants", "srym,srym_obsnorm"]
    assert main(argv) == 0
    runs = json.loads((tmp_path / "ablation.json").read_text())["runs"]
    assert [r["variant"] for r in runs] == ["srym", "srym_obsnorm"] and all(r["gap_grad_mean"] > 0 for r in runs)
    assert main(argv) == 0  # nothing left to run: the same two rows
    assert len(json.loads((tmp_path / "ablation.json").read_text())["runs"]) == 2
    assert "| srym_obsnorm |" in render_table(runs)
    with pytest.raises(UsageError, match="unknown variant"):
        main(["--out", str(tmp_path), "--variants", "nope"])
    with pytest.raises(UsageError, match="--steps: expected comma-separated integers"):
        main(["--out", str(tmp_path), "--steps", "10,x"])


def test_ablation_table_reports_mean_std_ratio_and_seed_count():
    from hyperbolic_rl.ablation import render_table

    def row(v, seed, steps, ret):
        return {
            "variant": v,
            "seed": seed,
            "steps": steps,
            "final_return": ret,
            "ball_norm_max": None,
            "gap_grad_mean": 1.0,
            "gap_std": 0.5,
        }

    rows = [
        row("euclidean", 0, 40000, 100.0),
        row("euclidean", 1, 40000, 200.0),
        row("srym", 0, 40000, 300.0),
        row("srym", 1, 40000, 300.0),
        row("euclidean", 0, 100000, 400.0),
    ]
    table = render_table(rows).splitlines()
    assert table[2].startswith("| euclidean | 150.0 ± 50.0 (1.00x, n=2) | 400.0 ± 0.0 (1.00x, n=1) |")
    assert table[3].startswith("| srym | 300.0 ± 0.0 (2.00x, n=2) | not run |")
