"""The search space of ``graphlib tune``: parsing, checks against typed options, sampling."""

import optuna
import pytest

from graphlib_pyg.bench.tune_space import (
    Choice,
    Interval,
    check_space,
    grid,
    parse_space,
    suggest,
)
from graphlib_pyg.cli import main


def test_command_line_forms():
    space, fixed = parse_space(
        ["lr=log(1e-4..1e-1)", "dropout=0.2..0.8", "hidden=[64,128]", "epochs=50", "init=glorot"]
    )
    assert space["lr"] == Interval(1e-4, 0.1, log=True)
    assert space["dropout"] == Interval(0.2, 0.8)
    assert space["hidden"] == Choice((64, 128))
    assert fixed == {"epochs": 50, "init": "glorot"}


def test_yaml_forms_and_command_line_overrides(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: log(1e-3..1e-1)\n"
        "weight_decay: {low: 1e-6, high: 1e-3, log: true}\n"
        "hidden: [16, 32]\n"
        "epochs: 30\n"
    )
    space, fixed = parse_space(["hidden=[8]"], str(path))
    assert space["weight_decay"] == Interval(1e-6, 1e-3, log=True)
    assert space["lr"] == Interval(1e-3, 0.1, log=True)
    assert space["hidden"] == Choice((8,))  # the command line wins
    assert fixed == {"epochs": 30}


def test_integer_options_get_integer_ranges():
    space, _ = parse_space(["hidden=16..64", "lr=1..2", "patience=5..50"])
    checked = check_space(space, "gcn")
    assert checked["hidden"].integer and checked["patience"].integer  # patience: int | None
    assert not checked["lr"].integer and isinstance(checked["lr"].low, float)
    params = suggest(optuna.trial.FixedTrial({"hidden": 32, "lr": 1.5, "patience": 7}), checked)
    assert params == {"hidden": 32, "lr": 1.5, "patience": 7}


@pytest.mark.parametrize(
    "pair, error, words",
    [
        ("hiden=[16,32]", TypeError, ["unknown option 'hiden'", "Did you mean hidden"]),
        ("lr=0.1..0.01", ValueError, ["lr range 0.1..0.01 has low > high"]),
        ("lr=log(0..0.1)", ValueError, ["lr log range log(0..0.1) needs low > 0"]),
        ("weight_decay=log(-1..1)", ValueError, ["needs low > 0"]),
        ("hidden=0.5..8", TypeError, ["hidden must be an integer, got 0.5"]),
        ("hidden=[16,abc]", TypeError, ["hidden must be an integer, got 'abc'"]),
        ("dropout=0.2..1.5", ValueError, ["dropout must be a number in [0, 1), got 1.5"]),
        ("select=0..1", TypeError, ["select is not a number", "select=[a,b]"]),
        ("lr=a..b", TypeError, ["lr: the bounds of a range must be numbers"]),
    ],
)
def test_bad_space_names_the_key(pair, error, words):
    with pytest.raises(error) as info:  # parsed, then checked against gcn's typed options
        check_space(parse_space([pair])[0], "gcn")
    for word in words:
        assert word in str(info.value)


def test_grid_needs_choices():
    space, _ = parse_space(["hidden=[16,32]", "lr=0.01..0.1"])
    with pytest.raises(ValueError, match="give lr as a list"):
        grid(check_space(space, "gcn"))
    assert grid(check_space(parse_space(["hidden=[16,32]"])[0], "gcn")) == {"hidden": [16, 32]}


@pytest.mark.parametrize(
    "extra, words",
    [
        (["hiden=[16,32]"], "unknown option 'hiden'. Did you mean hidden?"),
        (["lr=0.1..0.01"], "low > high"),
        (["epochs=abc", "lr=0.01..0.1"], "epochs must be an integer"),  # a fixed option
        (["data.split=[a,b]"], "data options can be fixed, not searched"),
        (["epochs=5"], "nothing to search"),
        (["lr=0.01..0.1", "--sampler", "grid"], "give lr as a list"),
        (["lr=0.01..0.1", "--timeout", "soon"], "--timeout must be a positive duration"),
        (["lr=0.01..0.1", "--runs-per-trial", "0"], "--runs-per-trial must be >= 1"),
    ],
)
def test_cli_rejects_before_any_trial(tmp_path, capsys, extra, words):
    out = tmp_path / "r.jsonl"
    argv = ["tune", "--model", "gcn", "--dataset", "csbm", "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphlib tune: ") and "\n" not in err and words in err
    assert not list(tmp_path.iterdir())  # no study database, no results file


def test_cli_unknown_model_and_dataset(tmp_path, capsys):
    out = str(tmp_path / "r.jsonl")
    assert main(["tune", "--model", "gcm", "--dataset", "csbm", "--out", out, "lr=0.01..0.1"]) == 2
    assert "Did you mean gcn" in capsys.readouterr().err
    assert main(["tune", "--model", "gcn", "--dataset", "cora2", "--out", out, "lr=0.1..1"]) == 2
    assert "cora2" in capsys.readouterr().err
