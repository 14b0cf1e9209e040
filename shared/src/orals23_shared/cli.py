"""CLI plumbing shared by every ``<name>-train/-eval/-reproduce/-bench`` entry point.

One config dataclass per experiment is the single source of options::

    @dataclass
    class TrainConfig:
        lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
        rule: Literal["gd", "fa"] = field(default="gd", metadata={"help": "learning rule"})

    def main(argv=None) -> int:
        parser = argparse.ArgumentParser(prog="x-train", description=__doc__)
        add_dataclass_args(parser, TrainConfig)
        cfg = config_from_args(parser, TrainConfig, argv)   # --config file.json, then flags
        ...

    def entry() -> None:            # the [project.scripts] target
        run_cli(main)

Bad input raises ``UsageError`` anywhere in the package; ``run_cli`` turns it (and a missing file, and
argparse's own errors such as an unknown choice) into one line on stderr and exit code 2, never a
traceback or a usage block.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

__all__ = [
    "RunFields",
    "UsageError",
    "add_dataclass_args",
    "add_run_args",
    "config_from_args",
    "parse_run_config",
    "run_cli",
    "check",
]

C = TypeVar("C")


class UsageError(ValueError):
    """Bad input from the user: reported as one line and exit code 2."""


def check(condition: bool, message: str) -> None:
    """Raise ``UsageError(message)`` unless ``condition``."""
    if not condition:
        raise UsageError(message)


@dataclasses.dataclass
class RunFields:
    """The run-control fields every training config shares: where the run goes, its seed, its devices.

    Inherit it and redeclare ``out`` with the package's default folder::

        @dataclass
        class TrainConfig(RunFields):
            out: Path = field(default=Path("runs/elph"), metadata={"help": "run folder"})
            lr: float = ...

    None of these fields changes the model except ``seed`` (see ``runfolder.FREE_FIELDS``). The device
    fields are Lightning's (``accelerator``, ``devices``, ``num_nodes``, ``strategy``).
    """

    out: Path = dataclasses.field(default=Path("runs/run"), metadata={"help": "run folder"})
    resume: bool = dataclasses.field(
        default=False, metadata={"help": "continue the run in --out from its newest checkpoint"}
    )
    overwrite: bool = dataclasses.field(default=False, metadata={"help": "replace the run in --out"})
    seed: int = dataclasses.field(default=0, metadata={"help": "random seed"})
    device: str = dataclasses.field(default="cpu", metadata={"help": "Lightning accelerator: cpu | gpu | auto"})
    devices: int = dataclasses.field(default=1, metadata={"help": "devices (processes) per node"})
    num_nodes: int = dataclasses.field(default=1, metadata={"help": "nodes"})
    strategy: str = dataclasses.field(default="auto", metadata={"help": "Lightning strategy, e.g. ddp"})
    threads: int = dataclasses.field(
        default=0, metadata={"help": "CPU threads (0 = $ORALS23_THREADS or the usable cores)"}
    )
    quiet: bool = dataclasses.field(default=False, metadata={"help": "no progress bar"})

    def run_problems(self) -> list[str]:
        """One message per bad run-control field (empty when all are valid)."""
        checks = [
            (self.devices >= 1 and self.num_nodes >= 1, "--devices and --num-nodes must be >= 1"),
            (self.threads >= 0, "--threads must be >= 0"),
            (not (self.resume and self.overwrite), "--resume and --overwrite exclude each other"),
        ]
        return [msg for ok, msg in checks if not ok]


def add_field_flags(parser: argparse.ArgumentParser, cls: type, **defaults: Any) -> None:
    """Plain flags with real defaults (no ``--config``) from a dataclass of shared options such as
    ``bench.BenchFields``: one ``--flag`` per field, ``defaults`` overriding field defaults; a bool field is a
    ``store_true`` switch and ``threads`` is ``threads.add_threads_arg``'s flag."""
    from orals23_shared.threads import add_threads_arg

    for f in dataclasses.fields(cls):
        if f.name == "threads":
            add_threads_arg(parser)
            continue
        flag, default, text = "--" + f.name.replace("_", "-"), defaults.get(f.name, f.default), f.metadata["help"]
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=text)
        else:
            kind = Path if isinstance(default, Path) else type(default)
            parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: %(default)s)")


def add_run_args(parser: argparse.ArgumentParser, default_out: str | Path) -> None:
    """``--out --resume --overwrite --quiet`` for a CLI whose options are not one ``RunFields`` config."""
    parser.add_argument("--out", type=Path, default=Path(default_out), help="run folder (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from where it stopped")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress output; print the summary as JSON")


def parse_run_config(
    cls: type[C], argv: Sequence[str] | None, *, prog: str, description: str, default_out: str | Path
) -> tuple[C, argparse.Namespace]:
    """The config ``cls`` plus ``--out --resume --overwrite --quiet`` (see ``add_run_args``) from ``argv``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_dataclass_args(parser, cls)
    add_run_args(parser, default_out)
    args = parser.parse_args(argv)
    return config_from_args(parser, cls, namespace=args), args


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _parse_list(inner: Any) -> Callable[[str], list]:
    def parse(text: str) -> list:
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        try:
            return [inner(p) for p in parts]
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {inner.__name__}: {text!r}") from e

    return parse


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, config_flag: bool = True) -> None:
    """Add one ``--flag`` per dataclass field (help from ``field(metadata={"help": ...})``).

    Defaults are left as ``SUPPRESS`` so ``config_from_args`` can tell a given flag from a default
    and layer: dataclass defaults < ``--config`` JSON < flags on the command line.
    """
    if config_flag:
        parser.add_argument(
            "--config",
            type=Path,
            default=None,
            help="JSON file with option values; flags given on the command line override it",
        )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        help_text = f"{help_text} (default: {default})" if help_text else f"(default: {default})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        origin = get_origin(tp)
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if origin is Literal:
            choices = list(get_args(tp))
            kwargs.update(choices=choices, type=type(choices[0]))
        elif origin in (list, tuple):
            inner = get_args(tp)[0] if get_args(tp) else str
            kwargs.update(type=_parse_list(inner), metavar="A,B,...")
        elif tp in (int, float, str):
            kwargs.update(type=tp)
        elif tp is Path:
            kwargs.update(type=Path)
        else:
            kwargs.update(type=str)
        if optional:
            base = kwargs.get("type", str)
            kwargs["type"] = lambda s, _b=base: None if s.lower() in ("none", "null", "") else _b(s)
        parser.add_argument(flag, **kwargs)


def config_from_args(
    parser: argparse.ArgumentParser,
    cls: type[C],
    argv: Sequence[str] | None = None,
    namespace: argparse.Namespace | None = None,
) -> C:
    """Parse ``argv`` and build ``cls``: defaults, then ``--config`` JSON, then explicit flags."""
    ns = namespace if namespace is not None else parser.parse_args(argv)
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    cfg_path = getattr(ns, "config", None)
    if cfg_path is not None:
        cfg_path = Path(cfg_path)
        if not cfg_path.is_file():
            raise UsageError(f"config file not found: {cfg_path}")
        try:
            loaded = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as e:
            raise UsageError(f"{cfg_path}: invalid JSON at line {e.lineno}: {e.msg}") from e
        if not isinstance(loaded, dict):
            raise UsageError(f"{cfg_path}: expected a JSON object of option values")
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise UsageError(f"{cfg_path}: unknown option(s) {', '.join(unknown)}")
        values.update(loaded)
    for name in names:
        if hasattr(ns, name):
            values[name] = getattr(ns, name)
    hints = typing.get_type_hints(cls)
    for name, v in list(values.items()):
        tp, _ = _unwrap_optional(hints[name])
        if tp is Path and isinstance(v, str):
            values[name] = Path(v)
        elif get_origin(tp) is tuple and isinstance(v, list):
            values[name] = tuple(v)
    try:
        return cls(**values)
    except TypeError as e:
        raise UsageError(str(e)) from e


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Call ``main(argv)`` and exit with its code; bad input becomes one line and exit code 2."""
    prog = Path(sys.argv[0]).name
    original_error = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _one_line_error  # type: ignore[method-assign]
    try:
        code = main(argv)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as e:
        print(
            f"{prog}: error: {e.strerror or e}: {e.filename}" if e.filename else f"{prog}: error: {e}", file=sys.stderr
        )
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        argparse.ArgumentParser.error = original_error  # type: ignore[method-assign]
    sys.exit(int(code or 0))


def _one_line_error(self: argparse.ArgumentParser, message: str) -> typing.NoReturn:
    """argparse's errors as one line (``prog: error: ...``, exit 2) instead of the usage block."""
    self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
