"""Pruning at initialization: random, ERK, magnitude, SNIP, iterative SNIP, GraSP and SynFlow.

Hoang et al., ICLR 2023 prune with the official ``lib/prune/pruning_utils.py`` (adapted from
ganguli-lab/Synaptic-Flow). Every ``Linear``/``Conv2d`` weight gets a mask; scores are thresholded
globally (default) or per layer, keeping exactly ``round(density * n)`` weights (the official ``topk``
threshold keeps ``score > t`` and may keep fewer on ties).

* ``rand``: Gaussian scores, global top-k (about uniform layer density).
* ``erk``: layer density ``eps * (sum of the weight's dims) / (product of dims)`` (kernel dims included),
  ``eps`` solved for the budget, layers with ``eps * p > 1`` made dense and ``eps`` re-solved; weights
  drawn uniformly inside each layer (the official code draws Bernoulli masks; we keep exact counts).
* ``magnitude``: ``|theta|``.
* ``snip``: ``|dL/dm| = |g (.) theta|`` with ``g`` summed over all scoring batches, normalised by its sum.
* ``itersnip`` / ``synflow``: re-scored ``iterations`` times (official 100) with the current mask applied;
  density after iteration ``e`` (0-based) is ``d^((e+1)/iterations)``. The SNIP score is the gradient
  with respect to the mask (pruned weights may come back, as officially); SynFlow's is
  ``|theta (.) dR/dtheta|`` with the mask applied (pruned weights score 0).
* ``grasp``: logits divided by the temperature 200, ``g = sum_b grad L_b`` (no graph), ``Hg`` by double
  backprop of ``sum_b g . grad L_b``; score ``(Hg) (.) theta / (|sum of scores| + 1e-10)``, largest kept.
* ``synflow`` is data-free: every parameter and buffer replaced by its absolute value, eval mode,
  an all-ones input of one example, ``R = sum f(1)``; computed in float64 (the official code's
  ``model.double()`` is commented out; float32 overflows on deep nets at low density).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orals23_shared.cli import UsageError, check
from ramanujan_pai.model import prunable_layers

__all__ = [
    "METHODS",
    "DATA_METHODS",
    "ITERATIVE",
    "prune",
    "apply_masks",
    "check_masks",
    "erk_densities",
    "exact_counts",
    "select_topk",
    "scores",
    "mask_density",
]

METHODS = ("rand", "erk", "magnitude", "snip", "itersnip", "grasp", "synflow")
DATA_METHODS = frozenset({"snip", "itersnip", "grasp"})
ITERATIVE = frozenset({"itersnip", "synflow"})
GRASP_TEMP = 200.0
GRASP_EPS = 1e-10

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
Masks = dict[str, torch.Tensor]


def check_density(density: float) -> None:
    check(isinstance(density, int | float) and 0 < density <= 1, f"density must be in (0, 1], got {density}")


def exact_counts(densities: Sequence[float], sizes: Sequence[int], total: int) -> list[int]:
    """Integer counts ``<= sizes`` near ``densities * sizes`` summing to ``total`` (largest remainders)."""
    raw = np.array(densities, float) * np.array(sizes, float)
    counts = np.minimum(np.floor(raw).astype(int), sizes)
    order = np.argsort(-(raw - counts), kind="stable")
    left = total - int(counts.sum())
    for i in list(order) * 2:
        if left <= 0:
            break
        if counts[i] < sizes[i]:
            counts[i] += 1
            left -= 1
    return [int(c) for c in counts]


def erk_densities(shapes: Sequence[Sequence[int]], density: float) -> list[float]:
    """Erdos-Renyi-Kernel layer densities: ``eps * sum(shape) / prod(shape)``, capped at 1, budget met."""
    sizes = [math.prod(s) for s in shapes]
    raw = [sum(s) / math.prod(s) for s in shapes]
    dense: set[int] = set()
    while True:
        rhs = sum(n * density for i, n in enumerate(sizes) if i not in dense)
        rhs -= sum(n * (1 - density) for i, n in enumerate(sizes) if i in dense)
        divisor = sum(raw[i] * sizes[i] for i in range(len(sizes)) if i not in dense)
        if divisor == 0:  # every layer dense
            return [1.0] * len(sizes)
        eps = rhs / divisor
        top = max(raw[i] for i in range(len(sizes)) if i not in dense)
        if eps * top > 1:
            dense |= {i for i in range(len(sizes)) if i not in dense and raw[i] == top}
        else:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(sizes))]


def select_topk(score: Mapping[str, torch.Tensor], density: float, scope: str = "global") -> Masks:
    """Boolean masks keeping exactly ``round(density * n)`` largest scores, over all layers or per layer."""
    names = list(score)
    if scope == "global":
        flat = torch.cat([score[n].detach().flatten().double() for n in names])
        k = max(1, round(density * flat.numel()))
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        keep[torch.topk(flat, k, sorted=False).indices] = True
        out, i = {}, 0
        for n in names:
            size = score[n].numel()
            out[n] = keep[i : i + size].view_as(score[n])
            i += size
        return out
    if scope == "local":
        out = {}
        for n in names:
            flat = score[n].detach().flatten().double()
            keep = torch.zeros(flat.numel(), dtype=torch.bool)
            keep[torch.topk(flat, max(1, round(density * flat.numel())), sorted=False).indices] = True
            out[n] = keep.view_as(score[n])
        return out
    raise UsageError(f"scope must be 'global' or 'local', got {scope!r}")


def _grad_at(model: nn.Module, layers: Mapping[str, nn.Module], masks: Masks | None, loss_of: Callable) -> dict:
    """Gradients w.r.t. the effective weights ``theta (.) m`` (weights restored afterwards)."""
    originals = {n: m.weight.data.clone() for n, m in layers.items()}
    try:
        if masks is not None:
            for n, m in layers.items():
                m.weight.data.mul_(masks[n].to(m.weight.dtype))
        weights = [m.weight for m in layers.values()]
        grads = loss_of(weights)
        return dict(zip(layers, grads))
    finally:
        for n, m in layers.items():
            m.weight.data.copy_(originals[n])


def _batch_grads(model: nn.Module, batches: Batches, loss_fn: Callable, scale: float = 1.0) -> Callable:
    def loss_of(weights: list[torch.Tensor]) -> list[torch.Tensor]:
        total = [torch.zeros_like(w) for w in weights]
        for x, y in batches:
            gs = torch.autograd.grad(loss_fn(model(x) / scale, y), weights, allow_unused=True)
            total = [t + (g if g is not None else 0) for t, g in zip(total, gs)]
        return total

    return loss_of


def _snip(model: nn.Module, layers: dict, batches: Batches, loss_fn: Callable, masks: Masks | None) -> dict:
    grads = _grad_at(model, layers, masks, _batch_grads(model, batches, loss_fn))
    s = {n: (grads[n] * layers[n].weight.detach()).abs() for n in layers}
    norm = sum(v.sum() for v in s.values())
    return {n: v / norm for n, v in s.items()} if norm > 0 else s


def _grasp(model: nn.Module, layers: dict, batches: Batches, loss_fn: Callable) -> dict:
    weights = [m.weight for m in layers.values()]
    g = _batch_grads(model, batches, loss_fn, GRASP_TEMP)(weights)
    hg = [torch.zeros_like(w) for w in weights]
    for x, y in batches:
        gs = torch.autograd.grad(loss_fn(model(x) / GRASP_TEMP, y), weights, create_graph=True)
        z = sum((a.detach() * b).sum() for a, b in zip(g, gs))
        hg = [h + d for h, d in zip(hg, torch.autograd.grad(z, weights))]
    s = {n: (h * w.detach()) for n, h, w in zip(layers, hg, weights)}
    norm = abs(sum(v.sum() for v in s.values())) + GRASP_EPS
    return {n: v / norm for n, v in s.items()}


def _synflow(model: nn.Module, input_shape: Sequence[int], masks: Masks | None) -> dict:
    m64 = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for t in m64.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    layers = prunable_layers(m64)
    if masks is not None:
        with torch.no_grad():
            for n, m in layers.items():
                m.weight.mul_(masks[n].double())
    weights = [m.weight for m in layers.values()]
    r = m64(torch.ones((1, *input_shape), dtype=torch.float64)).sum()
    grads = torch.autograd.grad(r, weights, allow_unused=True)
    return {
        n: ((g if g is not None else torch.zeros_like(w)) * w).detach().abs().float()
        for n, g, w in zip(layers, grads, weights)
    }


def scores(
    model: nn.Module,
    method: str,
    batches: Batches | None = None,
    input_shape: Sequence[int] | None = None,
    loss_fn: Callable = F.cross_entropy,
    masks: Masks | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One round of saliency scores per prunable layer (higher = keep)."""
    layers = prunable_layers(model)
    if method == "rand":
        return {n: torch.randn(m.weight.shape, generator=generator) for n, m in layers.items()}
    if method == "magnitude":
        return {n: m.weight.detach().abs() for n, m in layers.items()}
    if method in ("snip", "itersnip"):
        return _snip(model, layers, batches, loss_fn, masks)
    if method == "grasp":
        return _grasp(model, layers, batches, loss_fn)
    if method == "synflow":
        return _synflow(model, input_shape, masks)
    raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def prune(
    model: nn.Module,
    method: str,
    density: float,
    batches: Batches | None = None,
    input_shape: Sequence[int] | None = None,
    scope: str = "global",
    iterations: int = 100,
    loss_fn: Callable = F.cross_entropy,
    seed: int = 0,
) -> Masks:
    """Masks (bool, weight-shaped) for every prunable layer at ``density``; the model is not modified.

    ``batches`` (a list of ``(x, y)``) are needed by SNIP, iterative SNIP and GraSP; SynFlow needs only
    ``input_shape`` (one example's shape) and ignores the data.
    """
    check(method in METHODS, f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_density(density)
    check(scope in ("global", "local"), f"scope must be 'global' or 'local', got {scope!r}")
    check(iterations >= 1, f"iterations must be >= 1, got {iterations}")
    if method in DATA_METHODS:
        check(batches is not None and len(batches) > 0, f"method {method} needs data (a loader of (x, y) batches)")
    if method == "synflow" and input_shape is None:
        check(batches is not None and len(batches) > 0, "synflow needs input_shape (or one batch to read it from)")
        input_shape = tuple(batches[0][0].shape[1:])
    layers = prunable_layers(model)
    check(len(layers) > 0, "the model has no Linear or Conv2d layer to prune")
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    try:
        if method == "erk":
            shapes = [tuple(m.weight.shape) for m in layers.values()]
            sizes = [math.prod(s) for s in shapes]
            counts = exact_counts(erk_densities(shapes, density), sizes, round(density * sum(sizes)))
            out = {}
            for (n, m), k in zip(layers.items(), counts):
                keep = torch.zeros(m.weight.numel(), dtype=torch.bool)
                keep[torch.randperm(m.weight.numel(), generator=gen)[:k]] = True
                out[n] = keep.view(m.weight.shape)
            return out
        if method in ITERATIVE:
            masks = None
            for e in range(iterations):
                s = scores(model, method, batches, input_shape, loss_fn, masks, gen)
                masks = select_topk(s, density ** ((e + 1) / iterations), scope)
            return masks
        return select_topk(scores(model, method, batches, input_shape, loss_fn, None, gen), density, scope)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def check_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """One line naming the first layer whose mask is missing or has the wrong shape."""
    layers = prunable_layers(model)
    missing = [n for n in layers if n not in masks]
    check(not missing, f"masks miss layer(s) {', '.join(missing[:3])} of the model")
    extra = [n for n in masks if n not in layers]
    check(not extra, f"masks name layer(s) {', '.join(extra[:3])} the model does not have")
    for n, m in layers.items():
        check(
            tuple(masks[n].shape) == tuple(m.weight.shape),
            f"mask of layer {n} has shape {tuple(masks[n].shape)}, the model's weight {tuple(m.weight.shape)}",
        )


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the pruned weights (call again after each optimizer step to hold the masks fixed)."""
    for n, m in prunable_layers(model).items():
        m.weight.mul_(masks[n].to(m.weight.dtype))


def mask_density(masks: Iterable[torch.Tensor]) -> float:
    masks = list(masks)
    return sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
