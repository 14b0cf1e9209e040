"""One thread for torch and BLAS (the suite runs small models on shared 2-core machines); quiet Lightning."""

from orals23_shared.lightning import quiet_lightning
from orals23_shared.threads import set_threads

set_threads(1)
quiet_lightning()
