"""One thread for the tiny models of these tests: with more, OpenMP's spinning threads fight the other
processes of a shared 2-core machine and a 25-step run can take seconds instead of milliseconds."""

import torch

from orals23_shared.threads import set_threads

set_threads(1)
torch.set_num_threads(1)
