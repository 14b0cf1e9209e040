"""The one language registry: every per-language fact of the package, one :class:`Language` per language.

Execution (paper Sec. 3, mxeval ``execution.py``): the program file, compile and run commands, the tools
that must be on PATH, the command that prints the toolchain's version, the end-of-tests statement and
where it goes, and the self-check completion. Conversion (Sec. 3.1): the MBXP task-id prefix, the
language's word in descriptions, type names, the None literal, reserved parameter names and the
Multi-HumanEval layout. Data: the released problem and example-sample files and the official pass@1 of
the examples. Generation: stop sequences and closing rules.

The code that renders a prompt and test lives in :mod:`mbxp.convert.layouts` (one function per language,
looked up by name); ``tests/test_registry.py`` checks that the registry, the layouts and the data agree.
Adding a language: one entry here, one layout function, and its self-check runs before any sample.

The commands follow mxeval's, with these differences (README): work dirs are sandbox temp dirs; Go is
``go build`` then the binary (``go run`` does the same two steps); C# uses mono's ``mcs`` + ``mono`` and
a small ``CompareLogic`` shim instead of ``dotnet`` + CompareNETObjects; TypeScript's "tsc exit code ==
2" rule is kept only in ``mxeval`` mode.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

__all__ = ["TOKEN_VAR", "DONE_PREFIX", "TypeNames", "HumanEvalLayout", "Language", "LANGUAGES", "by_prefix", "targets"]

TOKEN_VAR = "MBXP_TESTS_DONE"  # environment variable holding the per-run end-of-tests token
DONE_PREFIX = "mbxp-tests-done:"  # printed right before the token (an environment dump never shows this pair)
_EXPERT = "You are an expert {} programmer, and here is your task."


@dataclass(frozen=True)
class TypeNames:
    """How a value type is written: scalar names, list and dict patterns, the mixed-value type (None: the
    language cannot type mixed values and such tasks are dropped), boxed scalar names inside containers
    and nullable slots (Java), and the nullable suffix (Kotlin ``?``)."""

    scalars: dict[str, str]
    list: str
    dict: str
    mixed: str | None
    boxed: dict[str, str] = field(default_factory=dict)
    nullable_suffix: str = ""


@dataclass(frozen=True)
class HumanEvalLayout:
    """The released Multi-HumanEval layout of one language (read off ``HumanEval_<lang>_v*.jsonl``)."""

    version: str  # "v1.1" or "v1"
    doc_block: str  # regex of the MBXP docstring block that HumanEval's docstring replaces
    doc_open: str
    preamble: str | None
    doc_prefix: str
    doc_close: str
    case_marker: str  # text occurring once per test case in the test (to count cases)
    none_word: str = ""  # v1.1: "return None" in the docstring becomes "return <none_word>"
    none_as_string: str | None = None  # None written as "none": the raw string our renderer gives it


@dataclass(frozen=True)
class Language:
    """Everything the package knows about one language."""

    name: str
    word: str  # how the language is named in converted descriptions ("Write a Java function")
    prefix: str  # MBXP task-id prefix (MBJP/1)
    # execution
    source: str  # file name of the program
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    tools: tuple[str, ...] = ()  # executables that must be on PATH
    version: tuple[tuple[str, ...], ...] = ()  # commands whose output identifies the toolchain
    marker: str = ""  # statement printing DONE_PREFIX + the token read from TOKEN_VAR
    marker_at: str = "append"  # "append", "before_return" or "brace:<k>" (before the k-th last "}")
    extra_files: tuple[str, ...] = ()  # shipped resources copied next to the program
    compile_timeout: float = 100.0
    env: dict[str, str] = field(default_factory=dict)
    available_here: bool = True  # False: no way to install it on this platform (Swift)
    note: str = ""
    selfcheck: str = ""  # a correct completion of the self-check problem (add_one), "x + 1" inside
    # conversion
    converts: bool = True  # a conversion target (its layout is mbxp.convert.layouts.<name>)
    types: TypeNames | None = None  # None: untyped (JavaScript, PHP, Ruby, Perl)
    none: str = "null"  # literal of None
    reserved: frozenset[str] = frozenset()  # parameter names that get a "0" (string -> string0)
    from_outputs: bool = False  # the MBXP files expect the canonical solution's outputs (TypeScript, Go, C#)
    humaneval: HumanEvalLayout | None = None
    # data
    release: str | None = None  # problem file stem under mbxp/
    examples: str | None = None  # example samples stem under mbxp/examples/
    readme_pass1: float | None = None  # official pass@1 of the example samples (mxeval README), %
    exact: bool = False  # the full example file must match the README exactly (issue acceptance)
    cost: str = "cheap"  # "cheap", "compiled" or "slow" (JVM compilers): quick-mode subset sizes
    # generation
    stops: tuple[str, ...] = ()
    braces: bool = True  # the function closes with "}" (else Ruby "end" / Python indentation)
    closes_class: bool = False  # the completion closes the method and the class (Java)


_JVM_ENV = {"JAVA_TOOL_OPTIONS": "-Xss8m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"}

_ALL = [
    Language(
        "python",
        "Python",
        "MBPP",
        "prog.py",
        (sys.executable, "prog.py"),
        marker=f'print("{DONE_PREFIX}" + __import__("os").environ["{TOKEN_VAR}"])',
        selfcheck="    return x + 1\n",
        converts=False,
        release="mbpp_release_v1",
        examples="mbpp",
        readme_pass1=82.24,
        stops=("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", '\n"""', "\n#"),
        braces=False,
    ),
    Language(
        "java",
        "Java",
        "MBJP",
        "main.java",
        ("java", "-cp", ".", "Main"),
        ("javac", "main.java"),
        ("javac", "java"),
        (("javac", "-version"), ("java", "-version")),
        f'System.out.println("{DONE_PREFIX}" + System.getenv("{TOKEN_VAR}"));',
        "brace:2",
        env=_JVM_ENV,
        selfcheck="        return x + 1;\n    }\n}\n",
        types=TypeNames(
            {"int": "int", "float": "Double", "bool": "Boolean", "str": "String", "number": "Number"},
            "List<{}>",
            "HashMap<{}, {}>",
            "Object",
            boxed={"int": "Integer"},
        ),
        humaneval=HumanEvalLayout(
            "v1.1", r"/\*\*.*?\*/", "/**\n", None, "     * ", "     */", "throw new java.lang.Exception(", "null"
        ),
        release="mbjp_release_v1.2",
        examples="mbjp",
        readme_pass1=85.30,
        exact=True,
        cost="compiled",
        stops=("\nclass Main", "\npublic class Main", "\n/**"),
        closes_class=True,
    ),
    Language(
        "javascript",
        "JavaScript",
        "MBJSP",
        "prog.js",
        ("node", "prog.js"),
        tools=("node",),
        version=(("node", "--version"),),
        marker=f'console.log("{DONE_PREFIX}" + process.env.{TOKEN_VAR});',
        selfcheck="    return x + 1;\n}\n",
        humaneval=HumanEvalLayout("v1.1", r"/\*\*.*?\*/", "/**\n", None, " * ", " */", "throw 'Error at", '"none"'),
        release="mbjsp_release_v1.2",
        examples="mbjsp",
        readme_pass1=78.67,
        exact=True,
        stops=("\nfunction ", "\nconsole.log", "\n/**", "\nconst ", "\nmodule.exports"),
    ),
    Language(
        "typescript",
        "typescript",
        "MBTSP",
        "prog.ts",
        ("node", "prog.js"),
        ("tsc", "prog.ts", "--target", "es5", "--lib", "es2016"),
        ("tsc", "node"),
        (("tsc", "--version"), ("node", "--version")),
        f'console.log("{DONE_PREFIX}" + eval("process.env.{TOKEN_VAR}"));',  # eval: no @types/node needed
        selfcheck="    return x + 1;\n};\n",
        types=TypeNames(
            {"int": "number", "float": "number", "bool": "boolean", "str": "string", "number": "number"},
            "Array<{}>",
            "Map<{}, {}>",
            "any",
        ),
        none="undefined",
        from_outputs=True,
        reserved=frozenset(
            {"string", "number", "boolean", "function", "var", "let", "const", "new", "delete", "in", "class"}
        ),
        humaneval=HumanEvalLayout(
            "v1", r"/\*\*.*?\*/", "/**\n", "You're an expert TypeScript programmer", " * ", " */", "assert.deepEqual("
        ),
        release="mbtsp_release_v1.2",
        examples="mbtsp",
        readme_pass1=87.29,
        cost="compiled",
        stops=("\nfunction ", "\nconsole.log", "\n/**", "\nconst ", "\nexport "),
    ),
    Language(
        "cpp",
        "c++",
        "MBCPP",
        "prog.cpp",
        ("./prog",),
        ("g++", "prog.cpp", "-o", "prog"),
        ("g++",),
        (("g++", "--version"),),
        f'std::cout << "{DONE_PREFIX}" << std::getenv("{TOKEN_VAR}") << std::endl;',
        "before_return",
        selfcheck="    return x + 1;\n}\n",
        types=TypeNames(
            {"int": "int", "float": "double", "bool": "bool", "str": "string"},
            "vector<{}>",
            "unordered_map<{}, {}>",
            None,
        ),
        none="nullptr",
        release="mbcpp_release_v1.2",
        examples="mbcpp",
        readme_pass1=79.60,
        cost="compiled",
        stops=("\nint main", "\n/**", "\n#include", "\ntemplate"),
    ),
    Language(
        "php",
        "PHP",
        "MBPHP",
        "prog.php",
        ("php", "prog.php"),
        tools=("php",),
        version=(("php", "--version"),),
        marker=f'echo "{DONE_PREFIX}" . getenv("{TOKEN_VAR}") . "\\n";',
        selfcheck="    return $x + 1;\n}\n",
        humaneval=HumanEvalLayout(
            "v1.1", r"/\*\*.*?\*/", "/**\n", _EXPERT.format("PHP"), " * ", " */", "throw new Exception(", "null"
        ),
        release="mbphp_release_v1.2",
        examples="mbphp",
        readme_pass1=72.77,
        exact=True,
        stops=("\nfunction ", "\n?>", "\n// ", "\n$"),
    ),
    Language(
        "ruby",
        "Ruby",
        "MBRBP",
        "prog.rb",
        ("ruby", "prog.rb"),
        tools=("ruby",),
        version=(("ruby", "--version"),),
        marker=f'puts "{DONE_PREFIX}" + ENV["{TOKEN_VAR}"]',
        selfcheck="    x + 1\nend\n",
        none="nil",
        humaneval=HumanEvalLayout(
            "v1.1", r"\A.*?(?=^def )", "\n##\n", _EXPERT.format("Ruby"), "# ", "", "raise StandardError", "nil"
        ),
        release="mbrbp_release_v1.2",
        examples="mbrbp",
        readme_pass1=58.90,
        exact=True,
        stops=("\ndef ", "\nclass ", "\nputs ", "\n# "),
        braces=False,
    ),
    Language(
        "perl",
        "Perl",
        "MBPLP",
        "prog.pl",
        ("perl", "prog.pl"),
        tools=("perl",),
        version=(("perl", "-v"),),
        marker=f'print "{DONE_PREFIX}$ENV{{{TOKEN_VAR}}}\\n";',
        selfcheck="  return $x + 1;\n}\n",
        none='"none"',  # as released: MBPLP/395, 431, 452, 546, 746, 755, 761, 954 expect the string "none"
        humaneval=HumanEvalLayout("v1.1", r"\A.*?(?=^sub )", "\n", _EXPERT.format("Perl"), "# ", "", "die ", '"none"'),
        release="mbplp_release_v1",
        examples="mbplp",
        readme_pass1=38.41,
        stops=("\nsub ", "\nprint ", "\n# "),
    ),
    Language(
        "go",
        "golang",
        "MBGP",
        "prog.go",
        ("./prog",),
        ("go", "build", "-o", "prog", "prog.go"),
        ("go",),
        (("go", "version"),),
        f'println("{DONE_PREFIX}" + mbxpos.Getenv("{TOKEN_VAR}"))',  # mbxpos: "os", imported by the harness
        "brace:1",
        env={"CGO_ENABLED": "0", "GO111MODULE": "off", "GOFLAGS": ""},
        selfcheck="\treturn x + 1\n}\n",
        types=TypeNames(
            {"int": "int", "float": "float64", "bool": "bool", "str": "string"}, "[]{}", "map[{}]{}", "interface{{}}"
        ),
        none="nil",
        from_outputs=True,
        reserved=frozenset(
            {"string", "int", "len", "map", "range", "type", "func", "var", "select", "default", "chan", "go"}
        ),
        humaneval=HumanEvalLayout(
            "v1",
            r"^// Code should be written.*?(?=^func )",
            "",
            "You're an expert Golang programmer",
            "// ",
            "",
            "deepCompare(actual_",
        ),
        release="mbgp_release_v1.1",
        examples="mbgp",
        readme_pass1=39.19,
        cost="compiled",
        stops=("\nfunc ", "\n// ", "\ntype "),
    ),
    Language(
        "csharp",
        "c#",
        "MBCSP",
        "Program.cs",
        ("mono", "prog.exe"),
        ("mcs", "-nowarn:CS0168,CS0219,CS0162,CS0414", "-out:prog.exe", "Program.cs", "CompareLogic.cs"),
        ("mcs", "mono"),
        (("mcs", "--version"), ("mono", "--version")),
        f'System.Console.WriteLine("{DONE_PREFIX}" + System.Environment.GetEnvironmentVariable("{TOKEN_VAR}"));',
        "brace:3",
        ("CompareLogic.cs",),
        note="mono mcs + CompareLogic shim instead of dotnet + NuGet CompareNETObjects",
        selfcheck="            return x + 1;\n        }\n",
        types=TypeNames(
            {"int": "int", "float": "double", "bool": "bool", "str": "string"},
            "List<{}>",
            "Dictionary<{}, {}>",
            "object",
        ),
        from_outputs=True,
        reserved=frozenset(
            {"string", "int", "object", "base", "params", "in", "out", "ref", "char", "decimal", "checked", "lock"}
        ),
        humaneval=HumanEvalLayout(
            "v1",
            r"/// <summary>.*?/// </summary>",
            "/// <summary> \n",
            "You're an expert C# programmer",
            "        /// ",
            "        /// </summary>",
            "compareLogic.Compare(",
        ),
        release="mbcsp_release_v1.2",
        examples="mbcsp",
        readme_pass1=63.63,
        cost="compiled",
        stops=("\n        public static void Main", "\n        /// "),
    ),
    Language(
        "kotlin",
        "Kotlin",
        "MBKP",
        "prog.kt",
        ("java", "-jar", "prog.jar"),
        ("kotlinc", "prog.kt", "-include-runtime", "-d", "prog.jar"),
        ("kotlinc", "java"),
        (("kotlinc", "-version"), ("java", "-version")),
        f'println("{DONE_PREFIX}" + System.getenv("{TOKEN_VAR}"))',
        "brace:1",
        compile_timeout=200.0,
        env=_JVM_ENV,
        selfcheck="    return x + 1\n}\n",
        types=TypeNames(
            {"int": "Int", "float": "Double", "bool": "Boolean", "str": "String"},
            "List<{}>",
            "Map<{}, {}>",
            "Any",
            nullable_suffix="?",
        ),
        humaneval=HumanEvalLayout(
            "v1.1", r"/\*\*.*?\*/", "/**\n", _EXPERT.format("Kotlin"), " * ", " */", "throw Exception(", ""
        ),
        release="mbkp_release_v1.2",
        examples="mbkp",
        readme_pass1=63.77,
        cost="slow",
        stops=("\nfun main", "\nfun ", "\n/**"),
    ),
    Language(
        "scala",
        "Scala",
        "MBSCP",
        "main.scala",
        ("scala", "-cp", ".", "Main"),
        ("scalac", "main.scala", "-d", "."),
        ("scalac", "scala"),
        (("scalac", "-version"), ("java", "-version")),
        f'println("{DONE_PREFIX}" + System.getenv("{TOKEN_VAR}"))',
        "brace:1",
        compile_timeout=200.0,
        env=_JVM_ENV,
        selfcheck="        x + 1\n    }\n",
        types=TypeNames(
            {"int": "Int", "float": "Double", "bool": "Boolean", "str": "String", "number": "Double"},
            "List[{}]",
            "Map[{}, {}]",
            "Any",
        ),
        humaneval=HumanEvalLayout(
            "v1.1",
            r"/\*\*.*?\*/",
            "/**\n",
            _EXPERT.format("Scala"),
            "     * ",
            "     */",
            "assert(",
            "null",
            none_as_string='"""none"""',
        ),
        release="mbscp_release_v1",
        examples="mbscp",
        readme_pass1=42.96,
        cost="slow",
        stops=("\n    def main", "\n    /**"),
    ),
    Language(
        "swift",
        "Swift",
        "MBSWP",
        "prog.swift",
        ("swift", "prog.swift"),
        tools=("swiftc", "swift"),
        version=(("swift", "--version"),),
        marker=f'print("{DONE_PREFIX}" + (ProcessInfo.processInfo.environment["{TOKEN_VAR}"] ?? ""))',
        available_here=False,
        note="no Swift toolchain in Debian/npm/PyPI (Debian's 'swift' is OpenStack Swift)",
        selfcheck="    return x + 1\n}\n",
        types=TypeNames(
            {"int": "Int", "float": "Double", "bool": "Bool", "str": "String", "number": "Double"},
            "[{}]",
            "[{}: {}]",
            "AnyHashable",
        ),
        none="nil",
        humaneval=HumanEvalLayout(
            "v1.1", r"/\*\*.*?\*/", "/**\n", _EXPERT.format("Swift"), " * ", " */", "assert(", "none", '#"none"#'
        ),
        release="mbswp_release_v1",
        examples="mbswp",
        readme_pass1=29.40,
        stops=("\nfunc ", "\n/**", "\nprint("),
    ),
]

LANGUAGES: dict[str, Language] = {lang.name: lang for lang in _ALL}


def targets() -> tuple[str, ...]:
    """The conversion targets, in registry order."""
    return tuple(name for name, lang in LANGUAGES.items() if lang.converts)


def by_prefix(prefix: str) -> Language | None:
    """The language of an MBXP task-id prefix (``MBJP`` -> Java)."""
    return next((lang for lang in _ALL if lang.prefix == prefix), None)
