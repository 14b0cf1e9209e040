"""Command lines ``h3-flashconv-train`` and ``h3-flashconv-generate`` (bench and reproduce live in their modules).

    h3-flashconv-train --task lm --corpus input.txt --model hybrid --max-steps 500 --out runs/hybrid
    h3-flashconv-train --task induction_head --model h3 --out runs/ih
    h3-flashconv-train --out runs/hybrid --resume ...          # continue from the newest checkpoint
    h3-flashconv-generate --checkpoint runs/hybrid --prompt "ROMEO:" --max-new-tokens 200 --top-k 10

Generation reads the prompt in convolution mode and then steps the recurrent state (H3 / S4D layers, O(1) per
token) or the KV cache (attention layers) -- paper Section 3.3 / Appendix on generation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from orals23_shared.checkpoint import atomic_write_bytes
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.seed import seed_everything

__all__ = ["train_main", "generate_main", "train_entry", "generate_entry", "GenerateConfig"]


def train_main(argv: Sequence[str] | None = None) -> int:
    from h3_flashconv.train import TrainConfig, fit

    parser = argparse.ArgumentParser(
        prog="h3-flashconv-train",
        description="Train an H3 / hybrid / Transformer / "
        "S4D language model on a text file or a synthetic language (Lightning).",
    )
    add_dataclass_args(parser, TrainConfig)
    cfg = config_from_args(parser, TrainConfig, argv)
    result = fit(cfg)
    print(json.dumps(result))
    return 0


@dataclass
class GenerateConfig:
    """Sampling from a trained checkpoint."""

    checkpoint: Path = field(default=Path("runs/h3-flashconv"), metadata={"help": "a .ckpt file or a run folder"})
    prompt: str = field(default="\n", metadata={"help": "prompt text"})
    max_new_tokens: int = field(default=200, metadata={"help": "tokens to generate"})
    temperature: float = field(default=0.8, metadata={"help": "softmax temperature (0 = greedy)"})
    top_k: int | None = field(default=None, metadata={"help": "sample among the k most likely tokens"})
    num_samples: int = field(default=1, metadata={"help": "samples (batch)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    out: Path | None = field(default=None, metadata={"help": "folder for samples.txt (default: print only)"})
    quiet: bool = field(default=False, metadata={"help": "print only the samples"})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.num_samples < 1:
            raise UsageError("--max-new-tokens and --num-samples must be >= 1")
        if self.temperature < 0:
            raise UsageError(f"--temperature must be >= 0, got {self.temperature}")


def generate_main(argv: Sequence[str] | None = None) -> int:
    from h3_flashconv.data import make_tokenizer
    from h3_flashconv.model import generate
    from h3_flashconv.train import load_checkpoint

    parser = argparse.ArgumentParser(
        prog="h3-flashconv-generate",
        description="Sample text from a checkpoint: "
        "prompt in conv mode, then recurrent (H3) / KV-cache (attention) steps.",
    )
    add_dataclass_args(parser, GenerateConfig)
    cfg = config_from_args(parser, GenerateConfig, argv)
    seed_everything(cfg.seed)
    model, tok_state, _ = load_checkpoint(cfg.checkpoint)
    if tok_state is None:
        raise UsageError(f"{cfg.checkpoint}: trained on a synthetic task, there is no text tokenizer to generate with")
    tok = make_tokenizer(tok_state)
    ids = tok.encode(cfg.prompt)
    if not ids:
        raise UsageError("--prompt must not be empty")
    model = model.to(cfg.device)
    prompt = torch.tensor([ids] * cfg.num_samples, device=cfg.device)
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    t0 = time.perf_counter()
    out = generate(model, prompt, cfg.max_new_tokens, cfg.temperature, cfg.top_k, gen)
    secs = time.perf_counter() - t0
    texts = [tok.decode(row.tolist()) for row in out]
    for t in texts:
        print(t)
    if not cfg.quiet:
        print(f"[{cfg.num_samples * cfg.max_new_tokens / secs:.1f} tokens/s]", file=sys.stderr)
    if cfg.out is not None:
        atomic_write_bytes(Path(cfg.out) / "samples.txt", ("\n\n".join(texts) + "\n").encode())
    return 0


def train_entry() -> None:
    run_cli(train_main)


def generate_entry() -> None:
    run_cli(generate_main)
