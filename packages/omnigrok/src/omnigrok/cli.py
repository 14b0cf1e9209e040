"""Command-line entry points ``omnigrok-train`` and ``omnigrok-landscape``.

Omnigrok (Liu, Michaud, Tegmark, ICLR 2023): train one run with alpha-scaled init and AdamW weight
decay, or constrained to the norm ``alpha * w0`` (``omnigrok-train``); sweep the fixed norm and plot
the LU landscape (``omnigrok-landscape``). Both write a run folder (config, metrics.jsonl, summary,
plot), refuse a used ``--out`` unless ``--resume`` or ``--overwrite``, and resume exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from omnigrok.train import TrainConfig
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import check, parse_run_config, run_cli
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.threads import set_threads

__all__ = ["train_main", "landscape_main", "train_entry", "landscape_entry", "LandscapeConfig"]


def train_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        TrainConfig,
        argv,
        prog="omnigrok-train",
        description="Train one Omnigrok run: alpha-scaled init + AdamW weight decay, or --constrained to the "
        "fixed norm alpha*w0 (Liu, Michaud, Tegmark, ICLR 2023). Options left unset take the task's default.",
        default_out="runs/omnigrok",
    )
    set_threads(cfg.threads)
    from omnigrok.plots import plot_runs
    from omnigrok.train import build, resolve, train

    cfg = resolve(cfg)
    build(cfg)  # bad data (a malformed IDX file, p not prime) is refused before the run folder is made
    run, _ = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    res = train(cfg, out=run, resume=args.resume, quiet=args.quiet)
    kind = (
        f"constrained |theta| = {cfg.alpha:g} w0"
        if cfg.constrained
        else f"alpha {cfg.alpha:g}, wd {cfg.weight_decay:g}"
    )
    plot_runs([(f"{cfg.task}: {kind}", res["history"])], run / "curves.png")
    m = res["metrics"]
    if args.quiet:
        print(json.dumps({"run": str(run), **m}))
    else:
        delay = "n/a (train acc never reached 99%)" if m["delay"] is None else f"{m['delay']:.2f}"
        print(
            f"{run}: train acc {m['final_train_acc']:.3f}, test acc {m['final_test_acc']:.3f} (best "
            f"{m['best_test_acc']:.3f}), t_train {m['t_train']}, t_test {m['t_test']}, delay {delay}, "
            f"norm {res['history'][0]['norm']:.2f} -> {m['final_norm']:.2f}"
        )
    return 0


@dataclass
class LandscapeConfig(TrainConfig):
    """A sweep of constrained runs over the fixed norm ``alpha * w0`` (``--alpha`` is ignored)."""

    alphas: tuple[float, ...] = field(
        default=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0), metadata={"help": "fixed norms as multiples of w0, e.g. 0.5,1,2"}
    )


def landscape_main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_run_config(
        LandscapeConfig,
        argv,
        prog="omnigrok-landscape",
        description="The LU landscape: final train/test loss of runs held at the fixed norm alpha*w0 (weight decay "
        "0, rescaled after every step), for each alpha; writes landscape.json and lu.png.",
        default_out="runs/omnigrok-landscape",
    )
    check(len(cfg.alphas) >= 3, f"--alphas needs at least 3 values, got {list(cfg.alphas)}")
    check(all(a > 0 for a in cfg.alphas), f"--alphas must all be > 0, got {list(cfg.alphas)}")
    set_threads(cfg.threads)
    from omnigrok.landscape import lu_shape, run_landscape
    from omnigrok.plots import plot_lu
    from omnigrok.train import build, resolve

    cfg = resolve(cfg)
    cfg.constrained = True
    cfg.weight_decay = 0.0
    build(cfg)  # bad data is refused before the run folder is made
    run, resumed = prepare_run_dir(args.out, asdict(cfg), resume=args.resume, overwrite=args.overwrite, seed=cfg.seed)
    path = run / "landscape.json"
    done = {}
    if resumed and path.is_file():
        done = {r["alpha"]: r for r in json.loads(path.read_text())["rows"]}
    with RunLogger(run, quiet=args.quiet, resume_step=(len(done) - 1) if resumed else None) as log:

        def save(alpha: float, row: dict) -> None:
            done[alpha] = row
            log.log(len(done) - 1, **row)
            atomic_write_json(path, {"rows": sorted(done.values(), key=lambda r: r["alpha"])})

        rows = run_landscape(cfg, sorted(cfg.alphas), done=done, on_result=save)
        shape = lu_shape(rows)
        atomic_write_json(path, {"rows": rows, "shape": shape})
        log.summary(**shape)
    plot_lu(rows, run / "lu.png", title=f"{cfg.task}: constrained runs, {cfg.steps} steps")
    if args.quiet:
        print(json.dumps({"run": str(run), "rows": rows, **shape}))
    else:
        for r in rows:
            print(
                f"alpha {r['alpha']:g}: train loss {r['train_loss']:.3g} (acc {r['train_acc']:.3f}), "
                f"test loss {r['test_loss']:.3g} (acc {r['test_acc']:.3f})"
            )
        print(f"L-shaped train loss: {shape['l_shaped']}, U-shaped test loss: {shape['u_shaped']} -> {run}")
    return 0


def train_entry() -> None:
    run_cli(train_main)


def landscape_entry() -> None:
    run_cli(landscape_main)
