import json

import pytest

from graphlib_pyg.bench import harness
from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.bench.results import append_result, finished

KEYS = {
    "model",
    "dataset",
    "trainer",
    "augment",
    "run",
    "seed",
    "metric",
    "val",
    "test",
    "best_epoch",
    "params",
    "epoch_time_s",
    "peak_rss_mb",
    "config",
}
SMALL = {"num_nodes": 300}


def test_rows_written_with_protocol_keys(tmp_path):
    out = tmp_path / "r.jsonl"
    rows = run_benchmark("gcn", "csbm", runs=2, epochs=5, out=out, data=SMALL, progress=False)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2 and [r["run"] for r in lines] == [0, 1]
    for r in lines:
        assert KEYS <= set(r)
        assert 1 <= r["best_epoch"] <= 5 and r["params"] > 0 and r["metric"] == "accuracy"
    assert [r["test"] for r in rows] == [r["test"] for r in lines]


def test_resume_skips_finished_runs(tmp_path, monkeypatch):
    out = tmp_path / "r.jsonl"
    run_benchmark("mlp", "csbm", runs=2, epochs=3, out=out, data=SMALL, progress=False)
    calls = []
    real = harness.TRAINERS["backprop"]

    class Counting(real):
        def run(self, seed=0, run=None):
            calls.append(seed)
            return super().run(seed, run)

    monkeypatch.setitem(harness.TRAINERS, "backprop", Counting)
    rows = run_benchmark("mlp", "csbm", runs=3, epochs=3, out=out, data=SMALL, progress=False)
    assert calls == [2]  # runs 0 and 1 came from the file
    assert len(rows) == 3 and len(out.read_text().splitlines()) == 3
    # A different config is a different experiment: nothing is skipped.
    run_benchmark(
        "mlp", "csbm", runs=1, epochs=3, out=out, data=SMALL, config={"lr": 0.02}, progress=False
    )
    assert calls == [2, 0]


def test_start_splits_the_seeds_of_one_benchmark(tmp_path, monkeypatch):
    whole = run_benchmark("mlp", "csbm", runs=3, epochs=3, data=SMALL, progress=False)
    out = tmp_path / "r.jsonl"
    calls = []
    real = harness.TRAINERS["backprop"]

    class Counting(real):
        def run(self, seed=0, run=None):
            calls.append(seed)
            return super().run(seed, run)

    monkeypatch.setitem(harness.TRAINERS, "backprop", Counting)
    late = run_benchmark(
        "mlp", "csbm", runs=3, start=1, epochs=3, out=out, data=SMALL, progress=False
    )
    assert calls == [1, 2] and [r["run"] for r in late] == [1, 2]
    rows = run_benchmark("mlp", "csbm", runs=3, epochs=3, out=out, data=SMALL, progress=False)
    assert calls == [1, 2, 0]  # the second process only adds what the first did not run
    assert [r["test"] for r in rows] == [r["test"] for r in whole]  # seed r is seed r
    with pytest.raises(ValueError, match="start must be in"):
        run_benchmark("mlp", "csbm", runs=3, start=3, epochs=3, data=SMALL, progress=False)


def test_resume_copes_with_a_broken_last_line(tmp_path):
    out = tmp_path / "r.jsonl"
    run_benchmark("mlp", "csbm", runs=1, epochs=2, out=out, data=SMALL, progress=False)
    with open(out, "a") as f:
        f.write('{"model": "mlp", "dataset": "csb')  # crash mid-write, no newline
    with pytest.warns(UserWarning, match="line 2"):
        run_benchmark("mlp", "csbm", runs=2, epochs=2, out=out, data=SMALL, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[2])["run"] == 1  # appended on a fresh line, readable
    with pytest.warns(UserWarning):
        assert len(finished(out)) == 2


def test_append_is_one_line_per_run(tmp_path):
    out = tmp_path / "sub" / "r.jsonl"
    append_result(
        out,
        {
            "model": "m",
            "dataset": "d",
            "run": 0,
            "val": 1.0,
            "test": 1.0,
            "metric": "accuracy",
            "config": {},
        },
    )
    append_result(
        out,
        {
            "model": "m",
            "dataset": "d",
            "run": 1,
            "val": 1.0,
            "test": 1.0,
            "metric": "accuracy",
            "config": {},
        },
    )
    assert len(finished(out)) == 2


def test_graph_model_learns_beyond_mlp_on_homophilous_csbm():
    data = {"num_nodes": 600, "homophily": 0.9, "signal": 1.0}
    gcn = run_benchmark("gcn", "csbm", runs=2, epochs=60, data=data, progress=False)
    mlp = run_benchmark("mlp", "csbm", runs=2, epochs=60, data=data, progress=False)
    gcn_acc = sum(r["test"] for r in gcn) / 2
    mlp_acc = sum(r["test"] for r in mlp) / 2
    assert gcn_acc > 0.8 and gcn_acc > mlp_acc + 0.1


def test_link_task_training_and_heuristics():
    data = {"num_nodes": 400}
    heur = run_benchmark("cn", "sbm-link", runs=1, data=data, progress=False)
    assert heur[0]["trainer"] == "heuristic" and heur[0]["metric"] == "hits@100"
    gcn = run_benchmark(
        "gcn", "sbm-link", runs=1, epochs=40, data=data, progress=False, config={"batch_size": 512}
    )
    assert gcn[0]["test"] > 0.3  # random scoring gives ~hits@100 of 100/#negatives
    assert gcn[0]["val_as_input"] is False


def test_minibatch_node_training_learns():
    rows = run_benchmark(
        "sage",
        "csbm",
        runs=1,
        epochs=15,
        progress=False,
        data={"num_nodes": 600, "homophily": 0.9},
        config={"batch_size": 128, "fanouts": [5, 5]},
    )
    assert rows[0]["test"] > 0.7


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "gcnn"}, KeyError, "Did you mean gcn"),
        ({"dataset": "cora-ml"}, KeyError, "cora_ml"),
        ({"trainer": "ff-xx"}, KeyError, "Did you mean ff-la or ff-vn\\? Valid: auglocal"),
        ({"augment": "lax"}, KeyError, "Valid: la, none"),
        ({"augment": "la", "config": {"la_stlye": "x"}}, TypeError, "la_style"),
        ({"config": {"lrr": 0.1}}, TypeError, "lrr"),
        ({"model": "cn", "config": {"lr": 0.1}}, TypeError, "no options"),
        ({"runs": 0}, ValueError, "runs"),
    ],
)
def test_bad_names_and_options_are_clear(kwargs, error, match):
    args = {
        "model": "gcn",
        "dataset": "csbm",
        "runs": 1,
        "epochs": 1,
        "data": SMALL,
        "progress": False,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        run_benchmark(args.pop("model"), args.pop("dataset"), **args)


def test_select_by_validation_loss_reports_the_lowest_loss_epoch(monkeypatch):
    from graphlib_pyg.data.tasks import load_task
    from graphlib_pyg.train import common as node_module
    from graphlib_pyg.train.backprop import BackpropTrainer

    task = load_task("csbm", **SMALL)
    cfg = {"epochs": 30, "select": "loss"}
    trainer = BackpropTrainer(task, "gcn", cfg)
    losses = []
    real = node_module.fit

    def spy(step, evaluate, **kwargs):
        def recorded():
            out = evaluate()
            losses.append((out[-1], *out[:2]))
            return out

        return real(step, recorded, **kwargs)

    monkeypatch.setattr(node_module, "fit", spy)
    result = trainer.run(0)
    best = min(range(len(losses)), key=lambda i: losses[i][0])
    assert result.best_epoch == best + 1
    assert (result.val, result.test) == losses[best][1:]
    with pytest.raises(ValueError, match="needs a validation loss"):
        run_benchmark("gcn", "sbm-link", runs=1, epochs=1, config={"select": "loss"},
                      data=SMALL, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="select must be"):
        run_benchmark("gcn", "csbm", runs=1, epochs=1, config={"select": "x"}, data=SMALL,
                      progress=False)  # fmt: skip


@pytest.mark.parametrize(
    "model,data", [("mlp", {}), ("gcn", {"task": "link"})], ids=["mlp", "link-predictor"]
)
def test_integer_dropout_from_the_command_line_is_accepted(model, data):
    """``dropout=0`` arrives as an int; PyG's MLP would read a non-float as a per-layer list."""
    dataset = "sbm-link" if data else "csbm"
    rows = run_benchmark(
        model, dataset, runs=1, epochs=2, progress=False, config={"dropout": 0, "pred_layers": 1}
    )
    assert 0.0 <= rows[0]["test"] <= 1.0


def test_a_preset_replaces_the_dataset_defaults_and_is_recorded(monkeypatch):
    from graphlib_pyg.bench import defaults

    tuned = {"hidden": 24, "dropout": 0.1, "epochs": 2}
    monkeypatch.setitem(defaults.PEPTIDES_PRESETS, "tuned", {"gcn": tuned})
    with pytest.raises(KeyError, match="presets exist for peptides-func"):
        run_benchmark("gcn", "csbm", runs=1, data=SMALL, progress=False, preset="tuned")
    cfg = defaults.resolve_config("gcn", "peptides-func", {"lr": 0.5}, preset="tuned")
    assert cfg["hidden"] == 24 and cfg["dropout"] == 0.1 and cfg["lr"] == 0.5
