"""MBXP layouts, one function per language: prompt (signature, docstring with examples) and test (paper Sec. 3.1,
step 4; Fig. 1A). Each returns ``(prompt, test, entry point)`` for a parsed problem and its types.

Java, JavaScript, PHP, Ruby, Perl, Kotlin, Scala, C++ and Swift follow the v1.2 release: the docstring
examples in the target language and the assert's right-hand side as expected value. TypeScript, Go and C#
(the v1/v1.1-style files) are in :mod:`mbxp.convert.layouts_v1`.
"""

from __future__ import annotations

from collections.abc import Callable

from mbxp.convert.layouts_v1 import csharp, go, typescript
from mbxp.convert.parse import PyProblem
from mbxp.convert.types import Type, type_name
from mbxp.convert.values import camel, pascal, render

__all__ = ["LAYOUTS", "Layout"]

Layout = Callable[[PyProblem, str, list[Type], Type], tuple[str, str, str]]


def _doc_lines(
    p: PyProblem, lang: str, name: str, params_t: list[Type], ret_t: Type, ret_lang: str | None = None
) -> list[tuple[str, str]]:
    out = []
    for args, exp in zip(p.inputs, p.expected, strict=True):
        call = f"{name}(" + ", ".join(render(a, lang, t) for a, t in zip(args, params_t, strict=False)) + ")"
        out.append((call, render(exp, ret_lang or lang, ret_t)))
    return out


def java(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name, cls = camel(p.name), pascal(p.name)
    doc = "".join(f"     * > {c}\n     * {e}\n" for c, e in _doc_lines(p, "javascript", name, pt, rt))
    params = ", ".join(f"{type_name(t, 'java')} {camel(a)}" for a, t in zip(p.params, pt, strict=True))
    r = type_name(rt, "java")
    prompt = (
        "import java.io.*;\nimport java.lang.*;\nimport java.util.*;\nimport java.math.*;\n\n\n"
        f"class {cls} {{\n    /**\n     * * {desc}\n     *\n{doc}     */\n"
        f"    public static {r} {name}({params}) {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"        {type_name(t, 'java')} arg{i}{j} = {render(a, 'java', t)};\n")
        call = ", ".join(render(a, "java", t) for a, t in zip(args, pt, strict=True))
        body.append(f"        {r} x{i} = {cls}.{name}({call});\n")
        body.append(f"        {r} v{i} = {render(exp, 'java', rt)};\n")
        body.append(
            f"        if (!(compare(x{i}, v{i}))) {{\n            throw new java.lang.Exception("
            f'"Exception -- test case {i} did not pass. x{i} = " + x{i});\n        }}\n\n'
        )
    test = (
        "\n\nclass Main {\n    public static boolean compare(Object obj1, Object obj2) {\n"
        "        if (obj1 == null && obj2 == null){\n            return true;\n"
        "        } else if (obj1 == null || obj2 == null){\n            return false;\n"
        "        } else {\n            return obj1.equals(obj2);\n        }\n    }\n    \n"
        "    public static void main(String[] args) throws Exception {\n" + "".join(body) + "\n}\n}\n"
    )
    return prompt, test, name


def javascript(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * > {c}\n * {e}\n" for c, e in _doc_lines(p, "javascript", name, pt, rt))
    params = ", ".join(a.replace("_", "").lower() for a in p.params)
    prompt = f"/**\n * * {desc}\n *\n{doc} */\nfunction {name}({params}) {{\n"
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"var arg{i}{j} = {render(a, 'javascript', t)};\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"var x{i} = {name}({call});\nvar v{i} = {render(exp, 'javascript', rt)};\n")
        body.append(
            f"if(!compare(x{i}, v{i})){{\n    throw 'Error at {i + 1}th assert statement. Value = ' + "
            "JSON.stringify(x)  \n}\n\n"
        )
    test = (
        '\nconst _ = require("lodash")\n\nfunction compare(object1, object2){\n'
        "    return _.isEqual(object1, object2)\n}\n\n" + "".join(body) + "\n"
    )
    return prompt, test, name


def php(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * php > {c}\n * {e}\n" for c, e in _doc_lines(p, "phpdoc", name, pt, rt))
    params = ", ".join("$" + a.replace("_", "").lower() for a in p.params)
    prompt = (
        f"<?php\n\n/**\n * You are an expert PHP programmer, and here is your task.\n * * {desc}\n *\n{doc}"
        f" */\nfunction {name}({params}){{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"$arg{i}{j} = {render(a, 'php', t)};\n")
        call = ", ".join(f"$arg{i}{j}" for j in range(len(args)))
        body.append(f"$x{i} = {name}({call});\n$v{i} = {render(exp, 'php', rt)};\n")
        body.append(
            f'if (!compare($x{i}, $v{i})) {{\n    throw new Exception("Error at {i + 1}th assert statement.");\n}}\n'
        )
    test = "\n\nfunction compare($x, $y) {\n    return $x == $y;\n}\n\n" + "".join(body) + "\n"
    return prompt, test, name


def ruby(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = p.name.lower()
    doc = "".join(f"# irb> {c}\n# => {e}\n" for c, e in _doc_lines(p, "rubydoc", name, pt, rt))
    params = ", ".join(a.lower() for a in p.params)
    prompt = (
        f"\n##\n# You are an expert Ruby programmer, and here is your task.\n# # {desc}\n#\n{doc}def {name}({params})"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"arg{i}{j} = {render(a, 'ruby', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"x{i} = {name}({call})\nv{i} = {render(exp, 'ruby', rt)}\n")
        body.append(f'if x{i} != v{i}\n    raise StandardError, "Error at test case {i + 1}"\nend\n\n')
    return prompt, "\n\n" + "".join(body) + "\n", name


def perl(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = p.name.lower()
    doc = "".join(f"# >>> {c}\n# {e}\n" for c, e in _doc_lines(p, "perldoc", name, pt, rt))
    params = ", ".join("$" + a.lower() for a in p.params)
    prompt = (
        f"\n# You are an expert Perl programmer, and here is your task.\n# # {desc}\n#\n{doc}"
        f"sub {name}\n{{\n  my ({params}) = @_;\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"my $arg{i}{j} = {render(a, 'perl', t)};\n")
        call = ", ".join(f"$arg{i}{j}" for j in range(len(args)))
        body.append(f"my $x{i} = {name}({call});\nmy $v{i} = {render(exp, 'perl', rt)};\n")
        body.append(f'unless(Compare($x{i}, $v{i})) {{\n    die "Exception -- test case {i} did not pass.";\n}}\n')
    return prompt, "\n\nuse Data::Compare;\n\n" + "".join(body) + "\n", name


def kotlin(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * >>> {c}\n * {e}\n" for c, e in _doc_lines(p, "kotlindoc", name, pt, rt))
    params = ", ".join(f"{camel(a)} : {type_name(t, 'kotlin')}" for a, t in zip(p.params, pt, strict=True))
    r = type_name(rt, "kotlin")
    prompt = (
        f"/**\n * You are an expert Kotlin programmer, and here is your task.\n * * {desc}\n *\n{doc} */\n"
        f"fun {name}({params}) : {r} {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"    var arg{i}{j} : {type_name(t, 'kotlin')} = {render(a, 'kotlin', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"    var x{i} : {r} = {name}({call});\n    var v{i} : {r} = {render(exp, 'kotlin', rt)};\n")
        body.append(
            f'    if (x{i} != v{i}) {{\n        throw Exception("Exception -- test case {i} did not pass. '
            f'x{i} = " + x{i})\n    }}\n\n'
        )
    return prompt, "\nfun main() {\n" + "".join(body) + "\n}\n", name


def scala(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f"     * >>> {c}\n     * {e}\n" for c, e in _doc_lines(p, "scaladoc", name, pt, rt))
    params = ", ".join(f"{camel(a)} : {type_name(t, 'scala')}" for a, t in zip(p.params, pt, strict=True))
    r = type_name(rt, "scala")
    prompt = (
        f"object Main extends App {{\n    /**\n     * You are an expert Scala programmer, and here is your task.\n"
        f"     * * {desc}\n     *\n{doc}     */\n    def {name}({params}) : {r} = {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"    var arg{i}{j} : {type_name(t, 'scala')} = {render(a, 'scala', t)}\n")
        call = ", ".join(f"arg{i}{j}" for j in range(len(args)))
        body.append(f"    var x{i} : {r} = {name}({call})\n    var v{i} : {r} = {render(exp, 'scala', rt)}\n")
        body.append(f'    assert(x{i} == v{i}, "Exception -- test case {i} did not pass. x{i} = " + x{i})\n\n')
    return prompt, "\n\n" + "".join(body) + "\n}\n", name


def cpp(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * > {c}\n * {e}\n" for c, e in _doc_lines(p, "cpp", name, pt, rt, "cppval"))
    params = ", ".join(f"{type_name(t, 'cpp')} {camel(a)}" for a, t in zip(p.params, pt, strict=True))
    r = type_name(rt, "cpp")
    prompt = f"#include <bits/stdc++.h>\nusing namespace std;\n\n\n/**\n * {desc}\n{doc} */\n{r} {name}({params}) {{\n"
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):
        call = ", ".join(render(a, "cpp", t) for a, t in zip(args, pt, strict=True))
        body.append(
            f"    {r} x{i} = {name}({call});\n    if (!(compare(x{i}, {render(exp, 'cppval', rt)}))) {{\n"
            f'        throw runtime_error("Exception -- test case {i} did not pass.");\n    }}\n\n'
        )
    test = (
        "\ntemplate <typename T> bool compare(T a, T b){ \n    return a == b; \n}\n\n"
        "int main(int argc, char* argv[]) {\n" + "".join(body) + "    return 0;\n}"
    )
    return prompt, test, name


def swift(p: PyProblem, desc: str, pt: list[Type], rt: Type) -> tuple[str, str, str]:
    name = camel(p.name)
    doc = "".join(f" * >>> {c}\n * {e}\n" for c, e in _doc_lines(p, "swiftdoc", name, pt, rt))
    labels = [camel(a) for a in p.params]
    params = ", ".join(f"{a} : {type_name(t, 'swift')}" for a, t in zip(labels, pt, strict=True))
    r = type_name(rt, "swift")
    prompt = (
        f"/**\n * You are an expert Swift programmer, and here is your task.\n * * {desc}\n *\n{doc} */\n"
        f"func {name}({params}) -> {r} {{\n"
    )
    body = []
    for i, (args, exp) in enumerate(zip(p.inputs, p.expected, strict=True)):  # v1: the assert's right-hand side
        for j, (a, t) in enumerate(zip(args, pt, strict=True)):
            body.append(f"var arg{i}{j} : {type_name(t, 'swift')} = {render(a, 'swift', t)}\n")
        call = ", ".join(f"{lab} : arg{i}{j}" for j, lab in enumerate(labels[: len(args)]))
        body.append(f"var x{i} : {r} = {name}({call})\nvar v{i} : {r} = {render(exp, 'swift', rt)}\n")
        body.append(f'assert(x{i} == v{i}, "Exception -- test case {i} did not pass. x{i} = ")\n\n')
    return prompt, "\n\n" + "".join(body) + "\n", name


LAYOUTS: dict[str, Layout] = {
    "java": java,
    "javascript": javascript,
    "php": php,
    "ruby": ruby,
    "perl": perl,
    "kotlin": kotlin,
    "scala": scala,
    "cpp": cpp,
    "typescript": typescript,
    "go": go,
    "csharp": csharp,
    "swift": swift,
}
