"""The CLIs as a user runs them: --help, a used --out refused in one line, resume, every input format,
and bad input (count mismatch, NaN, malformed CSV line, a class without errors) as one line, exit 2."""

import json
import shutil

import numpy as np
import pytest

from failure_directions.bench import main as bench_main
from failure_directions.cli import benchmark_main, caption_main, fit_main, intervene_main
from failure_directions.reproduce import main as reproduce_main
from orals23_shared.cli import run_cli


def _exit(fn, argv):
    with pytest.raises(SystemExit) as e:
        run_cli(fn, argv)
    return e.value.code


def _one_line(capsys, text):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert text in err, err


@pytest.mark.parametrize("fn", [fit_main, caption_main, intervene_main, benchmark_main, reproduce_main, bench_main])
def test_help(fn, capsys):
    with pytest.raises(SystemExit) as e:
        fn(["--help"])
    assert e.value.code == 0 and "--out" in capsys.readouterr().out


def test_fit_writes_a_run_refuses_a_used_out_and_resumes(bench_dir, tmp_path, capsys):
    out = tmp_path / "fit"
    args = ["--data", str(bench_dir), "--degenerate", "skip", "--out", str(out), "--quiet", "--threads", "1"]
    assert _exit(fit_main, args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["test"]["auc"] > 0.6
    for f in ("svm.npz", "svm.json", "ranking_test.csv", "decisions_pool.npy", "extremes_test.png", "metrics.jsonl"):
        assert (out / f).is_file(), f
    first = np.load(out / "decisions_test.npy")
    assert _exit(fit_main, args) == 2
    _one_line(capsys, "already holds a run")
    assert _exit(fit_main, [*args, "--resume"]) == 0  # every class is reloaded from its checkpoint
    np.testing.assert_array_equal(np.load(out / "decisions_test.npy"), first)
    assert _exit(fit_main, [*args, "--overwrite"]) == 0


def _copy(bench_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(bench_dir, data)
    return data


def test_fit_bad_input_is_one_line(bench_dir, tmp_path, capsys):
    data = _copy(bench_dir, tmp_path)
    base = ["--data", str(data), "--degenerate", "skip", "--quiet"]
    labels = np.load(data / "val" / "labels.npy")
    np.save(data / "val" / "labels.npy", labels[:-3])
    assert _exit(fit_main, [*base, "--out", str(tmp_path / "a")]) == 2
    _one_line(capsys, f"{len(labels)} feature rows but {len(labels) - 3} labels")
    np.save(data / "val" / "labels.npy", labels)
    feats = np.load(data / "test" / "features.npy")
    feats[11, 2] = np.nan
    np.save(data / "test" / "features.npy", feats)
    assert _exit(fit_main, [*base, "--out", str(tmp_path / "b")]) == 2
    _one_line(capsys, "test features holds NaN in row 11")
    assert _exit(fit_main, ["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 2
    _one_line(capsys, "data folder not found")
    assert _exit(fit_main, ["--out", str(tmp_path / "d")]) == 2
    _one_line(capsys, "--data is required")


def test_a_class_without_errors_stops_the_default_fit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for split in ("train", "val", "test"):
        (data / split).mkdir(parents=True)
        y = np.repeat([0, 1, 2], 30)
        pred = np.where(rng.random(90) < 0.3, (y + 1) % 3, y)
        pred[y == 1] = 1  # class 1: only correct predictions
        np.save(data / split / "features.npy", rng.normal(size=(90, 4)))
        np.save(data / split / "labels.npy", y)
        np.save(data / split / "preds.npy", pred)
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "r")]) == 2
    _one_line(capsys, "class 1: 30 validation points, 0 errors (only correct predictions)")
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "r2"), "--degenerate", "skip", "--quiet"]) == 0


def test_fit_from_csv_and_malformed_lines(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "val", "test"):
        y = np.repeat([0, 1], 40)
        pred = np.where(rng.random(80) < 0.35, 1 - y, y)
        x = rng.normal(size=(80, 3)) + (pred != y)[:, None]
        lines = ["label,pred,f0,f1,f2"] + [f"{a},{b},{c[0]},{c[1]},{c[2]}" for a, b, c in zip(y, pred, x)]
        (data / f"{split}.csv").write_text("\n".join(lines) + "\n")
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "ok"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["test"]["auc"] > 0.7
    text = (data / "val.csv").read_text().splitlines()
    text[5] = "1,0,0.5,0.5"  # a field missing on line 6
    (data / "val.csv").write_text("\n".join(text) + "\n")
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "bad")]) == 2
    _one_line(capsys, "val.csv:6: expected 5 fields, got 4")
    text[5] = "1,0,0.5,abc,0.1"
    (data / "val.csv").write_text("\n".join(text) + "\n")
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "bad2")]) == 2
    _one_line(capsys, "val.csv:6: feature column 'f1' holds 'abc', not a number")


def test_fit_from_a_folder_of_images_with_the_toy_encoder(bench_dir, tmp_path, capsys):
    from PIL import Image

    data = tmp_path / "imgs"
    for split in ("train", "val", "test"):
        images = np.load(bench_dir / split / "images.npy")[:300]
        labels = np.load(bench_dir / split / "labels.npy")[:300]
        preds = np.load(bench_dir / split / "outputs.npy")[:300].argmax(1)
        rows = ["file,pred"]
        for i, (im, y, p) in enumerate(zip(images, labels, preds)):
            folder = data / split / f"d{y}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((im * 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
            rows.append(f"d{y}/{i:04d}.png,{p}")
        (data / split / "preds.csv").write_text("\n".join(rows) + "\n")
    enc = f"toy:{bench_dir / 'encoder.pt'}"
    args = ["--data", str(data), "--encoder", enc, "--degenerate", "skip", "--quiet"]
    assert _exit(fit_main, [*args, "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "extremes_test.png").is_file()
    ranking = (tmp_path / "r" / "ranking_test.csv").read_text().splitlines()
    assert ranking[0].endswith("file") and ".png" in ranking[1]
    assert _exit(fit_main, ["--data", str(data), "--out", str(tmp_path / "r2")]) == 2
    _one_line(capsys, "pass --encoder")
    csv_path = data / "val" / "preds.csv"
    lines = csv_path.read_text().splitlines()
    lines[1] = "zz/" + lines[1].split("/", 1)[1]  # the first data row, line 2 of the file
    csv_path.write_text("\n".join(lines) + "\n")
    assert _exit(fit_main, [*args, "--out", str(tmp_path / "r3")]) == 2
    _one_line(capsys, "preds.csv:2: 'zz/")


def test_caption_with_the_toy_encoder_and_with_an_attribute_table(bench_dir, tmp_path, capsys):
    fit = tmp_path / "fit"
    assert _exit(fit_main, ["--data", str(bench_dir), "--degenerate", "skip", "--out", str(fit), "--quiet"]) == 0
    out = tmp_path / "cap"
    args = ["--run", str(fit), "--encoder", f"toy:{bench_dir / 'encoder.pt'}", "--adjectives", "inverted|faint|noisy",
            "--prepositions", "", "--attributes", str(bench_dir / "test" / "attributes.csv"), "--out", str(out)]  # fmt: skip
    assert _exit(caption_main, args) == 0
    res = json.loads((out / "captions.json").read_text())
    rec = res["classes"]["5"]
    assert rec["reference"] == "a photo of a five" and len(rec["hardest"]) == 4
    assert {a["attribute"] for a in rec["attributes"]} <= {"inverted", "faint", "noisy", "minority"}
    assert "hardest" in capsys.readouterr().out
    assert _exit(caption_main, args) == 2
    _one_line(capsys, "already holds a run")
    bad = tmp_path / "attrs.csv"
    bad.write_text("index,inverted\n0,1\n1,yes\n")
    assert _exit(caption_main, [*args[:-4], "--attributes", str(bad), "--out", str(tmp_path / "c2")]) == 2
    _one_line(capsys, "attrs.csv:3: attribute 'inverted' is 'yes', expected 0 or 1")
    assert _exit(caption_main, ["--run", str(fit), "--out", str(tmp_path / "c3")]) == 2
    _one_line(capsys, "give --encoder")


def test_intervene_and_benchmark_clis(bench_dir, tmp_path, capsys):
    out = tmp_path / "iv"
    args = ["--data", str(bench_dir), "--seeds", "1", "--steps", "30", "--k", "4", "--selections", "random,svm",
            "--upweights", "svm", "--out", str(out), "--quiet"]  # fmt: skip
    assert _exit(intervene_main, args) == 0
    res = json.loads((out / "results.json").read_text())
    assert {r["strategy"] for r in res["rows"]} == {"base", "select-random", "select-svm", "upweight-svm"}
    assert (out / "interventions.png").is_file()
    capsys.readouterr()
    assert _exit(intervene_main, args) == 2
    _one_line(capsys, "already holds a run")
    assert _exit(intervene_main, [*args, "--resume"]) == 0
    assert json.loads((out / "results.json").read_text())["rows"] == res["rows"]
    assert _exit(intervene_main, [*args[:-3], "--selections", "best", "--out", str(tmp_path / "x")]) == 2
    _one_line(capsys, "unknown selection strategy 'best'")
    b = tmp_path / "bench"
    assert _exit(benchmark_main, ["--steps", "10", "--out", str(b), "--quiet"]) == 0
    for f in ("classes.txt", "encoder.pt", "val/features.npy", "pool/groups.npy", "test/attributes.csv"):
        assert (b / f).is_file(), f
