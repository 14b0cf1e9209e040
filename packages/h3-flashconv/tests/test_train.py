"""Optimiser groups read the SSM hints; half-precision weights are refused; the config carries the shared run fields."""

import dataclasses

import pytest
import torch

from h3_flashconv import cli
from h3_flashconv.train import LitLM, TrainConfig, model_config
from orals23_shared.cli import RunFields, UsageError, run_cli


def _optimizer(kind: str, lr: float, ssm_lr: float) -> tuple[LitLM, torch.optim.Optimizer]:
    cfg = TrainConfig(task="induction_head", model=kind, d_model=8, d_state=8, lr=lr, ssm_lr=ssm_lr)
    lit = LitLM(model_config(cfg, 20), cfg)
    return lit, lit.configure_optimizers()["optimizer"]


@pytest.mark.parametrize(("lr", "ssm_lr"), [(3e-3, 1e-3), (5e-4, 1e-3)])
@pytest.mark.parametrize("kind", ["h3", "hybrid", "s4d"])
def test_every_hinted_parameter_has_the_capped_lr_and_no_weight_decay(kind, lr, ssm_lr):
    lit, opt = _optimizer(kind, lr, ssm_lr)
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    params = list(lit.model.parameters())
    assert len(group_of) == len(params) == sum(len(g["params"]) for g in opt.param_groups)  # each once
    hinted = [(n, p) for n, p in lit.model.named_parameters() if hasattr(p, "_optim")]
    assert len(hinted) >= 4  # dt, A real, A imag, B of the diagonal SSM (+ the shift SSM B)
    for name, p in hinted:
        g = group_of[id(p)]
        assert g["initial_lr"] == pytest.approx(min(ssm_lr, lr)), name  # before the warm-up factor
        assert g["weight_decay"] == 0.0, name
    unhinted = [g for g in opt.param_groups if all(not hasattr(p, "_optim") for p in g["params"])]
    assert all(g["initial_lr"] == pytest.approx(lr) for g in unhinted)
    assert any(g["weight_decay"] == pytest.approx(0.1) for g in unhinted)


def test_a_changed_hint_is_used():
    lit, _ = _optimizer("h3", 3e-3, 1e-3)
    for p in lit.model.parameters():
        if hasattr(p, "_optim"):
            p._optim = {"lr": 2e-4, "weight_decay": 0.0}
    opt = lit.configure_optimizers()["optimizer"]
    hinted_lrs = [g["initial_lr"] for g in opt.param_groups if any(hasattr(p, "_optim") for p in g["params"])]
    assert hinted_lrs == [pytest.approx(2e-4)]


@pytest.mark.parametrize("precision", ["bf16-true", "16-true"])
def test_half_precision_weights_are_refused_with_one_line(precision, capsys):
    with pytest.raises(UsageError, match="complex SSM parameters"):
        TrainConfig(task="induction_head", precision=precision)
    argv = ["--task", "induction_head", "--precision", precision, "--out", "unused"]
    with pytest.raises(SystemExit) as e:
        run_cli(cli.train_main, argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and precision in err


def test_bf16_mixed_keeps_the_ssm_parameters_fp32_and_trains():
    cfg = TrainConfig(task="induction_head", model="h3", d_model=8, d_state=8, precision="bf16-mixed")
    lit = LitLM(model_config(cfg, 20), cfg)
    x = torch.randint(0, 20, (2, 12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = lit.training_loss(x, x)
    loss.backward()
    for name, p in lit.model.named_parameters():
        assert p.dtype == torch.float32, name
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_config_inherits_the_shared_run_fields():
    assert issubclass(TrainConfig, RunFields)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f.name for f in dataclasses.fields(RunFields)} <= names
    assert TrainConfig(task="induction_head").out.name == "h3-flashconv"
    with pytest.raises(UsageError, match="exclude"):
        TrainConfig(task="induction_head", resume=True, overwrite=True)
