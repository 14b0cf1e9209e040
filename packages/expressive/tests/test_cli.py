"""Every CLI answers --help; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest

from expressive import cli
from orals23_shared.cli import run_cli

MAINS = [cli.train_main, cli.eval_main, cli.patterns_main, cli.synth_main, cli.reproduce_main, cli.bench_main]


@pytest.mark.parametrize("main", MAINS, ids=lambda m: m.__name__)
def test_help(main, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def _fails(main, args, capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli(main, args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_train_bad_input(tiny_kg_dir, tmp_path, capsys):
    assert "--data is required" in _fails(cli.train_main, ["--out", str(tmp_path / "r")], capsys)
    assert "invalid choice" in _fails(
        cli.train_main, ["--data", str(tiny_kg_dir), "--out", str(tmp_path / "r"), "--model", "complex"], capsys
    )
    assert "--dim must be >= 1" in _fails(
        cli.train_main, ["--data", str(tiny_kg_dir), "--out", str(tmp_path / "r"), "--dim", "0"], capsys
    )
    assert "data folder not found" in _fails(
        cli.train_main, ["--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")], capsys
    )
    bad = tmp_path / "bad"
    shutil.copytree(tiny_kg_dir, bad)
    with open(bad / "train.txt", "a") as f:
        f.write("x\ty\n")
    n = len((bad / "train.txt").read_text().splitlines())
    msg = _fails(cli.train_main, ["--data", str(bad), "--out", str(tmp_path / "r")], capsys)
    assert f"train.txt:{n}:" in msg
    assert "--min-denom applies to Base ExpressivE only" in _fails(
        cli.train_main,
        ["--data", str(tiny_kg_dir), "--out", str(tmp_path / "r"), "--variant", "functional", "--min-denom", "0.5"],
        capsys,
    )


def test_eval_and_patterns_bad_input(tiny_kg_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        cli.train_main(
            [
                "--data",
                str(tiny_kg_dir),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--dim",
                "4",
                "--quiet",
                "--model",
                "transe",
            ]
        )
        == 0
    )
    assert "run folder not found" in _fails(cli.eval_main, [str(tmp_path / "nope"), "--data", str(tiny_kg_dir)], capsys)
    # a test file naming an entity the run never saw: refused (default) or dropped (--unseen drop)
    other = tmp_path / "other"
    shutil.copytree(tiny_kg_dir, other)
    with open(other / "test.txt", "a") as f:
        f.write("stranger\tr0\te1\n")
    assert "'stranger'" in _fails(cli.eval_main, [str(run), "--data", str(other)], capsys)
    capsys.readouterr()
    assert cli.eval_main([str(run), "--data", str(other), "--unseen", "drop", "--json"]) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"mrr", "hits@1", "hits@3", "hits@10"}
    assert "dropped 1 triple" in captured.err
    (other / "test.txt").write_text("")
    assert "no triples to evaluate" in _fails(cli.eval_main, [str(run), "--data", str(other)], capsys)
    assert "invalid choice" in _fails(cli.eval_main, [str(run), "--split", "dev"], capsys)
    assert "reads ExpressivE parallelograms" in _fails(cli.patterns_main, [str(run)], capsys)


def test_synth_and_patterns_end_to_end(tmp_path, capsys):
    data = tmp_path / "syn"
    assert cli.synth_main(["--out", str(data), "--entities", "40"]) == 0
    assert "is not empty" in _fails(cli.synth_main, ["--out", str(data)], capsys)
    run = tmp_path / "run"
    assert cli.train_main(["--data", str(data), "--out", str(run), "--epochs", "2", "--dim", "4", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.patterns_main([str(run), "--json", "--samples", "64", "--min-support", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"symmetry", "inversion", "hierarchy", "intersection", "composition"} == set(report["rules"])
    assert any(r["names"] == ["r4", "r5"] for r in report["rules"]["hierarchy"])
