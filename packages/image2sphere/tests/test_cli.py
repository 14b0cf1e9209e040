import json

import pytest
import torch

from image2sphere import bench, cli, reproduce
from image2sphere.train import TrainConfig, load_model, train

TINY = [
    "--shapes",
    "cube,cube_marked",
    "--n-train",
    "24",
    "--n-test",
    "4",
    "--image-size",
    "16",
    "--lmax",
    "2",
    "--sphere-fdim",
    "4",
    "--f-hidden",
    "2",
    "--act-resolution",
    "3",
    "--train-grid-rec",
    "0",
    "--eval-grid-rec",
    "1",
    "--batch-size",
    "4",
    "--quiet",
]


@pytest.mark.parametrize("main", [cli.train_main, cli.eval_main, reproduce.main, bench.main])
def test_help(main, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out


def _run(entry, argv, monkeypatch):
    monkeypatch.setattr("sys.argv", ["prog", *argv])
    with pytest.raises(SystemExit) as e:
        entry()
    return e.value.code


def test_bad_input_exits_2(tmp_path, monkeypatch, capsys):
    assert _run(cli.train_entry, ["--steps", "0", "--out", str(tmp_path)], monkeypatch) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    assert _run(cli.train_entry, ["--dataset", "symsol", "--out", str(tmp_path)] + TINY, monkeypatch) == 2
    assert "--data-path is required" in capsys.readouterr().err
    assert _run(cli.train_entry, ["--shapes", "sphere", "--out", str(tmp_path)], monkeypatch) == 2
    assert "unknown shape 'sphere'" in capsys.readouterr().err
    assert _run(cli.eval_entry, ["--checkpoint", str(tmp_path / "nothing.pt")], monkeypatch) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run")
    assert _run(cli.train_entry, ["--out", str(tmp_path / "other")] + TINY, monkeypatch) == 2
    assert "holds no run" in capsys.readouterr().err


def test_a_used_out_is_refused_unless_resume_or_overwrite(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert cli.train_main([*TINY, "--steps", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(cli.train_entry, [*TINY, "--steps", "2", "--out", str(out)], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0]
    assert (
        _run(cli.train_entry, [*TINY, "--steps", "2", "--seed", "1", "--out", str(out), "--resume"], monkeypatch) == 2
    )
    assert "config differs" in capsys.readouterr().err
    assert cli.train_main([*TINY, "--steps", "2", "--out", str(out), "--overwrite"]) == 0


def test_train_resume_and_eval(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert cli.train_main([*TINY, "--steps", "3", "--checkpoint-every", "2", "--out", str(out)]) == 0
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    # resuming from step 3 to 5 continues the same run
    assert cli.train_main([*TINY, "--steps", "5", "--checkpoint-every", "2", "--out", str(out), "--resume"]) == 0
    model, state = load_model(out)
    assert state["step"] == 5
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("test/cube/median_error_deg" in r for r in rows)
    ev = tmp_path / "eval"
    assert (
        cli.eval_main(
            [
                "--checkpoint",
                str(out),
                "--shapes",
                "cube",
                "--n-test",
                "3",
                "--n-plots",
                "1",
                "--out",
                str(ev),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((ev / "metrics.json").read_text())
    assert 0 <= metrics["cube"]["acc30"] <= 1 and metrics["cube"]["grid_size"] == 576
    assert (ev / "distribution_cube_0.png").is_file()


def test_resume_reproduces_uninterrupted_run(tmp_path):
    """Killing after step 2 and resuming gives the same weights as an uninterrupted run."""
    common = dict(
        shapes=("cube",),
        n_train=16,
        n_test=2,
        image_size=16,
        lmax=2,
        sphere_fdim=4,
        f_hidden=2,
        act_resolution=3,
        train_grid_rec=0,
        eval_grid_rec=0,
        batch_size=4,
        quiet=True,
        checkpoint_every=2,
    )
    full, _, _ = train(TrainConfig(steps=4, out=tmp_path / "a", **common))
    train(TrainConfig(steps=2, out=tmp_path / "b", **common))
    resumed, _, _ = train(TrainConfig(steps=4, out=tmp_path / "b", resume=True, **common))
    for (k, v), w in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(v.float(), w.float(), atol=1e-6), k


def test_bench_writes_rows_with_median_min_max(tmp_path):
    assert bench.main(["--lmax", "2", "--rec", "1", "--batch", "2", "--warmup", "0", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    names = [r["name"] for r in record["rows"]]
    assert names[:2] == ["grid_logits_cached", "grid_logits_chunked"] and "train_step" in names
    for r in record["rows"]:
        assert r["seconds_n"] >= 5 and r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"]
    assert record["load_before"]["cores"] >= 1


def test_three_channel_checkpoint_on_one_channel_renders_is_one_line(tmp_path, monkeypatch, capsys):
    import dataclasses

    from image2sphere.model import I2S, I2SConfig

    mcfg = I2SConfig(in_channels=3, image_size=16, lmax=2, sphere_fdim=4, f_hidden=2, act_resolution=3)
    ckpt = tmp_path / "rgb.pt"
    torch.save({"model": I2S(mcfg).state_dict(), "model_config": dataclasses.asdict(mcfg)}, ckpt)
    argv = ["--checkpoint", str(ckpt), "--n-test", "2", "--out", str(tmp_path / "ev"), "--quiet"]
    assert _run(cli.eval_entry, argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert "expects 3-channel images" in err and "have 1" in err and len(err.splitlines()) == 1


def test_reproduce_trains_one_model_per_shape(tmp_path):
    """The quick reproduce trains each shape alone (joint training without a class label is what kept
    the marked cube multi-modal, README), each in its own run folder, with the lr dropped at 2/3."""
    configs = reproduce.quick_configs(tmp_path, 0, "cpu")
    assert list(configs) == list(reproduce.EXPECTED_MODES)
    for shape, cfg in configs.items():
        assert cfg.shapes == (shape,) and cfg.out == tmp_path / shape
        assert cfg.lr_step == round(2 * cfg.steps / 3)
    assert len({cfg.out for cfg in configs.values()}) == 3
