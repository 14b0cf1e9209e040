"""Encoders: the toy joint encoder aligns images and captions; the penultimate hook equals a manual
forward; the open_clip adapter's plumbing against a stand-in module (the real one is never imported)."""

import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from failure_directions.encoders import OpenCLIPEncoder, PenultimateEncoder, load_encoder
from orals23_shared.cli import UsageError


def test_toy_encoder_retrieves_the_right_caption_and_round_trips(small_bench, tmp_path):
    from failure_directions.benchmark import DIGIT_NAMES

    enc, bench = small_bench.encoder, small_bench.bench
    te = bench["test"]
    img = enc.encode_images(te.inputs)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    # the style: "inverted" vs plain caption of the true digit
    plain = enc.encode_text([f"a photo of a {DIGIT_NAMES[c]}" for c in te.labels])
    inv = enc.encode_text([f"a photo of a inverted {DIGIT_NAMES[c]}" for c in te.labels])
    plain /= np.linalg.norm(plain, axis=1, keepdims=True)
    inv /= np.linalg.norm(inv, axis=1, keepdims=True)
    says_inverted = (img * inv).sum(1) > (img * plain).sum(1)
    assert (says_inverted == te.styles["inverted"]).mean() > 0.8
    # the digit: retrieval among the ten plain captions
    texts = enc.encode_text([f"a photo of a {n}" for n in DIGIT_NAMES])
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    assert ((img @ texts.T).argmax(1) == te.labels).mean() > 0.5  # chance 0.1
    path = enc.save(tmp_path / "enc.pt")
    back = load_encoder(f"toy:{path}")
    np.testing.assert_array_equal(back.encode_images(te.inputs[:5]), enc.encode_images(te.inputs[:5]))
    np.testing.assert_array_equal(
        back.encode_text(["a photo of a faint two"]), enc.encode_text(["a photo of a faint two"])
    )
    with pytest.raises(UsageError, match="64-pixel"):
        enc.encode_images(np.zeros((2, 5)))


def test_penultimate_features_equal_a_manual_forward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(700, 6)
    feats = PenultimateEncoder(model, batch_size=256).encode_images(x.numpy())
    with torch.no_grad():
        manual = model[:4](x).double().numpy()
    np.testing.assert_allclose(feats, manual, rtol=1e-6, atol=1e-7)
    named = PenultimateEncoder(model, layer="2").encode_images(x[:3].numpy())
    with torch.no_grad():
        np.testing.assert_allclose(named, model[:2](x[:3]).double().numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(UsageError, match="no layer 'fc'"):
        PenultimateEncoder(model, layer="fc")


def test_open_clip_adapter_with_a_stand_in_module(tmp_path, monkeypatch):
    """What we own of the open_clip path: loading a local checkpoint by name, preprocessing, batching."""
    calls = {}

    class FakeModel(nn.Module):
        def encode_image(self, x):
            return x.flatten(1)[:, :4] * 2

        def encode_text(self, tokens):
            return tokens[:, :4].float()

    def create(arch, pretrained=None, device="cpu"):
        calls["create"] = (arch, pretrained, device)
        pre = lambda im: torch.tensor(np.asarray(im.resize((2, 2)), dtype=np.float32)).permute(2, 0, 1) / 255  # noqa: E731
        return FakeModel(), None, pre

    fake = types.SimpleNamespace(
        create_model_and_transforms=create,
        get_tokenizer=lambda arch: lambda texts: torch.tensor([[len(t), 1, 2, 3, 4] for t in texts]),
    )
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    ckpt = tmp_path / "vit.bin"
    ckpt.write_bytes(b"weights")
    enc = load_encoder(f"open_clip:ViT-B-32:{ckpt}")
    assert calls["create"] == ("ViT-B-32", str(ckpt), "cpu")
    from PIL import Image

    png = tmp_path / "a.png"
    Image.fromarray(np.full((5, 5, 3), 255, np.uint8)).save(png)
    feats = enc.encode_images([png, np.zeros((5, 5, 3), np.uint8)])
    np.testing.assert_allclose(feats, [[2, 2, 2, 2], [0, 0, 0, 0]])
    np.testing.assert_allclose(enc.encode_text(["ab", "abcd"]), [[2, 1, 2, 3], [4, 1, 2, 3]])


def test_open_clip_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="checkpoint not found"):
        OpenCLIPEncoder("ViT-B-32", tmp_path / "missing.bin")
    ckpt = tmp_path / "w.bin"
    ckpt.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "open_clip", None)  # an import that fails
    with pytest.raises(UsageError, match="failure-directions\\[clip\\]"):
        OpenCLIPEncoder("ViT-B-32", ckpt)
    with pytest.raises(UsageError, match="toy:PATH or open_clip"):
        load_encoder("clip:whatever")
    with pytest.raises(UsageError, match="not found"):
        load_encoder(f"toy:{tmp_path / 'nope.pt'}")
