"""orals23 sessions: one ``test-<name>`` per package (discovered, never listed), plus lint, lock, reproduce.

    nox -l                 # list sessions
    nox                    # default: lint + every test session
    nox -s test-elph       # one package, in its own venv
    nox -s reproduce       # every package's quick reproduction + reports/REPORT.md

Torch on CPU machines: each session installs the locked requirements *without* torch (``uv export
--prune torch``) and then ``torch==<pinned>`` from the CPU wheel folder that pip's ``global.find-links``
names (``UV_FIND_LINKS``), so no CUDA wheels are downloaded. See CONTRIBUTING.md.
"""

from __future__ import annotations

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


def install_locked(session: nox.Session, *packages: str, group: str | None = "test") -> None:
    """Install ``packages`` (and their deps) exactly as locked; torch from the CPU folder when present."""
    tmp = Path(session.create_tmp())
    selectors: list[str] = []
    for pkg in packages:
        selectors += ["--package", pkg]
    if group:
        selectors += ["--group", group]
    export = ["uv", "export", "--locked", "--no-hashes", "--no-header", "--no-annotate", *selectors]
    full = tmp / "requirements-full.txt"
    session.run_install(*export, "-o", str(full), silent=True)
    needs_torch = any(line.split("==")[0].strip() == "torch" for line in full.read_text().splitlines())
    if not needs_torch:
        session.run_install("uv", "pip", "install", "-r", str(full))
        return
    req = tmp / "requirements.txt"
    session.run_install(*export, "--prune", "torch", "-o", str(req), silent=True)
    env: dict[str, str] = {}
    extra: list[str] = []
    links = _torch_find_links()
    if links:
        env["UV_FIND_LINKS"] = links
        session.log(f"torch {TORCH_PIN} (CPU build) from {links}")
    elif os.environ.get("ORALS23_TORCH_INDEX"):
        extra = ["--index", os.environ["ORALS23_TORCH_INDEX"]]
        session.log(f"torch {TORCH_PIN} from {os.environ['ORALS23_TORCH_INDEX']}")
    session.run_install("uv", "pip", "install", "-r", str(req), f"torch=={TORCH_PIN}", *extra, env=env)


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
        session.run("python", "-m", "pytest", "-m", "gpu", "-q", *session.posargs)


for _name, _folder in PACKAGES.items():
    _make_test_session(_name, _folder, SESSION_NAMES[_name])


@nox.session(venv_backend="uv")
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check over the whole repository (root config)."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """The committed uv.lock matches every pyproject.toml."""
    session.run("uv", "lock", "--check", external=True)


@nox.session(venv_backend="uv", default=False)
def reproduce(session: nox.Session) -> None:
    """Every package's ``<name>-reproduce --quick --out reports/<name>``, then reports/REPORT.md.

    All packages share one venv here (one lock, one torch). A failing package is recorded in the
    report as missing and does not stop the others; the session fails at the end if any failed.
    Pass package folder names as posargs to run a subset: ``nox -s reproduce -- elph circe``.
    """
    papers = {n: f for n, f in PACKAGES.items() if f.name != "shared"}
    wanted = set(session.posargs) or {f.name for f in papers.values()}
    chosen = {n: f for n, f in papers.items() if f.name in wanted}
    install_locked(session, "orals23-shared", *chosen, group=None)
    reports = ROOT / "reports"
    failed: list[str] = []
    for name, folder in sorted(chosen.items()):
        scripts = tomllib.loads((folder / "pyproject.toml").read_text())["project"].get("scripts", {})
        cmd = next((s for s in scripts if s.endswith("-reproduce")), None)
        if cmd is None:
            session.warn(f"{name}: no *-reproduce entry point")
            failed.append(name)
            continue
        t0 = time.time()
        try:
            session.run(cmd, "--quick", "--out", str(reports / folder.name), env={"MPLBACKEND": "Agg"})
        except nox.command.CommandFailed:
            failed.append(name)
        session.log(f"{cmd}: {time.time() - t0:.0f} s")
    session.run("orals23-report", str(reports), "--expect", ",".join(f.name for f in chosen.values()))
    if failed:
        session.error(f"reproduce failed for: {', '.join(failed)} (see reports/REPORT.md)")
