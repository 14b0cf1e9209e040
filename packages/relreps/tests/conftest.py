import warnings

import pytest

from orals23_shared.threads import set_threads

set_threads(2)


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse invariant checks.*")
        warnings.filterwarnings("ignore", message=".*sparse.*beta.*")
        yield
