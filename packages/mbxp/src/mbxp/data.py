"""Released MBXP / Multilingual HumanEval / MathQA-X data (paper Sec. 2-3; mxeval ``data.py``).

Problem records: ``task_id, language, prompt, test, entry_point, canonical_solution, description``.
Sample records: ``task_id, completion, language``. Files are JSON lines, optionally gzip-compressed.
Every reader reports a malformed line with its file and line number as a ``UsageError``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mbxp.languages import LANGUAGES
from orals23_shared.cli import UsageError, check

__all__ = [
    "read_jsonl",
    "write_jsonl",
    "read_problems",
    "read_samples",
    "dataset_files",
    "PREFIX_LANGUAGE",
    "download",
    "RELEASE_FILES",
]

# task_id prefix -> language (MBXP naming: MB + language letters + P), from the registry
PREFIX_LANGUAGE = {lang.prefix: name for name, lang in LANGUAGES.items()}

UPSTREAM = "https://raw.githubusercontent.com/amazon-science/mxeval/e09974f990eeaf0c0e8f2b5eaff4be66effb2c86/data/"
# path under data/ -> sha256 prefix of the file (from the team's verified copy)
RELEASE_FILES = {
    "mbxp/mbcpp_release_v1.2.jsonl": "34a842515927e230",
    "mbxp/mbcsp_release_v1.2.jsonl": "e11db33a6c5582a5",
    "mbxp/mbgp_release_v1.1.jsonl": "90f519222a4c45bd",
    "mbxp/mbjp_release_v1.2.jsonl": "139a0fcdff2f4c6d",
    "mbxp/mbjsp_release_v1.2.jsonl": "9e443a1911bcedd8",
    "mbxp/mbkp_release_v1.2.jsonl": "54969bac04fddaad",
    "mbxp/mbphp_release_v1.2.jsonl": "aec706039e49bc1b",
    "mbxp/mbplp_release_v1.jsonl": "1293f40e442bda81",
    "mbxp/mbpp_release_v1.jsonl": "2ea7949f20ed5eca",
    "mbxp/mbrbp_release_v1.2.jsonl": "fe8c043b7d56f5d1",
    "mbxp/mbscp_release_v1.jsonl": "e690daa347855a0d",
    "mbxp/mbswp_release_v1.jsonl": "b390ee15df617038",
    "mbxp/mbtsp_release_v1.2.jsonl": "7c4fbf66cd8189d5",
    "mbxp/examples/mbcpp_samples.jsonl": "784baf49d8201e44",
    "mbxp/examples/mbcsp_samples.jsonl": "025612c6ecaefa28",
    "mbxp/examples/mbgp_samples.jsonl": "2f5cd7c751d5c773",
    "mbxp/examples/mbjp_samples.jsonl": "69bcefe6eae02822",
    "mbxp/examples/mbjsp_samples.jsonl": "384fa2f33c1a9fa0",
    "mbxp/examples/mbkp_samples.jsonl": "0941509a024472dc",
    "mbxp/examples/mbphp_samples.jsonl": "4f7aefb8daf40f37",
    "mbxp/examples/mbplp_samples.jsonl": "df82138dbc361792",
    "mbxp/examples/mbpp_samples.jsonl": "6100a93b357de042",
    "mbxp/examples/mbrbp_samples.jsonl": "51175c39f2d6e546",
    "mbxp/examples/mbscp_samples.jsonl": "eb275777dc72edb1",
    "mbxp/examples/mbswp_samples.jsonl": "2702f9f0d12983e9",
    "mbxp/examples/mbtsp_samples.jsonl": "000d26575b4eb8bf",
    "multilingual_humaneval/HumanEval.jsonl": "ee8ed1495a18a21d",
    "multilingual_humaneval/HumanEval_csharp_v1.jsonl": "fd8b4981c4ae4daa",
    "multilingual_humaneval/HumanEval_go_v1.jsonl": "b3797a20b951627d",
    "multilingual_humaneval/HumanEval_java_v1.1.jsonl": "2373bd083b7be445",
    "multilingual_humaneval/HumanEval_javascript_v1.1.jsonl": "cbd4421a18387fcf",
    "multilingual_humaneval/HumanEval_kotlin_v1.1.jsonl": "1324d829effc94e0",
    "multilingual_humaneval/HumanEval_perl_v1.1.jsonl": "2d084582af233b5a",
    "multilingual_humaneval/HumanEval_php_v1.1.jsonl": "f1ef51aec5418c01",
    "multilingual_humaneval/HumanEval_ruby_v1.1.jsonl": "08562903613e277d",
    "multilingual_humaneval/HumanEval_scala_v1.1.jsonl": "8fcd9ab950dfcd29",
    "multilingual_humaneval/HumanEval_swift_v1.1.jsonl": "b0de1f4a223d9830",
    "multilingual_humaneval/HumanEval_typescript_v1.jsonl": "6039fe3b75bd1670",
    "multilingual_mathqa/mathqa-test-java_v1.jsonl": "cf4151e90224bf51",
    "multilingual_mathqa/mathqa-test-javascript_v1.jsonl": "5307976e88126cec",
    "multilingual_mathqa/mathqa-test-python_v1.jsonl": "565e76aeb19a0610",
}


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; blank lines are skipped, a bad line is a ``UsageError``."""
    path = Path(path)
    check(path.is_file(), f"file not found: {path}")
    try:
        with _open_text(path) as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UsageError(f"{path}: line {i}: malformed JSON ({e.msg})") from None
                check(isinstance(record, dict), f"{path}: line {i}: expected a JSON object")
                yield i, record
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read ({e})") from None


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def read_problems(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``task_id -> problem``; every problem needs prompt, test and entry_point (non-empty test)."""
    problems: dict[str, dict[str, Any]] = {}
    for i, rec in read_jsonl(path):
        for key in ("task_id", "prompt", "test", "entry_point"):
            check(key in rec, f"{path}: line {i}: problem without '{key}'")
        for key in ("task_id", "prompt"):
            check(isinstance(rec[key], str), f"{path}: line {i}: '{key}' must be a string, got {rec[key]!r:.40}")
        check(
            isinstance(rec["test"], str) and rec["test"].strip() != "",
            f"{path}: line {i}: problem {rec['task_id']} has no tests",
        )
        check(rec["task_id"] not in problems, f"{path}: line {i}: duplicate task_id {rec['task_id']}")
        if not rec.get("language"):
            rec["language"] = language_of(rec["task_id"])
        problems[rec["task_id"]] = rec
    check(len(problems) > 0, f"{path}: no problems")
    return problems


def language_of(task_id: str) -> str | None:
    prefix = task_id.split("/")[0]
    if prefix in PREFIX_LANGUAGE:
        return PREFIX_LANGUAGE[prefix]
    if prefix.startswith("HumanEval_"):
        return prefix[len("HumanEval_") :]
    if prefix in ("HumanEval", "MathQA"):
        return "python"
    return None


def read_samples(
    path: str | os.PathLike, problems: dict[str, dict[str, Any]] | None = None, languages: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Samples ``{task_id, completion, language}``, checked against the problems and known languages."""
    known = set(languages) if languages is not None else None
    samples = []
    for i, rec in read_jsonl(path):
        for key in ("task_id", "completion"):
            check(key in rec, f"{path}: line {i}: sample without '{key}'")
            check(isinstance(rec[key], str), f"{path}: line {i}: '{key}' must be a string, got {rec[key]!r:.40}")
        check(isinstance(rec.get("language") or "", str), f"{path}: line {i}: 'language' must be a string")
        if not rec.get("language"):
            lang = problems[rec["task_id"]].get("language") if problems and rec["task_id"] in problems else None
            check(lang is not None, f"{path}: line {i}: sample without 'language'")
            rec["language"] = lang
        if problems is not None:
            check(rec["task_id"] in problems, f"{path}: line {i}: unknown task_id {rec['task_id']!r}")
        if known is not None:
            check(rec["language"] in known, f"{path}: line {i}: unknown language {rec['language']!r}")
        rec["_line"] = i
        samples.append(rec)
    check(len(samples) > 0, f"{path}: no samples")
    return samples


def dataset_files(root: str | os.PathLike) -> dict[str, Path]:
    """``language -> problem file`` from a data folder's ``metadata.json`` (``.gz`` copies accepted)."""
    root = Path(root)
    meta = root / "metadata.json"
    check(meta.is_file(), f"{meta}: not found")
    mapping = json.loads(meta.read_text())
    out = {}
    for lang, name in mapping.items():
        name = Path(name).name
        for cand in (root / name, root / (name + ".gz")):
            if cand.is_file():
                out[lang] = cand
                break
    return out


def download(dest: str | os.PathLike, files: Iterable[str] | None = None, base_url: str = UPSTREAM) -> list[Path]:
    """Fetch the official release files into ``dest`` (cached: a file with the right checksum is kept).

    Needs internet; never called by tests. Checks each file's sha256 prefix against ``RELEASE_FILES``.
    """
    dest = Path(dest)
    got = []
    for rel in files or RELEASE_FILES:
        check(rel in RELEASE_FILES, f"unknown release file {rel!r}")
        target = dest / rel
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest().startswith(RELEASE_FILES[rel]):
            got.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(base_url + rel, timeout=60) as r:
            data = r.read()
        digest = hashlib.sha256(data).hexdigest()
        if not digest.startswith(RELEASE_FILES[rel]):
            raise UsageError(f"{rel}: checksum mismatch (got {digest[:16]}, expected {RELEASE_FILES[rel]})")
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        got.append(target)
    return got
