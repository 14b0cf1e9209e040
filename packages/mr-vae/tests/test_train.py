"""Training, the schedule, exact resume, the run-folder policy and the CLI contract (``mr-vae-train``, ``-curve``)."""

from __future__ import annotations

import json
import math

import lightning as L
import numpy as np
import pytest
import torch

from mr_vae.cli import curve_main, train_main
from mr_vae.evaluate import monotone_steps
from mr_vae.train import TrainConfig, load_run, lr_factor, train
from orals23_shared.checkpoint import latest
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.runs import read_metrics

TINY = dict(hidden=(32, 32), latent=4, batch_size=32, threads=1, quiet=True, eval_betas=3, eval_samples=1)


def _weights(module):
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


def test_schedule_warms_up_fully_then_decays_to_min_lr():
    steps, warmup, ratio = 200, 0.05, 1e-3
    f = [lr_factor(s, steps, warmup, ratio) for s in range(steps)]
    assert f[0] == pytest.approx(1e-10)
    assert f[5] == pytest.approx(0.5, rel=1e-6)  # linear ramp over the first 10 steps
    assert f[10] == pytest.approx(1.0) and max(f) == pytest.approx(1.0)  # the warm-up ends at the full rate
    assert f[-1] == pytest.approx(ratio)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(UsageError, match="warmup"):
            TrainConfig(warmup=bad)
    # even a warm-up of 99 % of 3 steps ends before the last step
    assert lr_factor(2, 3, 0.99, 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(beta_min=1.0, beta_max=0.5), "must be below"),
        (dict(beta_min=0.1, beta_max=0.1), "must be below"),
        (dict(beta_min=0.0), "must be positive"),
        (dict(beta_min=-1.0, beta_max=2.0), "must be positive"),
        (dict(beta=0.0), "--beta must be positive"),
        (dict(arch="linear"), "--decoder gaussian"),
        (dict(steps=0), "--steps"),
    ],
)
def test_bad_configs_are_one_line_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**kwargs)


def test_train_writes_a_run_and_the_module_reloads(tmp_path):
    res = train(TrainConfig(out=tmp_path / "run", steps=6, checkpoint_every=4, log_every=2, **TINY))
    run = res.run_dir
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "curve.json", "rd_curve.png"):
        assert (run / name).is_file(), name
    assert latest(run / "checkpoints", ".ckpt").name == "ckpt-00000006.ckpt"
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 6 and len(summary["test_curve"]["rate"]) == 3
    module, cfg = load_run(run)
    for k, v in _weights(res.module).items():
        torch.testing.assert_close(module.model.state_dict()[k], v)
    assert cfg.mode == "mr" and cfg.steps == 6


class _Killed(L.Callback):
    """Stop the run right after step ``at`` (its checkpoint written): what a kill leaves behind, in-process."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.at:
            trainer.should_stop = True


@pytest.mark.parametrize("mode,first,total", [("mr", 2, 4), ("beta", 9, 14)])  # mid-epoch; across an epoch end
def test_resume_equals_an_uninterrupted_run(tmp_path, mode, first, total):
    """``first`` + resumed steps equal ``total`` straight ones (weights to 1e-6); the checkpoint is really used."""
    cfg = dict(
        mode=mode,
        checkpoint_every=first,
        batch_size=128,
        steps=total,
        **{k: v for k, v in TINY.items() if k != "batch_size"},
    )
    straight = train(TrainConfig(out=tmp_path / "straight", **cfg))
    killed = train(TrainConfig(out=tmp_path / "resumed", **cfg), callbacks=[_Killed(first)])
    assert killed.summary["steps"] == first
    resumed = train(TrainConfig(out=tmp_path / "resumed", resume=True, **cfg))
    assert resumed.summary["resumed_from"] == first
    for k, v in _weights(straight.module).items():
        torch.testing.assert_close(_weights(resumed.module)[k], v, rtol=0, atol=1e-6)
    assert [r["step"] for r in read_metrics(resumed.run_dir)] == [r["step"] for r in read_metrics(straight.run_dir)]
    # a resume that ignored the checkpoint would also match the straight run: perturb the checkpoint and see it matter
    train(TrainConfig(out=tmp_path / "perturbed", **cfg), callbacks=[_Killed(first)])
    ckpt = latest(tmp_path / "perturbed" / "checkpoints", ".ckpt")
    state = torch.load(ckpt, weights_only=False)
    state["state_dict"]["model.mu.weight"] += 0.5
    torch.save(state, ckpt)
    perturbed = train(TrainConfig(out=tmp_path / "perturbed", resume=True, **cfg))
    assert not torch.allclose(_weights(perturbed.module)["mu.weight"], _weights(straight.module)["mu.weight"])


def _run_cli(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cli_refuses_a_used_out_and_bad_input_in_one_line(tmp_path, capsys):
    args = [
        "--steps",
        "2",
        "--hidden",
        "16",
        "--latent",
        "2",
        "--batch-size",
        "32",
        "--quiet",
        "--eval-betas",
        "2",
        "--eval-samples",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    code, out, _ = _run_cli(train_main, ["mr", *args], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["steps"] == 2
    code, _, err = _run_cli(train_main, ["mr", *args], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already holds a run" in err
    code, _, err = _run_cli(train_main, ["beta", *args, "--resume"], capsys)  # a different model: refused
    assert code == 2 and "config differs" in err and "mode" in err
    bad = [
        (["mr", "--beta-min", "2", "--beta-max", "1"], "must be below"),
        (["mr", "--beta-min", "-1"], "must be positive"),
        (["mr", "--data", str(tmp_path / "missing")], "data not found"),
        (["beta", "--arch", "resnet"], "invalid choice"),
        (["mr", "--hidden", "a,b"], "comma-separated list"),
        (["mr", "--mode", "beta"], "contradicts the command"),
    ]
    np.save(tmp_path / "wide.npy", np.linspace(-2, 3, 64 * 10).reshape(10, 64).astype(np.float32))
    bad.append((["mr", "--data", str(tmp_path / "wide.npy")], "not in [0, 1] for a Bernoulli decoder"))
    from PIL import Image

    for i, size in enumerate([(5, 5), (5, 5), (6, 5)]):
        Image.new("L", size).save(tmp_path / f"img{i}.png")
    bad.append((["mr", "--data", str(tmp_path)], "differs from"))
    for argv, message in bad:
        code, _, err = _run_cli(train_main, [*argv, "--out", str(tmp_path / "x"), "--quiet"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (argv, err)
        assert "Traceback" not in err
    code, _, err = _run_cli(curve_main, [str(tmp_path / "nothing")], capsys)
    assert code == 2 and "not a run folder" in err


def test_gaussian_conv_and_curve_cli(tmp_path, capsys):
    """A conv MR-VAE with a Gaussian decoder on an image folder; mr-vae-curve on it and on other data."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    run = tmp_path / "run"
    res = train(
        TrainConfig(
            data=str(tmp_path / "imgs"),
            arch="conv",
            decoder="gaussian",
            conv_channels=(4, 8),
            steps=3,
            out=run,
            **{**TINY, "batch_size": 64},
        )
    )
    assert res.module.model.image_shape == (1, 9, 7)
    assert res.summary["batch_size"] == 32  # 32 training images: batches shrink to the data, with a note
    code, out, err = _run_cli(curve_main, [str(run), "--betas", "0.01,1,10", "--json", "--samples", "2"], capsys)
    assert code == 0, err
    curve = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and curve["beta"] == [0.01, 1.0, 10.0] and curve["examples"] == 8
    assert (run / "curve" / "rd_curve.png").is_file()
    code, _, err = _run_cli(curve_main, [str(run), "--data", "digits"], capsys)
    assert code == 2 and "trained on" in err
    code, _, err = _run_cli(curve_main, [str(run), "--betas", "0,1"], capsys)
    assert code == 2 and "positive" in err


def test_rd_curve_of_a_trained_mr_vae_is_monotone(tmp_path):
    """A small MR-VAE trained briefly on digits already trades rate for distortion along beta."""
    res = train(
        TrainConfig(
            out=tmp_path / "run",
            steps=300,
            hidden=(64, 64),
            latent=8,
            threads=1,
            quiet=True,
            eval_betas=6,
            eval_samples=8,
            checkpoint_every=10**6,
            log_every=10**6,
        )
    )
    curve = res.summary["test_curve"]
    assert monotone_steps(curve["rate"], curve["distortion"]) == 5, curve
    assert curve["rate"][0] > 2 * curve["rate"][-1] + 1  # and the range of rates is real, not noise
    assert all(math.isfinite(v) for v in curve["loss"])
