"""Fetch the uv binary from PyPI with nothing but the Python standard library (no pip, no venv).

    python3 tools/get_uv.py DEST_DIR        # prints the path of DEST_DIR/uv-<version>/uv

Used by ``./nox`` where uv is not installed: on stock Debian/Ubuntu, ``pip install`` is refused
(PEP 668) and ``python3 -m venv`` may lack ensurepip, but a wheel is a zip file. The wheel is checked
against the sha256 that the index publishes for it before anything is extracted (the index is
``$UV_DEFAULT_INDEX`` or ``$PIP_INDEX_URL`` when set, else PyPI's simple index).
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import stat
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"


def _platform_tags() -> tuple[str, ...]:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = platform.system()
    if system == "Linux":
        libc = platform.libc_ver()[0]
        kind = "manylinux" if libc == "glibc" else "musllinux"
        return (f"{kind}_", f"_{arch}.whl")
    if system == "Darwin":
        return ("macosx_", f"_{'arm64' if arch == 'aarch64' else arch}.whl")
    raise SystemExit(f"get_uv: no uv wheel for {system}; install uv yourself (https://docs.astral.sh/uv/)")


def main() -> int:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".").expanduser() / f"uv-{UV_VERSION}"
    exe = dest / "uv"
    if exe.is_file() and os.access(exe, os.X_OK):
        print(exe)
        return 0
    kind, suffix = _platform_tags()
    index = (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip(
        "/"
    )
    with urllib.request.urlopen(f"{index}/uv/", timeout=60) as r:  # the PEP 503 simple index page
        page = r.read().decode()
    wanted = f"uv-{UV_VERSION}-"
    links = re.findall(r'href="([^"#]+)#sha256=([0-9a-f]{64})"[^>]*>([^<]+)</a>', page)
    wheel = next(
        (
            (urllib.parse.urljoin(f"{index}/uv/", url), sha, name)
            for url, sha, name in links
            if name.startswith(wanted) and name.endswith(suffix) and kind in name
        ),
        None,
    )
    if wheel is None:
        raise SystemExit(f"get_uv: {index} has no uv {UV_VERSION} wheel matching {kind}*{suffix}")
    url, sha256, name = wheel
    with urllib.request.urlopen(url, timeout=300) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"get_uv: {name} does not match the sha256 the index publishes")
    member = f"uv-{UV_VERSION}.data/scripts/uv"
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".uv.tmp"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        tmp.write_bytes(z.read(member))
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, exe)
    print(exe)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
