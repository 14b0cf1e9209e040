"""Check one completion by execution (paper Sec. 3 "execution-based evaluation"; mxeval ``check_correctness_*``).

``check_program`` assembles ``prompt + completion + test``, compiles and runs it in a fresh sandbox
(:mod:`mbxp.sandbox`) and returns a result dict: ``passed`` (bool), ``result`` (``passed``,
``failed: …``, ``timed out``, ``compile error: …``, ``sandbox: …``), ``seconds``, ``isolation``.

Two scoring modes:

* ``strict`` (default): a pass needs exit code 0 of every step *and* the end-of-test marker in the
  output (:func:`mbxp.languages.insert_marker`), i.e. the test code ran to its end;
* ``mxeval``: mxeval's semantics (exit codes only; TypeScript "tsc exit code == 2"), for comparison.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from mbxp.languages import LANGUAGES, assemble_program, insert_marker, node_path, resource_text
from mbxp.sandbox import Limits, RunOutput, Sandbox

__all__ = ["ExecConfig", "check_program", "classify_failure"]

Mode = Literal["strict", "mxeval"]


@dataclass(frozen=True)
class ExecConfig:
    """Options of one execution (shared by every sample of a run)."""

    timeout: float = 15.0  # run step, seconds (mxeval CLI default 15 s)
    compile_timeout: float | None = None  # None: the language's default (mxeval: 100 s)
    mode: Mode = "strict"
    memory_mb: int = 4096
    isolation: str | None = None  # None: best available ("bwrap", else "rlimits")


_MEMORY = (
    "MemoryError",
    "bad_alloc",
    "OutOfMemoryError",
    "Cannot allocate memory",
    "out of memory",
    "heap out of memory",
    "Out of memory",
    "failed to allocate",
    "cannot allocate",
)
_NETWORK = (
    "Network is unreachable",
    "Connection refused",
    "ECONNREFUSED",
    "ENETUNREACH",
    "Temporary failure in name resolution",
    "EAI_AGAIN",
    "Name or service not known",
)
_DENIED = (
    "Read-only file system",
    "Operation not permitted",
    "EROFS",
    "EPERM",
    "ProcessLookupError",
    "No such process",
)
_PROCESS = (
    "BlockingIOError",
    "Resource temporarily unavailable",
    "unable to create native thread",
    "fork: retry",
    "Can't fork",
    "pthread_create failed",
    "newosproc",
)


def _last_line(text: str, limit: int = 200) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    # prefer the first line that names an error, else the last line
    for ln in lines:
        low = ln.lower()
        if "error" in low or "exception" in low or "panic" in low or "assert" in low:
            return ln[:limit]
    return lines[-1][:limit]


def classify_failure(out: RunOutput) -> str:
    """Short reason for a non-passing step (limits first, then the program's own error)."""
    text = out.stderr + "\n" + out.stdout
    if out.timed_out or out.signal == "SIGXCPU":
        return "timed out"
    if out.signal == "SIGXFSZ" or "File size limit exceeded" in text or "File too large" in text:
        return "sandbox: file size / output limit exceeded"
    if any(m in text for m in _MEMORY):
        return "sandbox: memory limit exceeded"
    if any(m in text for m in _PROCESS):
        return "sandbox: process limit reached"
    if any(m in text for m in _NETWORK):
        return "sandbox: network disabled"
    if any(m in text for m in _DENIED):
        return "sandbox: operation denied (" + next(m for m in _DENIED if m in text) + ")"
    if out.returncode is None:
        return "sandbox: " + (out.stderr.strip()[:200] or "could not start")
    if out.signal:
        return f"failed: killed by {out.signal}"
    return "failed: " + (_last_line(out.stderr) or _last_line(out.stdout) or f"exit code {out.returncode}")


def _env(language: str, box: Sandbox) -> dict[str, str]:
    env = dict(LANGUAGES[language].env)
    if language in ("javascript", "typescript"):
        env["NODE_PATH"] = node_path()
    if language == "go":
        env["GOCACHE"] = box.inner_work + "/.gocache"
        env["GOPATH"] = box.inner_work + "/.gopath"
    if language in ("java", "kotlin", "scala"):
        env["JAVA_TOOL_OPTIONS"] = "-Xss8m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    return env


def check_program(
    problem: dict[str, Any],
    completion: str,
    language: str,
    cfg: ExecConfig = ExecConfig(),
) -> dict[str, Any]:
    """Compile and run one program in a fresh sandbox; see the module docstring for the result."""
    spec = LANGUAGES[language]
    token = "MBXP_TESTS_DONE_" + secrets.token_hex(8)
    test = problem["test"]
    if cfg.mode == "strict" and language != "python":
        test = insert_marker(language, test, token)
    program = assemble_program(language, problem["prompt"], completion, test, problem.get("entry_point", ""))
    if cfg.mode == "strict" and language == "python":  # after the harness's check(entry_point)
        program = insert_marker(language, program, token)
    limits = Limits(timeout=cfg.timeout, memory_mb=cfg.memory_mb)
    compile_limits = Limits(
        timeout=cfg.compile_timeout or spec.compile_timeout, memory_mb=max(cfg.memory_mb, 4096), processes=1024
    )
    seconds = 0.0
    mx_ok = True  # mxeval's verdict of the same execution (exit codes only), reported beside the strict one
    with Sandbox(cfg.isolation) as box:
        box.write(spec.source, program)
        for name in spec.extra_files:
            box.write(name, resource_text(name))
        env = _env(language, box)
        if spec.compile is not None:
            out = box.run(spec.compile, compile_limits, env)
            seconds += out.seconds
            emitted = (box.work / "prog.js").exists()
            mx_ok = out.returncode == 2 if language == "typescript" else out.returncode == 0
            if language == "typescript" and cfg.mode == "strict":
                ok = out.returncode in (0, 2) and emitted
            else:
                ok = mx_ok
            if not ok:
                if out.timed_out:
                    reason = "timed out (compile)"
                elif language == "typescript" and emitted and cfg.mode == "mxeval":
                    reason = f"compile error: tsc exit code {out.returncode} (mxeval requires 2)"
                else:
                    reason = "compile error: " + (
                        _last_line(out.stdout + "\n" + out.stderr) or f"exit code {out.returncode}"
                    )
                return _result(False, reason, seconds, out.isolation, cfg.mode)
            if os.geteuid() == 0:
                for p in box.work.rglob("*"):  # compiled outputs must be readable by the run uid
                    with contextlib.suppress(OSError):
                        os.chown(p, box.uid, box.uid)
        out = box.run(spec.run, limits, env)
        seconds += out.seconds
        if out.returncode != 0 or out.timed_out:
            return _result(False, classify_failure(out), seconds, out.isolation, cfg.mode)
        if cfg.mode == "strict" and token not in out.stdout + out.stderr:
            reason = "failed: the tests did not run to the end (no end-of-test marker)"
            return _result(False, reason, seconds, out.isolation, cfg.mode, mxeval_passed=mx_ok)
        return _result(True, "passed", seconds, out.isolation, cfg.mode, mxeval_passed=mx_ok)


def _result(
    passed: bool, reason: str, seconds: float, isolation: str, mode: Mode, mxeval_passed: bool = False
) -> dict[str, Any]:
    """Result dict; in strict mode also ``mxeval_passed``: mxeval's verdict (exit codes only) of the same run.

    The strict program differs from mxeval's only by the end-of-test print, so one strict run yields both
    verdicts (e.g. TypeScript's 84.40% strict and 87.29% mxeval-compat pass@1 from a single execution).
    """
    res = {"passed": passed, "result": reason, "seconds": round(seconds, 3), "isolation": isolation}
    if mode == "strict":
        res["mxeval_passed"] = bool(mxeval_passed)
    return res
