"""Label propagation (``--model lp``): the example trainer of the README's Architecture."""

import pytest
from torch_geometric.nn import LabelPropagation

from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.propagation import LabelPropagationTrainer


def test_selected_step_and_curve_follow_pygs_label_propagation():
    task = load_task("csbm", num_nodes=300, homophily=0.9)
    result = LabelPropagationTrainer(task, "lp", {"num_layers": 6}).run(0)
    split = task.split(0)
    assert result.curve.unit == "step" and result.curve.step == [1, 2, 3, 4, 5, 6]
    k = result.best_step
    assert result.val == max(result.curve.val) == result.curve.val[k - 1]
    out = LabelPropagation(num_layers=k, alpha=0.9)(task.data.y, task.data.edge_index, split.train)
    assert result.test == task.evaluate(out, split.test)  # the same propagation as PyG's, k steps
    assert result.params == 0 and result.test > 0.8  # homophilous graph: the labels spread


def test_lp_runs_from_the_harness_and_rejects_what_it_cannot_do():
    row = run_benchmark("lp", "csbm", runs=1, progress=False, data={"num_nodes": 200})[0]
    assert row["trainer"] == "propagation" and row["step_unit"] == "step"
    assert row["curve"]["unit"] == "step" and len(row["curve"]["step"]) == 50
    with pytest.raises(TypeError, match="alpha"):
        run_benchmark("lp", "csbm", runs=1, progress=False, config={"alpah": 0.5})
    with pytest.raises(TypeError, match="single-label node task"):
        LabelPropagationTrainer(load_task("sbm-link", num_nodes=100), "lp")
