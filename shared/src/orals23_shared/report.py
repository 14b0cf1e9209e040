"""``orals23-report``: render every package's reproduce ``summary.json`` into ``reports/REPORT.md``.

The report only renders: claims, numbers and verdicts come from the packages' own summaries. Inputs:

* ``<reports>/<package>/summary.json`` for each package (what ``<name>-reproduce --out`` writes);
* ``<reports>/run.json`` (optional, written by ``nox -s reproduce``): the commit, the machine, and per
  package the wall time and exit code of its reproduce command;
* ``--papers papers.toml`` (optional): every paper of the project (``[[paper]]`` with ``package`` and
  ``title``), so that papers without a package yet still get their row ("not built yet").

A claim is reproduced / partly / not / **not run** (with its reason); "not run" is shown and counted,
never dropped and never counted as reproduced. A package whose reproduce command failed is shown as
failed with its exit code, never silently left out.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orals23_shared.reproduce import NOT_RUN, VERDICTS, load_summary, verdict_counts

__all__ = ["collect_summaries", "load_papers", "render_report", "main"]


def collect_summaries(root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """``package -> (path, summary)`` for every ``<root>/<package>/summary.json`` that is a reproduce summary."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.glob("*/summary.json")):
        try:
            data = load_summary(path)
        except (ValueError, json.JSONDecodeError):
            continue  # not a reproduce summary, or a damaged one: the package shows as missing
        found[data["package"]] = (path, data)
    return found


def load_papers(path: Path | None) -> list[dict[str, str]]:
    """The ``[[paper]]`` tables of ``papers.toml`` (package, title, ...), in file order."""
    if path is None or not path.is_file():
        return []
    return list(tomllib.loads(path.read_text()).get("paper", []))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.0f} s"


def _machine_line(run: dict[str, Any], summaries: dict[str, tuple[Path, dict[str, Any]]]) -> str:
    machine = run.get("machine") or next((d.get("machine") for _, d in summaries.values()), None) or {}
    if not isinstance(machine, dict):
        return str(machine)
    pk = machine.get("packages", {})
    versions = ", ".join(f"{k} {v}" for k, v in pk.items() if k in ("torch", "jax", "torch-geometric", "lightning"))
    return (
        f"{machine.get('cores', '?')} cores ({machine.get('platform', '?')}), Python {machine.get('python', '?')}"
        + (f", {versions}" if versions else "")
    )


def render_report(
    root: Path,
    out: Path,
    expected: Sequence[str] = (),
    papers: Sequence[dict[str, str]] = (),
) -> str:
    """Write ``out`` (markdown) from the summaries under ``root`` and return its text."""
    summaries = collect_summaries(root)
    run_file = root / "run.json"
    run: dict[str, Any] = json.loads(run_file.read_text()) if run_file.is_file() else {}
    ran: dict[str, dict[str, Any]] = run.get("packages", {})
    commit = run.get("commit") or "unknown"
    lines = [
        "# orals23 reproduction report",
        "",
        f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} from commit `{commit}`"
        + (" (with uncommitted changes)" if run.get("dirty") else "")
        + f" on {_machine_line(run, summaries)}.",
        "Each row comes from the package's own `reproduce --quick` summary: verdicts are derived from the "
        "measured numbers, and a claim that could not be measured here is **not run** with its reason.",
        "",
    ]
    commits = {info.get("commit") for pkg, info in ran.items() if pkg in summaries and info.get("commit")}
    if len(commits) > 1 or (commits and commit not in commits):
        lines += [
            "Packages were reproduced at different commits (`nox -s reproduce -- NAME` reruns one package); "
            "each package's section names its own.",
            "",
        ]
    if run.get("total_seconds") is not None:
        lines += [
            f"Whole run: {run['total_seconds']:.0f} s wall, {run.get('parallel', 1)} packages at a time, "
            f"{run.get('threads', '?')} thread(s) each.",
            "",
        ]
    order = [p["package"] for p in papers] or sorted(set(summaries) | set(expected) | set(ran))
    extra = sorted((set(summaries) | set(expected) | set(ran)) - set(order))
    titles = {p["package"]: p.get("title", "") for p in papers}
    head = "| paper | package | verdict | reproduced | partly | not | not run | wall time | CPU time |"
    lines += [head, "|---|---|---|---|---|---|---|---|---|"]
    for pkg in [*order, *extra]:
        title = _fmt(titles.get(pkg, ""))
        if pkg in summaries:
            _, data = summaries[pkg]
            n = data["counts"]
            wall = ran.get(pkg, {}).get("seconds", data["seconds"])
            load = ran.get(pkg, {}).get("load_1m")
            link = f"[{pkg}](#{pkg})"
            lines.append(
                f"| {title} | {link} | **{data['verdict']}** | {n['reproduced']} | {n['partly']} | {n['not']} | "
                f"{n[NOT_RUN]} | {_minutes(wall)}{f' (load {load:g})' if load is not None else ''} | "
                f"{_minutes(ran.get(pkg, {}).get('cpu_seconds'))} |"
            )
        elif pkg in ran:
            info = ran[pkg]
            lines.append(
                f"| {title} | {pkg} | **failed** (exit {info.get('exit')}, no summary) | – | – | – | – | "
                f"{_minutes(info.get('seconds'))} | {_minutes(info.get('cpu_seconds'))} |"
            )
        elif pkg in expected:
            lines.append(f"| {title} | {pkg} | **missing** (no summary) | – | – | – | – | – | – |")
        else:
            lines.append(f"| {title} | {pkg} | not built yet | – | – | – | – | – | – |")
    totals = verdict_counts([c for _, d in summaries.values() for c in d["claims"]])
    lines += [
        "",
        "CPU time is the reproduce process's user + system time with the children it waited for; work done in "
        "processes it does not reap (a sandbox's own process tree, such as mbxp's toolchains under bubblewrap) "
        "is not counted.",
        "",
        "All claims: " + ", ".join(f"{totals[v]} {v}" for v in VERDICTS) + ".",
        "",
    ]
    for pkg, (path, data) in sorted(summaries.items(), key=lambda kv: [*order, *extra].index(kv[0])):
        n = data["counts"]
        mode = "quick" if data.get("quick") else ("full" if data.get("quick") is False else "")
        lines += [
            f"## {pkg}",
            "",
            f"Verdict **{data['verdict']}** over the claims that ran ({n['reproduced']} reproduced, {n['partly']} "
            f"partly, {n['not']} not); {n[NOT_RUN]} not run. {mode} mode, {data['seconds']:.0f} s."
            + (f" Commit `{ran[pkg]['commit']}`." if ran.get(pkg, {}).get("commit") else ""),
            "",
            "| claim | paper | ours | verdict |",
            "|---|---|---|---|",
        ]
        for c in data["claims"]:
            verdict = c["verdict"] if c["verdict"] != NOT_RUN else f"not run: {_fmt(c.get('reason'))}"
            lines.append(f"| {_fmt(c['claim'])} | {_fmt(c['paper'])} | {_fmt(c['ours'])} | {verdict} |")
        lines.append("")
        plots = [path.parent / p for p in data.get("plots", [])]
        if plots and plots[0].is_file():
            try:
                rel = plots[0].resolve().relative_to(out.parent.resolve())
            except ValueError:
                rel = plots[0]
            lines += [f"![{pkg}: {plots[0].name}]({rel.as_posix()})", ""]
        others = [p.name for p in plots[1:] if p.is_file()]
        if others:
            lines += ["Other plots in the package's folder: " + ", ".join(f"`{name}`" for name in others) + ".", ""]
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orals23-report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "root",
        type=Path,
        nargs="?",
        default=Path("reports"),
        help="folder holding <package>/summary.json and run.json (default: reports)",
    )
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write (default: ROOT/REPORT.md)")
    parser.add_argument("--expect", default="", help="comma-separated packages that should have a summary")
    parser.add_argument("--papers", type=Path, default=None, help="papers.toml listing every paper ([[paper]])")
    args = parser.parse_args(argv)
    out = args.out or args.root / "REPORT.md"
    expected = [p for p in args.expect.split(",") if p]
    render_report(args.root, out, expected, load_papers(args.papers))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
