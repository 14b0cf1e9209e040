"""Reproduce summaries: the verdict follows from the claims; the report renders them."""

import json

import pytest

from orals23_shared.report import render_report
from orals23_shared.reproduce import Claim, load_summary, overall_verdict, write_summary


def test_overall_verdict_derived():
    ok = Claim("a", 1, 1, "reproduced")
    part = Claim("b", 1, 0.5, "partly")
    no = Claim("c", 1, 0, "not")
    assert overall_verdict([ok, ok]) == "reproduced"
    assert overall_verdict([ok, no]) == "partly"
    assert overall_verdict([part]) == "partly"
    assert overall_verdict([no, no]) == "not"
    with pytest.raises(ValueError):
        overall_verdict([])
    with pytest.raises(ValueError):
        Claim("d", 1, 1, "yes")


def test_threshold_claim():
    assert Claim.threshold("x", 0.9, 0.95, ok=0.95 >= 0.9).verdict == "reproduced"
    assert Claim.threshold("x", 0.9, 0.5, ok=False, partly=True).verdict == "partly"


def test_summary_roundtrip_and_tamper_detection(tmp_path):
    plot = tmp_path / "pkg" / "loss.png"
    plot.parent.mkdir()
    plot.write_bytes(b"png")
    path = write_summary(
        tmp_path / "pkg",
        "pkg",
        [Claim("a", 1, 1, "reproduced"), Claim("b", 2, 0, "not")],
        seconds=1.5,
        plots=[plot],
        quick=True,
    )
    data = load_summary(path)
    assert data["verdict"] == "partly" and data["plots"] == ["loss.png"]
    data["verdict"] = "reproduced"  # a hand-written verdict is refused
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not follow"):
        load_summary(path)


def test_not_run_claims_are_counted_never_reproduced(tmp_path):
    ok = Claim("a", 1, 1, "reproduced")
    skipped = Claim.not_run("Go pass@1", 39.19, reason="toolchain for Go missing")
    assert skipped.verdict == "not run" and skipped.ours is None
    assert overall_verdict([ok, skipped]) == "reproduced"  # over the claims that ran ...
    assert overall_verdict([skipped]) == "not run"  # ... and never "reproduced" when none ran
    assert overall_verdict([Claim("b", 1, 0, "not"), skipped]) == "not"
    with pytest.raises(ValueError, match="without a reason"):
        Claim("c", 1, None, "not run")
    path = write_summary(tmp_path, "pkg", [ok, skipped], seconds=2.0)
    data = load_summary(path)
    assert data["counts"] == {"reproduced": 1, "partly": 0, "not": 0, "not run": 1}
    data["counts"]["not run"] = 0  # hiding a skipped claim is refused
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="counts"):
        load_summary(path)


def test_report_rows_for_every_paper_failed_and_not_run(tmp_path):
    reports = tmp_path / "reports"
    plot = reports / "elph" / "hits.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"png")
    write_summary(
        reports / "elph",
        "elph",
        [Claim("BUDDY HR@100", 88.0, 86.1, "reproduced"), Claim.not_run("OGB collab", 65.9, reason="needs a GPU")],
        12.0,
        plots=[plot],
    )
    (reports / "run.json").write_text(
        json.dumps(
            {
                "commit": "abc123",
                "total_seconds": 50,
                "parallel": 2,
                "threads": 1,
                "packages": {"elph": {"seconds": 14.0, "exit": 0}, "circe": {"seconds": 3.0, "exit": 1}},
            }
        )
    )
    papers = [
        {"package": "elph", "title": "Subgraph sketching"},
        {"package": "circe", "title": "CIRCE"},
        {"package": "omnigrok", "title": "Omnigrok"},
    ]
    text = render_report(reports, reports / "REPORT.md", expected=["elph", "circe"], papers=papers)
    assert "commit `abc123`" in text
    assert "| Subgraph sketching | [elph](#elph) | **reproduced** | 1 | 0 | 0 | 1 | 14 s |" in text
    assert "| CIRCE | circe | **failed** (exit 1, no summary) |" in text
    assert "| Omnigrok | omnigrok | not built yet |" in text
    assert "| OGB collab | 65.9 | – | not run: needs a GPU |" in text
    assert "![elph: hits.png](elph/hits.png)" in text
    assert "1 reproduced, 0 partly, 0 not, 1 not run" in text


def test_report_names_each_package_commit_and_the_load(tmp_path):
    reports = tmp_path / "reports"
    for pkg in ("elph", "circe"):
        write_summary(reports / pkg, pkg, [Claim("c", 1.0, 1.0, "reproduced")], 5.0)
    packages = {
        "elph": {"seconds": 14.0, "cpu_seconds": 12.5, "exit": 0, "commit": "aaa111", "load_1m": 3.5},
        "circe": {"seconds": 3.0, "exit": 0, "commit": "bbb222"},
    }
    (reports / "run.json").write_text(json.dumps({"commit": "bbb222", "packages": packages}))
    text = render_report(reports, reports / "REPORT.md", expected=["elph", "circe"])
    assert "reproduced at different commits" in text
    assert "Commit `aaa111`." in text and "Commit `bbb222`." in text
    assert "| 14 s (load 3.5) | 12 s |" in text and "| 3 s | – |" in text
    assert "children it waited for" in text  # what the CPU column counts, and what it does not
    packages["elph"]["commit"] = "bbb222"
    (reports / "run.json").write_text(json.dumps({"commit": "bbb222", "packages": packages}))
    assert "different commits" not in render_report(reports, reports / "REPORT.md", expected=["elph", "circe"])


def test_report_empty_and_with_packages(tmp_path):
    text = render_report(tmp_path / "reports", tmp_path / "reports" / "REPORT.md", expected=["elph"])
    assert "| elph | **missing** (no summary) |" in text
    write_summary(tmp_path / "reports" / "elph", "elph", [Claim("BUDDY HR@100 > GCN", 88.0, 80.1, "reproduced")], 12.0)
    write_summary(tmp_path / "reports" / "circe", "circe", [Claim("CIRCE OOD", 0.33, 0.9, "not")], 3.0)
    text = render_report(tmp_path / "reports", tmp_path / "reports" / "REPORT.md", expected=["elph", "circe", "mbxp"])
    assert "| [elph](#elph) | **reproduced** | 1 | 0 | 0 | 0 |" in text
    assert "| [circe](#circe) | **not** | 0 | 0 | 1 | 0 |" in text
    assert "| mbxp | **missing** (no summary) |" in text
    assert (tmp_path / "reports" / "REPORT.md").read_text() == text
