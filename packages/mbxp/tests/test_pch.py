"""The precompiled <bits/stdc++.h> changes compile time only: the same binary, the same verdicts."""

from __future__ import annotations

import subprocess

import pytest

from mbxp import pch
from mbxp.execution import ExecConfig, _compile_step, check_program
from mbxp.pch import PCH_INNER, cpp_pch_dir
from mbxp.sandbox import Sandbox, isolation_available
from mbxp.toolchains import toolchain_problem

pytestmark = pytest.mark.skipif(toolchain_problem("cpp") is not None, reason=str(toolchain_problem("cpp")))

PROGRAM = """#include <bits/stdc++.h>
using namespace std;
int twice(int x) { return 2 * x; }
int main() { vector<int> v{1, 2, 3}; cout << accumulate(v.begin(), v.end(), 0) + twice(4) << endl; return 0; }
"""
# a macro before the include that the header depends on: GCC must refuse the precompiled header and read the
# real one (debug-mode containers), or this program would not see _GLIBCXX_DEBUG's checks
INVALIDATING = "#define _GLIBCXX_DEBUG 1\n" + PROGRAM.replace("return 0; }", "return v.size() == 3 ? 0 : 1; }")


def _compile(tmp_path, text, name, extra=()):
    """``g++ [extra] prog.cpp -o prog`` in its own folder (the file name is in the binary's symbol table)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "prog.cpp").write_text(text)
    subprocess.run(["g++", *extra, "prog.cpp", "-o", "prog"], cwd=folder, check=True, timeout=300)
    return folder / "prog"


def test_precompiled_header_gives_the_same_binary(tmp_path):
    folder = cpp_pch_dir()
    assert folder is not None
    plain = _compile(tmp_path, PROGRAM, "plain")
    with_pch = _compile(tmp_path, PROGRAM, "pch", ("-I", folder))
    assert plain.read_bytes() == with_pch.read_bytes()  # byte for byte: verdicts cannot differ

    # g++ -H marks a precompiled header it uses with "!" and one it rejects with "x": PROGRAM uses it; a macro
    # set before the include makes GCC reject it and read the header, and the program still builds
    def used(text):
        cmd = ["g++", "-I", folder, "-H", "-fsyntax-only", "-x", "c++", "-"]
        res = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0
        return any(line.startswith("! ") and line.endswith(".gch") for line in res.stderr.splitlines())

    assert used(PROGRAM) and not used(INVALIDATING)


@pytest.mark.skipif(isolation_available() != "bwrap", reason="the precompiled header is used under bubblewrap only")
def test_sandboxed_compile_uses_it_and_verdicts_hold():
    with Sandbox("bwrap") as box:
        cmd, binds = _compile_step("cpp", box)
    assert cmd is not None and cmd[:3] == ("g++", "-I", PCH_INNER) and binds == ((cpp_pch_dir(), PCH_INNER),)
    problem = {
        "task_id": "T/1",
        "prompt": "#include <bits/stdc++.h>\nusing namespace std;\nint twice(int x) {\n",
        "test": '\nint main() {\n    if (twice(4) != 8) { throw runtime_error("no"); }\n    return 0;\n}\n',
        "entry_point": "twice",
    }
    cfg = ExecConfig(timeout=15)
    assert check_program(problem, "    return 2 * x;\n}\n", "cpp", cfg)["status"] == "passed"
    assert check_program(problem, "    return x;\n}\n", "cpp", cfg)["status"] == "failed"
    assert check_program(problem, "    return y;\n}\n", "cpp", cfg)["status"] == "compile_error"


def test_an_unwritable_cache_means_no_precompiled_header(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MBXP_CACHE", str(blocker / "cache"))  # a folder below a file cannot be made
    pch.cpp_pch_dir.cache_clear()
    try:
        assert cpp_pch_dir() is None
    finally:
        pch.cpp_pch_dir.cache_clear()
