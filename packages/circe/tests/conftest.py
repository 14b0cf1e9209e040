"""One thread for torch and BLAS: the suite runs on small matrices on shared 2-core machines."""

from circe.utils import limit_threads

limit_threads(1)
