"""The reproduce/bench entry points answer --help, and reproduce verdicts follow from the measurements."""

from __future__ import annotations

import pytest

from circe.bench import entry as bench_entry
from circe.bench import step_times
from circe.reproduce import claims_from, linear_gaussian_optima
from circe.reproduce import entry as reproduce_entry


@pytest.mark.parametrize("entry", [reproduce_entry, bench_entry])
def test_help(entry, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["prog", "--help"])
    with pytest.raises(SystemExit) as e:
        entry()
    assert e.value.code == 0 and "--out" in capsys.readouterr().out


def _row(method, gamma, id_mse, ood_mse, cd=0.01):
    return {"method": method, "gamma": gamma, "id_mse": id_mse, "ood_mse": ood_mse, "id_cond_dep": cd}


def test_claim_verdicts_follow_measurements():
    opt = linear_gaussian_optima()
    good = {
        "linear_gaussian": [
            _row("erm", 0, 0.075, 1.38, 0.01),
            _row("circe", 1000, 0.34, 0.35, 0.0001),
            _row("hsic", 1000, 0.9, 0.8),
            _row("hscic", 1000, 0.2, 0.9),
            _row("gcm", 1, 0.1, 1.2),
        ],
        "sprites": [_row("erm", 0, 0.01, 0.05), _row("circe", 1, 0.012, 0.03), _row("circe", 10, 0.1, 0.1)],
    }
    assert [c.verdict for c in claims_from(good, opt)] == ["reproduced"] * 5
    bad = {
        "linear_gaussian": [
            _row("erm", 0, 0.3, 0.3, 0.01),
            _row("circe", 1000, 0.07, 1.4, 0.02),
            _row("hsic", 1000, 0.3, 0.3),
            _row("hscic", 1000, 0.2, 0.3),
            _row("gcm", 1, 0.1, 0.4),
        ],
        "sprites": [_row("erm", 0, 0.01, 0.03), _row("circe", 1, 0.012, 0.05), _row("circe", 10, 0.02, 0.04)],
    }
    assert [c.verdict for c in claims_from(bad, opt)] == ["not"] * 5


def test_step_times_smoke():
    rows = step_times([16], [20], repeats=1)
    assert rows[0]["B"] == 16 and all(rows[0][f"{m}_ms"] > 0 for m in ("erm", "circe", "hscic", "gcm"))
