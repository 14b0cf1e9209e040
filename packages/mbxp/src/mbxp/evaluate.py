"""Evaluation engine: samples -> per-sample results -> per-language pass@k (paper Sec. 4; mxeval ``evaluation.py``).

Differences from mxeval (README "Implementation notes"): every program runs in the sandbox; a pool
of ``workers`` threads (default: all cores; mxeval uses ``cpu_count - 1``, one worker on 2 cores);
identical programs (same task, language and completion) run once; an optional cross-run result cache;
``results.jsonl`` is appended as results arrive, so a killed run resumes where it stopped; the
summary is real JSON (mxeval writes a Python ``str(dict)``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mbxp.execution import ExecConfig, check_program
from mbxp.languages import LANGUAGES, toolchain_problem
from mbxp.passk import pass_at_k_table
from mbxp.sandbox import isolation_available
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError

__all__ = ["EvalConfig", "evaluate", "sample_key", "summarize", "result_category", "task_order"]


@dataclass
class EvalConfig:
    """Options of ``mbxp-evaluate``."""

    k: list[int] = field(
        default_factory=lambda: [1, 10, 100],
        metadata={"help": "pass@k values (reported when every task has >= k samples)"},
    )
    workers: int = field(default=0, metadata={"help": "parallel programs (0: all cores)"})
    timeout: float = field(default=15.0, metadata={"help": "run-step timeout in seconds (mxeval CLI default 15)"})
    mxeval_compat: bool = field(
        default=False,
        metadata={
            "help": "score with mxeval's rules (exit codes only; TypeScript tsc rc == 2) instead of strict (tests must run to the end)"
        },
    )
    memory_mb: int = field(default=4096, metadata={"help": "memory limit per program (RLIMIT_DATA, MiB)"})
    cache: Path | None = field(
        default=None, metadata={"help": "JSONL result cache shared across runs (None: no cache)"}
    )
    resume: bool = field(default=True, metadata={"help": "reuse finished results found in OUT/results.jsonl"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    dedup: bool = field(default=True, metadata={"help": "run identical programs once"})
    isolation: str | None = field(
        default=None, metadata={"help": "sandbox isolation: bwrap or rlimits (None: best available)"}
    )


def sample_key(task_id: str, language: str, completion: str, mode: str, timeout: float) -> str:
    """Identity of one program run: identical keys give identical results (de-duplication, cache)."""
    h = hashlib.sha256()
    for part in (task_id, language, completion, mode, repr(float(timeout))):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def result_category(result: str) -> str:
    """``passed``, ``failed``, ``timed out``, ``compile error`` or ``sandbox``."""
    for cat in ("passed", "timed out", "compile error", "sandbox", "failed"):
        if result.startswith(cat):
            return cat
    return "failed"


def _load_jsonl_results(path: Path) -> list[dict[str, Any]]:
    out = []
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill: ignore, it will be re-run
            if isinstance(rec, dict) and "key" in rec and "passed" in rec:
                out.append(rec)
    return out


def check_toolchains(languages: set[str]) -> None:
    for lang in sorted(languages):
        if lang not in LANGUAGES:
            raise UsageError(f"unknown language {lang!r} (known: {', '.join(sorted(LANGUAGES))})")
        problem = toolchain_problem(lang)
        if problem:
            raise UsageError(problem)


def evaluate(
    samples: list[dict[str, Any]],
    problems: dict[str, dict[str, Any]],
    out_dir: str | os.PathLike,
    cfg: EvalConfig = EvalConfig(),
) -> dict[str, Any]:
    """Run every sample, write ``out_dir/results.jsonl`` and ``out_dir/summary.json``; return the summary."""
    for s in samples:
        if s["task_id"] not in problems:
            raise UsageError(f"sample for unknown task_id {s['task_id']!r}")
    check_toolchains({s["language"] for s in samples})
    mode = "mxeval" if cfg.mxeval_compat else "strict"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    keys = [sample_key(s["task_id"], s["language"], s["completion"], mode, cfg.timeout) for s in samples]
    if not cfg.dedup:
        keys = [f"{k}-{i}" for i, k in enumerate(keys)]

    known: dict[str, dict[str, Any]] = {}
    if cfg.cache is not None:
        for rec in _load_jsonl_results(Path(cfg.cache)):
            known[rec["key"]] = rec
    reused = 0
    if cfg.resume:
        for rec in _load_jsonl_results(results_path):
            known[rec["key"]] = rec
    if mode == "strict":  # results written before strict runs also recorded mxeval's verdict are re-run
        known = {k: v for k, v in known.items() if "mxeval_passed" in v}
    todo: dict[str, int] = {}  # key -> index of the first sample with that program
    for i, key in enumerate(keys):
        if key in known:
            reused += 1
        elif key not in todo:
            todo[key] = i
    # rewrite results.jsonl with only what is still valid, then append as we go
    wanted = set(keys)
    finished = {k: v for k, v in known.items() if k in wanted}
    tmp = results_path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in finished.values():
            f.write(json.dumps(rec) + "\n")
    tmp.replace(results_path)

    ecfg = ExecConfig(timeout=cfg.timeout, mode=mode, memory_mb=cfg.memory_mb, isolation=cfg.isolation)
    workers = cfg.workers or os.cpu_count() or 1
    lock = threading.Lock()
    start = time.monotonic()

    def run_one(key: str, idx: int) -> dict[str, Any]:
        s = samples[idx]
        res = check_program(problems[s["task_id"]], s["completion"], s["language"], ecfg)
        rec = {"key": key, **res}
        with lock:
            with open(results_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            if cfg.cache is not None:
                Path(cfg.cache).parent.mkdir(parents=True, exist_ok=True)
                with open(cfg.cache, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
        return rec

    bar = None
    if not cfg.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="evaluate", unit="prog")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, key, idx) for key, idx in todo.items()]
        for fut in as_completed(futures):
            rec = fut.result()
            finished[rec["key"]] = rec
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.monotonic() - start

    rows = []
    for s, key in zip(samples, keys, strict=True):
        r = finished[key]
        row = {k: v for k, v in s.items() if not k.startswith("_")}
        row.update(
            passed=bool(r["passed"]), result=r["result"], seconds=r["seconds"], isolation=r.get("isolation"), key=key
        )
        if "mxeval_passed" in r:
            row["mxeval_passed"] = bool(r["mxeval_passed"])
        rows.append(row)
    tmp = results_path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    tmp.replace(results_path)
    summary = summarize(rows, cfg.k)
    summary.update(
        mode=mode,
        isolation=cfg.isolation or isolation_available(),
        executed=len(todo),
        reused=reused,
        deduplicated=len(samples) - reused - len(todo),
        seconds=round(seconds, 2),
        workers=workers,
        config={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
    )
    atomic_write_json(out / "summary.json", summary)
    return summary


def task_order(task_id: str) -> tuple[str, int]:
    """Sort key: "MBTSP/9" before "MBTSP/10"."""
    head, _, num = task_id.rpartition("/")
    return (head, int(num)) if num.isdigit() else (task_id, 0)


def summarize(rows: list[dict[str, Any]], ks: list[int]) -> dict[str, Any]:
    """Per-language pass@k and result categories from result rows."""
    per_lang: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    cats: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_lang[r["language"]][r["task_id"]].append(bool(r["passed"]))
        cats[r["language"]][result_category(r["result"])] += 1
    table = {}
    languages = {}
    for lang, tasks in sorted(per_lang.items()):
        counts = {t: (len(v), sum(v)) for t, v in tasks.items()}
        table[lang] = pass_at_k_table(counts, ks)
        languages[lang] = {
            "n_samples": sum(n for n, _ in counts.values()),
            "n_tasks": len(counts),
            "n_passed": sum(c for _, c in counts.values()),
            "results": dict(cats[lang]),
        }
    out: dict[str, Any] = {}
    mx_rows = [r for r in rows if "mxeval_passed" in r]
    if rows and len(mx_rows) == len(rows):  # strict run: mxeval's verdict of the same executions
        mx_lang: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            mx_lang[r["language"]][r["task_id"]].append(bool(r["mxeval_passed"]))
        out["pass@k (mxeval rules)"] = {
            lang: pass_at_k_table({t: (len(v), sum(v)) for t, v in tasks.items()}, ks)
            for lang, tasks in sorted(mx_lang.items())
        }
        for lang, tasks in mx_lang.items():
            languages[lang]["n_passed_mxeval_rules"] = sum(sum(v) for v in tasks.values())
            languages[lang]["passed_only_under_mxeval_rules"] = sorted(
                {r["task_id"] for r in rows if r["language"] == lang and r["mxeval_passed"] and not r["passed"]},
                key=task_order,
            )
    return {
        "pass@k": table,
        **out,
        "n_samples": len(rows),
        "n_tasks": len({(r["language"], r["task_id"]) for r in rows}),
        "languages": languages,
    }
