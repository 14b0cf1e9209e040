"""orals23 sessions: one ``test-<name>`` per package (discovered, never listed), plus lint, lock, reproduce.

    ./nox -l               # list sessions (./nox: nox without pip, see the README)
    nox                    # default: lint, lock check, every test session
    nox -s test-elph       # one package, in its own venv
    nox -s reproduce       # every package's quick reproduction + reports/REPORT.md

Torch on CPU machines: each session installs the locked requirements *without* torch (``uv export
--prune torch``) and then ``torch==<pinned>`` from the CPU wheel folder that pip's ``global.find-links``
names (``UV_FIND_LINKS``), so no CUDA wheels are downloaded. See CONTRIBUTING.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
from pathlib import Path

import nox

nox.needs_version = ">=2026.4.10"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
TORCH_PIN = "2.13.0"  # keep equal to constraint-dependencies in pyproject.toml


def _discover() -> dict[str, Path]:
    """Project name -> folder for shared/ and every packages/*/pyproject.toml."""
    found: dict[str, Path] = {}
    for pyproject in [ROOT / "shared" / "pyproject.toml", *sorted((ROOT / "packages").glob("*/pyproject.toml"))]:
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


PACKAGES = _discover()
# the session suffix: "shared" for orals23-shared, the folder name for the papers
SESSION_NAMES = {name: ("shared" if path.name == "shared" else path.name) for name, path in PACKAGES.items()}


def _torch_find_links() -> str | None:
    """The folder holding the local CPU torch wheel: $ORALS23_TORCH_FIND_LINKS, else pip's find-links."""
    folder = os.environ.get("ORALS23_TORCH_FIND_LINKS")
    if not folder:
        try:
            folder = subprocess.run(
                ["pip", "config", "get", "global.find-links"], capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            folder = ""
    for candidate in folder.split():
        if list(Path(candidate).glob(f"torch-{TORCH_PIN}*.whl")):
            return candidate
    return None


# wheels that only a CUDA build of torch needs: left out where the CPU build is installed
_CUDA_ONLY = ("nvidia-", "cuda-", "triton")


def install_locked(session: nox.Session, *packages: str, group: str | None = "test") -> None:
    """Sync the venv to the lock for ``packages`` (exact: what the lock drops leaves the venv too).

    torch comes from the CPU wheel folder (or ``$ORALS23_TORCH_INDEX``) when there is one; then the
    wheels only a CUDA torch needs are left out.
    """
    tmp = Path(session.create_tmp())
    selectors: list[str] = []
    for pkg in packages:
        selectors += ["--package", pkg]
    if group:
        selectors += ["--group", group]
    export = ["uv", "export", "--locked", "--no-hashes", "--no-header", "--no-annotate", *selectors]
    full = tmp / "requirements-full.txt"
    session.run_install(*export, "-o", str(full), silent=True)
    lines = full.read_text().splitlines()
    needs_torch = any(line.split("==")[0].strip() == "torch" for line in lines)
    env: dict[str, str] = {}
    extra: list[str] = []
    links = _torch_find_links() if needs_torch else None
    if links:
        env["UV_FIND_LINKS"] = links
        session.log(f"torch {TORCH_PIN} (CPU build) from {links}")
    elif needs_torch and os.environ.get("ORALS23_TORCH_INDEX"):
        extra = ["--index", os.environ["ORALS23_TORCH_INDEX"]]
        session.log(f"torch {TORCH_PIN} from {os.environ['ORALS23_TORCH_INDEX']}")
    if env or extra:
        lines = [line for line in lines if not line.strip().startswith(_CUDA_ONLY)]
    req = tmp / "requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    session.run_install("uv", "pip", "sync", str(req), *extra, env=env)


def _make_test_session(name: str, folder: Path, suffix: str) -> None:
    rel = folder.relative_to(ROOT)

    @nox.session(name=f"test-{suffix}", tags=["test"], venv_backend="uv")
    def _test(session: nox.Session) -> None:
        install_locked(session, name)
        session.chdir(ROOT / rel)
        t0 = time.time()
        session.run(
            "python",
            "-m",
            "pytest",
            "--durations=10",
            "-q",
            *session.posargs,
            env={"PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"},
        )
        session.log(f"test-{suffix}: pytest took {time.time() - t0:.0f} s")

    @nox.session(name=f"gpu-{suffix}", tags=["gpu"], venv_backend="uv", default=False)
    def _gpu(session: nox.Session) -> None:
        install_locked(session, name)
        session.chdir(ROOT / rel)
        code = session.run("python", "-m", "pytest", "-m", "gpu", "-q", *session.posargs, success_codes=[0, 5])
        if code == 5:  # pytest's "no tests collected": this package has no GPU tests, which is not a failure
            session.log(f"gpu-{suffix}: the package has no GPU tests")


for _name, _folder in PACKAGES.items():
    _make_test_session(_name, _folder, SESSION_NAMES[_name])


@nox.session(venv_backend="uv")
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check over the whole repository (root config)."""
    locked = subprocess.run(
        ["uv", "export", "--locked", "--only-group", "dev", "--no-hashes", "--no-header", "--no-annotate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ruff = next(line.split(";")[0].strip() for line in locked.splitlines() if line.startswith("ruff=="))
    session.install(ruff)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """The committed uv.lock matches every pyproject.toml."""
    session.run("uv", "lock", "--check", external=True)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


@nox.session(venv_backend="uv", default=False)
def reproduce(session: nox.Session) -> None:
    """Every package's ``<name>-reproduce --quick --out reports/<name>``, then reports/REPORT.md.

    All packages share one venv (one lock, one torch). They run ``$ORALS23_REPRODUCE_JOBS`` at a time
    (default: one per usable core), each with one thread (``ORALS23_THREADS=1``), longest first by the
    previous run's times; a line per finished package says its wall and CPU time. A failing package is shown
    as failed in the report and does not stop the others; the session fails at the end if any failed.
    Pass package folder names as posargs to run a subset: ``nox -s reproduce -- elph circe``.
    """
    papers = {n: f for n, f in PACKAGES.items() if f.name != "shared"}
    wanted = set(session.posargs) or {f.name for f in papers.values()}
    unknown = wanted - {f.name for f in papers.values()}
    if unknown:
        session.error(f"no such package: {', '.join(sorted(unknown))}")
    chosen = {n: f for n, f in papers.items() if f.name in wanted}
    install_locked(session, "orals23-shared", *chosen, group=None)
    reports = ROOT / "reports"
    run_file = reports / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.is_file() else {}
    records: dict = previous.get("packages", {})
    jobs = int(os.environ.get("ORALS23_REPRODUCE_JOBS", "0")) or _usable_cores()
    todo = sorted(chosen.items(), key=lambda kv: -records.get(kv[1].name, {}).get("seconds", 1e9))
    env = {
        **os.environ,
        "PATH": f"{session.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(Path(session.bin).parent),
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "ORALS23_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    commit = _git("rev-parse", "HEAD")
    running: list[tuple[str, subprocess.Popen, float, object]] = []
    done = 0
    failed: list[str] = []
    t_start = time.time()
    session.log(f"reproduce: {len(todo)} packages, {jobs} at a time, 1 thread each")

    def reap(block: bool) -> None:
        nonlocal done
        while running:
            for item in list(running):
                folder, proc, t0, log = item
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # rusage: CPU time survives a loaded machine
                if pid == 0:
                    continue
                proc.returncode = os.waitstatus_to_exitcode(status)
                running.remove(item)
                log.close()
                done += 1
                seconds = time.time() - t0
                records[folder] = {
                    "seconds": round(seconds, 1),
                    "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                    "exit": proc.returncode,
                    "commit": commit,
                    "load_1m": round(os.getloadavg()[0], 1),  # wall times mean little on a loaded machine
                }
                status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see {log.name})"
                cpu = records[folder]["cpu_seconds"]
                session.log(f"[{done}/{len(todo)}] {folder}-reproduce … {seconds:.0f} s ({cpu:.0f} CPU-s) {status}")
                if proc.returncode != 0:
                    failed.append(folder)
            if not block or len(running) < jobs:
                return
            time.sleep(1)

    for _name, folder in todo:
        reap(block=True)
        scripts = tomllib.loads((folder / "pyproject.toml").read_text())["project"].get("scripts", {})
        cmd = next((s for s in scripts if s.endswith("-reproduce")), None)
        if cmd is None:
            session.warn(f"{folder.name}: no *-reproduce entry point")
            failed.append(folder.name)
            continue
        out = reports / folder.name
        out.mkdir(parents=True, exist_ok=True)
        log = open(out / "reproduce.log", "w")  # noqa: SIM115 - closed by reap()
        proc = subprocess.Popen(
            [cmd, "--quick", "--out", str(out)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        running.append((folder.name, proc, time.time(), log))
    while running:
        reap(block=False)
        time.sleep(1)
    total = time.time() - t_start
    session.log(f"reproduce: all {len(todo)} packages in {total:.0f} s")
    dirty = bool(_git("status", "--porcelain", "--", ".", ":(exclude)reports"))
    run = {
        "commit": commit,
        "dirty": dirty,
        "total_seconds": round(total, 1) if len(todo) == len(papers) else previous.get("total_seconds"),
        "parallel": jobs,
        "threads": 1,
        "packages": records,
    }
    run_file.write_text(json.dumps(run, indent=2) + "\n")
    session.run(
        "orals23-report",
        str(reports),
        "--papers",
        str(ROOT / "papers.toml"),
        "--expect",
        ",".join(f.name for f in papers.values()),
    )
    if failed:
        session.error(f"reproduce failed for: {', '.join(failed)} (see reports/REPORT.md)")
