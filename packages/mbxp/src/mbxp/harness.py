"""The program a sample runs as (paper Sec. 3; mxeval ``check_correctness_*``): prompt + completion + test.

Python adds ``check(entry_point)`` after the test, exactly as mxeval. In strict mode the harness adds
an **end-of-tests statement** after the last test statement (inside ``main`` where the test lives in
one) that prints :data:`~mbxp.languages.DONE_PREFIX` followed by the value of the environment variable
:data:`~mbxp.languages.TOKEN_VAR`. The executor puts a fresh random token in that variable for every run
and looks for prefix + token in the whole output. The token is in no file the program can read and the
statement only prints it when it executes, so a program that prints its own source (PHP after ``?>``,
a quine), swallows the tests (unbalanced braces) or exits early cannot produce it. Go needs ``os`` to
read the variable: the harness imports it under its own name (``mbxpos``) and marks it used.
"""

from __future__ import annotations

import re

from mbxp.languages import LANGUAGES

__all__ = ["assemble_program", "insert_marker", "strict_program", "GO_IMPORT"]

GO_IMPORT = 'import mbxpos "os"\n'
_GO_USE = "\nvar _ = mbxpos.Getenv\n"


def assemble_program(language: str, prompt: str, completion: str, test: str, entry_point: str) -> str:
    """mxeval's program text: prompt + completion + test (Python adds ``check(entry_point)``)."""
    if language == "python":
        return prompt + completion + "\n" + test + "\n" + f"check({entry_point})" + "\n"
    return prompt + completion + test


def insert_marker(language: str, test: str) -> str:
    """The test text with the end-of-tests statement placed after the last test statement."""
    spec = LANGUAGES[language]
    stmt = spec.marker
    where = spec.marker_at
    if where == "append":
        return test.rstrip() + "\n" + stmt + "\n"
    if where == "before_return":
        i = test.rfind("return 0;")
        if i < 0:
            where = "brace:1"
        else:
            return test[:i] + stmt + "\n    " + test[i:]
    k = int(where.split(":")[1])
    i = len(test)
    for _ in range(k):
        i = test.rfind("}", 0, i)
        if i < 0:
            return test.rstrip() + "\n" + stmt + "\n"
    return test[:i] + stmt + "\n" + test[i:]


def strict_program(language: str, prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The strict-mode program: mxeval's text plus the end-of-tests statement (and Go's import of ``os``)."""
    if language == "python":  # after the harness's check(entry_point)
        return insert_marker(language, assemble_program(language, prompt, completion, test, entry_point))
    program = assemble_program(language, prompt, completion, insert_marker(language, test), entry_point)
    if language == "go":
        m = re.search(r"^package\s+\w+[^\n]*\n", program, re.M)
        at = m.end() if m else 0
        program = program[:at] + GO_IMPORT + program[at:] + _GO_USE
    return program
