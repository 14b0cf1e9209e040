"""The hostile suite: untrusted programs are contained, the evaluator survives, other results stay intact."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import threading
from pathlib import Path

import pytest

from mbxp.evaluate import EvalConfig, evaluate
from mbxp.execution import ExecConfig, check_program
from mbxp.sandbox import Limits, Sandbox, isolation_available

PROMPT = "def add_one(x):\n"
TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(41) == 42\n"
PROBLEM = {"task_id": "T/0", "language": "python", "prompt": PROMPT, "test": TEST, "entry_point": "add_one"}
GOOD = "    return x + 1\n"
BAD = "    return x + 2\n"

needs_bwrap = pytest.mark.skipif(isolation_available() != "bwrap", reason="bubblewrap namespaces unavailable here")


def body(code: str) -> str:
    """Hostile code placed in the function body (runs when the test calls it)."""
    return "".join("    " + line + "\n" for line in code.strip().splitlines())


@pytest.fixture
def canary():
    """A file outside any temp dir, in the package's own folder (visible read-only in the sandbox)."""
    d = Path(__file__).resolve().parent / f".canary-{secrets.token_hex(4)}"
    d.mkdir()
    f = d / "keep.txt"
    f.write_text("original")
    yield f
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


@needs_bwrap
def test_hostile_programs_are_contained_and_others_intact(tmp_path, canary):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted = []

    def accept_loop():
        for _ in range(40):
            try:
                accepted.append(listener.accept())
            except OSError:
                pass

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()
    escape = Path(f"/tmp/mbxp-escape-{secrets.token_hex(4)}")
    hostile = {
        "loop": "while True:\n    pass",
        "fork": "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
        "memory": "x = bytearray(64 * 1024 ** 3)",
        "output": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
        "write": f"open({str(canary)!r}, 'w').write('pwned')",
        "delete": f"import os\nos.remove({str(canary)!r})",
        "tmp": f"open({str(escape)!r}, 'w').write('x')\nopen('/etc/mbxp-escape', 'w').write('x')",
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nsocket.create_connection(('1.1.1.1', 53), timeout=2)",
        "kill": f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\nos.kill(os.getppid(), signal.SIGKILL)",
        "exit_early": "import os\nos._exit(0)",
    }
    samples = [{"task_id": "T/0", "language": "python", "completion": GOOD}]
    samples += [
        {"task_id": "T/0", "language": "python", "completion": body(code) + "    return x + 1\n"}
        for code in hostile.values()
    ]
    samples += [{"task_id": "T/0", "language": "python", "completion": BAD}]
    sfile = tmp_path / "s.jsonl"
    sfile.write_text("".join(json.dumps(s) + "\n" for s in samples))
    summary = evaluate(
        samples, {"T/0": PROBLEM}, tmp_path / "out", EvalConfig(timeout=3, workers=2, quiet=True, memory_mb=384)
    )
    rows = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == len(samples)
    res = {name: rows[i + 1]["result"] for i, name in enumerate(hostile)}
    assert rows[0]["passed"] and rows[0]["result"] == "passed"  # the good one, before the hostile ones
    assert not rows[-1]["passed"] and rows[-1]["result"].startswith("failed")  # the wrong one, after
    for name in hostile:
        assert not rows[list(hostile).index(name) + 1]["passed"], (name, res[name])
    assert res["loop"] == "timed out"
    assert res["fork"] == "timed out" or res["fork"].startswith("sandbox:"), res["fork"]
    assert res["memory"] == "sandbox: memory limit exceeded"
    assert res["output"] == "sandbox: file size / output limit exceeded"
    for name in ("write", "delete", "tmp", "network", "kill"):
        assert res[name].startswith("sandbox:"), (name, res[name])
    assert res["exit_early"].startswith("failed: the tests did not run")
    assert canary.read_text() == "original"
    assert not escape.exists() and not Path("/etc/mbxp-escape").exists()
    assert accepted == []  # no connection reached the host's loopback
    assert summary["pass@k"]["python"]["1"] == pytest.approx(1 / len(samples))
    listener.close()


def test_rlimits_fallback_still_limits_time_and_output(tmp_path):
    with Sandbox(isolation="rlimits") as box:
        box.write("loop.py", "while True:\n    pass\n")
        out = box.run([sys.executable, "loop.py"], Limits(timeout=1.5))
        assert out.timed_out and out.isolation == "rlimits"
        box.write("big.py", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n")
        out = box.run([sys.executable, "big.py"], Limits(timeout=10, file_mb=4))
        assert out.signal == "SIGXFSZ" or out.returncode != 0
        assert out.output_truncated
        work = box.work
    assert not work.exists()  # the temp dir is deleted afterwards


def test_mxeval_mode_accepts_an_early_exit_that_strict_mode_rejects():
    early = "    import sys\n    sys.exit(0)\n"
    strict = check_program(PROBLEM, early, "python", ExecConfig(timeout=5))
    compat = check_program(PROBLEM, early, "python", ExecConfig(timeout=5, mode="mxeval"))
    assert not strict["passed"] and compat["passed"]
