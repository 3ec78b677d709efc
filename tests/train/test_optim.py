"""The optimiser options of the backprop trainers: optimizer, scheduler, clip_grad_norm."""

import math

import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.common import cosine_with_warmup
from graphlib_pyg.train.node import NodeTrainer


def _factors(epochs: int, warmup: int) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule, out = cosine_with_warmup(opt, epochs, warmup), []
    for _ in range(epochs + 1):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return out


def test_cosine_with_warmup_rises_linearly_then_decays_to_zero():
    lr = _factors(10, 4)
    assert lr[0] == pytest.approx(1e-6) and lr[1:5] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lr[5:] == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(1, 7)])
    assert lr[-1] == pytest.approx(0.0, abs=1e-12)
    assert _factors(4, 0)[:2] == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4))])
    with pytest.raises(ValueError, match="warmup_epochs"):
        _factors(4, 4)


def test_clip_grad_norm_clips_every_step_and_adamw_is_decoupled():
    task = load_task("csbm", num_nodes=60)
    trainer = NodeTrainer(task, "gcn", {"clip_grad_norm": 0.5, "optimizer": "adamw"})
    w = torch.nn.Parameter(torch.ones(3))
    opt = trainer._optimizer([w])
    assert isinstance(opt, torch.optim.AdamW)
    w.grad = torch.tensor([30.0, 40.0, 0.0])  # norm 50
    opt.step()
    assert float(w.grad.norm()) == pytest.approx(0.5)  # clipped before the update
    with pytest.raises(KeyError, match="optimizer"):
        NodeTrainer(task, "gcn", {"optimizer": "sgdd"})._optimizer([w])


def test_options_are_checked_at_the_edge():
    with pytest.raises(ValueError, match="clip_grad_norm"):
        run_benchmark("gcn", "csbm", runs=1, config={"clip_grad_norm": -1.0}, progress=False)
    with pytest.raises(ValueError, match="warmup_epochs"):
        run_benchmark("gcn", "csbm", runs=1, config={"warmup_epochs": -1}, progress=False)


def test_a_cosine_run_warms_up_first_so_it_trails_a_constant_lr_run_early():
    data = {"num_nodes": 120}
    cfg = {"epochs": 6, "hidden": 8, "scheduler": "cosine", "warmup_epochs": 1}
    (sched,) = run_benchmark("gcn", "csbm", runs=1, data=data, config=cfg, progress=False)
    (plain,) = run_benchmark("gcn", "csbm", runs=1, data=data, config={**cfg, "scheduler": None},
                             progress=False)  # fmt: skip
    # epoch 1 runs at lr 1e-6 * lr: its loss is the untrained model's, unlike the constant run
    assert sched["curve"]["train_loss"][1] > plain["curve"]["train_loss"][1]


def test_plateau_halves_the_lr_after_patience_evaluations_without_a_lower_val_loss():
    task = load_task("csbm", num_nodes=60)
    cfg = {"scheduler": "plateau", "plateau_factor": 0.5, "plateau_patience": 1}
    trainer = NodeTrainer(task, "gcn", cfg)
    w = torch.nn.Parameter(torch.ones(1))
    opt, parts = trainer._optimizer([w]), {}
    losses = iter([1.0, 0.9, 0.95, 0.97, 0.5])
    step, evaluate = trainer._scheduled(lambda: 0.0, lambda: (0.5, 0.5, next(losses)), opt, parts)
    lrs = []
    for _ in range(5):
        step()
        evaluate()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005])  # 2 bad evaluations > 1
    assert "schedule" in parts  # checkpointed with the run
    with pytest.raises(ValueError, match="validation loss"):
        trainer._scheduled(lambda: 0.0, lambda: (0.5, 0.5), opt, {})[1]()
    with pytest.raises(ValueError, match="eval_every=1"):
        NodeTrainer(task, "gcn", {**cfg, "eval_every": 2})._scheduled(step, evaluate, opt, {})
    with pytest.raises(KeyError, match="scheduler"):
        NodeTrainer(task, "gcn", {"scheduler": "cosin"})._scheduled(step, evaluate, opt, {})
