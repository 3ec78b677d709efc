"""The composition trainer: EpiGNN and the GINE baseline on a tiny RCC-8 task, end to end."""

import json

import pytest
import torch

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.rcc8 import load_rcc8
from graphlib_pyg.train.composition import CompositionTrainer, QueryGINE


@pytest.fixture(scope="module")
def tiny():
    return load_rcc8(8, 2, 2, test_k=6, seed=0)


def test_epignn_learns_and_reports_accuracy_by_path_length(tiny):
    cfg = {"epochs": 12, "batch_size": 8, "lr": 0.03, "steps": 4, "eval_steps": 7}
    r = CompositionTrainer(tiny, "epignn", {**cfg, "eval_every": 4}).run(0)
    assert r.step_unit == "epoch" and len(r.curve) == 3 and r.params > 0
    assert r.curve.train_loss[-1] < 0.3 * r.curve.train_loss[0]  # margin loss: from ~1
    assert r.val > 0.5  # chance: 1/8
    by_k = r.extra["test_accuracy_by_k"]
    assert set(by_k) == {2, 3, 4, 5, 6} and r.extra["eval_steps"] == 7
    test = tiny.split().test
    weights = {k: int((tiny.k[test] == k).sum()) for k in by_k}  # equal cells: plain mean
    mean = sum(by_k[k] * weights[k] for k in by_k) / len(test)
    assert r.test == pytest.approx(mean, abs=1e-6)
    assert set(r.extra["test_accuracy_by_b"]) == {1, 2, 3}
    assert set(r.extra["test_accuracy_by_k_at_train_steps"]) == set(by_k)  # at 4 rounds


def test_gine_baseline_trains_with_cross_entropy(tiny):
    r = CompositionTrainer(tiny, "gine", {"epochs": 3, "num_layers": 2, "hidden": 16}).run(0)
    assert r.params > 0 and set(r.extra["test_accuracy_by_k"]) == {2, 3, 4, 5, 6}
    model = QueryGINE(8, hidden=8, num_layers=2)
    bt = tiny.batch(tiny.split().test[:3])
    args = bt["edge_index"], bt["edge_type"], bt["head"], bt["tail"], bt["batch"]
    assert model(*args).shape == (3, 8)


def test_margin_loss_never_draws_the_answer_as_its_negative(tiny):
    trainer = CompositionTrainer(tiny, "epignn", {"margin": 1.0})
    y = torch.arange(8).repeat(50)
    scores = torch.full((400, 8), -5.0)
    scores[torch.arange(400), y] = -1.0  # the answer 4 above every other relation: no loss
    assert trainer.loss(scores, y, torch.Generator().manual_seed(0)) == 0
    scores[torch.arange(400), y] = -4.5  # 0.5 above: margin 1 leaves 0.5 for every query
    assert trainer.loss(scores, y, torch.Generator().manual_seed(0)) == pytest.approx(0.5)


def test_refusals(tiny):
    with pytest.raises(TypeError, match="needs an RCC-8 task"):
        CompositionTrainer(object(), "epignn")
    with pytest.raises(TypeError, match="not 'gcn'"):
        CompositionTrainer(tiny, "gcn")
    with pytest.raises(TypeError, match="unknown option"):
        CompositionTrainer(tiny, "gine", {"facets": 2})
    with pytest.raises(ValueError, match="loss"):
        CompositionTrainer(tiny, "epignn", {"loss": "hinge"})


def test_bench_runs_epignn_by_default_and_gine_by_name(tmp_path):
    out = tmp_path / "rcc8.jsonl"
    data = {"train_per_cell": 2, "val_per_cell": 1, "test_per_cell": 1, "test_k": 5}
    common = {"runs": 1, "out": out, "data": data, "progress": False}
    run_benchmark("epignn", "rcc8", config={"epochs": 1, "steps": 2, "eval_steps": 3}, **common)
    cfg = {"epochs": 1, "num_layers": 1}
    run_benchmark("gine", "rcc8", trainer="composition", config=cfg, **common)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["trainer"] for r in rows] == ["composition", "composition"]
    assert [r["model"] for r in rows] == ["epignn", "gine"]
    assert all(set(r["extra"]["test_accuracy_by_k"]) == {"2", "3", "4", "5"} for r in rows)
