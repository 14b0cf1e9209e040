"""CLIs: --help, bad input -> one line + exit 2, a tiny train run with checkpoint + resume, generation, reproduce."""

import json

import pytest

from h3_flashconv import bench, cli, reproduce
from orals23_shared.cli import run_cli
from orals23_shared.paths import require_shared_data


@pytest.mark.parametrize("main", [cli.train_main, cli.generate_main, bench.main, reproduce.main])
def test_help(main, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--out" in capsys.readouterr().out


def _exit_code(main, argv, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    return e.value.code, err


def test_bad_inputs_exit_2(tmp_path, capsys):
    code, err = _exit_code(cli.train_main, ["--task", "lm", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--corpus" in err and len(err.splitlines()) == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, err = _exit_code(cli.train_main, ["--corpus", str(empty), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "empty" in err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\n\xff\xfe")
    code, err = _exit_code(cli.train_main, ["--corpus", str(bad), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "not UTF-8" in err and "line 2" in err
    code, err = _exit_code(
        cli.train_main,
        ["--task", "induction_head", "--model", "hybrid", "--attn-layer-idx", "7", "--out", str(tmp_path / "r")],
        capsys,
    )
    assert code == 2 and "attn_layer_idx" in err
    code, err = _exit_code(cli.generate_main, ["--checkpoint", str(tmp_path / "nope.ckpt")], capsys)
    assert code == 2 and "not found" in err
    code, err = _exit_code(bench.main, ["--channels", "100"], capsys)
    assert code == 2


def test_a_used_out_is_refused_unless_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["--task", "induction_head", "--model", "h3", "--d-model", "16", "--d-state", "8", "--n-train", "16"]
    tiny += [
        "--n-test",
        "8",
        "--batch-size",
        "4",
        "--eval-every",
        "2",
        "--ckpt-every",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert cli.train_main([*tiny, "--max-steps", "2"]) == 0
    capsys.readouterr()
    code, err = _exit_code(cli.train_main, [*tiny, "--max-steps", "2"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "already holds a run" in err
    code, err = _exit_code(cli.train_main, [*tiny, "--max-steps", "2", "--d-state", "4", "--resume"], capsys)
    assert code == 2 and "d_state (saved 8, given 4)" in err
    assert cli.train_main([*tiny, "--max-steps", "2", "--overwrite"]) == 0


def test_train_resume_generate_tiny(tmp_path, capsys):
    corpus = require_shared_data("tinyshakespeare") / "input.txt"
    run = tmp_path / "run"
    common = [
        "--corpus",
        str(corpus),
        "--model",
        "hybrid",
        "--d-model",
        "16",
        "--d-state",
        "8",
        "--n-head",
        "2",
        "--block-size",
        "32",
        "--batch-size",
        "4",
        "--eval-every",
        "2",
        "--eval-batches",
        "2",
        "--ckpt-every",
        "2",
        "--out",
        str(run),
        "--quiet",
    ]
    assert cli.train_main([*common, "--max-steps", "2"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["steps"] == 2 and (run / "checkpoints" / "ckpt-00000002.ckpt").is_file()
    assert cli.train_main([*common, "--max-steps", "4", "--resume"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["steps"] == 4 and (run / "checkpoints" / "ckpt-00000004.ckpt").is_file()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_loss" in m for m in metrics)
    assert (
        cli.generate_main(
            [
                "--checkpoint",
                str(run),
                "--prompt",
                "ROMEO:",
                "--max-new-tokens",
                "12",
                "--top-k",
                "5",
                "--out",
                str(tmp_path / "gen"),
                "--quiet",
            ]
        )
        == 0
    )
    text = (tmp_path / "gen" / "samples.txt").read_text()
    assert text.startswith("ROMEO:") and len(text.rstrip("\n")) >= 6 + 12 - 2


@pytest.mark.slow
def test_reproduce_pipeline_writes_summary(tmp_path):
    """Pipeline check at a tiny budget (not the claims: those need `h3-flashconv-reproduce --quick`)."""
    from orals23_shared.reproduce import load_summary

    out = tmp_path / "rep"
    assert reproduce.main(["--quick", "--out", str(out), "--steps-scale", "0.005", "--quiet"]) == 0
    summary = load_summary(out / "summary.json")
    assert summary["package"] == "h3-flashconv" and len(summary["claims"]) == 4
    assert summary["claims"][3]["details"]["seeds"] == 3
    assert all((out / p).is_file() for p in summary["plots"])


def test_loss_on_last_is_the_answer_position_cross_entropy():
    """``loss_on="last"`` trains on the answer only: equal to the cross entropy of the last logits, computed directly."""
    import torch
    import torch.nn.functional as F

    from h3_flashconv.train import LitLM, TrainConfig, model_config

    cfg = TrainConfig(task="induction_head", d_model=16, d_state=8, loss_on="last")
    lit = LitLM(model_config(cfg, 20), cfg).eval()  # no dropout: two forwards must agree
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 20, (3, 9), generator=g), torch.randint(0, 20, (3, 9), generator=g)
    logits = lit.model(x)
    torch.testing.assert_close(lit.training_loss(x, y), F.cross_entropy(logits[:, -1], y[:, -1]))
    lit.tcfg = TrainConfig(task="induction_head", d_model=16, d_state=8)
    torch.testing.assert_close(lit.training_loss(x, y), F.cross_entropy(logits.reshape(-1, 20), y.reshape(-1)))


def test_loss_on_last_rejected_for_lm(tmp_path, capsys):
    code, err = _exit_code(
        cli.train_main, ["--corpus", str(tmp_path / "x.txt"), "--loss-on", "last", "--out", str(tmp_path / "r")], capsys
    )
    assert code == 2 and "--loss-on" in err


class _Killed(RuntimeError):
    pass


def _tiny_cfg(task, out, max_steps, warmup_steps):
    from h3_flashconv.train import TrainConfig

    kw = dict(task=task, model="hybrid", d_model=16, d_state=8, n_head=2, batch_size=4, eval_every=2, ckpt_every=2)
    if task == "lm":
        kw.update(corpus=require_shared_data("tinyshakespeare") / "input.txt", block_size=32, eval_batches=2)
    else:
        kw.update(n_train=64, n_test=8)
    return TrainConfig(**kw, max_steps=max_steps, warmup_steps=warmup_steps, out=out, quiet=True)


def _weights(run):
    import torch

    from orals23_shared.checkpoint import latest

    return torch.load(latest(run / "checkpoints", ".ckpt"), weights_only=False)["state_dict"]


@pytest.mark.parametrize(
    ("task", "mode"),
    [("lm", "killed"), ("induction_head", "extended")],
)
def test_two_plus_two_resumed_steps_equal_four_straight(tmp_path, task, mode):
    """2 + 2 resumed steps give the weights of 4 straight steps (to 1e-6), and the resumed process trains only
    the 2 missing steps (a fresh restart, which also ends at the straight weights, fails that count).

    ``killed``: a 4-step run (cosine after 1 warm-up step) dies after its step-2 checkpoint, then ``--resume``.
    ``extended``: a finished 2-step run is resumed with ``--max-steps 4`` (inside the warm-up: same schedule).
    Dropout is on (embed 0.1) and the data is shuffled (synthetic) or random windows (LM)."""
    import dataclasses

    import lightning as L
    import torch

    from h3_flashconv.train import fit

    warmup = 1 if mode == "killed" else 10

    class Kill(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            if trainer.global_step == 2:
                raise _Killed

    class Count(L.Callback):
        n = 0

        def on_train_batch_end(self, *args):
            Count.n += 1

    straight = _tiny_cfg(task, tmp_path / "straight", 4, warmup)
    assert fit(straight)["steps"] == 4
    resumed = dataclasses.replace(straight, out=tmp_path / "resumed")
    if mode == "killed":
        with pytest.raises(_Killed):
            fit(resumed, callbacks=[Kill()])
    else:
        assert fit(dataclasses.replace(resumed, max_steps=2))["steps"] == 2
    assert fit(dataclasses.replace(resumed, resume=True), callbacks=[Count()])["steps"] == 4
    assert Count.n == 2
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)


def test_bench_rows_carry_median_min_max_and_the_load(tmp_path):
    argv = ["--lengths", "64", "--long-lengths", "128", "--channels", "64", "--chunk", "64", "--gen-prompts", "8"]
    argv += ["--gen-tokens", "2", "--gen-d-model", "64", "--gen-layers", "3", "--gen-batches", "1,2", "--warmup", "0"]
    assert bench.main([*argv, "--threads", "1", "--quiet", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    row = record["mixing"][0]
    assert row["L"] == 64 and row["fft_ms_min"] <= row["fft_ms"] <= row["fft_ms_max"]
    assert "ssm_direct_vandermonde/fft" in row and record["load_before"]["cores"] >= 1
    low, high = record["generation"][0]["h3_tok_s_min_max"]
    assert low <= record["generation"][0]["h3_tok_s"] <= high
    gen = record["generation"]
    assert [(r["batch"], r["prompt"]) for r in gen] == [(1, 8), (2, 8)] and "hybrid_tok_s" in gen[0]
    assert [c["batch"] for c in record["generation_checks"]] == [1, 2]
    assert record["gpu_rows"] == "not run: no GPU" and record["package"] == "h3-flashconv"
    assert "not run: no GPU" in (tmp_path / "bench.md").read_text()


def test_generation_checks_flag_a_prompt_dependent_step_and_a_missed_bar():
    def row(batch, prompt, ms, speedup):
        return {"batch": batch, "prompt": prompt, "h3_ms_per_step": ms, "h3/transformer_speedup": speedup}

    flat = [row(1, 128, 1.0, 0.8), row(1, 1024, 1.05, 2.6), row(1, 4096, 0.98, 20.0)]
    growing = [row(8, 128, 1.0, 0.8), row(8, 1024, 1.3, 2.0), row(8, 4096, 2.0, 5.0)]
    ok, bad = bench.generation_checks(flat + growing)
    assert ok["spread_ok"] and ok["bar_met"] and ok["speedup_at_1024"] == 2.6
    assert not bad["spread_ok"] and not bad["bar_met"] and bad["h3_step_spread"] == pytest.approx(0.769, abs=1e-3)
