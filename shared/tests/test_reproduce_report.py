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


def test_report_empty_and_with_packages(tmp_path):
    text = render_report(tmp_path / "reports", tmp_path / "reports" / "REPORT.md")
    assert "No package reproductions yet" in text
    write_summary(tmp_path / "reports" / "elph", "elph", [Claim("BUDDY HR@100 > GCN", 88.0, 80.1, "reproduced")], 12.0)
    write_summary(tmp_path / "reports" / "circe", "circe", [Claim("CIRCE OOD", 0.33, 0.9, "not")], 3.0)
    text = render_report(tmp_path / "reports", tmp_path / "reports" / "REPORT.md", expected=["elph", "circe", "mbxp"])
    assert "| elph | **reproduced** | 1/1 |" in text
    assert "| circe | **not** | 0/1 |" in text
    assert "No reproduce summary for: mbxp" in text
    assert (tmp_path / "reports" / "REPORT.md").read_text() == text
