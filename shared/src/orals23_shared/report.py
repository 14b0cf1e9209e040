"""``orals23-report``: render every package's reproduce ``summary.json`` into ``reports/REPORT.md``.

The report only renders: claims, numbers and verdicts come from the packages' own summaries.
It looks for ``<reports>/<package>/summary.json`` (what ``nox -s reproduce`` writes) and also
any ``summary.json`` deeper below, taking the newest per package.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orals23_shared.reproduce import load_summary

__all__ = ["collect_summaries", "render_report", "main"]


def collect_summaries(root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("summary.json")):
        try:
            data = load_summary(path)
        except (ValueError, json.JSONDecodeError):
            continue  # a run's own summary.json (not a reproduce summary) or a damaged file
        pkg = data["package"]
        if pkg not in found or path.stat().st_mtime > found[pkg][0].stat().st_mtime:
            found[pkg] = (path, data)
    return found


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_report(root: Path, out: Path, expected: Sequence[str] = ()) -> str:
    summaries = collect_summaries(root)
    lines = [
        "# orals23 reproduction report",
        "",
        f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} from the `summary.json` of each "
        "package's `reproduce` run. Verdicts are derived from the measured numbers by each package.",
        "",
    ]
    if not summaries:
        lines += [
            "No package reproductions yet: no `summary.json` was found under "
            f"`{root}`. Each package added under `packages/` adds its rows here.",
            "",
        ]
    else:
        lines += ["| package | verdict | claims reproduced | seconds | mode |", "|---|---|---|---|---|"]
        for pkg, (_, data) in sorted(summaries.items()):
            n_ok = sum(c["verdict"] == "reproduced" for c in data["claims"])
            mode = "quick" if data.get("quick") else ("full" if data.get("quick") is False else "")
            lines.append(
                f"| {pkg} | **{data['verdict']}** | {n_ok}/{len(data['claims'])} | {data['seconds']:.0f} | {mode} |"
            )
        lines.append("")
        for pkg, (path, data) in sorted(summaries.items()):
            lines += [f"## {pkg}: {data['verdict']}", "", "| claim | paper | ours | verdict |", "|---|---|---|---|"]
            for c in data["claims"]:
                lines.append(f"| {_fmt(c['claim'])} | {_fmt(c['paper'])} | {_fmt(c['ours'])} | {c['verdict']} |")
            lines.append("")
            plots = [path.parent / p for p in data.get("plots", [])]
            for p in plots:
                try:
                    rel = p.resolve().relative_to(out.parent.resolve())
                except ValueError:
                    rel = p
                lines.append(f"![{p.name}]({rel})")
            if plots:
                lines.append("")
    missing = sorted(set(expected) - set(summaries))
    if missing:
        lines += [
            "## Missing",
            "",
            "No reproduce summary for: " + ", ".join(missing) + " (the run failed or was not run).",
            "",
        ]
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
        help="folder holding <package>/summary.json (default: reports)",
    )
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write (default: ROOT/REPORT.md)")
    parser.add_argument("--expect", default="", help="comma-separated packages that should have a summary")
    args = parser.parse_args(argv)
    out = args.out or args.root / "REPORT.md"
    expected = [p for p in args.expect.split(",") if p]
    render_report(args.root, out, expected)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
