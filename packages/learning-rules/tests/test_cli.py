"""CLIs: --help, one-line errors with exit code 2, a tiny train run with checkpoints and --resume."""

import json
import subprocess
import sys

import numpy as np
import pytest

from learning_rules.cli import theory_main, train_main
from orals23_shared.cli import UsageError, run_cli


def _run_cli(main, argv, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    return e.value.code, capsys.readouterr()


def test_help(capsys):
    from learning_rules.bench import main as bench_main
    from learning_rules.reproduce import main as reproduce_main

    for main in (train_main, theory_main, reproduce_main, bench_main):
        with pytest.raises(SystemExit) as e:
            main(["--help"])
        assert e.value.code == 0 and "usage" in capsys.readouterr().out


def test_entry_point_subprocess():
    code = "import sys; sys.argv[1:] = ['--width', '0']; from learning_rules.cli import train_entry; train_entry()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().endswith("width must be a positive integer, got 0")
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--rho", "1.5"], "rho must lie in [0, 1]"),
        (["--width", "0"], "width must be a positive integer"),
        (["--steps", "-3"], "steps must be a positive integer"),
    ],
)
def test_train_bad_input(argv, message, capsys, tmp_path):
    code, cap = _run_cli(train_main, [*argv, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and message in cap.err and len(cap.err.strip().splitlines()) == 1


def test_theory_bad_kernel_files(tmp_path, capsys):
    bad = tmp_path / "k.txt"
    bad.write_text("1 0.5\n0.5 oops\n")
    y = tmp_path / "y.txt"
    y.write_text("1\n-1\n")
    code, cap = _run_cli(theory_main, ["--kernel", str(bad), "--targets", str(y), "--quiet"], capsys)
    assert code == 2 and "k.txt:2: malformed line" in cap.err
    bad.write_text("1 2\n2 1\n")
    code, cap = _run_cli(theory_main, ["--kernel", str(bad), "--targets", str(y), "--quiet"], capsys)
    assert code == 2 and "not positive semi-definite" in cap.err
    code, cap = _run_cli(theory_main, ["--kernel", str(tmp_path / "missing.txt"), "--quiet"], capsys)
    assert code == 2 and "missing.txt" in cap.err


def test_theory_lazy_from_kernel_file(tmp_path):
    k = tmp_path / "k.txt"
    k.write_text("1 0.3 0.1\n0.3 1 0.2\n0.1 0.2 1\n")
    y = tmp_path / "y.txt"
    y.write_text("1\n-1\n0.5\n")
    out = tmp_path / "run"
    assert (
        theory_main(
            ["--kernel", str(k), "--targets", str(y), "--rule", "dfa", "--steps", "5", "--out", str(out), "--quiet"]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hidden_share"] == 0.0
    assert (out / "loss.png").exists()


def test_train_checkpoint_and_resume(tmp_path):
    out = tmp_path / "run"
    base = [
        "--width",
        "32",
        "--depth",
        "2",
        "--n-points",
        "4",
        "--dim",
        "3",
        "--eta",
        "0.5",
        "--checkpoint-every",
        "5",
        "--out",
        str(out),
        "--quiet",
    ]
    assert train_main([*base, "--steps", "10"]) == 0
    ckpts = sorted(p.name for p in (out / "checkpoints" / "seed-0").iterdir())
    assert ckpts == ["ckpt-00000005.npz", "ckpt-00000010.npz"]
    assert train_main([*base, "--steps", "15", "--resume"]) == 0
    resumed = np.load(out / "kernels.npz")["loss"]
    fresh = tmp_path / "fresh"
    assert train_main([*base[:-3], "--out", str(fresh), "--quiet", "--steps", "15"]) == 0
    np.testing.assert_allclose(resumed, np.load(fresh / "kernels.npz")["loss"], rtol=1e-10)
    assert len(resumed) == 16


def test_a_used_out_is_refused_unless_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--width", "16", "--n-points", "4", "--dim", "3", "--steps", "3", "--out", str(out), "--quiet"]
    assert train_main(base) == 0
    code, cap = _run_cli(train_main, base, capsys)
    assert code == 2 and len(cap.err.strip().splitlines()) == 1 and "already holds a run" in cap.err
    code, cap = _run_cli(train_main, [*base, "--width", "8", "--resume"], capsys)
    assert code == 2 and "width (saved 16, given 8)" in cap.err
    assert train_main([*base, "--overwrite"]) == 0
    code, cap = _run_cli(theory_main, ["--steps", "5", "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "already holds a run" in cap.err


def test_resume_needs_out():
    with pytest.raises(UsageError, match="--resume needs --out"):
        train_main(["--resume"])


def test_theory_deep_dmft_rejects_unsupported_activation(tmp_path, capsys):
    argv = ["--regime", "dmft", "--depth", "2", "--rule", "hebb", "--activation", "relu", "--out", str(tmp_path / "x")]
    code, out = _run_cli(theory_main, argv, capsys)
    assert code == 2
    assert "deep" in out.err and len(out.err.strip().splitlines()) == 1


@pytest.mark.parametrize("main", [train_main, theory_main])
@pytest.mark.parametrize("argv,word", [(["--rule", "backprop"], "backprop"), (["--activation", "sigmoid"], "sigmoid")])
def test_unknown_rule_or_activation_is_one_line(main, argv, word, capsys, tmp_path):
    code, cap = _run_cli(main, [*argv, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and word in cap.err and len(cap.err.strip().splitlines()) == 1 and "usage" not in cap.err


def test_every_cli_takes_a_config_file(tmp_path, capsys):
    """--config file.json on train, theory, reproduce and bench: values are used, bad ones are one line."""
    from learning_rules.bench import main as bench_main
    from learning_rules.reproduce import main as reproduce_main

    good = tmp_path / "theory.json"
    good.write_text(json.dumps({"regime": "lazy", "rule": "dfa", "steps": 4, "depth": 1}))
    out = tmp_path / "t"
    assert theory_main(["--config", str(good), "--out", str(out), "--quiet"]) == 0
    assert len(np.load(out / "theory.npz")["loss"]) == 5
    cases = [
        (train_main, {"width": 0}, "width must be a positive integer"),
        (theory_main, {"rule": "bp"}, "bp"),
        (reproduce_main, {"only": "bogus"}, "--only: unknown experiment(s) bogus"),
        (bench_main, {"widths": [0]}, "--widths must be positive"),
        (bench_main, {"nonsense": 1}, "unknown option(s) nonsense"),
    ]
    for main, values, message in cases:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps(values))
        code, cap = _run_cli(main, ["--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
        assert code == 2 and message in cap.err and len(cap.err.strip().splitlines()) == 1
