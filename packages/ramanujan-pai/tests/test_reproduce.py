"""Reproduce verdicts follow from the measurements: the paper's pattern gets "reproduced", a wrong model "not"."""

import itertools

import pytest

from ramanujan_pai.reproduce import PAPER_METHODS, aggregate, claims_from_rows, plot

QUALITY = {"rand": 0, "erk": 1, "grasp": 2, "snip": 3, "itersnip": 4, "synflow": 5}


def _rows(acc_of, imdb_of, dr_of):
    rows = []
    for d, m, s in itertools.product((0.05, 0.1, 0.2), PAPER_METHODS, range(3)):
        q = QUALITY[m]
        rows.append(
            {
                "model": "mlp",
                "method": m,
                "density": d,
                "seed": s,
                "test_acc": acc_of(q) + 0.001 * s,
                "imdb_norm": imdb_of(q),
                "delta_r_norm": dr_of(q),
                "narc": 0.0,
                "imdb": 0.0,
                "delta_r": 0.0,
            }
        )
    return rows


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_paper_pattern_is_reproduced(model):
    rows = _rows(lambda q: 0.5 + 0.05 * q, lambda q: -0.1 + 0.1 * q, lambda q: [0.3, 0.1, 0.5, 0.0, 0.2, 0.4][q])
    claims = claims_from_rows(rows, model)
    assert [c.verdict for c in claims] == ["reproduced"] * 4
    assert all(c.claim.startswith(f"{model}: ") for c in claims)
    assert aggregate(rows)[0.05]["rand"]["seeds"] == 3


def test_wrong_model_gets_not():
    # random best in accuracy, not lowest in IMDB, IMDB unrelated to accuracy (Spearman 0.09); Delta_r tracks it
    rows = _rows(lambda q: 0.9 - 0.05 * q, lambda q: [0.3, 0.0, 0.5, 0.4, 0.1, 0.2][q], lambda q: 0.5 - 0.05 * q)
    claims = claims_from_rows(rows)
    assert [c.verdict for c in claims] == ["not"] * 4


def test_undefined_imdb_is_not_a_pass():
    rows = _rows(lambda q: 0.5 + 0.05 * q, lambda q: None, lambda q: 0.1 * q)
    claims = claims_from_rows(rows)
    assert claims[1].verdict == "not" and claims[2].verdict == "not" and claims[3].verdict == "not"


def test_plot_writes_png(tmp_path):
    rows = _rows(lambda q: 0.5 + 0.05 * q, lambda q: -0.1 + 0.1 * q, lambda q: 0.1)
    path = plot(rows, "imdb_norm", tmp_path / "p.png", "t")
    assert path.is_file() and path.stat().st_size > 1000
