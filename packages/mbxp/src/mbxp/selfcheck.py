"""Before a language's samples run: a known-correct program must pass and a known-wrong one must fail,
in the same sandbox and mode as the samples. An executor that cannot run a language (an interpreter the
sandbox cannot reach, a broken compiler, a sandbox that fails) then stops that language with one line
naming the cause, and its samples are reported "not run" instead of failing one by one (a 0%).

The self-check problem is ``add_one`` converted to each language by our own converter (:mod:`mbxp.convert`;
Python: the mxeval layout); the correct completion is the registry's ``selfcheck``, the wrong one the
same with ``x + 2`` (it compiles and runs, and fails the assertion).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mbxp.convert import convert
from mbxp.execution import ExecConfig, check_program
from mbxp.languages import LANGUAGES

__all__ = ["SELFCHECK_PROBLEM", "selfcheck_problem", "self_check"]

SELFCHECK_PROBLEM = {
    "task_id": "MBPP/0",
    "prompt": "def add_one(x):\n",
    "canonical_solution": "    return x + 1\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(41) == 42\n",
    "entry_point": "add_one",
    "description": "Write a function to add one to a number.",
}

_cache: dict[tuple, str | None] = {}
_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


def selfcheck_problem(language: str) -> dict[str, Any]:
    """The self-check problem in ``language``'s layout."""
    if language == "python":
        return dict(SELFCHECK_PROBLEM, language="python")
    return convert(SELFCHECK_PROBLEM, language, run=False, outputs=[2, 42])


def _run(language: str, cfg: ExecConfig) -> str | None:
    spec = LANGUAGES[language]
    problem = selfcheck_problem(language)
    good = spec.selfcheck
    bad = good.replace("x + 1", "x + 2")
    with ThreadPoolExecutor(2) as pool:
        right, wrong = pool.map(lambda c: check_program(problem, c, language, cfg), (good, bad))
    if right["status"] != "passed":
        return f"{language}: not run: the self-check's correct program did not pass ({right['result']})"
    if wrong["status"] != "failed":
        return f"{language}: not run: the self-check's wrong program gave {wrong['status']} ({wrong['result']})"
    return None


def self_check(language: str, cfg: ExecConfig) -> str | None:
    """None when ``language`` passes its self-check under ``cfg``, else a one-line reason. Done once per
    language and setting in a process (the reproduce run evaluates each language several times)."""
    key = (language, cfg)  # ExecConfig is frozen: every setting of the run
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = _run(language, cfg)
        return _cache[key]
