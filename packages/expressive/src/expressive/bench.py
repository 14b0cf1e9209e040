"""``expressive-bench``: side by side with PyKEEN (the field's KGE library) on WN18RR, and ExpressivE's step cost.

Rows (``orals23_shared.bench`` protocol: medians of >= 5 timed runs with min/max; the machine's load is recorded):

1. ``train-step``: one sLCWA step (forward, backward, Adam) of ExpressivE and of TransE at the same d and
   negatives (brief, Sec. 3(g): d = 64, 32 negatives), triples per second and the ratio.
2. ``transe-train``: TransE trained on WN18RR by our trainer and by PyKEEN's ``SLCWATrainingLoop`` with the same
   dimension, norm (L1), initialisation, negatives (``BasicNegativeSampler``), loss (``NSSALoss``, sum), Adam,
   batch size and epochs; filtered test MRR / Hits@10 of both (same ids, same test triples) and the epoch time.
3. ``transe-eval``: the filtered evaluation of the whole WN18RR test set (both directions, all 40,943 entities) of
   *one* model, ours vs PyKEEN's ``RankBasedEvaluator`` (our weights copied into PyKEEN's TransE); their metrics
   must agree (a cross-check of our ranking) and we time both.
4. ``expressive-eval``: our filtered evaluation of ExpressivE per 1000 test triples, eager vs compiled.

Without PyKEEN (``pip install "expressive[bench]"``), rows 2-3 compare against a brute-force reference instead
(a per-candidate loop on a subset of test triples).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from expressive.data import load_kg
from expressive.evaluate import FilterIndex, evaluate, filtered_ranks
from expressive.model import build_model
from expressive.train import NegativeSampler, TrainConfig, nssa_loss, train_epoch
from orals23_shared.bench import add_bench_args, load_snapshot, time_call, write_bench
from orals23_shared.cli import UsageError
from orals23_shared.paths import shared_data_dir
from orals23_shared.threads import set_threads

__all__ = ["bench_main", "step_throughput", "pykeen_side_by_side"]


def step_throughput(num_entities: int, dim: int, negatives: int, batch: int, repeats: int, warmup: int) -> list[dict]:
    """Triples (positives and negatives) per second of one training step, ExpressivE vs TransE."""
    rows = []
    g = torch.Generator().manual_seed(0)
    pos = torch.stack(
        [
            torch.randint(num_entities, (batch,), generator=g),
            torch.randint(11, (batch,), generator=g),
            torch.randint(num_entities, (batch,), generator=g),
        ],
        1,
    )
    sampler = NegativeSampler("uniform", pos.numpy(), num_entities, 11)
    neg = sampler.sample(pos, negatives, g)
    for name in ("expressive", "transe"):
        model = build_model(name, num_entities, 11, dim)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt) -> None:
            loss = nssa_loss(
                model.score(pos[:, 0], pos[:, 1], pos[:, 2]),
                model.score(neg[..., 0], pos[:, 1:2], neg[..., 2]),
                3.0,
                2.0,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.post_step()

        t = time_call(step, repeats=repeats, warmup=warmup)
        rows.append(
            {
                "row": "train-step",
                "model": name,
                "dim": dim,
                "negatives": negatives,
                "batch": batch,
                **t.as_dict(),
                "triples_per_s": round(batch * (negatives + 1) / t.median),
            }
        )
    rows.append(
        {
            "row": "train-step",
            "model": "ratio expressive/transe (time)",
            "value": round(rows[0]["median"] / rows[1]["median"], 2),
        }
    )
    return rows


def _pykeen_factories(kg):
    from pykeen.triples import CoreTriplesFactory

    # our integer ids as they are (entities of all splits), so both libraries rank the same candidates
    return {
        s: CoreTriplesFactory(
            mapped_triples=torch.as_tensor(kg.split(s), dtype=torch.long),
            num_entities=kg.num_entities,
            num_relations=kg.num_relations,
            create_inverse_triples=False,
        )
        for s in ("train", "valid", "test")
    }


def _pykeen_transe(tf, dim: int, margin: float, temperature: float, seed: int):
    from pykeen.losses import NSSALoss
    from pykeen.models import TransE

    return TransE(
        triples_factory=tf,
        embedding_dim=dim,
        scoring_fct_norm=1,
        random_seed=seed,
        loss=NSSALoss(margin=margin, adversarial_temperature=temperature, reduction="sum"),
    )


def _pykeen_eval(model, kg, test: np.ndarray, batch_size: int) -> tuple[dict, float]:
    from pykeen.evaluation import RankBasedEvaluator

    ev = RankBasedEvaluator(filtered=True)
    t0 = time.perf_counter()
    res = ev.evaluate(
        model,
        torch.as_tensor(test),
        additional_filter_triples=[torch.as_tensor(kg.train), torch.as_tensor(kg.valid)],
        batch_size=batch_size,
        use_tqdm=False,
    )
    seconds = time.perf_counter() - t0
    metrics = {
        "mrr": res.get_metric("both.realistic.inverse_harmonic_mean_rank"),
        "hits@1": res.get_metric("both.realistic.hits_at_1"),
        "hits@10": res.get_metric("both.realistic.hits_at_10"),
    }
    return metrics, seconds


def pykeen_side_by_side(
    kg, dim: int, negatives: int, epochs: int, lr: float, batch: int, eval_batch: int, seed: int
) -> list[dict]:
    """Rows 2 and 3 of the module docstring (needs pykeen)."""
    from pykeen.training import SLCWATrainingLoop

    rows = []
    tfs = _pykeen_factories(kg)
    known = kg.all_triples()
    # -- ours
    cfg = TrainConfig(
        data=Path("x"),
        out=Path("y"),
        model="transe",
        dim=dim,
        negatives=negatives,
        epochs=epochs,
        lr=lr,
        batch_size=batch,
        seed=seed,
        p=1,
    )
    torch.manual_seed(seed)
    ours = build_model("transe", kg.num_entities, kg.num_relations, dim, p=1)
    opt = torch.optim.Adam(ours.parameters(), lr=lr)
    sampler = NegativeSampler("uniform", kg.train, kg.num_entities, kg.num_relations)
    ids = torch.as_tensor(kg.train)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        train_epoch(ours, opt, ids, sampler, cfg, epoch)
    ours_epoch = (time.perf_counter() - t0) / epochs
    ours_m = evaluate(ours, kg.test, known, batch_size=eval_batch, compile="off")
    # -- PyKEEN
    pk = _pykeen_transe(tfs["train"], dim, cfg.margin, cfg.temperature, seed)
    loop = SLCWATrainingLoop(
        model=pk,
        triples_factory=tfs["train"],
        optimizer="adam",
        optimizer_kwargs={"lr": lr},
        negative_sampler="basic",
        negative_sampler_kwargs={"num_negs_per_pos": negatives},
    )
    t0 = time.perf_counter()
    loop.train(triples_factory=tfs["train"], num_epochs=epochs, batch_size=batch, use_tqdm=False)
    pk_epoch = (time.perf_counter() - t0) / epochs
    pk_m, _ = _pykeen_eval(pk, kg, kg.test, eval_batch)
    rows.append(
        {
            "row": "transe-train",
            "dim": dim,
            "negatives": negatives,
            "epochs": epochs,
            "lr": lr,
            "ours": {k: round(ours_m[k], 4) for k in ("mrr", "hits@1", "hits@10")} | {"epoch_s": round(ours_epoch, 2)},
            "pykeen": {k: round(v, 4) for k, v in pk_m.items()} | {"epoch_s": round(pk_epoch, 2)},
            "mrr_difference": round(ours_m["mrr"] - pk_m["mrr"], 4),
            "epoch_time_ratio_ours_over_pykeen": round(ours_epoch / pk_epoch, 2),
        }
    )
    # -- one model, two evaluators: copy our weights into PyKEEN's TransE
    with torch.no_grad():
        pk.entity_representations[0]._embeddings.weight.copy_(ours.entity.weight)
        pk.relation_representations[0]._embeddings.weight.copy_(ours.relation.weight)
    t_ours, t_pk = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        m_ours = evaluate(ours, kg.test, known, batch_size=eval_batch, compile="off")
        t_ours.append(time.perf_counter() - t0)
        m_pk, s = _pykeen_eval(pk, kg, kg.test, eval_batch)
        t_pk.append(s)
    rows.append(
        {
            "row": "transe-eval",
            "test_triples": len(kg.test),
            "entities": kg.num_entities,
            "eval_batch": eval_batch,
            "ours_s": round(float(np.median(t_ours)), 2),
            "pykeen_s": round(float(np.median(t_pk)), 2),
            "runs": 3,
            "speedup_ours": round(float(np.median(t_pk) / np.median(t_ours)), 2),
            "ours": {k: round(m_ours[k], 5) for k in ("mrr", "hits@1", "hits@10")},
            "pykeen": {k: round(v, 5) for k, v in m_pk.items()},
            "max_metric_difference": round(max(abs(m_ours[k] - m_pk[k]) for k in m_pk), 6),
        }
    )
    return rows


def brute_force_reference(kg, dim: int, n_triples: int, seed: int) -> dict:
    """Without PyKEEN: our ranks vs a per-candidate loop on ``n_triples`` test triples, and the timing."""
    model = build_model("transe", kg.num_entities, kg.num_relations, dim, p=1)
    test = kg.test[np.random.default_rng(seed).choice(len(kg.test), n_triples, replace=False)]
    filt = FilterIndex(kg.all_triples())
    t0 = time.perf_counter()
    ours = filtered_ranks(model, test, filt, "tail", compile="off")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = []
    with torch.no_grad():
        for h, r, t in test.tolist():
            scores = model.score(
                torch.full((kg.num_entities,), h), torch.full((kg.num_entities,), r), torch.arange(kg.num_entities)
            ).numpy()
            pos = scores[t]
            scores[filt.known(h, r, "tail")] = -np.inf
            scores[t] = -np.inf
            ref.append(1 + (scores > pos).sum() + (scores == pos).sum() / 2)
    t_ref = time.perf_counter() - t0
    return {
        "row": "brute-force-reference",
        "test_triples": n_triples,
        "max_rank_difference": float(np.abs(ours - ref).max()),
        "ours_s": round(t_ours, 3),
        "reference_s": round(t_ref, 3),
    }


def bench_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="expressive-bench", description=__doc__.split("\n\n")[0])
    add_bench_args(parser, "expressive")
    parser.add_argument("--data", type=Path, default=None, help="WN18RR folder (default: ../shared/data/wn18rr)")
    parser.add_argument("--dim", type=int, default=64, help="TransE dimension for the PyKEEN rows (default: 64)")
    parser.add_argument("--negatives", type=int, default=32, help="negatives per positive (default: 32)")
    parser.add_argument("--epochs", type=int, default=20, help="TransE epochs for both libraries (default: 20)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default: 0.01)")
    parser.add_argument("--batch-size", type=int, default=512, help="positives per step (default: 512)")
    parser.add_argument("--eval-batch", type=int, default=256, help="queries per evaluation batch (default: 256)")
    parser.add_argument("--quick", action="store_true", help="step timings and 2 TransE epochs only")
    args = parser.parse_args(argv)
    for name in ("dim", "negatives", "epochs", "batch_size", "eval_batch", "repeats"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    before = load_snapshot()
    data = args.data or shared_data_dir("wn18rr")
    if data is None:
        raise UsageError("WN18RR not found: pass --data DIR (train.txt, valid.txt, test.txt)")
    kg = load_kg(data)
    rows = step_throughput(kg.num_entities, 64, 32, 512, args.repeats, args.warmup)
    epochs = 2 if args.quick else args.epochs
    if importlib.util.find_spec("pykeen") is not None:
        rows += pykeen_side_by_side(
            kg, args.dim, args.negatives, epochs, args.lr, args.batch_size, args.eval_batch, args.seed
        )
    else:
        rows.append({"row": "pykeen", "skipped": 'pykeen is not installed: pip install "expressive[bench]"'})
        rows.append(brute_force_reference(kg, args.dim, 50, args.seed))
    model = build_model("expressive", kg.num_entities, kg.num_relations, 32)
    sub = kg.test[:200]
    for mode in ("off", "on"):
        t0 = time.perf_counter()
        try:
            evaluate(model, sub, kg.all_triples(), compile=mode)
        except Exception as e:  # no C++ toolchain for inductor: recorded, not fatal
            rows.append({"row": "expressive-eval", "compile": mode, "error": type(e).__name__})
            continue
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate(model, sub, kg.all_triples(), compile=mode)
        rows.append(
            {
                "row": "expressive-eval",
                "compile": mode,
                "dim": 32,
                "s_per_1000_test_triples": round((time.perf_counter() - t0) / len(sub) * 1000, 2),
                "first_call_s": round(first, 2),
            }
        )
    path = write_bench(args.out, "expressive", rows, config=vars(args), load_before=before, threads_used=threads)
    print(json.dumps(rows, indent=1))
    print(path)
    return 0
