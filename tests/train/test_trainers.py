"""The trainer contract: the fit loop, selection, curves, and every trainer called directly."""

import math
import warnings

import pytest

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.bench.report import render_report
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.backprop import BackpropTrainer
from graphlib_pyg.train.base import Curve, RunResult, Selector, fit
from graphlib_pyg.train.graph import GraphTrainer
from graphlib_pyg.train.link import LinkTrainer
from graphlib_pyg.train.ncn import NCNTrainer
from graphlib_pyg.train.node import FullBatch, NodeTrainer, SeedBatches, SubgraphBatches
from graphlib_pyg.train.registry import TRAINERS


def _scripted(vals, losses=None):
    """A step/evaluate pair that replays ``vals`` (and validation ``losses``)."""
    calls = {"step": 0, "eval": 0}

    def step():
        calls["step"] += 1
        return 1.0 / calls["step"]

    def evaluate():
        i = calls["eval"]
        calls["eval"] += 1
        out = (vals[i], 10 * vals[i])
        return (*out, losses[i]) if losses else out

    return step, evaluate, calls


def test_fit_reports_test_at_the_best_validation_epoch_and_stops_on_patience():
    step, evaluate, calls = _scripted([0.1, 0.5, 0.4, 0.5, 0.3, 0.9])
    r = fit(step, evaluate, epochs=6, patience=3)
    assert (r.val, r.test, r.best_step, r.step_unit) == (0.5, 5.0, 2, "epoch")
    assert calls["step"] == 5  # epochs 3, 4, 5 brought no strictly better metric
    assert r.curve.step == [1, 2, 3, 4, 5] and r.curve.train_loss[0] == 1.0


def test_fit_hands_freed_heap_memory_back_after_every_epoch(monkeypatch):
    import graphlib_pyg.train.base as base

    trims = []
    monkeypatch.setattr(base, "release_free_memory", lambda: trims.append(1))
    step, evaluate, _ = _scripted([0.1, 0.2, 0.3])
    fit(step, evaluate, epochs=3)
    assert len(trims) == 3


def test_fit_evaluates_every_k_epochs_and_after_the_last():
    step, evaluate, _ = _scripted([0.1, 0.2, 0.3])
    r = fit(step, evaluate, epochs=7, eval_every=3)
    assert r.curve.step == [3, 6, 7] and r.best_step == 7


def test_fit_selects_on_validation_loss_when_asked():
    step, evaluate, _ = _scripted([0.9, 0.1, 0.2], losses=[3.0, 1.0, 2.0])
    assert fit(step, evaluate, epochs=3, select="loss").best_step == 2
    step, evaluate, _ = _scripted([0.9, 0.1, 0.2])
    with pytest.raises(ValueError, match="needs a validation loss"):
        fit(step, evaluate, epochs=3, select="loss")


def test_fit_refuses_a_non_finite_loss_and_bad_settings():
    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(lambda: math.nan, lambda: (0.0, 0.0), epochs=2)
    with pytest.raises(ValueError, match="epochs"):
        fit(lambda: 0.0, lambda: (0.0, 0.0), epochs=0)


def test_selector_patience_resets_on_a_better_loss_in_metric_mode():
    s = Selector(patience=2)
    assert s.update(0.5, 1.0)
    assert not s.update(0.4, 0.9) and s.bad == 0  # lower loss: patience resets, not selected
    assert not s.update(0.4, 0.95) and not s.stop
    assert not s.update(0.4, 0.95) and s.stop


def test_curve_reads_every_stored_layout_and_names_what_is_wrong():
    new = Curve.from_dict({"unit": "layer", "step": [1, 2], "val": [0.5, 0.6], "test": [1, 2]})
    assert (new.unit, new.step, new.test) == ("layer", [1, 2], [1.0, 2.0])
    old = Curve.from_dict(
        {"epoch": [1, 2], "val": [0.1, 0.2], "test": [0, 0], "train_loss": [1, 2]}
    )
    assert old.unit == "epoch" and old.to_dict()["step"] == [1, 2]
    with pytest.raises(ValueError, match="val has 1 values for 2 steps"):
        Curve.from_dict({"unit": "epoch", "step": [1, 2], "val": [0.1]})
    with pytest.raises(ValueError, match="unit"):
        Curve("fortnight")


def test_result_rows_keep_epoch_keys_only_where_a_step_is_an_epoch():
    epoch = RunResult(0.5, 0.4, 3, "epoch", 0.1, 10, Curve("epoch", [3], [0.5])).row()
    assert epoch["best_epoch"] == 3 and epoch["epoch_time_s"] == 0.1 and "curve" in epoch
    steps = RunResult(0.5, 0.4, 300, "step", 0.01, 10).row()
    assert "best_epoch" not in steps and steps["best_step"] == 300 and "curve" not in steps


SMALL = {"num_nodes": 300, "homophily": 0.9}


@pytest.mark.parametrize(
    ("dataset", "model", "data", "cls"),
    [
        ("csbm", "gcn", SMALL, NodeTrainer),
        ("sbm-link", "gcn", {"num_nodes": 200}, LinkTrainer),
        ("sbm-link", "ncn", {"num_nodes": 200}, NCNTrainer),
        ("graph-sbm", "gcn", {"num_graphs": 40}, GraphTrainer),
    ],
)
def test_backprop_picks_the_trainer_of_the_task_type(dataset, model, data, cls):
    assert type(BackpropTrainer(load_task(dataset, **data), model).trainer) is cls


def test_a_link_predictor_on_a_node_task_is_refused_by_name():
    with pytest.raises(TypeError, match="'ncn' is a link predictor"):
        BackpropTrainer(load_task("csbm", **SMALL), "ncn")


def _node_run(monkeypatch, cfg, model="gcn"):
    """Train on csbm; returns the result and the batching strategies the run built."""
    task = load_task("csbm", **SMALL)
    seen = []
    with monkeypatch.context() as m:
        for cls in (FullBatch, SubgraphBatches, SeedBatches):

            def recording(self, r, init=cls.__init__, cls=cls):
                seen.append(cls)
                init(self, r)

            m.setattr(cls, "__init__", recording)
        cfg = {"dropout": 0.0, "input_dropout": 0.0, **cfg}
        return NodeTrainer(task, model, cfg).run(0), seen


def test_exact_batches_covering_all_training_nodes_equal_full_batch_training(monkeypatch):
    """One exact mini-batch of every training node is the full-graph step (no dropout)."""
    full, seen_full = _node_run(monkeypatch, {"epochs": 5})
    exact, seen_exact = _node_run(
        monkeypatch, {"epochs": 5, "batch_size": 10_000, "sampler": "exact"}
    )
    assert seen_full == [FullBatch] and seen_exact == [SubgraphBatches]
    assert exact.curve.train_loss == pytest.approx(full.curve.train_loss, abs=1e-5)
    assert exact.curve.val == pytest.approx(full.curve.val)


def test_sampled_batches_and_seed_batches_learn(monkeypatch):
    sampled, seen = _node_run(monkeypatch, {"epochs": 15, "batch_size": 64, "lr": 0.05})
    assert seen == [SubgraphBatches] and sampled.test > 0.8
    opts = {"epochs": 20, "batch_size": 64, "eval_batch": 128, "num_centroids": 8, "lr": 0.01}
    seeded, seen = _node_run(monkeypatch, opts, model="largegt")
    assert seen == [SeedBatches] and seeded.test > 0.7
    assert seeded.curve.train_loss[-1] < seeded.curve.train_loss[0]


def test_link_ncn_and_graph_trainers_learn_when_called_directly():
    link = load_task("sbm-link", num_nodes=200)
    r = LinkTrainer(link, "gcn", {"epochs": 30, "hidden": 32, "weight_decay": 0.0}).run(0)
    assert r.step_unit == "epoch" and r.val > 0.5 and r.curve.train_loss[-1] < r.curve.train_loss[0]
    r = NCNTrainer(link, "ncn", {"epochs": 5, "hidden": 32, "batch_size": 256}).run(0)
    assert r.val > 0.3 and r.params > 0
    graphs = load_task("graph-sbm", num_graphs=200)  # only structure separates the classes
    cfg = {"epochs": 8, "hidden": 16, "lr": 0.01, "batch_size": 32}
    assert GraphTrainer(graphs, "gin", cfg).run(0).val > 0.9


#: One tiny run of every registered trainer: (trainer, model, dataset, data, config).
EVERY_TRAINER = {
    "backprop": ("gcn", "csbm", SMALL, {"epochs": 5}),
    "heuristic": ("cn", "sbm-link", {"num_nodes": 150}, {}),
    "propagation": ("lp", "csbm", SMALL, {"num_layers": 5}),
    "rrn": (
        "rrn",
        "sudoku",
        {"num_train": 8, "num_val": 4, "num_test": 4, "givens": 70},
        {"epochs": 2, "hidden": 16, "embed": 4, "steps": 2, "eval_steps": 3},
    ),
    "composition": (
        "epignn",
        "rcc8",
        {"train_per_cell": 2, "val_per_cell": 1, "test_per_cell": 1, "test_k": 5},
        {"epochs": 1, "steps": 2, "eval_steps": 3},
    ),
    "sf": ("gcn", "csbm", SMALL, {"epochs": 6, "num_layers": 2, "hidden": 16}),
    "ff-la": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16, "num_negs": 1}),
    "ff-vn": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16, "num_negs": 1}),
    "sf-top2input": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16}),
    "sf-top2loss": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16}),
    "auglocal": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16}),
    "man": ("gcn", "csbm", SMALL, {"epochs": 4, "num_layers": 2, "hidden": 16}),
    "glnn": (
        "mlp",
        "csbm",
        {**SMALL, "split": "cpf"},
        {"epochs": 4, "teacher_options": {"epochs": 4}},
    ),
    "vqgraph": (
        "mlp",
        "csbm",
        {**SMALL, "split": "cpf"},
        {"epochs": 4, "teacher_options": {"epochs": 4}},
    ),
    **{
        name: (
            "gcn",
            "csbm",
            SMALL,
            {
                "epochs": 2,
                "hidden_channels": [16, 8],
                "predictor_dim": 16,
                "batch_size": 8,
                "decor_size": 64,
                "eval_repeats": 1,
                "link_epochs": 2,
            },
        )  # fmt: skip
        for name in ("paretognn", "grace", "dgi", "ccassg", "graphmae", "link-ssl")
    },
}


def test_every_trainer_is_covered_here():
    assert set(EVERY_TRAINER) == set(TRAINERS)


def test_every_trainer_renders_its_curve_and_best_step_in_the_report(tmp_path):
    out = tmp_path / "r.jsonl"
    for trainer, (model, dataset, data, cfg) in EVERY_TRAINER.items():
        kw = {"trainer": trainer} if trainer not in ("heuristic", "propagation") else {}
        rows = run_benchmark(
            model, dataset, runs=1, out=out, data=data, config=cfg, progress=False, **kw
        )
        row = rows[0]
        assert row["step_unit"] in ("epoch", "step", "none"), trainer
        if trainer != "heuristic":
            curve = Curve.from_dict(row["curve"])
            assert len(curve) >= 1 and curve.val, trainer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "skipping malformed curve" would fail here
        paths = render_report(out, tmp_path / "report")
    assert paths["curves"].stat().st_size > 0
    table = paths["markdown"].read_text()
    assert "best step" in table and "malformed" not in table
    assert "5 steps" in table or "5 epochs" in table  # a best step is shown with its unit
