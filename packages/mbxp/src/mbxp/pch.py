"""A precompiled ``<bits/stdc++.h>`` for C++ compiles (the header every MBCPP/Multi-HumanEval C++ prompt
includes first).

g++ parses the ~80,000-line header on every compile: about 80% of a sample's compile time here. GCC reads
a precompiled header ``bits/stdc++.h.gch`` found in a ``-I`` folder *only* when it was made by the same
compiler with compatible options and macros, and otherwise ignores it and reads the header itself, so the
sample compile stays mxeval's ``g++ prog.cpp -o prog`` plus ``-I <folder>`` and the binary is the same
(``tests/test_pch.py`` compares them byte for byte, and a program that invalidates the header still
compiles). The header is built once per toolchain with the sample compile's flags (none), on the host from
the system header alone (no sample code), atomically into a cache folder keyed by
:func:`mbxp.toolchains.toolchain_id`; the sandbox sees it read-only at :data:`PCH_INNER`
(bubblewrap only: the weak mode compiles without it, correct and slower).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

from mbxp.toolchains import toolchain_id

__all__ = ["PCH_INNER", "cpp_pch_dir", "cache_root"]

PCH_INNER = "/tmp/.mbxp-pch"  # where the folder appears inside the sandbox
HEADER = "bits/stdc++.h"
_lock = threading.Lock()


def cache_root() -> Path:
    """``$MBXP_CACHE``, else ``$XDG_CACHE_HOME/mbxp``, else ``~/.cache/mbxp``."""
    if os.environ.get("MBXP_CACHE"):
        return Path(os.environ["MBXP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mbxp"


def _header_path() -> str | None:
    """The system ``bits/stdc++.h`` that ``#include <bits/stdc++.h>`` finds (g++ ``-H`` on the preprocessor)."""
    try:
        out = subprocess.run(
            ["g++", "-x", "c++", "-E", "-H", "-", "-o", os.devnull],
            input=f"#include <{HEADER}>\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"^\. (\S+)$", out.stderr, re.M)
    return m.group(1) if out.returncode == 0 and m else None


@functools.cache
def cpp_pch_dir() -> str | None:
    """The folder holding ``bits/stdc++.h.gch`` for this g++ (built on first use), or None when it cannot be
    built (then compiles simply read the header)."""
    with _lock:
        folder = cache_root() / f"pch-{toolchain_id('cpp')}"
        target = folder / (HEADER + ".gch")
        if target.is_file():
            return str(folder)
        header = _header_path()
        if header is None:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            os.close(fd)
        except OSError:  # no writable cache: compile without it
            return None
        try:
            out = subprocess.run(
                ["g++", "-x", "c++-header", header, "-o", tmp],
                capture_output=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            if out.returncode != 0:
                return None
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # atomic: a concurrent evaluator sees the whole file or none
        except (OSError, subprocess.SubprocessError):
            return None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return str(folder)
