"""A reference runner that executes samples the way mxeval does, for ``mbxp-bench`` (no isolation).

Written from mxeval's documented behaviour (``mxeval/execution.py``, ``evaluation.py``; not copied):
one thread pool of ``n_workers`` (mxeval's default ``cpu_count() - 1``); per sample the program text
``prompt + completion + test`` (Python: ``+ "\\ncheck(entry_point)"``) in a fresh folder, then
mxeval's per-language commands through ``subprocess.run`` with ``timeout=int(timeout)`` (compile:
``int(100)``): Java ``javac main.java`` then ``java -cp DIR Main`` (run even when javac failed; passed
when both exit 0), C++ ``g++ X.cpp -o X_cpp`` then ``./X_cpp`` in the folder, TypeScript
``npx tsc X.ts --target es5 --lib es2016`` (compiled when the exit code is 2) then ``node X.js``, Perl
``perl X.pl``, and so on. A timeout or any exception is a failure. mxeval writes its folders inside the
installed package; here they are temp folders (the cost is the same). Never run untrusted code with it.
"""

from __future__ import annotations

import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mbxp.toolchains import node_path

__all__ = ["MXEVAL_COMMANDS", "mxeval_workers", "run_reference"]

# language -> (extension, compile command or None, run command, work in the folder); {p}: the program path
# without extension, {d}: its folder, {n}: its base name
MXEVAL_COMMANDS: dict[str, tuple[str, list[str] | None, list[str], bool]] = {
    "python": (".py", None, [sys.executable, "{p}.py"], False),  # mxeval: in the evaluator's interpreter
    "javascript": (".js", None, ["node", "{p}.js"], False),
    "typescript": (".ts", ["npx", "tsc", "{p}.ts", "--target", "es5", "--lib", "es2016"], ["node", "{p}.js"], False),
    "php": (".php", None, ["php", "{p}.php"], False),
    "ruby": (".rb", None, ["ruby", "{p}.rb"], False),
    "perl": (".pl", None, ["perl", "{p}.pl"], False),
    "go": (".go", None, ["go", "run", "{p}.go"], False),
    "cpp": (".cpp", ["g++", "{n}.cpp", "-o", "{n}_cpp"], ["./{n}_cpp"], True),
    "kotlin": (".kt", ["kotlinc", "{p}.kt", "-include-runtime", "-d", "{p}.jar"], ["java", "-jar", "{p}.jar"], False),
    "java": (".java", ["javac", "{d}/main.java"], ["java", "-cp", "{d}", "Main"], False),
    "scala": (".scala", ["scalac", "{d}/main.scala", "-d", "{d}"], ["scala", "-cp", "{d}", "Main"], False),
}


def mxeval_workers() -> int:
    """mxeval's default worker count: ``os.cpu_count() - 1`` (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


def _fill(cmd: list[str], p: str) -> list[str]:
    return [c.format(p=p, d=os.path.dirname(p), n=os.path.basename(p)) for c in cmd]


def _check(problem: dict[str, Any], completion: str, language: str, timeout: float) -> dict[str, Any]:
    ext, compile_cmd, run_cmd, in_dir = MXEVAL_COMMANDS[language]
    program = problem["prompt"] + completion + problem["test"]
    if language == "python":
        program += f"\ncheck({problem['entry_point']})"
    folder = tempfile.mkdtemp(prefix="mxeval-ref-")
    name = "main" if language in ("java", "scala") else "".join(random.choices(string.ascii_letters, k=10))
    base = os.path.join(folder, name)
    Path(base + ext).write_text(program)
    cwd = folder if in_dir else None
    env = dict(os.environ, NODE_PATH=node_path())
    try:
        compiled = True
        if compile_cmd is not None:
            res = subprocess.run(
                _fill(compile_cmd, base), timeout=100, capture_output=True, text=True, cwd=cwd, env=env
            )
            compiled = res.returncode == 2 if language == "typescript" else res.returncode == 0
        if compiled or language in ("java", "scala"):  # mxeval's Java/Scala run the class regardless
            res = subprocess.run(
                _fill(run_cmd, base), timeout=int(timeout), capture_output=True, text=True, cwd=cwd, env=env
            )
            passed = compiled and res.returncode == 0
        else:
            passed = False
    except Exception:  # noqa: BLE001 - mxeval counts any exception (a timeout included) as a failure
        passed = False
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"task_id": problem["task_id"], "passed": passed}


def run_reference(
    samples: list[dict[str, Any]],
    problems: dict[str, dict[str, Any]],
    workers: int | None = None,
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """mxeval's verdict of every sample (in order), executed as mxeval executes it."""
    with ThreadPoolExecutor(max_workers=workers or mxeval_workers()) as pool:
        return list(
            pool.map(lambda s: _check(problems[s["task_id"]], s["completion"], s["language"], timeout), samples)
        )
