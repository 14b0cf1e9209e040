"""The command lines: --help, the run-folder policy, eval's curve and plot, bad input as one line and exit 2."""

from __future__ import annotations

import json

import pytest

from smoe_dropout import bench, reproduce
from smoe_dropout.cli import eval_entry, train_entry


def code_of(entry, argv, monkeypatch):
    monkeypatch.setattr("sys.argv", ["prog", *argv])
    with pytest.raises(SystemExit) as e:
        entry()
    return e.value.code


@pytest.mark.parametrize("entry", [train_entry, eval_entry, bench.entry, reproduce.entry])
def test_help(entry, monkeypatch, capsys):
    assert code_of(entry, ["--help"], monkeypatch) == 0
    assert "usage" in capsys.readouterr().out


@pytest.fixture(scope="module")
def lm_run(corpus, tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "lm"
    with pytest.raises(SystemExit) as e, pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["smoe-dropout-train", "--data", str(corpus), "--steps", "3", *tiny, "--out", str(run)])
        train_entry()
    assert e.value.code == 0
    return run


def test_train_writes_a_run_and_refuses_a_used_out(lm_run, corpus, tiny, monkeypatch, capsys):
    for name in ("config.json", "env.json", "model.json", "metrics.jsonl", "summary.json"):
        assert (lm_run / name).is_file(), name
    capsys.readouterr()
    assert code_of(train_entry, ["--data", str(corpus), "--steps", "3", *tiny, "--out", str(lm_run)], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err


def test_eval_curve_json_and_plot(lm_run, corpus, monkeypatch, capsys):
    capsys.readouterr()
    out = lm_run / "ev"
    assert code_of(eval_entry, [str(lm_run), "--ks", "1,8", "--json", "--out", str(out)], monkeypatch) == 0
    rec = json.loads(capsys.readouterr().out)
    summary = json.loads((lm_run / "summary.json").read_text())
    assert [r["k"] for r in rec["rows"]] == [1, 8]
    # the run's own validation split: eval reproduces the numbers training reported
    assert rec["rows"][0]["bpc"] == pytest.approx(summary["val_bpc_curve"][0], rel=1e-6)
    assert rec["rows"][1]["bpc"] == pytest.approx(summary["val_bpc_curve"][-1], rel=1e-6)
    assert rec["rows"][0]["flops_per_token"] < rec["rows"][1]["flops_per_token"]
    assert (out / "self_slimming.png").stat().st_size > 1000 and (out / "eval.json").is_file()
    # a text file it never saw, with characters outside the vocabulary
    new = lm_run.parent / "new.txt"
    new.write_text("Zebras quickly vex jumpy wizards -- 42 times over! " * 20 + "é")
    assert code_of(eval_entry, [str(lm_run), "--data", str(new), "--json", "--out", str(out)], monkeypatch) == 0
    captured = capsys.readouterr()
    assert "not in the model's vocabulary" in captured.err
    assert [r["k"] for r in json.loads(captured.out)["rows"]] == [1, 2, 4, 8]


def test_textcls_train_and_eval(tsv_files, tmp_path, tiny, monkeypatch, capsys):
    train_tsv, dev_tsv = tsv_files
    run = tmp_path / "cls"
    argv = ["--task", "textcls", "--train-file", str(train_tsv), "--val-file", str(dev_tsv), "--steps", "2"]
    assert code_of(train_entry, [*argv, *tiny, "--out", str(run)], monkeypatch) == 0
    capsys.readouterr()
    assert code_of(eval_entry, [str(run), "--data", str(dev_tsv), "--ks", "2", "--json"], monkeypatch) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["k"] == 2 and 0.0 <= rows[0]["accuracy"] <= 1.0


def test_bad_input_is_one_line_and_exit_2(lm_run, corpus, tsv_files, tmp_path, tiny, monkeypatch, capsys):
    bad_tsv = tmp_path / "bad.tsv"
    bad_tsv.write_text("sentence\tlabel\ngood movie\t1\nno tab here\n")
    words = tmp_path / "words.tsv"
    words.write_text("fine\tpositive\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    data = ["--data", str(corpus)]
    cases = [
        (train_entry, [*data, "--k-schedule", "constant", "--k", "9"], "exceeds the number of experts N = 8"),
        (train_entry, [*data, "--k-schedule", "constant", "--k", "0"], "k must be >= 1"),
        (train_entry, [*data, "--k-start", "-1"], "k_start must be >= 1"),
        (train_entry, [*data, "--k-start", "6", "--k-end", "4"], "below where it starts"),
        (train_entry, [*data, "--k-end", "12"], "exceeds the number of experts"),
        (train_entry, [*data, "--d-ff", "60"], "not divisible by --n-experts"),
        (train_entry, ["--data", str(tmp_path / "missing.txt")], "text file not found"),
        (train_entry, ["--data", str(latin1)], "not UTF-8"),
        (train_entry, ["--task", "textcls", "--train-file", str(bad_tsv), "--val-file", str(bad_tsv)], "bad.tsv:3"),
        (
            train_entry,
            ["--task", "textcls", "--train-file", str(words), "--val-file", str(words)],
            "not a non-negative",
        ),
        (train_entry, ["--task", "textcls"], "needs --train-file and --val-file"),
        (train_entry, [*data, "--router", "hash"], "invalid choice"),
        (train_entry, [*data, "--eval-ks", "1,16"], "exceeds the number of experts N = 8"),
        (eval_entry, [str(lm_run), "--ks", "16"], "exceeds the number of experts N = 8"),
        (eval_entry, [str(lm_run), "--ks", "0"], "k must be >= 1"),
        (eval_entry, [str(tmp_path / "nope")], "run folder not found"),
        (eval_entry, [str(tmp_path)], "not a finished smoe-dropout-train run"),
        (bench.entry, ["--quick", "--ks", "1,32"], "--ks must lie in 1..N = 16"),
        (bench.entry, ["--quick", "--d-ff", "100"], "not divisible"),
    ]
    for i, (entry, argv, msg) in enumerate(cases):
        full = [*tiny, *argv, "--out", str(tmp_path / f"r{i}")] if entry is train_entry else argv
        assert code_of(entry, full, monkeypatch) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, (argv, err)


def test_bench_quick_writes_ratios_and_flops(tmp_path, monkeypatch, capsys):
    argv = ["--quick", "--tokens", "64", "--d-model", "16", "--n-experts", "4", "--d-ff", "32", "--ks", "1,4"]
    argv += ["--train-steps", "6", "--out", str(tmp_path), "--threads", "1"]
    assert code_of(bench.entry, argv, monkeypatch) == 0
    rec = json.loads((tmp_path / "bench.json").read_text())
    rows = {(r["layer"], r["k"]): r for r in rec["rows"]}
    assert set(rows) == {("dense", None), ("moe", 1), ("moe", 4), ("moe-dispatch", 4)}
    assert rows[("dense", None)]["fwd_time_vs_dense"] == 1.0
    assert rows[("moe", 1)]["flops_per_token"] == 4 * 16 * 8 * 1 + 2 * 16 * 4
    assert all(r["fwd_n"] >= 5 for r in rec["rows"])
    assert set(rec["training"]["moe_step_s_by_k"]) == {"2", "3", "4"}
    assert rec["training"]["ffn_flops_saving_bound"] == pytest.approx(1 - (2 + 2 + 3 + 3 + 4 + 4) / 6 / 4)
