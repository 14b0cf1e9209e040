"""Per-language toolchains: how a program is assembled, compiled and run (paper Sec. 3, mxeval ``execution.py``).

The program is ``prompt + completion + test`` (Python: ``prompt + completion + "\\n" + test + "\\n" +
"check(entry_point)"``), exactly as in mxeval. The commands follow mxeval's (brief section c) with these
differences, named in the README:

* work dirs are sandbox temp dirs, never inside the installed package;
* Go is ``go build`` then the binary (``go run`` does the same two steps), so the run step is sandboxed
  apart from the compiler;
* C# uses mono's ``mcs`` + ``mono`` and a small ``CompareLogic`` shim (``resources/CompareLogic.cs``)
  instead of ``dotnet`` and the NuGet package CompareNETObjects;
* TypeScript: mxeval's rule "tsc exit code == 2" is kept only in ``mxeval`` mode (it depends on
  ``@types/node`` being absent and lets syntax errors through); ``strict`` mode accepts any emitted JS
  and relies on the end-of-test marker below.

**End-of-test marker** (strict mode): a statement printing a random token is inserted after the last
test statement, inside ``main`` where the test lives in one. A pass requires exit code 0 *and* the
token in the output, so a completion that swallows the tests (unbalanced braces), skips them or exits
early (``System.exit(0)``, ``process.exit(0)``, ``exit``) fails.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources

__all__ = ["LANGUAGES", "LanguageSpec", "assemble_program", "insert_marker", "toolchain_problem", "node_path"]


@dataclass(frozen=True)
class LanguageSpec:
    """How one language is compiled and run inside the sandbox."""

    name: str
    source: str  # file name of the program
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    tools: tuple[str, ...] = ()  # executables that must be on PATH
    marker: str = ""  # statement printing {token}
    marker_at: str = "append"  # "append", "before_return" or "brace:<k>" (before the k-th last "}")
    extra_files: tuple[str, ...] = ()  # shipped resources copied next to the program
    compile_timeout: float = 100.0
    env: dict[str, str] = field(default_factory=dict)
    available_here: bool = True  # False: no way to install it on this platform (Swift)
    note: str = ""


LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec("python", "prog.py", (sys.executable, "prog.py"), tools=(), marker='print("{token}")'),
    "java": LanguageSpec(
        "java",
        "main.java",
        ("java", "-cp", ".", "Main"),
        ("javac", "main.java"),
        ("javac", "java"),
        'System.out.println("{token}");',
        "brace:2",
    ),
    "javascript": LanguageSpec(
        "javascript", "prog.js", ("node", "prog.js"), tools=("node",), marker='console.log("{token}");'
    ),
    "typescript": LanguageSpec(
        "typescript",
        "prog.ts",
        ("node", "prog.js"),
        ("tsc", "prog.ts", "--target", "es5", "--lib", "es2016"),
        ("tsc", "node"),
        'console.log("{token}");',
    ),
    "cpp": LanguageSpec(
        "cpp",
        "prog.cpp",
        ("./prog",),
        ("g++", "prog.cpp", "-o", "prog"),
        ("g++",),
        'std::cout << "{token}" << std::endl;',
        "before_return",
    ),
    "csharp": LanguageSpec(
        "csharp",
        "Program.cs",
        ("mono", "prog.exe"),
        ("mcs", "-nowarn:CS0168,CS0219,CS0162,CS0414", "-out:prog.exe", "Program.cs", "CompareLogic.cs"),
        ("mcs", "mono"),
        'System.Console.WriteLine("{token}");',
        "brace:3",
        ("CompareLogic.cs",),
        note="mono mcs + CompareLogic shim instead of dotnet + NuGet CompareNETObjects",
    ),
    "go": LanguageSpec(
        "go",
        "prog.go",
        ("./prog",),
        ("go", "build", "-o", "prog", "prog.go"),
        ("go",),
        'println("{token}")',
        "brace:1",
        env={"CGO_ENABLED": "0", "GO111MODULE": "off", "GOFLAGS": ""},
    ),
    "kotlin": LanguageSpec(
        "kotlin",
        "prog.kt",
        ("java", "-jar", "prog.jar"),
        ("kotlinc", "prog.kt", "-include-runtime", "-d", "prog.jar"),
        ("kotlinc", "java"),
        'println("{token}")',
        "brace:1",
        compile_timeout=200.0,
    ),
    "scala": LanguageSpec(
        "scala",
        "main.scala",
        ("scala", "-cp", ".", "Main"),
        ("scalac", "main.scala", "-d", "."),
        ("scalac", "scala"),
        'println("{token}")',
        "brace:1",
        compile_timeout=200.0,
    ),
    "php": LanguageSpec("php", "prog.php", ("php", "prog.php"), tools=("php",), marker='echo "{token}\\n";'),
    "perl": LanguageSpec("perl", "prog.pl", ("perl", "prog.pl"), tools=("perl",), marker='print "{token}\\n";'),
    "ruby": LanguageSpec("ruby", "prog.rb", ("ruby", "prog.rb"), tools=("ruby",), marker='puts "{token}"'),
    "swift": LanguageSpec(
        "swift",
        "prog.swift",
        ("swift", "prog.swift"),
        tools=("swiftc", "swift"),
        marker='print("{token}")',
        note="no Swift toolchain in Debian/npm/PyPI (Debian's 'swift' is OpenStack Swift)",
    ),
}


def assemble_program(language: str, prompt: str, completion: str, test: str, entry_point: str) -> str:
    """mxeval's program text: prompt + completion + test (Python adds ``check(entry_point)``)."""
    if language == "python":
        return prompt + completion + "\n" + test + "\n" + f"check({entry_point})" + "\n"
    return prompt + completion + test


def insert_marker(language: str, test: str, token: str) -> str:
    """The test text with the end-of-test marker statement placed after the last test statement."""
    spec = LANGUAGES[language]
    stmt = spec.marker.format(token=token)
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


@functools.cache
def node_path() -> str:
    """Folder holding globally installed npm packages (lodash), for NODE_PATH."""
    candidates = []
    npm = shutil.which("npm")
    if npm:
        try:
            out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs"]
    import os

    return os.pathsep.join(c for c in candidates if os.path.isdir(c))


@functools.cache
def toolchain_problem(language: str) -> str | None:
    """None when ``language`` can run here, else a one-line reason (for skips and errors)."""
    spec = LANGUAGES.get(language)
    if spec is None:
        return f"unknown language {language!r} (known: {', '.join(sorted(LANGUAGES))})"
    if not spec.available_here:
        return f"{language}: toolchain not available ({spec.note})"
    missing = [t for t in spec.tools if shutil.which(t) is None]
    if missing and spec.note and language == "swift":
        return f"{language}: toolchain missing ({spec.note})"
    if missing:
        return f"{language}: toolchain missing ({', '.join(missing)} not on PATH; run packages/mbxp/scripts/install-toolchains.sh)"
    if language == "perl":
        ok = subprocess.run(["perl", "-MData::Compare", "-e1"], capture_output=True).returncode == 0
        if not ok:
            return "perl: Data::Compare missing (apt install libdata-compare-perl)"
    if language == "javascript":
        import os

        if not any(os.path.isdir(os.path.join(p, "lodash")) for p in node_path().split(os.pathsep) if p):
            return "javascript: lodash missing (npm install -g lodash)"
    return None


def resource_text(name: str) -> str:
    return resources.files("mbxp").joinpath("resources", name).read_text()
