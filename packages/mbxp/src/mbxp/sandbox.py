"""Sandbox for untrusted, model-written programs (absent from the official mxeval, which compiles and runs
every sample with a bare ``subprocess`` inside its installed package folder).

Two isolation modes (README "Isolation guarantees" has the table):

* ``bwrap`` (root or not): bubblewrap gives a read-only ``/``, size-capped private tmpfs at ``/tmp`` and
  ``/dev/shm``, no network, its own PID/IPC/UTS namespaces (``kill -9 -1`` reaches only the sandbox; when
  its first process ends, the kernel kills every other one, detached daemons included). A run step works
  in a copy of the work folder on that tmpfs (a disk filler stops at the cap); a compile step writes the
  host work folder (compilers run no sample code). As root it also runs as a fresh uid.
* ``rlimits``, the weak fallback, refused unless the user allows it: rlimits only. As root: a fresh uid,
  no network and its own PID namespace where ``unshare`` works, a size-capped tmpfs work folder; not as
  root: the evaluator's own uid, the network and a writable home.

In both: rlimits (CPU, data segment, file size which also caps stdout/stderr, open files, processes),
a cgroup per step where one can be created (``pids.max``, memory of the whole tree), a wall-clock
timeout, and a sweep of every leftover process after each step (:mod:`mbxp.confine`). Nothing runs
through ``preexec_fn`` (unsafe in threads): the limits are applied by ``prlimit``/``setpriv`` in the
command chain, and the start of the program is signalled through a pipe by the last link of the chain,
so a failure of the chain itself is an executor error, never the sample's (the pipe is the
chain's stdin; the program itself reads /dev/null).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mbxp import confine

__all__ = [
    "Limits",
    "RunOutput",
    "Sandbox",
    "IsolationError",
    "allow_weak_isolation",
    "isolation_available",
    "resolve_isolation",
]

INNER_WORK = "/tmp/work"  # where the work dir appears inside bubblewrap
INNER_IN = "/tmp/.mbxp-in"  # read-only view of the host work dir in a bwrap run step (copied to INNER_WORK)
OUTPUT_KEEP = 4096  # bytes kept from the head and from the tail of stdout/stderr in RunOutput
MASKED = ("/tmp", "/dev/shm")  # host paths the bwrap sandbox replaces (needed paths below are bound back)
WEAK_NOTE = "rlimits only: the evaluator's uid unless root, the network, a writable home"


class IsolationError(RuntimeError):
    """The requested isolation cannot be had here (a one-line reason)."""


_allow_weak_default = False


def allow_weak_isolation(allow: bool = True) -> None:
    """Let sandboxes created without an explicit choice fall back to the weak mode (the CLIs' flag)."""
    global _allow_weak_default
    _allow_weak_default = allow


@dataclass(frozen=True)
class Limits:
    """Resource limits and the wall-clock timeout of one step."""

    timeout: float = 15.0
    memory_mb: int = 4096  # RLIMIT_DATA per process (JVM/V8 reserve more address space); cgroup: the whole tree
    file_mb: int = 64  # RLIMIT_FSIZE: biggest file a program may write, stdout/stderr included
    disk_mb: int = 512  # size of the writable tmpfs (run-step work folder, /tmp, /dev/shm)
    open_files: int = 1024
    processes: int = 512  # RLIMIT_NPROC of the sandbox uid and pids.max of its cgroup (JVMs need ~50 threads)


@dataclass
class RunOutput:
    """What one sandboxed command did. ``started`` is False when the sandbox itself failed before the
    program started (an executor error); then ``error`` says why."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    signal: str | None = None
    isolation: str = "rlimits"
    output_truncated: bool = False
    started: bool = True
    error: str | None = None
    out_of_memory: bool = False
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def contains(self, text: str) -> bool:
        """Whether ``text`` occurs anywhere in the full stdout or stderr (not only the kept head and tail)."""
        needle = text.encode()
        for path in (self.stdout_path, self.stderr_path):
            if path is None or not path.exists():
                continue
            with open(path, "rb") as f:
                tail = b""
                while chunk := f.read(1 << 20):
                    if needle in tail + chunk:
                        return True
                    tail = chunk[-len(needle) :]
        return False


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; real-time and unnamed signals (35-64) as ``SIG35`` (never an exception)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _bwrap_base(disk_mb: int) -> list[str]:
    size = str(disk_mb * 1024 * 1024)
    return [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--size",
        size,
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--size",
        size,
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
    ]


_NAMESPACES = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]


@functools.cache
def bwrap_problem() -> str | None:
    """None when bubblewrap with the namespaces and the size-capped tmpfs we use works here, else why not."""
    if shutil.which("bwrap") is None:
        return "bwrap not found (apt install bubblewrap)"
    cmd = _bwrap_base(8) + _NAMESPACES + ["--", "true"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap cannot start ({e})"
    if out.returncode != 0:
        return "bwrap fails here: " + (out.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
    return None


def isolation_available() -> str:
    """'bwrap' when bubblewrap works here, else 'rlimits' (the weak fallback)."""
    return "bwrap" if bwrap_problem() is None else "rlimits"


def resolve_isolation(requested: str | None, allow_weak: bool = False) -> str:
    """The isolation to use: bubblewrap when it works; the weak fallback only when ``allow_weak``.
    Running as root without ``setpriv`` is refused in every mode (programs would run as root)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise IsolationError("running as root needs setpriv (util-linux) to drop privileges; refusing to run as root")
    if shutil.which("prlimit") is None:
        raise IsolationError("prlimit (util-linux) not found: resource limits cannot be applied")
    if requested not in (None, "bwrap", "rlimits"):
        raise IsolationError(f"unknown isolation {requested!r} (bwrap or rlimits)")
    reason = bwrap_problem()
    if requested == "bwrap" and reason:
        raise IsolationError(f"--isolation bwrap: {reason}")
    if requested == "rlimits" or reason:
        if not allow_weak:
            why = "--isolation rlimits" if requested == "rlimits" else f"bubblewrap is not usable ({reason})"
            raise IsolationError(f"{why}: the weak fallback ({WEAK_NOTE}) needs --allow-weak-isolation")
        return "rlimits"
    return "bwrap"


@functools.cache
def _unshare_works() -> tuple[str, ...]:
    """The ``unshare`` flags that work here (root fallback: no network, own PID namespace)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return ()
    flags = ("--net", "--pid", "--fork", "--kill-child")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if subprocess.run(["unshare", *flags, "--", "true"], capture_output=True, timeout=20).returncode == 0:
            return flags
    return ()


def _read_capped(path: Path) -> tuple[str, bool]:
    """Head and tail of an output file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= 2 * OUTPUT_KEEP:
            return f.read().decode("utf-8", "replace"), False
        head = f.read(OUTPUT_KEEP)
        f.seek(size - OUTPUT_KEEP)
        tail = f.read()
    return head.decode("utf-8", "replace") + "\n[... output truncated ...]\n" + tail.decode("utf-8", "replace"), True


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    """``proc.wait(timeout)`` without its polling delay (up to 50 ms per step): a pidfd wakes us at the exit."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


@functools.cache
def _default_parent() -> str | None:
    """Where sandbox folders go: ``/dev/shm`` when it is a tmpfs with >= 2 GiB free (files never touch the
    disk: creating and deleting a sandbox costs ~10 ms less under load), else the temp folder. A small
    ``/dev/shm`` (Docker's 64 MiB) is never used: a full host folder must not look like a sample's error."""
    with contextlib.suppress(OSError):
        st = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK | os.X_OK) and st.f_bavail * st.f_frsize >= 2 << 30:
            return "/dev/shm"
    return None


_live_lock = threading.Lock()
_live: set[int] = set()  # pids of running command chains (weak mode without root sweeps the others)


class Sandbox:
    """A temporary work folder plus a way to run commands in it under the limits above; deleted on exit::

    with Sandbox("bwrap") as box:
        box.write("prog.py", source)
        out = box.run([sys.executable, "prog.py"], Limits(timeout=5))
    """

    def __init__(
        self,
        isolation: str | None = None,
        allow_weak: bool | None = None,
        parent: str | os.PathLike | None = None,
        disk_mb: int = Limits.disk_mb,
    ) -> None:
        self.isolation = resolve_isolation(isolation, _allow_weak_default if allow_weak is None else allow_weak)
        self.as_root = os.geteuid() == 0
        self.lease = confine.UidLease() if self.as_root else None
        self.uid = self.lease.uid if self.lease else os.geteuid()
        self.root = Path(tempfile.mkdtemp(prefix="mbxp-", dir=parent if parent is not None else _default_parent()))
        os.chmod(self.root, 0o711)
        self.work = self.root / "work"
        self.work.mkdir()
        self.mounted = False
        if self.isolation == "rlimits" and self.as_root:  # the weak mode's disk cap, where mount works
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                cmd = ["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m,mode=0700", "mbxp", str(self.work)]
                self.mounted = subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
        if self.as_root:
            os.chown(self.work, self.uid, self.uid)
        if self.isolation == "rlimits" and not self.as_root:
            confine.become_subreaper()
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
        if self.lease is not None:
            confine.kill_uid(self.uid)
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.work)], capture_output=True, timeout=20)
            self.mounted = False
        shutil.rmtree(self.root, ignore_errors=True)
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        if self.as_root:
            os.chown(path, self.uid, self.uid)
        return path

    def hand_over(self) -> None:
        """Give every file of the work folder to the sandbox uid (compiled outputs for the run step)."""
        if self.as_root:
            for p in self.work.rglob("*"):
                with contextlib.suppress(OSError):
                    os.chown(p, self.uid, self.uid, follow_symlinks=False)

    def _chain(
        self,
        cmd: Sequence[str],
        limits: Limits,
        step: str,
        binds: Sequence[tuple[str, str]],
        cg: confine.Cgroup | None,
    ) -> list[str]:
        """The command chain: [cgroup join] [bwrap | unshare] [setpriv] prlimit sh(start signal) cmd."""
        nproc = limits.processes if self.as_root else limits.processes + confine.own_process_count()
        mb = 1024 * 1024
        inner = [
            "prlimit",
            f"--cpu={max(1, int(limits.timeout) + 1)}",
            f"--data={limits.memory_mb * mb}",
            f"--fsize={limits.file_mb * mb}",
            f"--nofile={limits.open_files}",
            f"--nproc={nproc}",
            "--core=0",
            "--",
        ]
        if self.isolation == "bwrap" and step == "run":
            prep = f"cp -R {INNER_IN} {INNER_WORK} && cd {INNER_WORK}"  # cp creates the folder: one exec
        else:
            prep = f"cd {shlex.quote(self.inner_work)}"
        # the start pipe is the chain's stdin (fd 0): the program gets /dev/null instead
        script = f'{prep} || exit 125; printf S >&0 || exit 125; exec "$@" < /dev/null'
        inner += ["/bin/sh", "-c", script, "sh", *cmd]
        if self.as_root:
            inner = [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--no-new-privs",
                "--bounding-set=-all",
                "--inh-caps=-all",
                "--",
                *inner,
            ]
        if self.isolation == "bwrap":
            wrap = _bwrap_base(limits.disk_mb)
            for src, dst in dict.fromkeys(binds):
                if any(dst == m or dst.startswith(m + "/") for m in MASKED) and os.path.exists(src):
                    wrap += ["--ro-bind", src, dst]
            work = str(self.work)
            wrap += ["--ro-bind", work, INNER_IN] if step == "run" else ["--bind", work, INNER_WORK]
            inner = [*wrap, *_NAMESPACES, "--", *inner]
        elif _unshare_works():
            inner = ["unshare", *_unshare_works(), "--", *inner]
        if cg is not None:
            joins = " && ".join(f"echo $$ > {shlex.quote(f)}" for f in cg.procs_files)
            inner = ["/bin/sh", "-c", f'{joins} || exit 126; exec "$@"', "sh", *inner]
        return inner

    def run(
        self,
        cmd: Sequence[str],
        limits: Limits,
        env: Mapping[str, str] | None = None,
        binds: Sequence[tuple[str, str]] = (),
        step: str = "run",
    ) -> RunOutput:
        """Run ``cmd`` in the work folder; kill everything it started at ``limits.timeout`` or when it ends.

        ``step="compile"`` writes the host work folder (compiled outputs stay for the run step);
        ``step="run"`` (bwrap) works in a size-capped copy. ``binds``: (source, target) paths the command
        needs that the sandbox would hide (a virtual environment under /tmp), bound read-only (bwrap).
        """
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
        cg = None
        if confine.cgroup_support() is not None:
            try:
                cg = confine.Cgroup(limits.processes + 8, limits.memory_mb)
            except OSError:
                cg = None
        rfd, wfd = os.pipe()
        start = time.monotonic()
        timed_out = False
        rc: int | None = None
        try:
            with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
                try:
                    with _live_lock:
                        proc = subprocess.Popen(
                            self._chain(cmd, limits, step, binds, cg),
                            cwd=self.root,
                            env=full_env,
                            stdin=wfd,
                            stdout=fo,
                            stderr=fe,
                            start_new_session=True,
                        )
                        _live.add(proc.pid)
                except OSError as e:
                    return RunOutput(None, "", "", 0.0, isolation=self.isolation, started=False, error=f"{e}")
                finally:
                    os.close(wfd)
                try:
                    rc = _wait(proc, limits.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    self._sweep(proc, cg)
                    if rc is None:
                        rc = proc.wait()
            os.set_blocking(rfd, False)
            try:
                started = os.read(rfd, 1) == b"S"
            except BlockingIOError:
                started = False
            oom = cg.out_of_memory() if cg is not None else False
        finally:
            os.close(rfd)
            if cg is not None:
                cg.remove()
        seconds = time.monotonic() - start
        stdout, t1 = _read_capped(out_path)
        stderr, t2 = _read_capped(err_path)
        sig = None
        if rc is not None and rc < 0:
            sig = signal_name(-rc)
        elif rc is not None and 128 < rc <= 128 + 64 and self.isolation == "bwrap":
            sig = signal_name(rc - 128)  # bwrap reports a killed child as 128 + n (PHP's fatal 255 is no signal)
        error = None
        if not started:
            error = (stderr.strip().splitlines() or [f"the sandbox exited with {rc} before the program started"])[-1]
            if timed_out:
                error = f"the sandbox did not start the program within {limits.timeout:g} s"
        return RunOutput(
            rc,
            stdout,
            stderr,
            seconds,
            timed_out,
            sig,
            self.isolation,
            t1 or t2,
            started=started,
            error=error,
            out_of_memory=oom,
            stdout_path=out_path,
            stderr_path=err_path,
        )

    def _sweep(self, proc: subprocess.Popen, cg: confine.Cgroup | None) -> None:
        """Kill every process the step left: its process group, its cgroup, its uid, orphans (weak, not root).

        A chain still running (a timeout) loses its inner processes first (bwrap's or unshare's namespace
        init), so that its outer process reaps them and exits: killing both at once would leave zombies
        for the machine's init to reap."""
        if proc.poll() is None:
            for child in confine.children(proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if cg is not None:
            cg.kill_all()
        if self.lease is not None:
            confine.kill_uid(self.uid)
        with _live_lock:
            _live.discard(proc.pid)
            if self.isolation == "rlimits" and not self.as_root:
                proc.wait()
                confine.reap_orphans(set(_live))
