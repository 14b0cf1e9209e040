"""One thread: tiny models, and OpenMP/BLAS threads spinning on a shared 2-core machine cost more than they give."""

import torch

from orals23_shared.threads import set_threads

set_threads(1)
torch.set_num_threads(1)
