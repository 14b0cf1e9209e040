"""Shared fixtures: a small slice of the real tiny Shakespeare, tiny GLUE-style tsv files, one thread."""

from __future__ import annotations

import pytest
import torch

from orals23_shared.paths import require_shared_data
from orals23_shared.threads import set_threads

set_threads(1)
torch.set_num_threads(1)

_TINY = [
    "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "64", "--n-experts", "8",
    "--context", "16", "--batch-size", "4", "--val-tokens", "256", "--quiet", "--threads", "1",
]  # fmt: skip


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The first 20,000 characters of tiny Shakespeare, as a text file of its own."""
    text = (require_shared_data("tinyshakespeare") / "input.txt").read_text(encoding="utf-8")[:20_000]
    path = tmp_path_factory.mktemp("corpus") / "shakespeare-20k.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tsv_files(tmp_path_factory):
    """A handmade SST-2-style pair of files (header, sentence<TAB>label)."""
    folder = tmp_path_factory.mktemp("tsv")
    pos = ["a gorgeous , witty film", "wonderful and moving", "the best of the year", "sharp and funny", "a delight"]
    neg = ["a dull , tedious mess", "painfully boring", "the worst of the year", "flat and lifeless", "a chore"]
    rows = [f"{s}\t1" for s in pos] + [f"{s}\t0" for s in neg]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows * 2) + "\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[::2]) + "\n")
    return folder / "train.tsv", folder / "dev.tsv"


@pytest.fixture(scope="session")
def tiny():
    """Flags of a tiny LM (one block, 8 experts of 8 units) for CLI tests."""
    return list(_TINY)
