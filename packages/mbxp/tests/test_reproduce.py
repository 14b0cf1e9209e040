"""mbxp-reproduce's claims: a wrong measurement gets "not", a language that cannot run gets "not run" with
its reason (never a 0% or a failed claim)."""

from __future__ import annotations

import importlib

from mbxp.evaluate import EvalConfig
from mbxp.reproduce import _verdict, run_canonical_checks, run_examples
from mbxp.reproduce_common import wilson
from mbxp.reproduce_conversion import _match_verdict, compare_converted
from orals23_shared.paths import require_shared_data


def test_example_verdicts_reject_a_wrong_measurement():
    assert _verdict(824, 966, 85.30, full_set=True, exact=True)[0] == "reproduced"  # 824/966 = 85.30%
    assert _verdict(823, 966, 85.30, full_set=True, exact=True)[0] == "partly"  # 0.1 point off: not exact
    assert _verdict(700, 966, 85.30, full_set=True, exact=True)[0] == "not"
    assert _verdict(45, 60, 82.24, full_set=False, exact=False)[0] == "reproduced"  # 82.24 inside the CI
    assert _verdict(10, 60, 82.24, full_set=False, exact=False)[0] == "not"  # a broken executor: 16.7%
    lo, hi = wilson(45, 60)
    assert lo < 75 < hi and wilson(0, 0) == (0.0, 100.0)


def test_conversion_verdicts_reject_a_wrong_converter():
    released = {f"T/{i}": {"prompt": f"p{i}", "test": f"t{i}"} for i in range(10)}
    right = {k: dict(v) for k, v in released.items()}
    wrong = {k: {"prompt": v["prompt"], "test": v["test"] + " extra"} for k, v in released.items()}
    assert compare_converted(right, released)["both"] == 10 and _match_verdict(100.0) == "reproduced"
    assert compare_converted(wrong, released)["both"] == 0 and _match_verdict(0.0) == "not"
    assert compare_converted({"T/0": {"prompt": "p0  ", "test": " t0"}}, released)["both"] == 1  # whitespace


def test_a_language_without_its_toolchain_is_not_run(tmp_path, monkeypatch):
    root = require_shared_data("mbxp")
    common = importlib.import_module("mbxp.reproduce_common")
    monkeypatch.setattr(common, "toolchain_problem", lambda lang: f"{lang}: toolchain missing (test)")
    claims, table = [], {}
    cfg = EvalConfig(k=[1], workers=1, quiet=True)
    run_examples(root, tmp_path, True, 0, cfg, claims, table, {"ruby", "swift"})
    run_canonical_checks(root, tmp_path, True, 0, cfg, claims, table, {"ruby"})
    assert [c.verdict for c in claims] == ["not run"] * 3
    assert all(c.ours is None and "toolchain missing" in c.reason for c in claims)
    assert table["ruby"]["not_run"].startswith("ruby: toolchain missing")
