"""Pluggable feature spaces for the error SVMs and the captions (Jain et al. ICLR 2023, Sec. 3.1).

The paper embeds images with CLIP ViT-B/32 and, for captions, embeds text with CLIP's text tower in the
same space. Any encoder with ``encode_images`` (and, for captions, ``encode_text``) works here:

* :class:`ToyJointEncoder`: the package's own small CLIP-style image-text model (an MLP image tower and a
  bag-of-words text tower trained contrastively, as CLIP, on the planted benchmark's captioned corpus).
  It runs everywhere and is what the tests and the reproduction use.
* :class:`PenultimateEncoder`: the classifier's own penultimate layer (the input of its last layer,
  the official ``latent`` embedding option).
* :class:`OpenCLIPEncoder`: a *local* CLIP-style checkpoint through ``open_clip`` (optional extra
  ``failure-directions[clip]``; never imported unless used: open-clip-torch needs torchvision).
* precomputed ``.npy`` features need no encoder (``failure-directions-fit --data``).

``load_encoder("toy:PATH")`` / ``load_encoder("open_clip:ARCH:CHECKPOINT")`` build one from a CLI spec.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orals23_shared.checkpoint import atomic_save
from orals23_shared.cli import UsageError

__all__ = [
    "Encoder",
    "OpenCLIPEncoder",
    "PenultimateEncoder",
    "ToyEncoderConfig",
    "ToyJointEncoder",
    "load_encoder",
    "tokenize",
    "train_toy_encoder",
]


@runtime_checkable
class Encoder(Protocol):
    """Maps images to feature vectors; a joint (CLIP-like) encoder also maps text into the same space."""

    def encode_images(self, images: Any) -> np.ndarray: ...


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@dataclass
class ToyEncoderConfig:
    """The toy joint encoder: image MLP 64-128-dim, bag-of-words text tower, CLIP's symmetric InfoNCE."""

    dim: int = 32
    hidden: int = 128
    word_dim: int = 64
    steps: int = 300
    batch: int = 256
    lr: float = 3e-3
    seed: int = 0


class ToyJointEncoder(nn.Module):
    """A small CLIP: ``encode_images`` of (n, 8, 8) or (n, 64) images in [0, 1], ``encode_text`` of captions.

    Outputs are the unnormalised projections (as CLIP's ``encode_image``/``encode_text``); training
    compares them after L2 normalisation with a learned temperature (CLIP's loss).
    """

    def __init__(self, vocab: Sequence[str], config: ToyEncoderConfig | None = None, in_dim: int = 64) -> None:
        super().__init__()
        self.config = config or ToyEncoderConfig()
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.in_dim = in_dim
        c = self.config
        self.image = nn.Sequential(nn.Linear(in_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.dim))
        self.words = nn.EmbeddingBag(max(1, len(self.vocab)), c.word_dim, mode="mean")
        self.text = nn.Sequential(nn.ReLU(), nn.Linear(c.word_dim, c.dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def _image_tensor(self, images: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        x = x.reshape(len(x), -1)
        if x.shape[1] != self.in_dim:
            raise UsageError(f"the toy encoder takes {self.in_dim}-pixel images (8x8 grey), got {x.shape[1]} values")
        return x

    def _text_tensors(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, offsets = [], []
        for t in texts:
            offsets.append(len(ids))
            ids.extend(self.index[w] for w in tokenize(t) if w in self.index)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def image_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.image(x)

    def text_forward(self, texts: Sequence[str]) -> torch.Tensor:
        ids, offsets = self._text_tensors(texts)
        return self.text(self.words(ids, offsets))

    @torch.no_grad()
    def encode_images(self, images: Any) -> np.ndarray:
        self.eval()
        return self.image_forward(self._image_tensor(images)).double().numpy()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        self.eval()
        return self.text_forward(list(texts)).double().numpy()

    def save(self, path: str | os.PathLike) -> Path:
        state = {"state": self.state_dict(), "vocab": self.vocab, "config": asdict(self.config), "in_dim": self.in_dim}
        return atomic_save(path, lambda f: torch.save(state, f))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ToyJointEncoder:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"toy encoder checkpoint not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            enc = cls(state["vocab"], ToyEncoderConfig(**state["config"]), state["in_dim"])
            enc.load_state_dict(state["state"])
        except Exception as e:  # a torch pickle error has many types
            raise UsageError(f"{path} is not a toy encoder checkpoint ({type(e).__name__})") from e
        return enc.eval()


def train_toy_encoder(
    images: np.ndarray, captions: Sequence[str], config: ToyEncoderConfig | None = None
) -> ToyJointEncoder:
    """CLIP's contrastive training on (image, caption) pairs; identical captions count as positives."""
    cfg = config or ToyEncoderConfig()
    if len(images) != len(captions):
        raise UsageError(f"{len(images)} images but {len(captions)} captions")
    vocab = sorted({w for c in captions for w in tokenize(c)})
    torch.manual_seed(cfg.seed)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(len(images), -1)
    enc = ToyJointEncoder(vocab, cfg, in_dim=x.shape[1])
    caps = list(captions)
    cap_id = torch.tensor(np.unique(caps, return_inverse=True)[1])
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    enc.train()
    for _ in range(cfg.steps):
        b = torch.randperm(len(x), generator=gen)[: cfg.batch]
        zi = F.normalize(enc.image_forward(x[b]), dim=1)
        zt = F.normalize(enc.text_forward([caps[i] for i in b.tolist()]), dim=1)
        logits = enc.logit_scale.exp().clamp(max=100) * zi @ zt.T
        same = (cap_id[b][:, None] == cap_id[b][None, :]).float()
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return enc.eval()


class PenultimateEncoder:
    """Features = the input of ``layer`` (default: the model's last ``nn.Linear``), via a forward pre-hook."""

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None, batch_size: int = 512) -> None:
        self.model = model
        if layer is None:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise UsageError("the model has no nn.Linear layer: name the layer whose input is the embedding")
            layer = linears[-1]
        elif isinstance(layer, str):
            modules = dict(model.named_modules())
            if layer not in modules:
                raise UsageError(f"the model has no layer {layer!r} (it has {', '.join(list(modules)[1:8])}, ...)")
            layer = modules[layer]
        self.layer = layer
        self.batch_size = batch_size

    @torch.no_grad()
    def encode_images(self, images: Any) -> np.ndarray:
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        captured: list[torch.Tensor] = []
        handle = self.layer.register_forward_pre_hook(lambda m, inp: captured.append(inp[0].detach().flatten(1)))
        was_training = self.model.training
        self.model.eval()
        try:
            for i in range(0, len(x), self.batch_size):
                self.model(x[i : i + self.batch_size])
        finally:
            handle.remove()
            self.model.train(was_training)
        return torch.cat(captured).double().numpy()


class OpenCLIPEncoder:
    """A local CLIP-style checkpoint through ``open_clip`` (extra ``failure-directions[clip]``).

    ``images`` are PIL images or image file paths; they go through the checkpoint's own preprocessing.
    Nothing is downloaded: ``checkpoint`` must be a local file.
    """

    def __init__(self, arch: str, checkpoint: str | os.PathLike, device: str = "cpu", batch_size: int = 64) -> None:
        if not Path(checkpoint).is_file():
            raise UsageError(f"open_clip checkpoint not found: {checkpoint} (a local file; nothing is downloaded)")
        try:
            import open_clip  # type: ignore[import-not-found]
        except Exception as e:  # ImportError, or torchvision failing to import beside this torch
            raise UsageError(
                f"open_clip is not usable here ({type(e).__name__}: {e}); install the extra "
                "'failure-directions[clip]' with a torchvision that matches your torch"
            ) from e
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=str(checkpoint), device=device
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.device = device
        self.batch_size = batch_size

    def _pil(self, item: Any):
        from PIL import Image

        if isinstance(item, (str, os.PathLike)):
            with Image.open(item) as im:
                return im.convert("RGB")
        if isinstance(item, np.ndarray):
            arr = item if item.dtype == np.uint8 else (np.clip(item, 0, 1) * 255).astype(np.uint8)
            return Image.fromarray(arr).convert("RGB")
        return item.convert("RGB")

    @torch.no_grad()
    def encode_images(self, images: Any) -> np.ndarray:
        out = []
        items = list(images)
        for i in range(0, len(items), self.batch_size):
            batch = torch.stack([self.preprocess(self._pil(it)) for it in items[i : i + self.batch_size]])
            out.append(self.model.encode_image(batch.to(self.device)).float().cpu())
        return torch.cat(out).double().numpy()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        texts = list(texts)
        for i in range(0, len(texts), 256):
            tokens = self.tokenizer(texts[i : i + 256]).to(self.device)
            out.append(self.model.encode_text(tokens).float().cpu())
        return torch.cat(out).double().numpy()


def load_encoder(spec: str, device: str = "cpu") -> Any:
    """``toy:PATH`` (a saved :class:`ToyJointEncoder`) or ``open_clip:ARCH:CHECKPOINT``."""
    kind, _, rest = spec.partition(":")
    if kind == "toy" and rest:
        return ToyJointEncoder.load(rest)
    if kind == "open_clip":
        arch, _, ckpt = rest.partition(":")
        if not arch or not ckpt:
            raise UsageError(f"--encoder open_clip needs open_clip:ARCH:CHECKPOINT, got {spec!r}")
        return OpenCLIPEncoder(arch, ckpt, device=device)
    raise UsageError(f"--encoder must be toy:PATH or open_clip:ARCH:CHECKPOINT, got {spec!r}")
