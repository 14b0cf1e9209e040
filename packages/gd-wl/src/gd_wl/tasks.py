"""Tasks: heads, losses and metrics (the official ``synthetic_criterion.py`` and ``l1_loss``).

* ``cut-vertex``: per-node cross-entropy on ``y_cut``; ``bridge``: per-edge cross-entropy on ``y_bridge``
  over every ``edge_index`` column (both directions, as the official all-pairs label matrix);
  ``biconnectivity``: both heads, the sum of the two losses.
* Accuracy per node/edge and *graph-level* accuracy: a graph counts as correct only when every node
  (edge) in it is (the official ``all_acc_graph``).
* ``graph-regression``: L1 loss and MAE (ZINC); ``graph-classification`` / ``node-classification``:
  cross-entropy and accuracy on ``y``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

__all__ = ["TASKS", "heads_for", "task_loss", "evaluate"]

TASKS = (
    "biconnectivity",
    "cut-vertex",
    "bridge",
    "graph-regression",
    "graph-classification",
    "node-classification",
)
CE_GROUP = (0, 1, 2, 3)  # counterexample families (1-WL-equivalent pairs); 4 = tree-of-cubic


def heads_for(task: str, datas: Sequence) -> dict[str, int]:
    """Output sizes of the node/edge/graph heads ``task`` needs."""
    if task == "biconnectivity":
        return {"node_out": 2, "edge_out": 2}
    if task == "cut-vertex":
        return {"node_out": 2}
    if task == "bridge":
        return {"edge_out": 2}
    ys = [d.y for d in datas]
    if task == "graph-regression":
        return {"graph_out": int(ys[0].view(1, -1).shape[1])}
    classes = int(max(int(y.max()) for y in ys)) + 1
    return {"graph_out": classes} if task == "graph-classification" else {"node_out": classes}


def task_loss(out: dict[str, Tensor], batch, task: str) -> Tensor:  # noqa: ANN001
    if task in ("biconnectivity", "cut-vertex", "bridge"):
        loss = out["node"].new_zeros(()) if "node" in out else out["edge"].new_zeros(())
        if task in ("biconnectivity", "cut-vertex"):
            loss = loss + F.cross_entropy(out["node"], batch.y_cut)
        if task in ("biconnectivity", "bridge"):
            loss = loss + F.cross_entropy(out["edge"], batch.y_bridge)
        return loss
    if task == "graph-regression":
        return F.l1_loss(out["graph"], batch.y.view(out["graph"].shape).to(out["graph"].dtype))
    if task == "graph-classification":
        return F.cross_entropy(out["graph"], batch.y.view(-1).long())
    return F.cross_entropy(out["node"], batch.y.view(-1).long())


class _Tally:
    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    def add(self, name: str, correct: Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(correct.float().sum())
        self.counts[name] = self.counts.get(name, 0.0) + float(correct.numel())

    def result(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k] > 0}


def _per_graph(correct: Tensor, graph_of: Tensor, num_graphs: int) -> Tensor:
    """True for the graphs whose every item is correct (graphs without items count as correct)."""
    wrong = scatter((~correct).long(), graph_of, dim=0, dim_size=num_graphs, reduce="sum")
    return wrong == 0


@torch.no_grad()
def evaluate(model: torch.nn.Module, datas: Sequence, task: str, batch_size: int = 64) -> dict[str, float]:
    """Accuracy (per item and per graph, by family group when ``family`` is present) or MAE on ``datas``."""
    was_training = model.training
    model.eval()
    tally = _Tally()
    abs_err, n_graphs = 0.0, 0
    for batch in DataLoader(list(datas), batch_size=batch_size, shuffle=False):
        out = model(batch)
        fam = getattr(batch, "family", None)
        groups = {"": torch.ones(batch.num_graphs, dtype=torch.bool)}
        if fam is not None:
            groups["_ce"] = torch.isin(fam, torch.tensor(CE_GROUP))
            groups["_tree"] = ~groups["_ce"]
        items = []
        if "node" in out and task != "graph-classification":
            target = batch.y_cut if task in ("biconnectivity", "cut-vertex") else batch.y.view(-1).long()
            items.append(("node", out["node"].argmax(-1) == target, batch.batch))
        if "edge" in out:
            items.append(("edge", out["edge"].argmax(-1) == batch.y_bridge, batch.batch[batch.edge_index[0]]))
        for name, correct, graph_of in items:
            graph_ok = _per_graph(correct, graph_of, batch.num_graphs)
            for suffix, sel in groups.items():
                tally.add(f"{name}_acc{suffix}", correct[sel[graph_of]])
                tally.add(f"{name}_graph_acc{suffix}", graph_ok[sel])
        if task == "graph-classification":
            tally.add("graph_acc", out["graph"].argmax(-1) == batch.y.view(-1).long())
        if task == "graph-regression":
            abs_err += float((out["graph"] - batch.y.view(out["graph"].shape)).abs().sum())
            n_graphs += int(out["graph"].numel())
    model.train(was_training)
    res = tally.result()
    if task == "graph-regression":
        res["mae"] = abs_err / max(1, n_graphs)
    return res
