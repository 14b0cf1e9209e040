"""Sandbox for untrusted, model-written programs (issue part 4; absent from the official mxeval).

mxeval compiles and runs every non-Python sample with a bare ``subprocess`` inside the installed
package directory: no resource limits, no network isolation, no protection of the file system.
Here every program gets

* a fresh temporary directory (``work/``), deleted afterwards; stdout/stderr go to files *beside* it;
* rlimits: CPU seconds, data segment (memory), file size (which also caps the output), open files,
  process count (when we are root each sandbox runs as its own unused uid, because the kernel exempts
  uid 0 from ``RLIMIT_NPROC`` and counts processes per uid: a fork bomb cannot starve its neighbours);
* a wall-clock timeout that kills the whole process group (and, with bubblewrap, the PID namespace);
* with bubblewrap (``bwrap``): a read-only view of ``/``, a private ``/tmp``, only ``work/`` writable,
  no network (``--unshare-net``), its own PID/IPC/UTS namespaces, ``--die-with-parent``;
* a scrubbed environment (PATH, HOME=work, LANG and what the language needs).

Where bubblewrap is absent or fails, we fall back to rlimits only (plus ``unshare -n`` when that
works) and say so: every ``RunOutput`` carries ``isolation`` ("bwrap" or "rlimits").
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "RunOutput", "Sandbox", "isolation_available"]

UID_BASE = 200_000  # sandboxes run as a fresh uid each (RLIMIT_NPROC is counted per uid)
_uid_lock = threading.Lock()
_uid_counter = itertools.count()


def _next_uid() -> int:
    """A uid no other live sandbox uses: per-process block of 100 uids, cycling."""
    with _uid_lock:
        n = next(_uid_counter) % 100
    return UID_BASE + (os.getpid() % 5000) * 100 + n


INNER_WORK = "/tmp/work"  # where the work dir appears inside bubblewrap
OUTPUT_KEEP = 4096  # bytes kept from the head and from the tail of stdout/stderr


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits (rlimits) and the wall-clock timeout of one step."""

    timeout: float = 15.0
    memory_mb: int = 4096  # RLIMIT_DATA: committed writable memory (JVM/V8 reserve more address space)
    file_mb: int = 64  # RLIMIT_FSIZE: biggest file a program may write, stdout/stderr included
    open_files: int = 1024
    processes: int = 512  # RLIMIT_NPROC for the sandbox uid (threads count too: JVMs need ~50)


@dataclass
class RunOutput:
    """What one sandboxed command did."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    signal: str | None = None
    isolation: str = "rlimits"
    output_truncated: bool = False
    notes: list[str] = field(default_factory=list)


@functools.cache
def _bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        out = subprocess.run(
            [
                exe,
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--unshare-net",
                "--unshare-pid",
                "--",
                "true",
            ],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


@functools.cache
def _unshare_net_works() -> bool:
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "-n", "--", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def isolation_available() -> str:
    """'bwrap' when bubblewrap namespaces work here, else 'rlimits'."""
    return "bwrap" if _bwrap_works() else "rlimits"


def _set_limits(limits: Limits) -> None:  # runs in the child between fork and exec
    os.setsid()
    cpu = max(1, int(limits.timeout) + 1)
    mb = 1024 * 1024
    for res, value in (
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_DATA, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_CORE, 0),
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(res, (value, value))


def _read_capped(path: Path) -> tuple[str, bool]:
    """Head and tail of an output file (the end-of-test marker is at the end)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= 2 * OUTPUT_KEEP:
            return f.read().decode("utf-8", "replace"), False
        head = f.read(OUTPUT_KEEP)
        f.seek(size - OUTPUT_KEEP)
        tail = f.read()
    return head.decode("utf-8", "replace") + "\n[... output truncated ...]\n" + tail.decode("utf-8", "replace"), True


class Sandbox:
    """A temporary directory plus a way to run commands in it under the limits above.

    Use as a context manager; the directory is deleted on exit::

        with Sandbox() as box:
            box.write("prog.py", source)
            out = box.run([sys.executable, "prog.py"], Limits(timeout=5))
    """

    def __init__(self, isolation: str | None = None, parent: str | os.PathLike | None = None) -> None:
        self.isolation = isolation or isolation_available()
        if self.isolation not in ("bwrap", "rlimits"):
            raise ValueError(f"unknown isolation {self.isolation!r}")
        self.root = Path(tempfile.mkdtemp(prefix="mbxp-", dir=parent))
        self.work = self.root / "work"
        self.work.mkdir()
        os.chmod(self.root, 0o711)
        self.as_root = os.geteuid() == 0
        self.uid = _next_uid() if self.as_root else os.geteuid()
        if self.as_root:
            os.chown(self.work, self.uid, self.uid)
        self._n = 0

    @property
    def inner_work(self) -> str:
        """The work dir's path as the sandboxed program sees it."""
        return INNER_WORK if self.isolation == "bwrap" else str(self.work)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        if self.as_root:
            os.chown(path, self.uid, self.uid)
        return path

    def _wrap(self, cmd: Sequence[str], binds: Sequence[str]) -> list[str]:
        inner = list(cmd)
        if self.as_root:
            setpriv = shutil.which("setpriv")
            if setpriv:
                inner = [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--", *inner]
        if self.isolation == "bwrap":
            work = str(self.work)  # seen inside as INNER_WORK (bwrap makes parents 0700 in the tmpfs)
            wrap = [
                "bwrap",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--perms",
                "1777",
                "--tmpfs",
                "/tmp",
            ]
            for b in binds:
                wrap += ["--bind", b, b]
            wrap += [
                "--bind",
                work,
                INNER_WORK,
                "--chdir",
                INNER_WORK,
                "--unshare-net",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--die-with-parent",
                "--new-session",
                "--",
            ]
            return wrap + inner
        if _unshare_net_works():
            return ["unshare", "-n", "--", *inner]
        return inner

    def run(
        self,
        cmd: Sequence[str],
        limits: Limits,
        env: Mapping[str, str] | None = None,
        binds: Sequence[str] = (),
    ) -> RunOutput:
        """Run ``cmd`` with cwd = the work dir; kill the process group at ``limits.timeout``."""
        self._n += 1
        out_path = self.root / f"stdout{self._n}"
        err_path = self.root / f"stderr{self._n}"
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": self.inner_work,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": "/tmp" if self.isolation == "bwrap" else self.inner_work,
        }
        full_env.update(env or {})
        start = time.monotonic()
        timed_out = False
        with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
            try:
                proc = subprocess.Popen(
                    self._wrap(cmd, binds),
                    cwd=self.work,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=fo,
                    stderr=fe,
                    preexec_fn=functools.partial(_set_limits, limits),
                )
            except OSError as e:
                return RunOutput(None, "", f"cannot start {cmd[0]}: {e}", 0.0, isolation=self.isolation)
            try:
                rc = proc.wait(timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                rc = None
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                if rc is None:
                    rc = proc.wait()
        seconds = time.monotonic() - start
        stdout, t1 = _read_capped(out_path)
        stderr, t2 = _read_capped(err_path)
        sig = None
        if rc is not None and rc < 0:
            sig = signal.Signals(-rc).name
        elif rc is not None and rc > 128 and self.isolation == "bwrap":
            # bwrap's init reports a killed child as 128 + signal number
            try:
                sig = signal.Signals(rc - 128).name
            except ValueError:
                sig = None
        return RunOutput(rc, stdout, stderr, seconds, timed_out, sig, self.isolation, t1 or t2)
