"""Issue 15 item 1: an evaluator installed in a virtual environment under ``/tmp`` runs its Python samples.

Round 1 bound nothing of the interpreter into the sandbox, whose private ``/tmp`` then hid a venv's
``bin/python``: every Python sample failed with "setpriv: failed to execute /tmp/v/bin/python" and the
run reported pass@1 = 0%. Here a fresh venv is made under ``/tmp`` (its packages: this environment's
``sys.path``), the evaluator CLI runs in it on a correct and a wrong sample, and the correct one must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mbxp.sandbox import bwrap_problem

PROBLEM = {
    "task_id": "T/0",
    "language": "python",
    "prompt": "def add_one(x):\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    "entry_point": "add_one",
}


def base_python(kind: str) -> str | None:
    """The interpreter the venv is made from: this one, or the system's Python of the same minor version
    (reachable by the sandbox uid, so the sandbox starts the venv's own ``bin/python`` -- the round-1
    case; this one may live under root's private home and is then relocated, another code path)."""
    if kind == "this":
        return sys.executable
    system = "/usr/bin/python3"
    if not Path(system).exists():
        return None
    out = subprocess.run(
        [system, "-c", "import sys, venv; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    return system if out.stdout.strip() == str(tuple(sys.version_info[:2])) else None


@pytest.mark.parametrize(("kind", "mode"), [("this", 0o755), ("system", 0o755), ("system", 0o700)])
def test_an_evaluator_in_a_tmp_virtualenv_runs_python_samples(kind, mode):
    reason = bwrap_problem()
    if reason:  # the weak mode has no private /tmp, so the round-1 failure cannot happen there
        pytest.skip(f"bubblewrap unavailable: {reason}")
    base = base_python(kind)
    if base is None:
        pytest.skip("no /usr/bin/python3 of this Python's minor version (with venv)")
    venv = Path(tempfile.mkdtemp(prefix="mbxp-venv-", dir="/tmp"))
    venv.chmod(mode)  # 0o755: as `uv venv /tmp/v` makes it; 0o700: a private folder the sandbox uid cannot enter
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True, timeout=120)
        py = venv / "bin" / "python"
        site = Path(
            subprocess.run(
                [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        stdlib = (sys.base_prefix, os.path.realpath(sys.base_prefix))  # the venv's own interpreter brings its stdlib
        here = [p for p in sys.path if p and Path(p).is_dir() and not p.startswith(stdlib)]
        (site / "zz_parent_env.pth").write_text("\n".join(here) + "\n")
        (venv / "problems.jsonl").write_text(json.dumps(PROBLEM) + "\n")
        samples = [
            {"task_id": "T/0", "language": "python", "completion": c}
            for c in ("    return x + 1\n", "    return x + 2\n")
        ]
        (venv / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        out = venv / "run"
        proc = subprocess.run(
            [py, "-m", "mbxp.cli_main", "mbxp-evaluate", str(venv / "samples.jsonl")]
            + ["--problems", str(venv / "problems.jsonl"), "--out", str(out), "--k", "1", "--workers", "1"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        by_completion = {r["completion"]: r for r in rows}
        good, bad = by_completion[samples[0]["completion"]], by_completion[samples[1]["completion"]]
        assert good["status"] == "passed", good
        assert bad["status"] == "failed" and bad["result"].startswith("failed"), bad
        summary = json.loads((out / "summary.json").read_text())
        assert summary["pass@k"]["python"]["1"] == 0.5 and summary["isolation"] == "bwrap", summary
    finally:
        shutil.rmtree(venv, ignore_errors=True)
