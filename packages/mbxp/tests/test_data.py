"""Reading the released files: counts from the data README, gzip, metadata, errors with line numbers."""

from __future__ import annotations

import gzip

import pytest

from mbxp.data import dataset_files, language_of, read_jsonl, read_problems, read_samples
from orals23_shared.cli import UsageError
from orals23_shared.paths import require_shared_data


def test_released_files_have_the_documented_counts():
    root = require_shared_data("mbxp")
    files = dataset_files(root / "mbxp")
    assert set(files) >= {"java", "python", "go", "cpp", "swift"}
    counts = {lang: len(read_problems(path)) for lang, path in files.items()}
    assert counts["java"] == 966 and counts["python"] == 974 and counts["go"] == 939 and counts["cpp"] == 848
    java = read_problems(files["java"])
    assert sum(isinstance(p["canonical_solution"], str) for p in java.values()) == 874
    he = dataset_files(root / "multilingual_humaneval")
    assert len(read_problems(he["go"])) == 160 and len(read_problems(he["kotlin"])) == 161
    samples = read_samples(root / "mbxp/examples/mbjp_samples.jsonl.gz", java)
    assert len(samples) == 966 and all(s["language"] == "java" for s in samples)


def test_language_from_task_id():
    assert language_of("MBJSP/3") == "javascript" and language_of("HumanEval_kotlin/0") == "kotlin"
    assert language_of("HumanEval/1") == "python" and language_of("XYZ/1") is None


def test_malformed_gz_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(UsageError, match="line 3: expected a JSON object"):
        list(read_jsonl(path))
    with pytest.raises(UsageError, match="file not found"):
        list(read_jsonl(tmp_path / "missing.jsonl"))
