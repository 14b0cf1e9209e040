"""``relreps-bench``: the cost of relative representations, measured side by side in one run.

* Training step (forward, backward, Adam) of the same encoder and batch with an absolute head and with a relative
  head whose K anchors are re-embedded by the current encoder at every step (K in ``--anchors``), plus the
  relative head with the anchor latents computed once (what inference with a fixed encoder can do). The ratio
  relative / absolute is the overhead of re-embedding (the brief's estimate: K / (3 x batch) extra encoder passes).
* ``relreps-compare``'s computation (relative projection, Jaccard@10, MRR, mean cosine, linear CKA) on random
  ``--compare-rows`` x ``--compare-dim`` embeddings with 300 anchors, and its peak memory in a fresh process.

Timings: ``orals23_shared.bench.time_call`` (median of >= 5 runs with min and max); ``bench.json`` records the load.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from orals23_shared.bench import add_bench_args, load_snapshot, peak_rss, time_call, write_bench
from orals23_shared.cli import UsageError, run_cli
from orals23_shared.threads import set_threads
from relreps.anchors import ParallelAnchors, uniform_anchors
from relreps.metrics import compare_spaces
from relreps.model import CNNEncoder, MLPEncoder, RelativeModel, classifier_decoder
from relreps.projection import RelativeProjection

__all__ = ["main", "entry", "step_fn", "random_spaces", "compare_random"]


def _encoder(arch: str, latent: int) -> torch.nn.Module:
    return MLPEncoder(64, [128], latent) if arch == "mlp" else CNNEncoder((1, 8, 8), latent)


def step_fn(arch: str, k: int, batch: int, cached: bool, seed: int = 0, device: str = "cpu"):  # noqa: ANN201
    """One training step of a digits-sized model: absolute head when ``k == 0``, else relative over k anchors."""
    torch.manual_seed(seed)
    shape = (64,) if arch == "mlp" else (1, 8, 8)
    enc = _encoder(arch, 32)
    if k == 0:
        model = RelativeModel(enc, classifier_decoder(32, 10))
    else:
        model = RelativeModel(enc, classifier_decoder(k, 10), RelativeProjection(k), torch.rand(k, *shape))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x, y = torch.rand(batch, *shape, device=device), torch.randint(0, 10, (batch,), device=device)
    if cached and k:
        model._cached = model.anchor_latents()  # latents of a fixed encoder: not re-embedded

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def random_spaces(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two n x d spaces: random rows, and a rotated copy of them plus noise."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = a @ np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
    b += 0.1 * rng.standard_normal((n, d), dtype=np.float32)
    return a, b


def compare_random(n: int, d: int, anchors: int = 300, seed: int = 0) -> dict[str, Any]:
    """``relreps-compare`` on ``random_spaces`` (what the fresh-process memory measurement runs)."""
    a, b = random_spaces(n, d, seed)
    return compare_spaces(a, b, ParallelAnchors.same(uniform_anchors(n, anchors, seed)), k=10, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relreps-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "relreps")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch (default: %(default)s)")
    parser.add_argument("--anchors", default="100,300,500", help="anchor counts K (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run (default: %(default)s)")
    parser.add_argument("--compare-rows", type=int, default=100_000, help="rows N of the compare bench")
    parser.add_argument("--compare-dim", type=int, default=512, help="dimension D of the compare bench")
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak memory measurement")
    args = parser.parse_args(argv)
    try:
        ks = [int(v) for v in str(args.anchors).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--anchors must be comma-separated integers, got {args.anchors!r}") from None
    if not ks or min(ks) < 1 or args.batch_size < 1 or args.steps < 1:
        raise UsageError("--anchors, --batch-size and --steps must be positive")
    if args.compare_rows < 310 or args.compare_dim < 1:
        raise UsageError("--compare-rows must be >= 310 (300 anchors) and --compare-dim >= 1")
    threads = set_threads(args.threads)
    before = load_snapshot()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    rows: list[dict[str, Any]] = []
    for arch in ("mlp", "cnn"):
        base_fn = step_fn(arch, 0, args.batch_size, False, args.seed, args.device)
        base = time_call(base_fn, repeats=args.repeats, warmup=args.warmup, sync=sync, number=args.steps)
        rows.append({"bench": "train_step", "arch": arch, "head": "absolute", "anchors": 0, **base.as_dict()})
        for k in ks:
            for cached in (False, True):
                t = time_call(step_fn(arch, k, args.batch_size, cached, args.seed, args.device), repeats=args.repeats,
                              warmup=args.warmup, sync=sync, number=args.steps)  # fmt: skip
                rows.append({"bench": "train_step", "arch": arch, "head": "relative", "anchors": k,
                             "anchors_cached": cached, **t.as_dict(), "ratio_to_absolute": round(t.ratio(base), 3)})  # fmt: skip
                print(f"{arch} K={k:4d} {'cached' if cached else 're-embedded':11}: {t.median * 1e3:7.3f} ms/step, "
                      f"{t.ratio(base):.2f}x absolute ({base.median * 1e3:.3f} ms)")  # fmt: skip
    n, d = args.compare_rows, args.compare_dim
    a, b = random_spaces(n, d, args.seed)
    anchors = ParallelAnchors.same(uniform_anchors(n, 300, args.seed))
    t = time_call(lambda: compare_spaces(a, b, anchors, k=10, seed=args.seed), repeats=args.repeats, warmup=0)
    row: dict[str, Any] = {"bench": "compare", "rows": n, "dim": d, "anchors": 300, **t.as_dict()}
    if not args.no_memory:
        row.update(peak_rss("relreps.bench:compare_random", {"n": n, "d": d, "anchors": 300, "seed": args.seed}))
    rows.append(row)
    print(f"compare {n} x {d}: {t.median:.2f} s (min {t.min:.2f}, max {t.max:.2f})")
    path = write_bench(args.out, "relreps", rows, config=vars(args), load_before=before, threads_used=threads)
    print(f"bench: {path}")
    return 0


def entry() -> None:
    run_cli(main)
