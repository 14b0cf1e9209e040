"""One thread for torch and BLAS (the shared thread policy): the suite runs small matrices on shared cores."""

from orals23_shared.threads import set_threads

set_threads(1)
