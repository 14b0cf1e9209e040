"""One training configuration and what it builds: data, anchors and the model (Moschella et al., ICLR 2023).

Defaults left as ``None`` are resolved per kind of data before the run starts (and stored resolved in the
run's ``config.json``):

| field | sample data (digits, npz, embeddings) | graphs (cora, citeseer, pubmed) |
|---|---|---|
| arch | mlp (flat x), cnn (images), frozen (embeddings) | gcn |
| latent_dim / hidden | 32 / 128 (the brief's 64-128-32 MLP) | 64 / 64 |
| anchors, anchor_mode | 100 stratified (brief) | 300 uniform over training nodes (official) |
| (anchors) | at most the training samples | at most the training nodes |
| features | npz tabular: z-scored with training statistics (``--no-standardize``) | row-normalised |
| output_norm (relative head) | layernorm (official configs) | layernorm (the official graph script uses l2;
  layernorm stitched better on Cora *validation* nodes: 0.87 vs 0.83, native 0.87) |
| epochs, lr, dropout | 30, 1e-3, 0 | 200, 0.01, 0.5 |
| test split | 0.4 (the brief's 60/40) | 0.1 (+0.1 validation) |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from orals23_shared.cli import RunFields, UsageError
from relreps.anchors import read_anchor_ids, select_anchors
from relreps.data import PLANETOID, SampleData, load_digits, load_embeddings, load_npz, load_planetoid
from relreps.model import (
    CNNDecoder,
    CNNEncoder,
    EmbeddingEncoder,
    LatentModel,
    MLPDecoder,
    MLPEncoder,
    RelativeModel,
    classifier_decoder,
)
from relreps.projection import RelativeProjection, check_anchor_count, output_norm_layer

__all__ = ["TrainConfig", "build_data", "choose_anchors", "build_model", "is_graph", "config_from_run"]

Dataset = Literal["digits", "npz", "embeddings", "cora", "citeseer", "pubmed"]


@dataclass
class TrainConfig(RunFields):
    """One training run (``relreps-train``)."""

    task: Literal["classify", "autoencode"] = field(default="classify", metadata={"help": "classify | autoencode"})
    dataset: Dataset = field(
        default="digits",
        metadata={
            "help": "digits (bundled) | npz (--data x/y arrays) | embeddings (--data E.npy --labels y.npy) | "
            "cora | citeseer | pubmed (Planetoid raw files in --data, else the team data folder)"
        },
    )
    data: Path | None = field(default=None, metadata={"help": "data file or folder for npz, embeddings, Planetoid"})
    labels: Path | None = field(default=None, metadata={"help": "labels .npy (N,) for --dataset embeddings"})
    arch: Literal["auto", "mlp", "cnn", "gcn", "gcn2", "frozen"] = field(
        default="auto", metadata={"help": "encoder; auto: mlp / cnn (images) / frozen (embeddings) / gcn (graphs)"}
    )
    head: Literal["relative", "absolute"] = field(default="relative", metadata={"help": "relative or absolute head"})
    latent_dim: int | None = field(default=None, metadata={"help": "latent size d (none: 32, graphs 64)"})
    hidden: int | None = field(default=None, metadata={"help": "hidden width (none: 128, graphs 64)"})
    gcn2_layers: int = field(default=32, metadata={"help": "GCN2Conv layers of --arch gcn2 (official 32)"})
    decoder_hidden: int = field(default=0, metadata={"help": "classifier hidden Tanh layer (0 = linear head)"})
    anchors: int | None = field(
        default=None, metadata={"help": "number of anchors K (none: 100, graphs 300; at most the training samples)"}
    )
    standardize: bool = field(
        default=True, metadata={"help": "npz tabular data: z-score the features with training-split statistics"}
    )
    anchor_mode: Literal["stratified", "uniform", "fps"] | None = field(
        default=None, metadata={"help": "anchor choice from the training split (none: stratified, graphs uniform)"}
    )
    anchor_seed: int = field(default=0, metadata={"help": "seed of the anchor choice (shared by models to stitch)"})
    anchor_ids: Path | None = field(default=None, metadata={"help": "file of anchor row indices, one a line"})
    similarity: Literal["inner", "basis_change"] = field(default="inner", metadata={"help": "inner | basis_change"})
    normalization: Literal["l2", "none"] = field(
        default="l2", metadata={"help": "l2 (with inner: cosine, the paper) | none (inner / sqrt(d))"}
    )
    output_norm: Literal["none", "l2", "layernorm", "batchnorm", "instancenorm"] | None = field(
        default=None, metadata={"help": "normalisation of r(x) before the decoder (none: layernorm)"}
    )
    quantization: Literal["none", "differentiable_round", "smooth_steps"] = field(
        default="none", metadata={"help": "quantisation of the similarities (official option, off in the paper)"}
    )
    bin_size: float = field(default=0.0, metadata={"help": "bin size of differentiable_round"})
    epochs: int | None = field(default=None, metadata={"help": "training epochs (none: 30, graphs 200)"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimiser steps (-1: epochs decide)"})
    batch_size: int = field(default=32, metadata={"help": "minibatch size (graphs: full batch)"})
    lr: float | None = field(default=None, metadata={"help": "Adam learning rate (none: 1e-3, graphs 0.01)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})
    dropout: float | None = field(default=None, metadata={"help": "GNN dropout (none: 0.5)"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/val/test split (shared by models)"})
    test_fraction: float | None = field(default=None, metadata={"help": "test share (none: 0.4, graphs 0.1)"})
    val_fraction: float = field(default=0.1, metadata={"help": "validation share"})
    checkpoint_every: int = field(default=100, metadata={"help": "optimiser steps between atomic checkpoints"})
    out: Path = field(default=Path("runs/relreps"), metadata={"help": "run folder"})
    seed: int = field(default=0, metadata={"help": "model seed (initialisation, batch order, dropout)"})

    def __post_init__(self) -> None:
        graph = self.dataset in PLANETOID
        defaults: dict[str, Any] = {
            "latent_dim": 64 if graph else 32,
            "hidden": 64 if graph else 128,
            "anchor_mode": "uniform" if graph else "stratified",
            "output_norm": "layernorm",
            "epochs": 200 if graph else 30,
            "lr": 0.01 if graph else 1e-3,
            "dropout": 0.5 if graph else 0.0,
            "test_fraction": 0.1 if graph else 0.4,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.arch == "auto":
            self.arch = "gcn" if graph else ("frozen" if self.dataset == "embeddings" else "mlp")
        checks = [
            (self.latent_dim >= 1 and self.hidden >= 1, "--latent-dim and --hidden must be >= 1"),
            (self.anchors is None or self.anchors >= 1, f"--anchors must be >= 1, got {self.anchors}"),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.max_steps == -1 or self.max_steps >= 1, "--max-steps must be -1 or >= 1"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}"),
            (self.checkpoint_every >= 1, "--checkpoint-every must be >= 1"),
            (self.devices >= 1 and self.num_nodes >= 1, "--devices and --num-nodes must be >= 1"),
            (graph == (self.arch in ("gcn", "gcn2")), f"--arch {self.arch} does not fit --dataset {self.dataset}"),
            ((self.dataset == "embeddings") == (self.arch == "frozen"), "--arch frozen goes with --dataset embeddings"),
            (not (graph and self.task == "autoencode"), "autoencode works on sample data (digits, npz), not graphs"),
            (not (self.dataset == "embeddings" and self.task == "autoencode"), "autoencode needs digits or npz data"),
            (self.dataset in ("digits",) + PLANETOID or self.data is not None, f"--dataset {self.dataset} needs --data"),
            (self.dataset != "embeddings" or self.labels is not None or self.task != "classify",
             "--dataset embeddings needs --labels y.npy to classify"),
            (self.quantization != "differentiable_round" or self.bin_size > 0, "differentiable_round needs --bin-size"),
        ]  # fmt: skip
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)


def is_graph(cfg: TrainConfig) -> bool:
    return cfg.dataset in PLANETOID


def build_data(cfg: TrainConfig) -> Any:
    """``SampleData`` for sample datasets, ``(Data, Split)`` for graphs."""
    split = {"split_seed": cfg.split_seed, "test_fraction": cfg.test_fraction, "val_fraction": cfg.val_fraction}
    if is_graph(cfg):
        return load_planetoid(cfg.dataset, cfg.data, **split)
    need_labels = cfg.task == "classify"
    if cfg.dataset == "digits":
        return load_digits(image=cfg.arch == "cnn", **split)
    if cfg.dataset == "npz":
        data = load_npz(cfg.data, need_labels=need_labels, image=cfg.arch == "cnn" or None, **split)  # type: ignore[arg-type]
        if cfg.standardize and data.kind == "tabular":
            train = data.x[torch.as_tensor(data.split.train)]
            data.x = (data.x - train.mean(0)) / train.std(0).clamp_min(1e-8)
        return data
    return load_embeddings(cfg.data, cfg.labels, **split)  # type: ignore[arg-type]


def choose_anchors(cfg: TrainConfig, data: Any) -> np.ndarray:
    """Anchor row indices (or node ids) from the training split, or read from ``--anchor-ids``."""
    if is_graph(cfg):
        graph, split = data
        n, labels, features, pool = graph.num_nodes, graph.y.numpy(), graph.x.to_dense().numpy(), split.train
        num_classes = graph.num_classes
    else:
        n, pool, num_classes = len(data.x), data.split.train, data.num_classes or None
        labels = None if data.y is None else data.y.numpy()
        features = data.features()
    if cfg.anchor_ids is not None:
        parallel = read_anchor_ids(cfg.anchor_ids)
        if not np.array_equal(parallel.ids_a, parallel.ids_b):
            raise UsageError(f"{cfg.anchor_ids}: training takes one anchor index per line (this model's own rows)")
        parallel.check(n, n)
        ids = parallel.ids_a
        if cfg.anchors is not None and len(ids) != cfg.anchors:
            raise UsageError(f"{cfg.anchor_ids} lists {len(ids)} anchors but --anchors is {cfg.anchors}")
        return ids
    mode = cfg.anchor_mode
    if mode == "stratified" and labels is None:
        raise UsageError("stratified anchors need labels; pass --anchor-mode uniform or fps")
    if cfg.anchors is None and len(pool) <= default_anchors(cfg):
        return np.sort(np.asarray(pool))  # a small training split: every training sample is an anchor
    k = cfg.anchors if cfg.anchors is not None else default_anchors(cfg)
    return select_anchors(mode, k, cfg.anchor_seed, n, labels, features, pool, num_classes)  # type: ignore[arg-type]


def default_anchors(cfg: TrainConfig) -> int:
    """K when ``--anchors`` is not given: 100 (brief, sample data) or 300 (official graphs), capped by the
    training samples."""
    return 300 if is_graph(cfg) else 100


def _projection(cfg: TrainConfig, k: int) -> RelativeProjection:
    return RelativeProjection(
        k,
        similarity=cfg.similarity,
        normalization=cfg.normalization,
        output_norm=cfg.output_norm,  # type: ignore[arg-type]
        quantization=cfg.quantization,
        bin_size=cfg.bin_size,
    )


def build_model(cfg: TrainConfig, data: Any, anchor_ids: np.ndarray | None) -> LatentModel:
    """The encoder, head and decoder the config names; ``anchor_ids`` are used by a relative head."""
    relative = cfg.head == "relative"
    if relative and anchor_ids is None:
        raise ValueError("a relative head needs anchor ids")
    d, h = cfg.latent_dim, cfg.hidden
    k = len(anchor_ids) if anchor_ids is not None else 0
    if is_graph(cfg):
        from relreps.graph import GCN2Encoder, GCNEncoder, GraphModel

        graph, _ = data
        f = graph.num_features
        if cfg.arch == "gcn":
            enc: nn.Module = GCNEncoder(f, h, d, cfg.dropout)  # type: ignore[arg-type]
        else:
            enc = GCN2Encoder(f, h, cfg.gcn2_layers, cfg.dropout)  # type: ignore[arg-type]
            d = h
        if relative:
            check_anchor_count(d, k, stacklevel=2)  # type: ignore[arg-type]
        dec = classifier_decoder(k if relative else d, graph.num_classes, cfg.decoder_hidden)  # type: ignore[arg-type]
        # the official graph script L2-normalises both heads' representations before the classifier
        return GraphModel(
            enc,
            dec,
            _projection(cfg, k) if relative else None,
            torch.as_tensor(anchor_ids) if relative else None,
            abs_norm=output_norm_layer("l2", d),  # type: ignore[arg-type]
        )
    assert isinstance(data, SampleData)
    shape = data.input_shape
    if cfg.arch == "frozen":
        enc = EmbeddingEncoder(data.table)  # type: ignore[arg-type]
        d = enc.latent_dim
    elif cfg.arch == "cnn":
        if len(shape) != 3:
            raise UsageError(f"--arch cnn needs images (N, C, H, W); the data has rows of shape {shape}")
        enc = CNNEncoder(shape, d)  # type: ignore[arg-type]
    else:
        enc = MLPEncoder(int(np.prod(shape)), [h], d)  # type: ignore[list-item, arg-type]
    if relative:
        check_anchor_count(d, k, stacklevel=2)  # type: ignore[arg-type]
    rep_dim = k if relative else d
    if cfg.task == "classify":
        if data.num_classes < 2:
            raise UsageError("classification needs at least two classes in the labels")
        dec = classifier_decoder(rep_dim, data.num_classes, cfg.decoder_hidden)  # type: ignore[arg-type]
    elif cfg.arch == "cnn":
        dec = CNNDecoder(rep_dim, shape)  # type: ignore[arg-type]
    else:
        dec = MLPDecoder(rep_dim, h, shape)  # type: ignore[arg-type]
    anchors = data.x[torch.as_tensor(anchor_ids)] if relative else None
    return RelativeModel(enc, dec, _projection(cfg, k) if relative else None, anchors)


def config_from_run(run: str | os.PathLike) -> TrainConfig:
    """The resolved config of a ``relreps-train`` run folder."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise UsageError(f"{run}: not a relreps-train run folder (no config.json)")
    raw = json.loads(path.read_text())
    known = set(TrainConfig.__dataclass_fields__)
    values = {k: v for k, v in raw.items() if k in known}
    for name in ("data", "labels", "anchor_ids", "out"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    return TrainConfig(**values)
