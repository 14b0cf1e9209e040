"""Names and literals per language (paper Sec. 3.1, steps 3-4): camelCase/PascalCase and values as source text."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from mbxp.convert.types import ANY, Type, type_name, type_of
from mbxp.languages import LANGUAGES
from orals23_shared.cli import UsageError

__all__ = ["camel", "pascal", "retarget", "render"]


def camel(name: str) -> str:
    """``similar_elements`` -> ``similarElements``; ``differ_At_One_Bit_Pos`` -> ``differAtOneBitPos``."""
    parts = [x for x in name.split("_") if x]
    if not parts:
        return name
    return parts[0][0].lower() + parts[0][1:] + "".join(x[0].upper() + x[1:].lower() for x in parts[1:])


def pascal(name: str) -> str:
    c = camel(name)
    return c[0].upper() + c[1:]


def retarget(description: str, language: str) -> str:
    """The description with "python" replaced by the language's word ("Write a Java function")."""
    return re.sub(r"\bpython\b", LANGUAGES[language].word, description, flags=re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- values
def _str_lit(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _num(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def render(v: Any, lang: str, t: Type | None = None, top: bool = True) -> str:
    """A value as a literal of ``lang`` (t: the declared type, for typed containers).

    Besides the languages, the docstring styles observed in the release: ``phpdoc``, ``rubydoc``,
    ``perldoc``, ``kotlindoc``, ``swiftdoc`` (JSON-like lists with the language's strings, booleans and
    maps). Go and C# literals carry their type at every level: a container in a mixed (``any``) slot
    is a list/map of ``interface{}``/``object`` all the way down, and maps list their keys sorted
    (as released).
    """
    t = t or type_of(v)
    if t.kind == "nullable":
        t = t.args[0]
    if lang in ("go", "csharp") and t.kind not in ("list", "dict"):
        if isinstance(v, (list, tuple, set)):
            t = Type("list", (ANY,))
        elif isinstance(v, dict):
            t = Type("dict", (ANY, ANY))
    base = {
        "phpdoc": "php",
        "rubydoc": "ruby",
        "perldoc": "perl",
        "kotlindoc": "kotlin",
        "cppval": "cpp",
        "scaladoc": "javascript",
        "swiftdoc": "swift",
    }.get(lang, lang)
    if isinstance(v, bool):
        return ("1" if v else "0") if base == "perl" else str(v).lower()
    if isinstance(v, (int, float)):
        if t.kind == "float" and base in ("java", "kotlin", "scala", "cpp"):
            return repr(float(v))
        return _num(v)
    if isinstance(v, str):
        if base in ("kotlin", "scala") and '"""' not in v and "$" not in v:
            return '"""' + v.replace("\n", "\\n") + '"""'
        if base == "kotlin":
            return _str_lit(v).replace("$", "\\$")
        if base == "cpp":
            return f"string({_str_lit(v)})"
        if lang == "swift":  # raw string, as released
            return '#"' + v.replace("\n", "\\n") + '"#'  # as released (a raw string keeps "\\n" literally)

        if lang in ("perl", "php"):
            return _str_lit(v).replace("$", "\\$").replace("@", "\\@" if lang == "perl" else "@")
        return _str_lit(v)
    if isinstance(v, (list, tuple, set)):
        et = t.args[0] if t.kind == "list" else ANY
        items = ", ".join(render(x, lang, et, top=False) for x in v)
        if lang == "java":
            return f"Arrays.asList({items})"
        if lang == "kotlin":
            return f"mutableListOf({items})"
        if lang in ("scala", "scaladoc"):
            return f"List({items})"
        if lang == "cpp":
            return f"{type_name(t, 'cpp')}{{{items}}}" if top else f"{{{items}}}"
        if lang == "cppval":
            return f"{{{items}}}"
        if lang == "go":
            return f"{type_name(t, 'go')}{{{items}}}"
        if lang == "csharp":  # released C# lists have no space after the commas
            return f"new {type_name(t, 'csharp')} {{" + ",".join(render(x, lang, et, top=False) for x in v) + "}"
        return f"[{items}]"
    if isinstance(v, dict):
        kt, vt = t.args if t.kind == "dict" else (ANY, ANY)
        if lang in ("go", "csharp"):
            with contextlib.suppress(TypeError):
                v = dict(sorted(v.items()))
        pairs = [(render(k, lang, kt, top=False), render(x, lang, vt, top=False)) for k, x in v.items()]
        if lang == "java":
            return "new HashMap(){{" + "".join(f"put({k}, {x});" for k, x in pairs) + "}}"
        if lang == "kotlin":
            return "mutableMapOf(" + ", ".join(f"{k} to {x}" for k, x in pairs) + ")"
        if lang == "typescript":
            return "new Map<any, any>([" + ", ".join(f"[{k}, {x}]" for k, x in pairs) + "])"
        if lang == "go":
            return f"{type_name(t, 'go')}{{ " + "".join(f"{k}: {x}, " for k, x in pairs) + " }"
        if lang == "csharp":
            return f"new {type_name(t, 'csharp')} {{" + ",".join(f"{{{k}, {x}}}" for k, x in pairs) + "}"
        if base == "swift":
            return "[" + (", ".join(f"{k} : {x}" for k, x in pairs) or ":") + "]"
        if lang == "kotlindoc":
            return "{" + ", ".join(f"{k}={x}" for k, x in pairs) + "}"
        if lang in ("scala", "scaladoc"):
            return "Map(" + ", ".join(f"{k} -> {x}" for k, x in pairs) + ")"
        if lang in ("cpp", "cppval"):
            inner = "{" + ", ".join(f"{{{k}, {x}}}" for k, x in pairs) + "}"
            return f"{type_name(t, 'cpp')}{inner}" if (top and lang == "cpp") else inner
        if base == "ruby":
            return "{" + ", ".join(f"{k}=>{x}" for k, x in pairs) + "}"
        if base == "perl":
            return "{" + ", ".join(f"{k} => {x}" for k, x in pairs) + "}"
        if base == "php":
            return "[" + ", ".join(f"{k} => {x}" for k, x in pairs) + "]"
        return "{" + ", ".join(f"{k}: {x}" for k, x in pairs) + "}"
    if v is None:
        return LANGUAGES[base].none if base in LANGUAGES else "null"
    raise UsageError(f"cannot render value {v!r} in {lang}")
