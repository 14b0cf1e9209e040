"""The training loop of ELPH, BUDDY and the baselines (Chamberlain et al., ICLR 2023, Sec. 6).

One plain PyTorch loop for every model family (not Lightning): everything fits in memory on one CPU and
the official code is a plain loop too. Each epoch trains once (the family's runner, :mod:`elph.runners`)
and evaluates on validation; the test numbers are those of the epoch with the best validation metric
(official ``run.py``). Run folders follow ``orals23_shared.runfolder``; checkpoints are atomic and
``--resume`` continues to the same weights as an uninterrupted run (:mod:`elph.checkpoints`).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from pathlib import Path

import torch

from elph.checkpoints import load_checkpoint, save_checkpoint
from elph.config import TrainConfig, selection_metric
from elph.data import (
    Graph,
    LinkSplit,
    largest_connected_component,
    load_edge_list,
    load_planetoid,
    split_links,
    structural_features,
)
from elph.ogb import is_ogb, load_ogb
from elph.runners import Runner, make_runner
from orals23_shared.checkpoint import atomic_save
from orals23_shared.cli import UsageError, check
from orals23_shared.paths import shared_data_dir
from orals23_shared.runfolder import prepare_run_dir
from orals23_shared.runs import RunLogger
from orals23_shared.seed import seed_everything

__all__ = ["load_graph", "load_data", "with_training_features", "train", "load_run"]


def load_graph(cfg: TrainConfig) -> Graph:
    """The graph named by ``cfg`` (Planetoid or edge list), LCC-reduced when ``cfg.lcc``.

    ``graph.x`` is None when the graph has no node features (edge lists, ``--structure-only``, the shared
    PubMed copy without ``allx``): :func:`with_training_features` then adds degree features once the split
    is known.
    """
    check((cfg.dataset is None) != (cfg.edges is None), "give exactly one of --dataset or --edges")
    check(not is_ogb(cfg.dataset), "OGB datasets come with their own splits: use load_data")
    if cfg.edges is not None:
        g = load_edge_list(cfg.edges)
    else:
        root = cfg.root if cfg.root is not None else shared_data_dir(cfg.dataset)
        if root is None:
            raise UsageError(f"no --root given and no shared data folder for {cfg.dataset}")
        want_x = not cfg.structure_only
        if want_x and cfg.dataset == "pubmed" and not any(Path(root).glob("**/ind.pubmed.allx")):
            want_x = False  # the shared PubMed copy lacks allx: structure only (README)
        g = load_planetoid(root, cfg.dataset, features=want_x)
    if cfg.lcc:
        g = largest_connected_component(g)
    if cfg.structure_only:
        g.x = None
    return g


def with_training_features(graph: Graph, splits: dict[str, LinkSplit]) -> Graph:
    """``graph`` with one-hot degree features computed on the *training* graph when it has none.

    The validation and test edges never reach the features: they are identical whether or not the
    held-out edges are in the input file (tested).
    """
    if graph.x is None:
        graph = dataclasses.replace(graph, x=structural_features(splits["train"].edge_index, graph.num_nodes))
    return graph


def load_data(cfg: TrainConfig) -> tuple[Graph, dict[str, LinkSplit]]:
    """Graph and splits: OGB's own splits and negatives for ``ogbl-*``, else the 70/10/20 random split."""
    if is_ogb(cfg.dataset):
        check(cfg.edges is None, "give exactly one of --dataset or --edges")
        root = cfg.root if cfg.root is not None else shared_data_dir(cfg.dataset)
        if root is None:
            raise UsageError(f"--dataset {cfg.dataset} needs --root DIR (a local copy in OGB's layout)")
        graph, splits, _ = load_ogb(root, cfg.dataset, seed=cfg.seed, year=cfg.year, features=not cfg.structure_only)
    else:
        graph = load_graph(cfg)
        splits = split_links(graph, cfg.val_pct, cfg.test_pct, seed=cfg.seed)
    return with_training_features(graph, splits), splits


def _run_folder(cfg: TrainConfig, name: str) -> tuple[Path, bool]:
    check(cfg.out is not None or not cfg.resume, "--resume needs --out RUN (the run folder to continue)")
    out = cfg.out
    if out is None:
        out = Path("runs") / name / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    cfg_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
    return prepare_run_dir(out, cfg_dict, resume=cfg.resume, overwrite=cfg.overwrite, seed=cfg.seed)


def train(cfg: TrainConfig) -> dict:
    """Train ``cfg.model``, select the best-validation epoch, write the run folder; returns the summary."""
    seed_everything(cfg.seed)
    graph, splits = load_data(cfg)
    sel, sel_k = selection_metric(cfg)
    name = f"{cfg.dataset or graph.name}-{cfg.model}"
    run, resumed = _run_folder(cfg, name)
    torch.manual_seed(cfg.seed)
    runner = make_runner(cfg, graph, splits)
    start_epoch, best = 1, {"best_val": -1.0, "best_epoch": 0, "best_state": None}
    resume_step = None
    if resumed:
        restored = load_checkpoint(run, runner)
        resume_step = -1 if restored is None else restored[0]
        if restored is not None:
            start_epoch, best = restored[0] + 1, restored[1]
    epochs = cfg.epochs if runner.model is not None else 0
    gen = torch.Generator()
    t0 = time.perf_counter()
    with RunLogger(run, quiet=cfg.quiet, resume_step=resume_step) as log:
        if start_epoch == 1:
            log.log(0, preprocess_seconds=runner.preprocess_seconds)
        for epoch in log.progress(range(start_epoch, epochs + 1), total=max(epochs - start_epoch + 1, 0), desc=name):
            gen.manual_seed(cfg.seed + epoch)
            loss = runner.train_epoch(gen)
            val = runner.evaluate("val", (sel_k,))
            log.log(epoch, loss=loss, **{f"val_{k}": v for k, v in val.items()})
            if val[sel] > best["best_val"]:
                state = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
                best = {"best_val": val[sel], "best_epoch": epoch, "best_state": state}
            if epoch % cfg.checkpoint_every == 0 or epoch == epochs:
                save_checkpoint(run, epoch, runner, best)
        if runner.model is not None and best["best_state"] is not None:
            runner.model.load_state_dict(best["best_state"])
        ks = tuple(sorted({sel_k, 100}))
        test, val = runner.evaluate("test", ks), runner.evaluate("val", ks)
        summary = {f"test_{k}": v for k, v in test.items()} | {f"val_{k}": v for k, v in val.items()}
        summary |= {
            "best_epoch": best["best_epoch"],
            "train_seconds": round(time.perf_counter() - t0, 3),
            "preprocess_seconds": round(runner.preprocess_seconds, 3),
            "num_nodes": graph.num_nodes,
            "num_edges": graph.num_edges,
            "selection_metric": sel,
        }
        _save_model(run, cfg, runner, graph, splits)
        log.summary(**summary)
    summary["run"] = str(run)
    return summary


def _save_model(run: Path, cfg: TrainConfig, runner: Runner, graph: Graph, splits: dict[str, LinkSplit]) -> None:
    payload = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()},
        "model_state": runner.model.state_dict() if runner.model is not None else None,
        "x": graph.x.to_sparse(),
        "num_nodes": graph.num_nodes,
        "name": graph.name,
        "edge_index": graph.edge_index,
        "splits": {k: dataclasses.asdict(v) for k, v in splits.items()},
    }
    atomic_save(run / "model.pt", lambda f: torch.save(payload, f))


def load_run(run: str | Path) -> tuple[TrainConfig, Runner]:
    """Rebuild the runner of a finished run (its best model, its graph and split) from ``RUN/model.pt``."""
    run = Path(run)
    path = run / "model.pt"
    if not path.is_file():
        raise UsageError(f"{run} is not a finished elph-train run (no model.pt)")
    payload = torch.load(path, weights_only=False)
    cfg_d = payload["config"]
    for key in ("root", "edges", "out"):
        if cfg_d.get(key) is not None:
            cfg_d[key] = Path(cfg_d[key])
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in cfg_d.items() if k in known} | {"resume": False, "overwrite": False})
    graph = Graph(
        num_nodes=payload["num_nodes"],
        edge_index=payload["edge_index"],
        x=payload["x"].to_dense(),
        name=payload["name"],
    )
    splits = {k: LinkSplit(**v) for k, v in payload["splits"].items()}
    torch.manual_seed(cfg.seed)
    runner = make_runner(cfg, graph, splits)
    if runner.model is not None:
        runner.model.load_state_dict(payload["model_state"])
    return cfg, runner
