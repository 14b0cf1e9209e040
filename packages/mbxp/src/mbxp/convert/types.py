"""Value types of the conversion framework (paper Sec. 3.1: types inferred from the test values) and their
names per language (the registry's ``TypeNames``; the brief's table b1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbxp.languages import LANGUAGES
from orals23_shared.cli import UsageError

__all__ = ["Type", "INT", "FLOAT", "BOOL", "STR", "ANY", "UNKNOWN", "unify", "type_of", "type_name", "has_kind"]


@dataclass(frozen=True)
class Type:
    """A value type: kind in int, float, bool, str, list, dict, any, unknown (empty containers), number
    (ints and floats mixed: Java's ``Number`` in Multi-HumanEval; other languages' mixed type), nullable
    (Multi-HumanEval: ``args[0]`` or None)."""

    kind: str
    args: tuple[Type, ...] = ()


INT, FLOAT, BOOL, STR, ANY, UNKNOWN = (Type(k) for k in ("int", "float", "bool", "str", "any", "unknown"))


def unify(a: Type, b: Type, mix: Type | None = None) -> Type:
    """The common type of two observed values (int+float -> float, or ``mix`` when given: Multi-HumanEval's
    Java ``Number``; anything else mixed -> any)."""
    if a == b or b.kind == "unknown":
        return a
    if a.kind == "unknown":
        return b
    if {a.kind, b.kind} <= {"int", "float", "number"}:
        return mix or FLOAT
    if a.kind == b.kind == "list":
        return Type("list", (unify(a.args[0], b.args[0], mix),))
    if a.kind == b.kind == "dict":
        return Type("dict", (unify(a.args[0], b.args[0], mix), unify(a.args[1], b.args[1], mix)))
    return ANY


def type_of(v: Any, mix: Type | None = None) -> Type:
    """Type of one Python value (tuples become lists, as in MBXP; ``mix``: see :func:`unify`)."""
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return INT
    if isinstance(v, float):
        return FLOAT
    if isinstance(v, str):
        return STR
    if isinstance(v, (list, tuple, set)):
        t = UNKNOWN
        for x in v:
            t = unify(t, type_of(x, mix), mix)
        return Type("list", (t,))
    if isinstance(v, dict):
        k, t = UNKNOWN, UNKNOWN
        for key, x in v.items():
            k, t = unify(k, type_of(key, mix), mix), unify(t, type_of(x, mix), mix)
        return Type("dict", (k, t))
    return ANY


def type_name(t: Type, lang: str, boxed: bool = False) -> str:
    """The declared type of ``t`` in ``lang`` (``boxed``: inside a container or a nullable slot, where Java
    writes ``Integer``). A nullable value (Multi-HumanEval) is its type plus the language's suffix (Kotlin
    ``?``); mixed values take the language's mixed type, and a language without one drops the task."""
    names = LANGUAGES[lang].types
    assert names is not None, f"{lang} declares no types"
    if t.kind == "nullable":
        return type_name(t.args[0], lang, boxed=True) + names.nullable_suffix
    if t.kind in names.scalars:
        return (names.boxed.get(t.kind) if boxed else None) or names.scalars[t.kind]
    if t.kind == "list":
        return names.list.format(type_name(t.args[0], lang, boxed=True))
    if t.kind == "dict":
        return names.dict.format(type_name(t.args[0], lang, boxed=True), type_name(t.args[1], lang, boxed=True))
    if names.mixed is None:
        raise UsageError(f"{lang} has no type for mixed values (the task is dropped, as in MBXP)")
    return names.mixed.format()


def has_kind(t: Type, kind: str) -> bool:
    """Whether ``kind`` occurs anywhere in ``t``."""
    return t.kind == kind or any(has_kind(a, kind) for a in t.args)
