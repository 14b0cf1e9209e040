"""Evaluation engine: samples -> per-sample results -> per-language pass@k (paper Sec. 4; mxeval ``evaluation.py``).

Differences from mxeval (README "Implementation notes"): every program runs in the sandbox; each language
first passes a self-check (:mod:`mbxp.selfcheck`) or is reported "not run"; a pool of ``workers``
threads (default: the shared thread policy, i.e. ``$ORALS23_THREADS`` or the usable cores; mxeval uses
``cpu_count - 1``); identical programs run once; an optional cross-run result cache; ``results.jsonl``
is appended as results arrive, so a killed run resumes where it stopped; the summary is real JSON.

**Result keys** cover everything that decides a verdict: the task id, the language, the prompt, test and
entry point, the completion, the mode, the timeout and memory limit, the isolation mode, the executor's
code and the language's registry entry, and the installed toolchain (:func:`mbxp.toolchains.toolchain_id`).
A changed problem file, converter, executor or compiler therefore re-runs the affected samples.
**Executor errors** (status ``error``) are never reused and never counted in pass@k.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
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

from mbxp import execution, harness, pch, sandbox
from mbxp.execution import STATUSES, ExecConfig, check_program
from mbxp.languages import LANGUAGES
from mbxp.passk import pass_at_k_table
from mbxp.selfcheck import self_check
from mbxp.toolchains import resource_text, toolchain_id, toolchain_problem
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError
from orals23_shared.threads import default_threads

__all__ = ["EvalConfig", "evaluate", "sample_key", "executor_id", "summarize", "task_order"]


@dataclass
class EvalConfig:
    """Options of ``mbxp-evaluate``."""

    k: list[int] = field(
        default_factory=lambda: [1, 10, 100],
        metadata={"help": "pass@k values (reported when every task has >= k samples that ran)"},
    )
    workers: int = field(
        default=0, metadata={"help": "parallel programs (0: $ORALS23_THREADS when set, else the usable cores)"}
    )
    timeout: float = field(default=15.0, metadata={"help": "run-step timeout in seconds (mxeval CLI default 15)"})
    mxeval_compat: bool = field(
        default=False,
        metadata={
            "help": "score with mxeval's rules (exit codes only; TypeScript tsc rc == 2) instead of strict (tests must run to the end)"
        },
    )
    memory_mb: int = field(
        default=4096, metadata={"help": "memory limit per process (RLIMIT_DATA) and, with a cgroup, per program, MiB"}
    )
    processes: int = field(default=512, metadata={"help": "process/thread limit per program"})
    disk_mb: int = field(default=512, metadata={"help": "writable disk (a tmpfs) per program, MiB"})
    file_mb: int = field(
        default=64, metadata={"help": "largest file (stdout/stderr included) a program may write, MiB"}
    )
    cache: Path | None = field(
        default=None, metadata={"help": "JSONL result cache shared across runs (None: no cache)"}
    )
    resume: bool = field(default=False, metadata={"help": "continue the run in OUT (finished results are reused)"})
    overwrite: bool = field(default=False, metadata={"help": "empty OUT (a previous run) and start over"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    dedup: bool = field(default=True, metadata={"help": "run identical programs once"})
    isolation: str | None = field(
        default=None, metadata={"help": "sandbox isolation: bwrap (default) or rlimits (the weak fallback)"}
    )
    allow_weak_isolation: bool = field(
        default=False,
        metadata={"help": "allow the weak fallback (rlimits only) where bubblewrap does not work; prints a warning"},
    )

    def exec_config(self) -> ExecConfig:
        mode = "mxeval" if self.mxeval_compat else "strict"
        return ExecConfig(
            timeout=self.timeout,
            mode=mode,
            memory_mb=self.memory_mb,
            processes=self.processes,
            disk_mb=self.disk_mb,
            file_mb=self.file_mb,
            isolation=self.isolation,
            allow_weak=self.allow_weak_isolation,
        )


@functools.cache
def executor_id(language: str) -> str:
    """A digest of the executor's code (harness, execution, sandbox, pch), the language's registry entry and
    its shipped resources: any change that could change a verdict changes the id."""
    h = hashlib.sha256()
    for module in (harness, execution, sandbox, pch):
        h.update(inspect.getsource(module).encode())
    spec = LANGUAGES[language]
    h.update(repr(spec).encode())
    for name in spec.extra_files:
        h.update(resource_text(name).encode())
    return h.hexdigest()[:16]


def sample_key(problem: dict[str, Any], sample: dict[str, Any], cfg: ExecConfig, isolation: str) -> str:
    """Identity of one program run: identical keys give identical verdicts (de-duplication, cache, resume)."""
    lang = sample["language"]
    h = hashlib.sha256()
    parts = (
        sample["task_id"],
        lang,
        problem.get("prompt", ""),
        problem.get("test", ""),
        str(problem.get("entry_point", "")),
        sample["completion"],
        cfg.mode,
        repr(float(cfg.timeout)),
        f"{cfg.memory_mb}/{cfg.processes}/{cfg.disk_mb}/{cfg.file_mb}",
        isolation,
        executor_id(lang),
        toolchain_id(lang),
    )
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:32]


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
            if isinstance(rec, dict) and "key" in rec and rec.get("status") in STATUSES and rec["status"] != "error":
                out.append(rec)
    return out


def check_languages(languages: set[str]) -> None:
    """A one-line error for an unknown language or a missing toolchain."""
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
    languages = {s["language"] for s in samples}
    check_languages(languages)
    ecfg = cfg.exec_config()
    try:
        isolation = sandbox.resolve_isolation(cfg.isolation, cfg.allow_weak_isolation)
    except sandbox.IsolationError as e:
        raise UsageError(str(e)) from None
    if isolation != "bwrap":
        print(f"mbxp: warning: weak isolation ({sandbox.WEAK_NOTE})", file=sys.stderr)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    workers = cfg.workers or default_threads()
    start = time.monotonic()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = {lang: pool.submit(self_check, lang, ecfg) for lang in sorted(languages)}
        not_run = {lang: r for lang, f in checks.items() if (r := f.result()) is not None}
    for reason in not_run.values():
        print(f"mbxp: {reason}", file=sys.stderr)

    keys = [sample_key(problems[s["task_id"]], s, ecfg, isolation) for s in samples]
    if not cfg.dedup:
        keys = [f"{k}-{i}" for i, k in enumerate(keys)]
    known: dict[str, dict[str, Any]] = {}
    if cfg.cache is not None:
        for rec in _load_jsonl_results(Path(cfg.cache)):
            known[rec["key"]] = rec
    if cfg.resume:
        for rec in _load_jsonl_results(results_path):
            known[rec["key"]] = rec
    reused = 0
    todo: dict[str, int] = {}  # key -> index of the first sample with that program
    for i, key in enumerate(keys):
        if samples[i]["language"] in not_run:
            continue
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

    lock = threading.Lock()

    def run_one(key: str, idx: int) -> dict[str, Any]:
        s = samples[idx]
        res = check_program(problems[s["task_id"]], s["completion"], s["language"], ecfg)
        rec = {"key": key, **res}
        with lock:
            with open(results_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            if cfg.cache is not None and res["status"] != "error":
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
        if s["language"] in not_run:
            r = {"status": "error", "passed": False, "result": not_run[s["language"]], "seconds": 0.0}
        else:
            r = finished[key]
        row = {k: v for k, v in s.items() if not k.startswith("_")}
        row.update(
            status=r["status"],
            passed=bool(r["passed"]),
            result=r["result"],
            seconds=r["seconds"],
            isolation=r.get("isolation", isolation),
            key=key,
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
        mode=ecfg.mode,
        isolation=isolation,
        not_run=not_run,
        executed=len(todo),
        reused=reused,
        deduplicated=sum(s["language"] not in not_run for s in samples) - reused - len(todo),
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


def _pass_table(rows: list[dict[str, Any]], field_name: str, ks: list[int]) -> dict[str, dict[str, float]]:
    per_lang: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["status"] != "error":  # pass@k over the samples that ran
            per_lang[r["language"]][r["task_id"]].append(bool(r[field_name]))
    return {
        lang: pass_at_k_table({t: (len(v), sum(v)) for t, v in tasks.items()}, ks)
        for lang, tasks in sorted(per_lang.items())
    }


def summarize(rows: list[dict[str, Any]], ks: list[int]) -> dict[str, Any]:
    """Per-language pass@k over the samples that ran, counts by status, and the executor errors."""
    languages: dict[str, dict[str, Any]] = {}
    for lang in sorted({r["language"] for r in rows}):
        mine = [r for r in rows if r["language"] == lang]
        ran = [r for r in mine if r["status"] != "error"]
        statuses = Counter(r["status"] for r in mine)
        reasons = Counter(r["result"] for r in ran if r["result"].startswith("sandbox:"))
        languages[lang] = {
            "n_samples": len(mine),
            "n_ran": len(ran),
            "n_errors": statuses.get("error", 0),
            "n_tasks": len({r["task_id"] for r in ran}),
            "n_passed": sum(r["passed"] for r in ran),
            "results": {s: statuses[s] for s in STATUSES if statuses.get(s)},
            "sandbox_limits": dict(reasons),
        }
    out: dict[str, Any] = {"pass@k": _pass_table(rows, "passed", ks)}
    ran = [r for r in rows if r["status"] != "error"]
    if ran and all("mxeval_passed" in r for r in ran):  # strict run: mxeval's verdict of the same executions
        out["pass@k (mxeval rules)"] = _pass_table(rows, "mxeval_passed", ks)
        for lang, info in languages.items():
            mine = [r for r in ran if r["language"] == lang]
            info["n_passed_mxeval_rules"] = sum(r["mxeval_passed"] for r in mine)
            info["passed_only_under_mxeval_rules"] = sorted(
                {r["task_id"] for r in mine if r["mxeval_passed"] and not r["passed"]}, key=task_order
            )
    return {
        **out,
        "n_samples": len(rows),
        "n_errors": sum(r["status"] == "error" for r in rows),
        "n_tasks": len({(r["language"], r["task_id"]) for r in ran}),
        "languages": languages,
    }
