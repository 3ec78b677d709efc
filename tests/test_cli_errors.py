"""Every CLI error is one clear line: bad options, counts, names and configs exit 2 before any
training; failures while running exit 1; Ctrl-C exits 130."""

import pytest

from graphlib_pyg.bench import harness
from graphlib_pyg.cli import main
from graphlib_pyg.data.datasets import DatasetCorruptError

BENCH = "bench --dataset csbm --runs 2 --epochs 3 --no-progress data.num_nodes=200".split()


@pytest.fixture
def no_training(monkeypatch):
    def load_task(*args, **kwargs):
        raise AssertionError("a task was loaded: training started before the error")

    monkeypatch.setattr(harness, "load_task", load_task)


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lr=abc"], "lr must be a number, got 'abc' (str)"),
        (["hidden=abc"], "hidden must be an integer, got 'abc' (str)"),
        (["hidden=-3"], "hidden must be an integer >= 1, got -3"),
        (["epochs=0"], "epochs must be an integer >= 1, got 0"),
        (["num_layers=0"], "num_layers must be an integer >= 1, got 0"),
        (["dropout=1"], "dropout must be a number in [0, 1), got 1"),
        (["--epochs", "-5"], "--epochs must be an integer >= 1, got -5"),
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--runs", "0"], "--runs must be an integer >= 1, got 0"),
        (["--start", "-1"], "--start must be an integer >= 0, got -1"),
        (["lrr=0.1"], "unknown option 'lrr'. Did you mean lr?"),
        (["lr=[1"], "cannot parse the value of lr ('[1')"),
        (["--model", ","], "--model ',' names nothing"),
        (["--model", "gnc"], "unknown model 'gnc'. Did you mean gcn?"),
        (["--model", "mlp,gcn", "residual=true"], "mlp/csbm: options of mlp"),  # before gcn trains
        (["--model", "gcn", "--dataset", "cora-ml"], "unknown dataset 'cora-ml'"),
    ],
)
def test_bad_options_exit_2_with_one_line_before_training(args, message, capsys, no_training):
    argv = [*BENCH, *args] if "--model" in args else [*BENCH, "--model", "mlp", *args]
    assert main(argv) == 2
    assert message in _err(capsys)


def _grid(tmp_path, text):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [mlp]\ndatasets: [csbm\nruns: 1\n", "cannot parse config {}, line 3, column 5"),
        ("models: [mlp]\noptions:\n  - lr=0.1\n", "config {}: options must be a mapping"),
        ("models: [mlp]\ndata: 3\n", "config {}: data must be a mapping"),
        ("- mlp\n", "config {} must map keys to values"),
        ("models: [mlp]\nruns: 0\n", "config {}: runs must be an integer >= 1, got 0"),
        ("models: [mlp]\nepochs: ten\n", "config {}: epochs must be an integer, got 'ten'"),
        ("models: [1]\n", "config {}: models must be names, got [1]"),
        ("models: ','\n", "models in {} ',' names nothing"),
        ("modles: [mlp]\n", "unknown option 'modles'. Did you mean models?"),
    ],
)
def test_bad_configs_name_the_file(tmp_path, text, message, capsys, no_training):
    path = _grid(tmp_path, text)
    assert main(["bench", "--config", path, "--no-progress"]) == 2
    assert message.format(path) in _err(capsys)


def test_models_given_as_a_string_is_one_name_or_a_list(tmp_path, capsys):
    grid = "models: {}\ndatasets: csbm\nruns: 1\nepochs: 2\ndata: {{num_nodes: 150}}\n"
    assert main(["bench", "--config", _grid(tmp_path, grid.format("mlp")), "--no-progress"]) == 0
    assert "| mlp" in capsys.readouterr().out
    assert (
        main(["bench", "--config", _grid(tmp_path, grid.format("gnc,mlp")), "--no-progress"]) == 2
    )
    assert "unknown model 'gnc'. Did you mean gcn?" in _err(capsys)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (KeyboardInterrupt(), 130, "graphlib bench: interrupted; finished runs are in {out}"),
        (DatasetCorruptError("cora: ind.cora.x is truncated"), 1, "ind.cora.x is truncated"),
        (FloatingPointError("training loss became nan at epoch 3"), 1, "loss became nan"),
        (PermissionError(13, "Permission denied", "/data/x"), 1, "Permission denied: /data/x"),
    ],
)
def test_failures_while_running_are_one_line(tmp_path, monkeypatch, capsys, error, code, message):
    def run_benchmark(*args, **kwargs):
        raise error

    monkeypatch.setattr(harness, "run_benchmark", run_benchmark)
    out = tmp_path / "r.jsonl"
    assert main([*BENCH, "--model", "mlp", "--out", str(out)]) == code
    assert message.format(out=out) in _err(capsys)
