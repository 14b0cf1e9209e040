"""The planted benchmark end to end: base classifier, embedding, splits in the user-data format.

``build_benchmark`` draws the planted digits (``benchmark.py``), trains the base MLP on the train
split, trains the package's toy CLIP-style encoder on a style-balanced captioned corpus, and returns
every split as :class:`~failure_directions.data.SplitData` (features from the encoder, the base
model's predictions and probabilities, the classifier inputs, the subgroup ids and the images).
``write_benchmark`` saves it as a data folder the CLIs read (``failure-directions-benchmark``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from failure_directions.benchmark import DIGIT_NAMES, SPLITS, STYLES, Benchmark, PlantedConfig, encoder_corpus
from failure_directions.benchmark import make_planted_digits as _make
from failure_directions.data import SplitData
from failure_directions.encoders import PenultimateEncoder, ToyEncoderConfig, ToyJointEncoder, train_toy_encoder
from failure_directions.train import ClassifierConfig, predict, train_classifier
from orals23_shared.checkpoint import atomic_save

__all__ = ["BenchmarkRun", "build_benchmark", "write_benchmark"]


@dataclass
class BenchmarkRun:
    bench: Benchmark
    encoder: ToyJointEncoder
    model: object
    splits: dict[str, SplitData]

    def penultimate(self) -> dict[str, np.ndarray]:
        """The base classifier's penultimate-layer features of every split (the second feature space)."""
        enc = PenultimateEncoder(self.model)
        return {s: enc.encode_images(self.bench[s].inputs) for s in SPLITS}


def build_benchmark(
    planted: PlantedConfig | None = None,
    seed: int = 0,
    classifier: ClassifierConfig | None = None,
    encoder: ToyEncoderConfig | None = None,
    encoder_renders: int = 4,
) -> BenchmarkRun:
    bench = _make(planted or PlantedConfig(), seed)
    model, _ = train_classifier(bench["train"].inputs, bench["train"].labels, classifier, seed=seed, n_classes=10)
    images, captions = encoder_corpus(bench, renders=encoder_renders, seed=seed)
    enc_cfg = encoder or ToyEncoderConfig()
    enc = train_toy_encoder(images, captions, ToyEncoderConfig(**{**enc_cfg.__dict__, "seed": seed}))
    splits = {}
    for s in SPLITS:
        sp = bench[s]
        pred, prob = predict(model, sp.inputs)
        splits[s] = SplitData(s, features=enc.encode_images(sp.inputs), labels=sp.labels, preds=pred, probs=prob,
                              images=sp.images, extra={"inputs": sp.inputs, "groups": sp.groups})  # fmt: skip
    return BenchmarkRun(bench, enc, model, splits)


def write_benchmark(run: BenchmarkRun, out: str | os.PathLike) -> Path:
    """A data folder: ``<split>/{features,labels,outputs,inputs,groups,images}.npy``, ``<split>/attributes.csv``
    (index + one 0/1 column per style and ``minority``), ``classes.txt`` and the toy ``encoder.pt``."""
    out = Path(out)
    for s, d in run.splits.items():
        folder = out / s
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"features": d.features.astype(np.float32), "labels": d.labels, "outputs": d.probs.astype(np.float32),
                  "inputs": d.extra["inputs"], "groups": d.extra["groups"], "images": d.images}  # fmt: skip
        for name, arr in arrays.items():
            atomic_save(folder / f"{name}.npy", lambda f, a=arr: np.save(f, a, allow_pickle=False))
        sp = run.bench[s]
        with open(folder / "attributes.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", *STYLES, "minority"])
            for i in range(len(sp)):
                w.writerow([i, *(int(sp.styles[k][i]) for k in STYLES), int(sp.minority[i])])
    (out / "classes.txt").write_text("\n".join(DIGIT_NAMES) + "\n")
    run.encoder.save(out / "encoder.pt")
    return out
