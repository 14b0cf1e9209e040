"""Check one completion by execution (paper Sec. 3 "execution-based evaluation"; mxeval ``check_correctness_*``).

``check_program`` assembles the program (:mod:`mbxp.harness`), compiles and runs it in a fresh sandbox
(:mod:`mbxp.sandbox`) and returns a result dict:

* ``status``: ``passed``, ``failed`` (the program ran and did not pass, sandbox limits included),
  ``timeout``, ``compile_error`` or ``error`` (the executor itself failed: the sandbox did not start the
  program). An ``error`` is never a sample failure: pass@k leaves it out and the count is reported.
* ``passed`` (status == passed), ``result`` (a one-line reason), ``seconds``, ``isolation``, and in strict
  mode ``mxeval_passed``: mxeval's verdict (exit codes only) of the same execution.

Two scoring modes:

* ``strict`` (default): a pass needs exit code 0 of every step *and* the end-of-tests line (a fresh token
  per run, passed in the environment and printed by the harness after the last test statement) in the
  output: the test code ran to its end, and no program text can contain the token;
* ``mxeval``: mxeval's semantics (exit codes only; TypeScript "tsc exit code == 2"), for comparison.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from mbxp.harness import assemble_program, strict_program
from mbxp.languages import DONE_PREFIX, LANGUAGES, TOKEN_VAR
from mbxp.pch import PCH_INNER, cpp_pch_dir
from mbxp.sandbox import Limits, RunOutput, Sandbox
from mbxp.toolchains import launch, node_path, resource_text

__all__ = ["ExecConfig", "check_program", "classify_failure", "STATUSES"]

Mode = Literal["strict", "mxeval"]
STATUSES = ("passed", "failed", "timeout", "compile_error", "error")


@dataclass(frozen=True)
class ExecConfig:
    """Options of one execution (shared by every sample of a run)."""

    timeout: float = 15.0  # run step, seconds (mxeval CLI default 15 s)
    compile_timeout: float | None = None  # None: the language's default (mxeval: 100 s)
    mode: Mode = "strict"
    memory_mb: int = 4096  # per process (RLIMIT_DATA) and, with a cgroup, the whole run step
    processes: int = 512  # RLIMIT_NPROC / pids.max of the run step
    disk_mb: int = 512  # the run step's writable tmpfs
    file_mb: int = 64  # the biggest file (and stdout/stderr) a program may write
    isolation: str | None = None  # None: bubblewrap (the weak fallback only with allow_weak)
    allow_weak: bool = False


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
    "Permission denied",
    "EACCES",
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
_DISK = ("No space left on device", "ENOSPC")


def _last_line(text: str, limit: int = 200) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    for ln in lines:  # prefer the first line that names an error, else the last line
        low = ln.lower()
        if "error" in low or "exception" in low or "panic" in low or "assert" in low:
            return ln[:limit]
    return lines[-1][:limit]


def classify_failure(out: RunOutput) -> tuple[str, str]:
    """(status, reason) of a step that did not pass: limits first, then the program's own error."""
    text = out.stderr + "\n" + out.stdout
    if out.out_of_memory:  # the cgroup's limit on the whole tree was hit (a stalled tree may also time out)
        return "failed", "sandbox: memory limit exceeded"
    if out.timed_out or out.signal == "SIGXCPU":
        return "timeout", "timed out"
    if out.signal == "SIGXFSZ" or "File size limit exceeded" in text or "File too large" in text:
        return "failed", "sandbox: file size / output limit exceeded"
    if any(m in text for m in _DISK):
        return "failed", "sandbox: disk limit exceeded"
    if any(m in text for m in _MEMORY):
        return "failed", "sandbox: memory limit exceeded"
    if any(m in text for m in _PROCESS):
        return "failed", "sandbox: process limit reached"
    if any(m in text for m in _NETWORK):
        return "failed", "sandbox: network disabled"
    if any(m in text for m in _DENIED):
        return "failed", "sandbox: operation denied (" + next(m for m in _DENIED if m in text) + ")"
    if out.signal:
        return "failed", f"failed: killed by {out.signal}"
    return "failed", "failed: " + (_last_line(out.stderr) or _last_line(out.stdout) or f"exit code {out.returncode}")


def _env(language: str, box: Sandbox) -> dict[str, str]:
    env = dict(LANGUAGES[language].env)
    if language in ("javascript", "typescript"):
        env["NODE_PATH"] = node_path()
    if language == "go":  # the build cache stays in the compile step's private /tmp (bwrap)
        cache = "/tmp/.go" if box.isolation == "bwrap" else box.inner_work + "/.go"
        env["GOCACHE"], env["GOPATH"] = cache + "/cache", cache + "/path"
    return env


def _compile_step(language: str, box: Sandbox) -> tuple[tuple[str, ...] | None, tuple[tuple[str, str], ...]]:
    """The compile command and its extra binds: C++ under bubblewrap gets the precompiled
    ``<bits/stdc++.h>`` (:mod:`mbxp.pch`; same binary, ~5x faster compile), everything else the registry's."""
    cmd = LANGUAGES[language].compile
    if language == "cpp" and cmd is not None and box.isolation == "bwrap":
        folder = cpp_pch_dir()
        if folder is not None:
            return (cmd[0], "-I", PCH_INNER, *cmd[1:]), ((folder, PCH_INNER),)
    return cmd, ()


def check_program(
    problem: dict[str, Any],
    completion: str,
    language: str,
    cfg: ExecConfig = ExecConfig(),
) -> dict[str, Any]:
    """Compile and run one program in a fresh sandbox; see the module docstring for the result."""
    spec = LANGUAGES[language]
    token = secrets.token_hex(16)
    args = (language, problem["prompt"], completion, problem["test"], problem.get("entry_point", ""))
    program = strict_program(*args) if cfg.mode == "strict" else assemble_program(*args)
    limits = Limits(
        timeout=cfg.timeout,
        memory_mb=cfg.memory_mb,
        file_mb=cfg.file_mb,
        disk_mb=cfg.disk_mb,
        processes=cfg.processes,
    )
    compile_limits = Limits(
        timeout=cfg.compile_timeout or spec.compile_timeout,
        memory_mb=max(cfg.memory_mb, 4096),
        processes=1024,
        disk_mb=max(cfg.disk_mb, 512),
    )
    seconds = 0.0
    mx_ok = True  # mxeval's verdict of the same execution (exit codes only), reported beside the strict one
    with Sandbox(cfg.isolation, cfg.allow_weak, disk_mb=cfg.disk_mb) as box:
        box.write(spec.source, program)
        for name in spec.extra_files:
            box.write(name, resource_text(name))
        env = _env(language, box)
        try:
            run_cmd, binds, extra_env = launch(language, box.isolation, box.as_root)
        except PermissionError as e:
            return _result("error", f"error: {e}", seconds, box.isolation, cfg.mode)
        env.update(extra_env)
        compile_cmd, compile_binds = _compile_step(language, box)
        if compile_cmd is not None:
            out = box.run(compile_cmd, compile_limits, env, (*binds, *compile_binds), step="compile")
            seconds += out.seconds
            if not out.started:
                return _result("error", f"error: {out.error}", seconds, box.isolation, cfg.mode)
            emitted = (box.work / "prog.js").exists()
            mx_ok = out.returncode == 2 if language == "typescript" else out.returncode == 0
            if language == "typescript" and cfg.mode == "strict":
                ok = out.returncode in (0, 2) and emitted
            else:
                ok = mx_ok
            if not ok:
                if out.timed_out:
                    return _result("timeout", "timed out (compile)", seconds, box.isolation, cfg.mode)
                if language == "typescript" and emitted and cfg.mode == "mxeval":
                    reason = f"compile error: tsc exit code {out.returncode} (mxeval requires 2)"
                else:
                    reason = "compile error: " + (
                        _last_line(out.stdout + "\n" + out.stderr) or f"exit code {out.returncode}"
                    )
                return _result("compile_error", reason, seconds, box.isolation, cfg.mode)
            box.hand_over()  # compiled outputs must be readable by the run uid
        out = box.run(run_cmd, limits, {**env, TOKEN_VAR: token}, binds)
        seconds += out.seconds
        if not out.started:
            return _result("error", f"error: {out.error}", seconds, box.isolation, cfg.mode)
        if out.returncode != 0 or out.timed_out:
            status, reason = classify_failure(out)
            return _result(status, reason, seconds, box.isolation, cfg.mode)
        if cfg.mode == "strict" and not out.contains(DONE_PREFIX + token):
            reason = "failed: the tests did not run to the end (no end-of-tests line)"
            return _result("failed", reason, seconds, box.isolation, cfg.mode, mxeval_passed=mx_ok)
        return _result("passed", "passed", seconds, box.isolation, cfg.mode, mxeval_passed=mx_ok)


def _result(
    status: str, reason: str, seconds: float, isolation: str, mode: Mode, mxeval_passed: bool = False
) -> dict[str, Any]:
    """Result dict; in strict mode also ``mxeval_passed``: mxeval's verdict (exit codes only) of the same run.

    The strict program differs from mxeval's only by the end-of-tests statement, so one strict run yields
    both verdicts (e.g. TypeScript's 84.40% strict and 87.29% mxeval-compat pass@1 from one execution).
    """
    res = {
        "status": status,
        "passed": status == "passed",
        "result": reason,
        "seconds": round(seconds, 3),
        "isolation": isolation,
    }
    if mode == "strict" and status != "error":
        res["mxeval_passed"] = bool(mxeval_passed)
    return res
