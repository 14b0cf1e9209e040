"""Zero-shot model stitching (Moschella et al., ICLR 2023, Sec. 5).

Two models trained independently (different seeds, architectures or domains) over the same anchor *samples*
(or parallel anchors: anchor i of domain A <-> anchor i of domain B). The stitched model is the encoder of B
followed by the decoder of A: ``D_A(norm_A(r_B(x)))`` with the anchors embedded by B (relative), or
``D_A(E_B(x))`` (the absolute baseline, which needs equal latent sizes). No training happens at stitching time.

* ``stitched_forward(decoder_model, encoder_model, inputs)``: the stitched prediction;
* ``stitch_runs(a, b)``: the table for two trained runs (native A, B->A, native B, A->B);
* ``stitch_embeddings(a, b, y, anchors)``: two saved embedding files of the same samples and their labels:
  a relative and an absolute linear head trained on each space (frozen encoders), then the same table with both
  heads' numbers side by side.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from orals23_shared.cli import UsageError
from orals23_shared.seed import seed_everything
from relreps.anchors import ParallelAnchors
from relreps.build import TrainConfig, build_model
from relreps.data import SampleData, split_indices
from relreps.model import LatentModel, RelativeModel

__all__ = ["stitched_forward", "stitch_outputs", "score", "stitch_runs", "stitch_embeddings", "StitchRow"]


def stitched_forward(decoder_model: LatentModel, encoder_model: LatentModel, inputs: Any) -> Tensor:
    """``decoder_model``'s head on ``encoder_model``'s latents (and, for a relative head, its anchor latents)."""
    if decoder_model.is_relative != encoder_model.is_relative:
        raise UsageError("stitching needs two relative or two absolute models")
    z, anchors = encoder_model.latents(inputs)
    if decoder_model.is_relative:
        n_dec = decoder_model.projection.n_anchors  # type: ignore[union-attr]
        if anchors is None or anchors.shape[0] != n_dec:
            raise UsageError(
                f"the decoder reads {n_dec} anchors but the encoder has {None if anchors is None else anchors.shape[0]}"
            )
    else:
        d_dec = _abs_in_features(decoder_model)
        if d_dec is not None and z.shape[1] != d_dec:
            raise UsageError(f"absolute stitching needs equal latent sizes: encoder {z.shape[1]}, decoder {d_dec}")
    return decoder_model.decode_latent(z, anchors)


def _abs_in_features(model: LatentModel) -> int | None:
    first = next((m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)), None)
    return None if first is None else first.in_features


@torch.no_grad()
def stitch_outputs(decoder_model: LatentModel, encoder_model: LatentModel, data: Any, part: str = "test") -> Tensor:
    """Stitched outputs on a split of the *encoder's* data (eval mode, large batches)."""
    decoder_model.eval()
    encoder_model.eval()
    if isinstance(data, tuple):
        graph, split = data
        return stitched_forward(decoder_model, encoder_model, graph)[torch.as_tensor(getattr(split, part))]
    x = data.x[torch.as_tensor(getattr(data.split, part))]
    ctx = encoder_model.cached_anchors() if isinstance(encoder_model, RelativeModel) else _Null()
    with ctx:
        return torch.cat(
            [stitched_forward(decoder_model, encoder_model, x[s : s + 2048]) for s in range(0, len(x), 2048)]
        )


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def score(out: Tensor, data: Any, part: str = "test", task: str = "classify") -> float:
    """Accuracy (classification) or MSE (autoencoding) of outputs on a split of ``data``."""
    if isinstance(data, tuple):
        graph, split = data
        y = graph.y[torch.as_tensor(getattr(split, part))]
        return float((out.argmax(1) == y).double().mean())
    idx = torch.as_tensor(getattr(data.split, part))
    if task == "autoencode":
        return float(F.mse_loss(out, data.x[idx]))
    return float((out.argmax(1) == data.y[idx]).double().mean())


@dataclass
class StitchRow:
    encoder: str
    decoder: str
    kind: str  # native | stitched
    relative: float | None
    absolute: float | None


def stitch_runs(run_a: str | Path, run_b: str | Path) -> dict[str, Any]:
    """Native and stitched scores of two ``relreps-train`` runs (their own head type), on the test split."""
    from relreps.train import load_run

    a, b = load_run(run_a), load_run(run_b)
    if a.cfg.head != b.cfg.head:
        raise UsageError(f"{run_a} has a {a.cfg.head} head and {run_b} a {b.cfg.head} head: stitch runs of one kind")
    if a.cfg.task != b.cfg.task:
        raise UsageError(f"{run_a} is a {a.cfg.task} run and {run_b} a {b.cfg.task} run")
    same_data = (a.cfg.dataset, a.cfg.data, a.cfg.split_seed, a.cfg.test_fraction) == (
        b.cfg.dataset, b.cfg.data, b.cfg.split_seed, b.cfg.test_fraction)  # fmt: skip
    if a.cfg.head == "relative":
        if len(a.anchor_ids) != len(b.anchor_ids):  # type: ignore[arg-type]
            raise UsageError(
                f"the runs use {len(a.anchor_ids)} and {len(b.anchor_ids)} anchors: stitching needs the same anchors"
            )  # type: ignore[arg-type]
        if same_data and not np.array_equal(a.anchor_ids, b.anchor_ids):  # type: ignore[arg-type]
            warnings.warn("the two runs use different anchor samples: zero-shot stitching needs shared anchors "
                          "(train both with the same --anchor-seed / --anchor-ids)", stacklevel=2)  # fmt: skip
    task = a.cfg.task
    key = "relative" if a.cfg.head == "relative" else "absolute"
    rows = []
    for enc_name, dec_name, enc, dec in (("A", "A", a, a), ("B", "A", b, a), ("B", "B", b, b), ("A", "B", a, b)):
        value = score(stitch_outputs(dec.model, enc.model, enc.data), enc.data, "test", task)
        kind = "native" if enc_name == dec_name else "stitched"
        rows.append(
            StitchRow(
                enc_name, dec_name, kind, value if key == "relative" else None, value if key == "absolute" else None
            )
        )
    return {
        "metric": "mse" if task == "autoencode" else "accuracy",
        "head": a.cfg.head,
        "cross_domain": not same_data,
        "rows": [r.__dict__ for r in rows],
    }


def _embedding_data(table: np.ndarray, y: np.ndarray, split) -> SampleData:  # noqa: ANN001
    return SampleData(
        torch.arange(len(table)), torch.from_numpy(y), split, "embeddings", "embeddings", int(y.max()) + 1, table
    )


def stitch_embeddings(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    anchors: ParallelAnchors | None,
    cfg: TrainConfig,
) -> dict[str, Any]:
    """Train relative and absolute heads on two frozen spaces of the same samples; report the stitching table.

    ``anchors``: row indices in A and in B (None: ``cfg.anchors`` drawn from the training rows with
    ``cfg.anchor_mode`` and ``cfg.anchor_seed``, the same rows in both spaces).
    """
    from relreps.anchors import select_anchors
    from relreps.train import fit_model

    if a.shape[0] != b.shape[0]:
        raise UsageError(f"the two embedding files must hold the same samples: {a.shape[0]} vs {b.shape[0]} rows")
    split = split_indices(len(a), y, cfg.split_seed, cfg.test_fraction, cfg.val_fraction)  # type: ignore[arg-type]
    data_a, data_b = _embedding_data(a, y, split), _embedding_data(b, y, split)
    if anchors is None:
        ids = select_anchors(cfg.anchor_mode, cfg.anchors, cfg.anchor_seed, len(a), y, a, split.train)  # type: ignore[arg-type]
        anchors = ParallelAnchors.same(ids)
    anchors.check(len(a), len(b))
    k = len(anchors)
    cfg = replace(cfg, anchors=k)
    models: dict[tuple[str, str], LatentModel] = {}
    for head in ("relative", "absolute"):
        for name, data, ids in (("A", data_a, anchors.ids_a), ("B", data_b, anchors.ids_b)):
            hcfg = replace(cfg, head=head)
            seed_everything(cfg.seed)
            models[(head, name)] = fit_model(hcfg, build_model(hcfg, data, ids if head == "relative" else None), data)
    datas = {"A": data_a, "B": data_b}
    rows = []
    for enc, dec in (("A", "A"), ("B", "A"), ("B", "B"), ("A", "B")):
        vals: dict[str, float | None] = {}
        for head in ("relative", "absolute"):
            if head == "absolute" and enc != dec and a.shape[1] != b.shape[1]:
                vals[head] = None  # absolute stitching needs equal latent sizes
                continue
            out = stitch_outputs(models[(head, dec)], models[(head, enc)], datas[enc])
            vals[head] = score(out, datas[enc])
        rows.append(StitchRow(enc, dec, "native" if enc == dec else "stitched", vals["relative"], vals["absolute"]))
    return {
        "metric": "accuracy",
        "anchors": k,
        "n_train": int(len(split.train)),
        "n_test": int(len(split.test)),
        "rows": [r.__dict__ for r in rows],
    }
