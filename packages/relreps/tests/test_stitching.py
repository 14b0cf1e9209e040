"""Zero-shot stitching: same model = native exactly; stitched = D_A(norm_A(r(E_B x, E_B anchors))); CLIs."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from orals23_shared.cli import UsageError
from relreps.cli import compare_main, stitch_main
from relreps.data import load_digits as rr_digits
from relreps.model import FrozenEncoder, MLPEncoder, RelativeModel, classifier_decoder
from relreps.projection import RelativeProjection
from relreps.stitching import score, stitch_outputs, stitched_forward
from relreps.train import load_run

from .helpers import run


def _rel(seed, k=12, d=6, anchors=None):
    torch.manual_seed(seed)
    anchors = anchors if anchors is not None else torch.rand(k, 64)
    return RelativeModel(MLPEncoder(64, [16], d), classifier_decoder(k, 10), RelativeProjection(k), anchors)


def test_stitching_a_model_with_itself_equals_native():
    data = rr_digits()
    m = _rel(0, anchors=data.x[:12])
    native = m.eval()(data.x[torch.as_tensor(data.split.test)])
    torch.testing.assert_close(stitch_outputs(m, m, data), native, rtol=0, atol=0)


def test_stitched_forward_is_decoder_a_on_encoder_b_with_b_embedding_the_anchors():
    anchors = torch.rand(12, 64)
    a, b = _rel(0, anchors=anchors), _rel(1, anchors=anchors)
    x = torch.rand(9, 64)
    with torch.no_grad():
        expected = a.decoder(a.projection.norm(torch.nn.functional.normalize(b.encoder(x), dim=1)
                                               @ torch.nn.functional.normalize(b.encoder(anchors), dim=1).T))  # fmt: skip
        torch.testing.assert_close(stitched_forward(a, b, x), expected)
        assert not torch.allclose(stitched_forward(a, b, x), a(x))


def test_stitching_mismatches_are_refused():
    a = _rel(0)
    absolute = RelativeModel(MLPEncoder(64, [16], 6), classifier_decoder(6, 10))
    absolute_wide = RelativeModel(MLPEncoder(64, [16], 9), classifier_decoder(9, 10))
    with pytest.raises(UsageError, match="two relative or two absolute"):
        stitched_forward(a, absolute, torch.rand(2, 64))
    with pytest.raises(UsageError, match="equal latent sizes"):
        stitched_forward(absolute, absolute_wide, torch.rand(2, 64))
    with pytest.raises(UsageError, match="reads 12 anchors"):
        stitched_forward(a, _rel(1, k=7), torch.rand(2, 64))


def test_a_frozen_user_module_works_as_an_encoder():
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 20), torch.nn.Dropout(0.5))
    enc = FrozenEncoder(backbone)
    model = RelativeModel(enc, classifier_decoder(8, 10), RelativeProjection(8), torch.rand(8, 64))
    model.train()
    assert not backbone.training  # stays in eval mode: dropout off, deterministic features
    x = torch.rand(4, 64)
    torch.testing.assert_close(enc(x), backbone(x))
    model(x).sum().backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert all(p.grad is not None for p in model.decoder.parameters())


@pytest.fixture(scope="module")
def digit_spaces(tmp_path_factory):
    """Digits pixels as space A, a rotated and rescaled copy as B, and an unrelated random projection as C."""
    folder = tmp_path_factory.mktemp("spaces")
    d = load_digits()
    a = (d.data / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    np.save(folder / "a.npy", a)
    np.save(folder / "b.npy", (3.0 * a @ q).astype(np.float32))
    np.save(folder / "c.npy", (a @ rng.normal(size=(64, 24))).astype(np.float32))
    np.save(folder / "y.npy", d.target)
    return folder


def test_stitch_cli_on_isometric_embeddings(digit_spaces, capsys):
    f = digit_spaces
    argv = [f / "a.npy", f / "b.npy", "--labels", f / "y.npy", "--anchors", "80", "--epochs", "4", "--json", "--quiet"]
    code, out, err = run(stitch_main, argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    rows = {(r["encoder"], r["decoder"]): r for r in result["rows"]}
    # rotation x scale leaves the relative representation unchanged: stitched = native exactly
    assert rows[("B", "A")]["relative"] == pytest.approx(rows[("A", "A")]["relative"], abs=1e-9)
    assert rows[("A", "A")]["relative"] > 0.5  # 4 short epochs: the point is the exact equality above
    assert rows[("B", "A")]["absolute"] < rows[("A", "A")]["absolute"] - 0.3
    code, out, err = run(stitch_main, [f / "a.npy", f / "c.npy", "--labels", f / "y.npy", "--epochs", "1"], capsys)
    stitched = [line.split() for line in out.splitlines() if "stitched" in line]
    assert code == 0 and len(stitched) == 2 and all(r[-1] == "-" for r in stitched)  # 64 vs 24 dims: no absolute


def test_stitch_cli_on_two_runs(tmp_path, capsys):
    from relreps.cli import train_main

    for seed in (0, 1):
        code, _, err = run(
            train_main, ["--out", tmp_path / f"r{seed}", "--seed", seed, "--epochs", "1", "--quiet"], capsys
        )
        assert code == 0, err
    code, out, err = run(stitch_main, [tmp_path / "r0", tmp_path / "r1", "--json"], capsys)
    assert code == 0, err
    rows = {(r["encoder"], r["decoder"]): r["relative"] for r in json.loads(out)["rows"]}
    summary = json.loads((tmp_path / "r0" / "summary.json").read_text())
    assert rows[("A", "A")] == pytest.approx(summary["test_acc"], abs=1e-12)
    a, b = load_run(tmp_path / "r0"), load_run(tmp_path / "r1")
    assert rows[("B", "A")] == score(stitch_outputs(a.model, b.model, b.data), b.data)
    assert rows[("B", "A")] != rows[("A", "A")]
    code, _, err = run(stitch_main, [tmp_path / "r0", tmp_path / "nowhere"], capsys)
    assert code == 2 and "not found" in err


def test_compare_cli_contract_and_bad_input(digit_spaces, tmp_path, capsys):
    f = digit_spaces
    code, out, _ = run(compare_main, [f / "a.npy", f / "b.npy", "--anchors", "100", "--seed", "3", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and list(result) == [
        "mean_cosine_relative",
        "mean_cosine_absolute",
        "jaccard@10",
        "mrr",
        "cka_linear",
    ]
    assert result["mean_cosine_relative"] == pytest.approx(1.0, abs=1e-5) and result["mrr"] == pytest.approx(
        1.0, abs=1e-3
    )
    code, out, _ = run(compare_main, [f / "a.npy", f / "c.npy", "--anchors", "100", "--json"], capsys)
    assert code == 0 and json.loads(out)["mean_cosine_absolute"] is None
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(i) for i in range(0, 500, 5)) + "\n")
    code, out, _ = run(compare_main, [f / "a.npy", f / "b.npy", "--anchor-ids", ids, "--json"], capsys)
    assert code == 0 and json.loads(out)["jaccard@10"] == pytest.approx(1.0, abs=1e-3)  # float32 near-ties
    np.save(tmp_path / "short.npy", np.zeros((10, 64), dtype=np.float32))
    nan = np.load(f / "a.npy")
    nan[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "badids.txt").write_text("1\n2\nthree\n")
    (tmp_path / "farids.txt").write_text("1\n99999\n")
    cases = [
        ([f / "a.npy", tmp_path / "short.npy"], "has 1797 rows but"),
        ([f / "a.npy", tmp_path / "nan.npy"], "NaN or inf (first in row 7)"),
        ([f / "a.npy", f / "y.npy"], "must be a 2-D array"),
        ([f / "a.npy", tmp_path / "none.npy"], "not found"),
        ([f / "a.npy", tmp_path / "ids.txt"], "not a .npy file"),
        ([f / "a.npy", f / "b.npy", "--anchors", "5000"], "asked for 5000 anchors"),
        ([f / "a.npy", f / "b.npy", "--anchor-ids", tmp_path / "badids.txt"], "badids.txt:3: not an integer"),
        ([f / "a.npy", f / "b.npy", "--anchor-ids", tmp_path / "farids.txt"], "anchor index 99999 is out of range"),
    ]
    for argv, message in cases:
        code, _, err = run(compare_main, argv, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    with pytest.warns(UserWarning, match="64 dimensions but there are only 20 anchors"):
        code, _, _ = run(compare_main, [f / "a.npy", f / "b.npy", "--anchors", "20"], capsys)
    assert code == 0


def test_score_counts_correct_predictions():
    data = rr_digits()
    y = data.y[torch.as_tensor(data.split.test)]
    perfect = torch.nn.functional.one_hot(y, 10).float()
    assert score(perfect, data) == 1.0
    assert score(torch.roll(perfect, 1, dims=1), data) == 0.0
