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
    "module,func", [("cli", "train_main"), ("cli", "eval_main"), ("reproduce", "main"), ("bench", "main")]
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
    with pytest.raises(UsageError, match="no checkpoint"):
        train_main([*TINY, "--out", str(tmp_path / "fresh"), "--resume"])


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
    assert data["package"] == "hyperbolic-rl" and len(data["claims"]) == 4 and data["quick"] is True
    assert (out / data["plots"][0]).is_file()
