"""One thread for these small models (OpenMP threads fight other processes on a shared 2-core machine),
and one small planted benchmark, built once per session, written as a data folder for the CLI tests."""

import pytest
import torch

from orals23_shared.threads import set_threads

set_threads(1)
torch.set_num_threads(1)

SMALL_CLASSIFIER = {"steps": 120}
SMALL_ENCODER = {"steps": 120}


@pytest.fixture(scope="session")
def small_bench():
    from failure_directions.encoders import ToyEncoderConfig
    from failure_directions.pipeline import build_benchmark
    from failure_directions.train import ClassifierConfig

    return build_benchmark(seed=0, classifier=ClassifierConfig(**SMALL_CLASSIFIER),
                           encoder=ToyEncoderConfig(**SMALL_ENCODER), encoder_renders=2)  # fmt: skip


@pytest.fixture(scope="session")
def bench_dir(small_bench, tmp_path_factory):
    from failure_directions.pipeline import write_benchmark

    return write_benchmark(small_bench, tmp_path_factory.mktemp("bench") / "data")
