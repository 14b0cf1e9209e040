"""``h3-flashconv-bench``: FlashConv-style sequence mixing vs attention, and generation speed (H3 paper, Section 4, 5.3).

Side by side in one run, median (min, max) of ``--repeats`` (>= 5) timings after ``--warmup`` runs (``orals23_shared.bench``), same
``B * d`` for every op:

* sequence mixing for L = 256 .. 8192 (and 16K / 64K): direct O(L^2) causal conv (``conv1d``), ``torch.fft`` conv
  (``fftconv_ref``), block-FFT conv (two DFT-matmul stages), state passing (``DiagSSM.forward_chunked``, chunk
  ``--chunk``, kernel generation included, against the one-shot ``DiagSSM.forward`` whose kernel comes from
  chunked powers, and the same with the direct Vandermonde kernel ``ssm_direct_vandermonde``), causal attention
  (``scaled_dot_product_attention``), and the fused CUDA kernel on a CUDA machine; ratios to the FFT conv.
* generation: whole-model tokens/s of an H3 LM (recurrent state, O(1) per token), a hybrid (two attention layers)
  and a Transformer LM (KV cache) for prompt lengths 128 .. 4096, at batch 1 and batch 8 (labelled); the prompt is
  read in convolution mode / one attention pass and is not timed. Two checks: H3's per-token step cost must not
  depend on the prompt (spread (max - min) / median across prompts < 20%), and H3 / Transformer at prompt 1024
  against the paper's 2.4x bar.
* GPU rows (the fused CUDA kernel) only with ``--device cuda``; otherwise they say "not run: no GPU".
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from h3_flashconv.fftconv import block_fft_conv, direct_causal_conv, fftconv_ref
from h3_flashconv.model import LanguageModel, ModelConfig
from h3_flashconv.ssm import DiagSSM
from orals23_shared.bench import MIN_REPEATS, Timing, default_bench_dir, load_snapshot, time_call, write_bench
from orals23_shared.checkpoint import atomic_write_bytes
from orals23_shared.cli import UsageError, add_dataclass_args, config_from_args, run_cli
from orals23_shared.runs import environment_info
from orals23_shared.threads import set_threads

__all__ = ["BenchConfig", "main", "entry", "time_fn", "generation_checks"]


@dataclass
class BenchConfig:
    """What to time."""

    lengths: tuple[int, ...] = field(default=(256, 512, 1024, 2048, 4096, 8192), metadata={"help": "sequence lengths"})
    long_lengths: tuple[int, ...] = field(default=(16384, 65536), metadata={"help": "lengths with state passing only"})
    channels: int = field(default=256, metadata={"help": "channels d (attention: d / 64 heads of 64)"})
    batch: int = field(default=1, metadata={"help": "batch size of the mixing benchmark"})
    chunk: int = field(default=4096, metadata={"help": "state-passing chunk size"})
    direct_max_len: int = field(default=4096, metadata={"help": "longest L for the O(L^2) direct conv"})
    attn_max_len: int = field(default=16384, metadata={"help": "longest L for attention"})
    repeats: int = field(default=5, metadata={"help": "timed runs, >= 5 (median, min and max reported)"})
    warmup: int = field(default=2, metadata={"help": "untimed warm-up runs"})
    gen_prompts: tuple[int, ...] = field(
        default=(128, 512, 1024, 2048, 4096), metadata={"help": "generation prompt lengths"}
    )
    gen_tokens: int = field(default=32, metadata={"help": "generated tokens per measurement"})
    gen_batches: tuple[int, ...] = field(default=(1, 8), metadata={"help": "generation batch sizes"})
    gen_d_model: int = field(default=256, metadata={"help": "generation model width"})
    gen_layers: int = field(default=4, metadata={"help": "generation model depth"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: $ORALS23_THREADS, else the usable cores)"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    out: Path = field(
        default=default_bench_dir("h3-flashconv"), metadata={"help": "folder for bench.json and bench.md"}
    )
    quick: bool = field(default=False, metadata={"help": "small sizes (a smoke run)"})
    quiet: bool = field(default=False, metadata={"help": "no per-row printing"})

    def __post_init__(self) -> None:
        if self.repeats < 5 or self.warmup < 0 or self.channels < 64 or self.channels % 64:
            raise UsageError("--repeats >= 5, --warmup >= 0 and --channels a multiple of 64 are required")
        if not self.gen_batches or min(self.gen_batches) < 1:
            raise UsageError(f"--gen-batches must be >= 1, got {self.gen_batches}")
        bad = [n for n in (*self.lengths, *self.long_lengths, *self.gen_prompts) if n < 2]
        if bad:
            raise UsageError(f"lengths must be >= 2, got {bad}")


def time_fn(fn: Callable[[], object], repeats: int, warmup: int, sync: Callable[[], None] = lambda: None) -> Timing:
    """Median (min, max) seconds of ``fn()`` over ``repeats`` (>= 5) runs after ``warmup``: ``orals23_shared.bench``."""
    return time_call(fn, repeats=max(MIN_REPEATS, repeats), warmup=warmup, sync=sync)


def _mixing_rows(
    cfg: BenchConfig, dev: torch.device, sync: Callable[[], None], log: Callable[[str], None]
) -> list[dict]:
    rows = []
    B, d = cfg.batch, cfg.channels
    heads = d // 64
    ssm = DiagSSM(d, 64).to(dev)
    for L in (*cfg.lengths, *cfg.long_lengths):
        long = L in cfg.long_lengths
        u = torch.randn(B, d, L, device=dev)
        k = torch.randn(d, L, device=dev) / L**0.5
        ops: dict[str, Callable[[], object]] = {"fft": lambda u=u, k=k: fftconv_ref(u, k)}
        if cfg.direct_max_len >= L and not long:
            ops["direct"] = lambda u=u, k=k: direct_causal_conv(u, k)
        ops["block_fft"] = lambda u=u, k=k: block_fft_conv(u, k)
        if not long:  # one-shot Vandermonde at 64K would need GBs: that is what state passing avoids
            ops["ssm_one_shot"] = lambda u=u: ssm(u)  # kernel from chunked powers + FFT conv
            ops["ssm_direct_vandermonde"] = lambda u=u, L=L: fftconv_ref(u, ssm.kernel_direct(L))  # the old path
        if cfg.chunk < L:
            ops["ssm_state_passing"] = lambda u=u: ssm.forward_chunked(u, cfg.chunk)
        if dev.type == "cuda" and L <= 8192:
            from h3_flashconv.cuda_ext import fftconv_cuda

            ops["cuda_fused"] = lambda u=u, k=k: fftconv_cuda(u, k)
        if cfg.attn_max_len >= L:
            q = torch.randn(B, heads, L, 64, device=dev)
            ops["attention"] = lambda q=q: F.scaled_dot_product_attention(q, q, q, is_causal=True)
        with torch.no_grad():
            timings = {name: time_fn(fn, cfg.repeats, cfg.warmup, sync) for name, fn in ops.items()}
        times = {name: t.median for name, t in timings.items()}
        row = {
            "L": L,
            **{f"{k}_ms": round(v * 1e3, 3) for k, v in times.items()},
            **{f"{k}_ms_min": round(t.min * 1e3, 3) for k, t in timings.items()},
            **{f"{k}_ms_max": round(t.max * 1e3, 3) for k, t in timings.items()},
            **{f"{k}/fft": round(v / times["fft"], 2) for k, v in times.items() if k != "fft"},
        }
        rows.append(row)
        log(json.dumps(row))
    return rows


SPREAD_MAX = 0.2  # H3's step cost across prompt lengths: (max - min) / median below this (issue #18)
PAPER_BAR_1024 = 2.4  # H3 / Transformer generation speed at prompt 1024 (paper, Section 5.3)


def _hybrid_layers(n_layer: int) -> tuple[int, ...]:
    """Two attention layers, the second and the one after the middle (the paper's 12-layer hybrid uses 1 and 8,
    counting from 0); one when the model is shallower than 3 layers."""
    return (1, n_layer // 2 + 1) if n_layer >= 3 else (n_layer - 1,)


def _gen_rows(cfg: BenchConfig, dev: torch.device, sync: Callable[[], None], log: Callable[[str], None]) -> list[dict]:
    rows = []
    max_len = max(cfg.gen_prompts) + cfg.gen_tokens + 1
    models = {}
    for kind in ("h3", "hybrid", "transformer"):
        mc = ModelConfig(
            model=kind,
            vocab_size=256,
            d_model=cfg.gen_d_model,
            n_layer=cfg.gen_layers,
            n_head=max(1, cfg.gen_d_model // 64),
            attn_layer_idx=_hybrid_layers(cfg.gen_layers),
            max_len=max_len,
            embed_dropout=0.0,
        )
        models[kind] = LanguageModel(mc).to(dev).eval()
    g = torch.Generator().manual_seed(cfg.seed)
    for batch in cfg.gen_batches:
        for P in cfg.gen_prompts:
            prompt = torch.randint(0, 256, (batch, P), generator=g).to(dev)
            row: dict = {"batch": batch, "prompt": P}
            for kind, lm in models.items():
                with torch.no_grad():
                    _, cache0 = lm.prefill(prompt)
                    tok = prompt[:, -1]

                    def run(lm=lm, cache0=cache0, tok=tok) -> None:
                        cache = cache0
                        for _ in range(cfg.gen_tokens):
                            logits, cache = lm.step(tok, cache)

                    t = time_fn(run, cfg.repeats, 1, sync)
                row[f"{kind}_tok_s"] = round(batch * cfg.gen_tokens / t.median, 1)
                row[f"{kind}_tok_s_min_max"] = [
                    round(batch * cfg.gen_tokens / t.max, 1),
                    round(batch * cfg.gen_tokens / t.min, 1),
                ]
                row[f"{kind}_ms_per_step"] = round(t.median / cfg.gen_tokens * 1e3, 3)
            row["h3/transformer_speedup"] = round(row["h3_tok_s"] / row["transformer_tok_s"], 2)
            row["hybrid/transformer_speedup"] = round(row["hybrid_tok_s"] / row["transformer_tok_s"], 2)
            rows.append(row)
            log(json.dumps(row))
    return rows


def generation_checks(gen: list[dict]) -> list[dict]:
    """Per batch size: H3's step-cost spread across prompts (< 20%) and H3 / Transformer at prompt 1024 vs 2.4x."""
    checks = []
    for batch in sorted({r["batch"] for r in gen}):
        rows = [r for r in gen if r["batch"] == batch]
        steps = [r["h3_ms_per_step"] for r in rows]
        spread = (max(steps) - min(steps)) / statistics.median(steps)
        check = {"batch": batch, "h3_step_spread": round(spread, 3), "spread_ok": spread < SPREAD_MAX}
        at_1024 = [r for r in rows if r["prompt"] == 1024]
        if at_1024:
            speedup = at_1024[0]["h3/transformer_speedup"]
            check |= {"speedup_at_1024": speedup, "paper_bar": PAPER_BAR_1024, "bar_met": speedup >= PAPER_BAR_1024}
        checks.append(check)
    return checks


def _markdown(mix: list[dict], gen: list[dict], checks: list[dict], gpu: bool, env: dict) -> str:
    cols = ["direct", "block_fft", "ssm_one_shot", "ssm_direct_vandermonde", "ssm_state_passing", "attention"]
    present = [c for c in cols if any(f"{c}_ms" in r for r in mix)]
    lines = [
        "| L | fft conv (ms) | " + " | ".join(f"{c}/fft" for c in present) + " | cuda_fused/fft |",
        "|---|---|" + "---|" * (len(present) + 1),
    ]
    for r in mix:
        cells = [str(r.get(f"{c}/fft", "-")) for c in present]
        fused = str(r.get("cuda_fused/fft", "-")) if gpu else "not run: no GPU"
        lines.append(f"| {r['L']} | {r['fft_ms']} | " + " | ".join(cells) + f" | {fused} |")
    lines += [
        "",
        "| batch | prompt | H3 tokens/s | hybrid tokens/s | Transformer tokens/s | H3 / Transformer | hybrid / Transformer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in gen:
        lines.append(
            f"| {r['batch']} | {r['prompt']} | {r['h3_tok_s']} | {r['hybrid_tok_s']} | {r['transformer_tok_s']} "
            f"| {r['h3/transformer_speedup']} | {r['hybrid/transformer_speedup']} |"
        )
    lines.append("")
    for c in checks:
        line = f"- batch {c['batch']}: H3 step-cost spread across prompts {c['h3_step_spread']:.1%} "
        line += f"({'< 20%: ok' if c['spread_ok'] else '>= 20%: FAILED'})"
        if "speedup_at_1024" in c:
            met = "met" if c["bar_met"] else "not met"
            line += f"; H3 / Transformer at prompt 1024 = {c['speedup_at_1024']}x (paper bar 2.4x: {met})"
        lines.append(line)
    lines += ["", f"Machine: {env['platform']}, {env['cpu_count']} cores, torch {env['packages'].get('torch')}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="h3-flashconv-bench", description=__doc__.split("\n\n")[0])
    add_dataclass_args(parser, BenchConfig)
    cfg = config_from_args(parser, BenchConfig, argv)
    if cfg.quick:
        cfg.lengths, cfg.long_lengths, cfg.gen_prompts = (256, 1024), (8192,), (128, 1024)
        cfg.repeats, cfg.warmup, cfg.gen_tokens, cfg.chunk = 5, 1, 8, 2048
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {cfg.device} asked for but CUDA is not available")
    dev = torch.device(cfg.device)
    set_threads(cfg.threads)
    load_before = load_snapshot()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(cfg.seed)
    log = (lambda s: None) if cfg.quiet else print
    t0 = time.time()
    mix = _mixing_rows(cfg, dev, sync, log)
    gen = _gen_rows(cfg, dev, sync, log)
    env = environment_info(cfg.seed)
    checks = generation_checks(gen)
    gpu = dev.type == "cuda"
    out = Path(cfg.out)
    write_bench(
        out,
        "h3-flashconv",
        rows=[{"table": "mixing", **r} for r in mix] + [{"table": "generation", **r} for r in gen],
        config=asdict(cfg),
        load_before=load_before,
        mixing=mix,
        generation=gen,
        generation_checks=checks,
        gpu_rows="run" if gpu else "not run: no GPU",
        env=env,
        seconds=round(time.time() - t0, 1),
        torch_threads=torch.get_num_threads(),
        device=torch.cuda.get_device_name() if gpu else env["processor"] or env["machine"],
    )
    md = _markdown(mix, gen, checks, gpu, env)
    atomic_write_bytes(out / "bench.md", md.encode())
    print(md)
    return 0


def entry() -> None:
    run_cli(main)
