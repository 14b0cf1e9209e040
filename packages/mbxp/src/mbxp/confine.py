"""Host-side confinement for :mod:`mbxp.sandbox`: per-sandbox uids, cgroups and sweeping leftover processes.

* **uid leases** (evaluator running as root): every sandbox runs as its own unused uid, claimed with an
  advisory lock in a root-only folder, so concurrent evaluators on one machine never share one. The
  kernel counts ``RLIMIT_NPROC`` per uid (root is exempt, a fresh uid is not) and a signal from uid ``U``
  reaches only uid ``U``'s processes: ``kill -9 -1`` in a sandbox cannot reach the evaluator.
* **cgroups** (when a cgroup hierarchy is writable, e.g. as root): each sandboxed step runs in its own
  cgroup with ``pids.max`` (a fork bomb's bound that also holds for root) and a memory limit on the
  whole process tree (a multi-process memory hog), and the cgroup's member list finds every process
  of the step at the end, however it detached itself.
* **sweeps**: after each step, every process the step left is killed: its process group, its cgroup,
  its uid (root), and in the weak mode without root the orphans re-parented to this process (it makes
  itself a child subreaper, so a double-forked daemon becomes our child instead of init's).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import itertools
import os
import random
import signal
import threading
import time
from pathlib import Path

__all__ = [
    "UidLease",
    "Cgroup",
    "cgroup_support",
    "children",
    "processes_of_uid",
    "kill_uid",
    "reap_orphans",
    "own_process_count",
]

UID_BASE = 1_200_000  # sandbox uids: far above any account uid
UID_SPAN = 100_000
LOCK_DIR = Path("/run/mbxp-uids") if os.path.isdir("/run") else Path("/tmp/.mbxp-uids")


class UidLease:
    """An unused uid for one sandbox, held (by a lock) until :meth:`release`; stale processes of a uid
    whose lock was free (a killed evaluator's sandbox) are killed before it is handed out."""

    def __init__(self) -> None:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        os.chmod(LOCK_DIR, 0o700)
        start = random.randrange(UID_SPAN)
        for i in range(UID_SPAN):
            uid = UID_BASE + (start + i) % UID_SPAN
            fd = os.open(LOCK_DIR / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            kill_uid(uid)
            return
        raise RuntimeError("no free sandbox uid")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def processes_of_uid(uid: int) -> list[int]:
    """Pids whose /proc entry (the effective uid) belongs to ``uid``."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
    return pids


def kill_uid(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of ``uid`` until none is left (a fork bomb's children included)."""
    assert uid >= UID_BASE, "only sandbox uids are swept"
    for _ in range(rounds):
        pids = processes_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def own_process_count() -> int:
    """Processes of this process's real uid (``RLIMIT_NPROC`` counts them all when not root)."""
    return len(processes_of_uid(os.getuid()))


# ------------------------------------------------------------------------------------------------ cgroups
def _mounts() -> list[tuple[str, str, str]]:
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4:
                out.append((parts[1], parts[2], parts[3]))
    return out


def _own_cgroup(controller: str | None) -> str:
    """This process's cgroup path in the hierarchy of ``controller`` (None: the unified v2 hierarchy)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if (controller is None and ctrls == "") or (controller is not None and controller in ctrls.split(",")):
                return path
    return "/"


def _writable_dir(parent: Path) -> bool:
    probe = parent / f"mbxp-probe-{os.getpid()}-{random.randrange(1 << 30)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


@functools.cache
def cgroup_support() -> tuple[str, tuple[Path, ...]] | None:
    """("v2", (parent,)) or ("v1", (pids parent, memory parent)) where sandboxes' cgroups can be created
    with a process limit and a memory limit; None when no writable hierarchy offers both."""
    mounts = _mounts()
    for point, fstype, _ in mounts:
        if fstype == "cgroup2":
            parent = Path(point) / _own_cgroup(None).lstrip("/")
            for cand in (parent, Path(point)):
                ctrl = cand / "cgroup.subtree_control"
                with contextlib.suppress(OSError):
                    if {"pids", "memory"} <= set(ctrl.read_text().split()) and _writable_dir(cand):
                        return "v2", (cand,)
    v1 = {}
    for point, fstype, opts in mounts:
        if fstype == "cgroup":
            for ctrl in ("pids", "memory"):
                if ctrl in opts.split(","):
                    v1[ctrl] = Path(point) / _own_cgroup(ctrl).lstrip("/")
    if set(v1) == {"pids", "memory"} and all(_writable_dir(p) for p in v1.values()):
        return "v1", (v1["pids"], v1["memory"])
    return None


_cg_counter = itertools.count()
_cg_lock = threading.Lock()


class Cgroup:
    """One cgroup per sandboxed step: ``pids.max`` and a memory limit for the whole process tree."""

    def __init__(self, processes: int, memory_mb: int) -> None:
        support = cgroup_support()
        assert support is not None
        self.version, parents = support
        with _cg_lock:
            name = f"mbxp-{os.getpid()}-{next(_cg_counter)}"
        self.dirs = [p / name for p in parents]
        for d in self.dirs:
            d.mkdir()
        limit = str(memory_mb * 1024 * 1024)
        if self.version == "v2":
            d = self.dirs[0]
            (d / "pids.max").write_text(str(processes))
            (d / "memory.max").write_text(limit)
            with contextlib.suppress(OSError):
                (d / "memory.swap.max").write_text("0")
        else:
            (self.dirs[0] / "pids.max").write_text(str(processes))
            (self.dirs[1] / "memory.limit_in_bytes").write_text(limit)
            with contextlib.suppress(OSError):
                (self.dirs[1] / "memory.memsw.limit_in_bytes").write_text(limit)

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join (every hierarchy)."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        out: set[int] = set()
        for f in self.procs_files:
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in Path(f).read_text().split())
        return sorted(out)

    def out_of_memory(self) -> bool:
        """Whether the memory limit was hit (the kernel then kills a member)."""
        with contextlib.suppress(OSError, ValueError):
            if self.version == "v2":
                events = dict(line.split() for line in (self.dirs[0] / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
            control = dict(line.split() for line in (self.dirs[1] / "memory.oom_control").read_text().splitlines())
            return int(control.get("oom_kill", 0)) > 0 or int((self.dirs[1] / "memory.failcnt").read_text()) > 0
        return False

    def kill_all(self, rounds: int = 100) -> None:
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        for _ in range(rounds):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # members still exiting
                    time.sleep(0.01)


# -------------------------------------------------------------------------------- weak mode, not root
_subreaper_lock = threading.Lock()
_subreaper = False


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    global _subreaper
    with _subreaper_lock:
        if not _subreaper:
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
        return _subreaper


def children(pid: int, scan: bool = False) -> list[int]:
    """The direct children of ``pid`` (``scan``: by the parent pid of every process, which also finds the
    children of a multi-threaded process's other threads)."""
    if not scan:
        with contextlib.suppress(OSError, ValueError):
            return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{name}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
    return out


def reap_orphans(live: set[int], rounds: int = 20) -> None:
    """Kill and reap this process's children that no running sandbox started (re-parented orphans)."""
    me = os.getpid()
    for _ in range(rounds):
        orphans = [p for p in children(me, scan=True) if p not in live]
        if not orphans:
            return
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in orphans:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
