import warnings

import torch

warnings.filterwarnings("ignore", module="e3nn")
torch.set_num_threads(min(2, torch.get_num_threads()))
