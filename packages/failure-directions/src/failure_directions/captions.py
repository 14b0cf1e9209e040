"""Captioning failure directions (Jain et al. ICLR 2023, Sec. 4.2; official ``CLIPProcessor.get_caption_scores``).

In a joint text-image space (CLIP), a candidate caption t for class c is scored by the class's SVM on
the *difference* between its text embedding and a reference caption's ("a photo of a <class>"):

    score_c(t) = s_c(preprocess(T(t) - T(reference_c)))        (official: the image whitening, then L2)

The most negative scores describe the failure mode (the hardest direction), the most positive the
easiest; both are reported with the class (official-code issue #2: a caption shown for the wrong end).
``mode="difference"`` is our variant: the image mean cancels in a difference of two points, so it whitens
by the train std only, L2-normalises and drops the intercept (a pure direction).

Without a joint model, :func:`attribute_scores` ranks the columns of a user-given attribute table the
same way: the "text" of attribute a is the mean embedding of the class's images that have it, the
reference the mean embedding of all the class's images.

Candidate captions follow the official template "a photo of a {adjective} {noun} {preposition}"
(``clip_utils.CaptionGenerator``); the nouns default to the class name (the official WordNet hyponym
expansion needs nltk's corpus download, so it is left to a user-given caption file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from failure_directions.svm import FailureSVM
from orals23_shared.cli import UsageError
from orals23_shared.metrics import roc_auc

__all__ = [
    "ADJECTIVES",
    "BACKGROUNDS",
    "attribute_scores",
    "caption_candidates",
    "caption_scores",
    "rank_captions",
    "reference_caption",
]

#: The official colour adjectives and backgrounds (``clip_utils.ADJECTIVES`` / ``BACKGROUNDS``).
ADJECTIVES: tuple[str, ...] = ("white", "blue", "red", "green", "black", "yellow", "orange", "brown")
BACKGROUNDS: tuple[str, ...] = ("outside", "inside", "on a black background", "on a white background",
                                "on a green background", "on a blue background", "on a brown background")  # fmt: skip

Mode = Literal["official", "difference"]


def reference_caption(class_name: str) -> str:
    return f"a photo of a {class_name}"


def caption_candidates(
    nouns: Sequence[str], adjectives: Sequence[str | None] = (None,), prepositions: Sequence[str | None] = (None,)
) -> list[str]:
    """Every "a photo of a {adjective} {noun} {preposition}" (None leaves a slot out), no duplicates."""
    out: list[str] = []
    for n in nouns:
        for a in adjectives:
            for p in prepositions:
                text = " ".join(u for u in (a, n, p) if u)
                cap = f"a photo of a {text}"
                if cap not in out:
                    out.append(cap)
    return out


def _direction_scores(svm: FailureSVM, cls: int, diffs: np.ndarray, mode: Mode) -> np.ndarray:
    if cls not in svm.classes or not svm.classes[cls].fitted:
        raise UsageError(f"class {cls} has no SVM (it was skipped or absent when fitting)")
    diffs = np.atleast_2d(np.asarray(diffs, dtype=np.float64))
    if mode == "official":
        return svm.decision_function(diffs, np.full(len(diffs), cls), name="text differences")
    if mode != "difference":
        raise UsageError(f"mode must be 'official' or 'difference', got {mode!r}")
    z = diffs / svm.pre.std if svm.pre.std is not None else diffs
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.where(norm > 0, norm, 1.0)
    return z @ svm.classes[cls].coef


def caption_scores(
    svm: FailureSVM, cls: int, text_features: np.ndarray, reference_feature: np.ndarray, mode: Mode = "official"
) -> np.ndarray:
    """score_c(t) for each row of ``text_features`` against ``reference_feature`` (negative: hard)."""
    text_features = np.atleast_2d(np.asarray(text_features, dtype=np.float64))
    ref = np.asarray(reference_feature, dtype=np.float64).reshape(-1)
    if text_features.shape[1] != ref.shape[0]:
        raise UsageError(f"text features have {text_features.shape[1]} dims, the reference {ref.shape[0]}")
    return _direction_scores(svm, cls, text_features - ref, mode)


def rank_captions(captions: Sequence[str], scores: np.ndarray, top: int = 5) -> dict[str, list[dict]]:
    """``hardest`` (most negative first) and ``easiest`` (most positive first); ties by caption order."""
    scores = np.asarray(scores, dtype=np.float64)
    idx = np.arange(len(scores))
    up = idx[np.lexsort((idx, scores))]
    down = idx[np.lexsort((idx, -scores))]
    pick = lambda order: [{"caption": captions[i], "score": float(scores[i])} for i in order[:top]]  # noqa: E731
    return {"hardest": pick(up), "easiest": pick(down)}


def attribute_scores(
    svm: FailureSVM,
    cls: int,
    features: np.ndarray,
    labels: np.ndarray,
    attributes: dict[str, np.ndarray],
    mode: Mode = "official",
) -> list[dict]:
    """Rank attributes of class ``cls`` by the caption score of (mean with attribute - class mean).

    Also gives, for each attribute, the mean SVM decision value of the images that have it and the
    ROC-AUC of -decision for having it (how well the hard end of the ranking finds it). Sorted hardest first.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    in_class = labels == cls
    if not in_class.any():
        raise UsageError(f"no images of class {cls} in the attribute split")
    ref = features[in_class].mean(0)
    dec = svm.decision_function(features[in_class], labels[in_class])
    rows = []
    for name, col in attributes.items():
        col = np.asarray(col, dtype=bool)
        if col.shape != labels.shape:
            raise UsageError(f"attribute {name!r} has {col.shape[0]} rows, the split {labels.shape[0]}")
        has = col[in_class]
        if not has.any():
            continue
        score = float(_direction_scores(svm, cls, features[in_class][has].mean(0) - ref, mode)[0])
        auc = roc_auc(-dec, has.astype(np.int64)) if 0 < has.sum() < has.size else None
        rows.append({"attribute": name, "score": score, "n": int(has.sum()),
                     "mean_decision": float(dec[has].mean()), "auc": auc})  # fmt: skip
    rows.sort(key=lambda r: (r["score"], r["attribute"]))
    return rows
