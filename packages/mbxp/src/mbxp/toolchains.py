"""Toolchains on this machine: can a language run here, which version is it, and which paths does it need.

``toolchain_problem`` says why a language cannot run (a one-line reason for errors, skips and "not run"
claims); ``toolchain_id`` identifies the installed toolchain (version output and resolved paths) so that a
new compiler invalidates cached results (:func:`mbxp.evaluate.sample_key`); ``toolchain_paths`` lists the
real locations a sandbox must make visible (an interpreter in a virtual environment under ``/tmp`` is
hidden by the sandbox's private ``/tmp`` unless bound back in).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import resources

from mbxp.languages import LANGUAGES

__all__ = ["node_path", "toolchain_problem", "toolchain_id", "toolchain_paths", "launch", "resource_text"]


@functools.cache
def node_path() -> str:
    """Folder holding globally installed npm packages (lodash), for NODE_PATH."""
    candidates = []
    npm = shutil.which("npm")
    if npm:
        try:
            out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs"]
    return os.pathsep.join(dict.fromkeys(c for c in candidates if os.path.isdir(c)))


@functools.cache
def toolchain_problem(language: str) -> str | None:
    """None when ``language`` can run here, else a one-line reason (for skips, errors and "not run")."""
    spec = LANGUAGES.get(language)
    if spec is None:
        return f"unknown language {language!r} (known: {', '.join(sorted(LANGUAGES))})"
    if not spec.available_here:
        return f"{language}: toolchain not available ({spec.note})"
    missing = [t for t in spec.tools if shutil.which(t) is None]
    if missing:
        return (
            f"{language}: toolchain missing ({', '.join(missing)} not on PATH; "
            "run packages/mbxp/scripts/install-toolchains.sh)"
        )
    if language == "perl":
        ok = subprocess.run(["perl", "-MData::Compare", "-e1"], capture_output=True).returncode == 0
        if not ok:
            return "perl: Data::Compare missing (apt install libdata-compare-perl)"
    roots = [p for p in node_path().split(os.pathsep) if p]
    if language == "javascript" and not any(os.path.isdir(os.path.join(p, "lodash")) for p in roots):
        return "javascript: lodash missing (npm install -g lodash)"
    return None


def _tool_files(language: str) -> list[str]:
    spec = LANGUAGES[language]
    tools = [sys.executable] if language == "python" else [shutil.which(t) or t for t in spec.tools]
    return [os.path.realpath(t) for t in tools]


@functools.cache
def toolchain_id(language: str) -> str:
    """A digest of the toolchain's version output and resolved tool files (path, size, mtime): any change
    of compiler, runtime or interpreter gives a new id (and re-runs cached results)."""
    h = hashlib.sha256(language.encode())
    if language == "python":
        h.update(sys.version.encode())
    for cmd in LANGUAGES[language].version:
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            h.update(out.stdout + out.stderr)
        except (OSError, subprocess.SubprocessError) as e:
            h.update(f"{cmd[0]}: {e}".encode())
    for path in _tool_files(language):
        try:
            st = os.stat(path)
            h.update(f"{path}:{st.st_size}:{int(st.st_mtime)}".encode())
        except OSError:
            h.update(path.encode())
    return h.hexdigest()[:16]


@functools.cache
def toolchain_paths(language: str) -> tuple[str, ...]:
    """Real paths a sandboxed run of ``language`` needs to see: the resolved tools, their prefixes, the
    Python interpreter's prefixes and the npm root (for the sandbox's read-only binds)."""
    paths = set()
    for real in _tool_files(language):
        paths.add(os.path.dirname(os.path.dirname(real)))  # the prefix: /x/bin/tool -> /x
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        paths.add(os.path.realpath(p))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    if language in ("javascript", "typescript"):
        paths.update(os.path.realpath(p) for p in node_path().split(os.pathsep) if p)
    return tuple(sorted(p for p in paths if p and p != "/"))


def _others_can_run(path: str) -> bool:
    """Whether a user other than the owner can reach and execute ``path``: the file and every parent of
    both its real path and the path as given (a venv's ``bin/python`` links to a reachable interpreter,
    but the venv itself may sit in a private folder) must be open to others."""
    try:
        if not os.stat(os.path.realpath(path)).st_mode & 0o001:
            return False
        for p in {os.path.realpath(path), os.path.abspath(path)}:
            while p != "/":
                p = os.path.dirname(p)
                if not os.stat(p).st_mode & 0o001:
                    return False
    except OSError:
        return False
    return True


PY_HOME = "/tmp/.mbxp-python"  # where a relocated interpreter prefix appears in the sandbox
PY_SITE = "/tmp/.mbxp-site"


@functools.cache
def launch(language: str, isolation: str, as_root: bool) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple]:
    """How to start ``language``'s run command in a sandbox: (command, read-only binds (source, target),
    extra environment as pairs).

    Paths under the sandbox's private ``/tmp`` (a virtual environment in ``/tmp``) are bound back at the
    same place. An interpreter the sandbox uid cannot reach (a pyenv/uv Python under root's 0700 home,
    when the evaluator runs as root) is bound at a neutral place and started from there, with its shared
    library and the virtual environment's packages on the search paths (bubblewrap only).
    """
    spec = LANGUAGES[language]
    binds = [(p, p) for p in toolchain_paths(language)]
    cmd, env = spec.run, ()
    if language == "python" and as_root and not _others_can_run(sys.executable):
        if isolation != "bwrap":
            raise PermissionError(
                f"python: the interpreter {os.path.realpath(sys.executable)} is not reachable by the sandbox uid "
                "(a private home); use bubblewrap or install mbxp with a Python outside it"
            )
        base = os.path.realpath(sys.base_prefix)
        exe = os.path.relpath(os.path.realpath(sys.executable), base)
        binds = [(base, PY_HOME)]
        env_list = [("LD_LIBRARY_PATH", f"{PY_HOME}/lib")]
        site = sysconfig.get_paths()["purelib"]
        if os.path.realpath(sys.prefix) != base and os.path.isdir(site):
            binds.append((os.path.realpath(site), PY_SITE))
            env_list.append(("PYTHONPATH", PY_SITE))
        cmd, env = (f"{PY_HOME}/{exe}", *spec.run[1:]), tuple(env_list)
    return tuple(cmd), tuple(binds), env


def resource_text(name: str) -> str:
    """A file shipped in ``mbxp/resources`` (C#'s CompareLogic shim)."""
    return resources.files("mbxp").joinpath("resources", name).read_text()
