"""The pytest markers of every orals23 package, registered once (a ``pytest11`` entry point).

``slow`` (minutes) and ``gpu`` (needs CUDA) are deselected unless ``-m`` is given on the command line
(``-m slow``, ``-m gpu``, ``-m "slow or not slow"``): every package that depends on orals23-shared
gets the same markers and the same default without declaring them.
"""

from __future__ import annotations

import pytest

MARKERS = {
    "slow": "minutes; excluded by default, run with -m slow",
    "gpu": "needs a CUDA device; excluded by default, run with -m gpu",
}
DEFAULT_MARKEXPR = "not slow and not gpu"


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not config.option.markexpr:
        config.option.markexpr = DEFAULT_MARKEXPR
