"""The Lightning module: a regressor plus a conditional-independence penalty (Pogodin et al., ICLR 2023, Eq. (9)).

``CirceModule`` computes ``MSE(y_hat, y) / Var(Y) + gamma * sum_l D(phi_l)`` on standardised Y and Z (see
``circe.train`` for the methods ``D``); the scalings and the held-out regression live in buffers so that a
checkpoint carries them. ``Rows`` serves (x, y, z) minibatches a whole batch at a time.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from circe.data import Scaling, Triples
from circe.losses import LinearFit, fit_linear, gcm_statistic, hscic_statistic, hsic_penalty
from circe.model import ScaledNet, build_model
from circe.regression import HeldoutRegression, circe_statistic
from orals23_shared.cli import UsageError

__all__ = ["CirceModule", "Rows", "as_batch"]


class Rows(torch.utils.data.Dataset):
    """(x, y, z) rows fetched a whole batch at a time (``__getitems__``): no per-row Python overhead."""

    def __init__(self, data: Triples) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.data.x[i], self.data.y[i], self.data.z[i]

    def __getitems__(self, idx: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        t = torch.as_tensor(idx, dtype=torch.long)
        return self.data.x[t], self.data.y[t], self.data.z[t]


def as_batch(batch: Any) -> Any:
    """collate_fn: ``__getitems__`` already returns the batch."""
    return batch


class CirceModule(L.LightningModule):
    """Regressor + penalty. Scalings and the held-out regression live in buffers so checkpoints carry them."""

    def __init__(
        self,
        cfg: dict[str, Any],
        x_shape: list[int],
        dy: int,
        dz: int,
        m: int,
        reg_meta: dict[str, Any] | None = None,
        steps_per_epoch: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = cfg
        xs = torch.zeros(x_shape[0]) if len(x_shape) == 1 else torch.zeros(())
        net = build_model(x_shape, dy, cfg.get("hidden", (64, 64)), cfg.get("trunk", "small-cnn"))
        self.model = ScaledNet(net, xs, torch.ones_like(xs), torch.zeros(dy), torch.ones(dy))
        self.register_buffer("z_shift", torch.zeros(dz))
        self.register_buffer("z_scale", torch.ones(dz))
        self.register_buffer("y_h", torch.zeros(m, dy))
        self.register_buffer("z_h", torch.zeros(m, dz))
        self.register_buffer("w1", torch.zeros(m, m))
        self.register_buffer("w2", torch.zeros(m, m))
        self.register_buffer("gcm_coef", torch.zeros(dy, dz))
        self.register_buffer("gcm_intercept", torch.zeros(dz))
        self.reg_meta = dict(reg_meta or {})
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self._gcm_prev: dict[str, tuple[Tensor, Tensor] | None] = {}
        self._sums: dict[str, Tensor] = {}
        self.val_metrics: dict[str, float] = {}

    # -- scalings and the held-out regression --------------------------------------------------------
    def set_scaling(self, s: Scaling) -> None:
        for name in ("x_shift", "x_scale", "y_shift", "y_scale"):
            getattr(self.model, name).copy_(getattr(s, name))
        self.z_shift.copy_(s.z_shift)
        self.z_scale.copy_(s.z_scale)

    def set_regression(self, reg: HeldoutRegression, extra: dict[str, Any]) -> None:
        for name, value in (("y_h", reg.y), ("z_h", reg.z), ("w1", reg.w1), ("w2", reg.w2)):
            getattr(self, name).copy_(value.to(torch.float32))
        lin = fit_linear(reg.y, reg.z)
        self.gcm_coef.copy_(lin.coef.to(torch.float32))
        self.gcm_intercept.copy_(lin.intercept.to(torch.float32))
        self.reg_meta = {
            "sigma2_y": reg.sigma2_y,
            "sigma2_z": reg.sigma2_z,
            "lam": reg.lam,
            "z_kernel": reg.z_kernel,
            **extra,
        }
        self.hparams["reg_meta"] = self.reg_meta

    @property
    def regression(self) -> HeldoutRegression:
        meta = self.reg_meta
        return HeldoutRegression(
            self.y_h,
            self.z_h,
            self.w1,
            self.w2,
            meta["sigma2_y"],
            meta["sigma2_z"],
            meta["lam"],
            meta.get("z_kernel", "gaussian"),
        )

    # -- forward and losses ------------------------------------------------------------------------
    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model(x)

    def penalty(self, feats: list[Tensor], y: Tensor, z: Tensor, stage: str) -> Tensor:
        """The dependence penalty of standardised features ``feats`` given standardised ``y`` and ``z``."""
        method = self.cfg["method"]
        if method == "erm" or y.shape[0] < 4:
            return feats[-1].new_zeros(())
        s2_phi = self.cfg.get("sigma2_phi")
        meta = self.reg_meta
        if method == "gcm":
            fx = feats[-1]
            prev = self._gcm_prev.get(stage)
            y_prev, f_prev = prev if prev is not None else (y, fx.detach())
            fx_hat = fit_linear(y_prev, f_prev)(y).to(fx.dtype)
            z_hat = LinearFit(self.gcm_coef, self.gcm_intercept)(y)
            self._gcm_prev[stage] = (y.detach(), fx.detach())
            return gcm_statistic(fx, fx_hat, z, z_hat)
        layers = feats[-int(self.cfg.get("n_last_reg_layers", 1)) :]
        total = feats[-1].new_zeros(())
        for f in layers:
            f = f.reshape(f.shape[0], -1)
            if method == "circe":
                total = total + circe_statistic(f, y, z, self.regression, s2_phi, self.cfg.get("centred", True))
            elif method == "hsic":
                total = total + hsic_penalty(f, z, s2_phi, meta["sigma2_z"])
            elif method == "hscic":
                total = total + hscic_statistic(
                    f, z, y, meta["hscic_ridge"], s2_phi, meta["sigma2_z"], meta["hscic_sigma2_y"]
                )
            else:
                raise UsageError(f"unknown method {method!r}")
        return total

    def _step(self, batch: tuple[Tensor, Tensor, Tensor], stage: str) -> Tensor:
        x, y, z = batch
        ys = (y - self.model.y_shift) / self.model.y_scale
        zs = (z - self.z_shift) / self.z_scale
        feats = self(x)
        nmse = F.mse_loss(feats[-1], ys)
        pen = self.penalty(feats, ys, zs, stage)
        loss = nmse + self.cfg["gamma"] * pen
        with torch.no_grad():
            mse = (((feats[-1] - ys) * self.model.y_scale) ** 2).mean()
            n = y.shape[0]
            row = torch.stack([nmse * n, pen * n, loss * n, mse * n, loss.new_tensor(float(n))]).detach()
            self._sums[stage] = self._sums.get(stage, torch.zeros(5, device=row.device)) + row
        return loss

    def epoch_metrics(self, stage: str) -> dict[str, float]:
        """Means over the epoch so far: ``<stage>_mse`` (data units), ``_nmse`` (MSE/Var(Y)), ``_penalty``, ``_loss``."""
        s = self._sums.get(stage)
        if s is None or float(s[4]) == 0:
            return {}
        v = (s[:4] / s[4]).tolist()
        return {f"{stage}_nmse": v[0], f"{stage}_penalty": v[1], f"{stage}_loss": v[2], f"{stage}_mse": v[3]}

    def on_train_epoch_start(self) -> None:
        self._gcm_prev["train"] = None
        self._sums.pop("train", None)

    def on_validation_epoch_start(self) -> None:
        self._gcm_prev["val"] = None
        self._sums.pop("val", None)

    def on_validation_epoch_end(self) -> None:
        self.val_metrics = self.epoch_metrics("val")
        if self.val_metrics:
            self.log("val_loss", self.val_metrics["val_loss"], sync_dist=True)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"])
        # cosine over the epochs (as CosineAnnealingLR with T_max = epochs, stepped once an epoch), written as a
        # function of the optimiser step so that a resumed run gets exactly the uninterrupted run's rates
        per, total = self.steps_per_epoch, max(1, int(self.cfg["epochs"]))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1 + math.cos(math.pi * (step // per) / total))
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
