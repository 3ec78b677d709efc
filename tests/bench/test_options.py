"""Typed option checks: types from the defaults, ranges from RANGES, unknown keys refused."""

import math

import pytest

from graphlib_pyg.bench import harness
from graphlib_pyg.bench.defaults import DATASET_DEFAULTS, MODEL_DEFAULTS, PAIR_DEFAULTS
from graphlib_pyg.bench.options import (
    PROBABILITY,
    RANGES,
    Range,
    check_options,
    check_run_options,
    range_of,
    run_options,
)
from graphlib_pyg.nn.registry import MODELS

SCHEMA = {
    "hidden": 64,
    "lr": 0.01,
    "residual": False,
    "select": "metric",
    "fanouts": [10, 5],
    "options": {},
    "patience": None,
    "batch_size": None,
    "init": None,
    "dropout": 0.5,
    "attn_dropout": 0.0,
}


@pytest.mark.parametrize(
    "values",
    [
        {"hidden": 8, "lr": 0.1},
        {"lr": 1},  # a float option takes an int, kept as given
        {"residual": True, "select": "loss", "fanouts": [5], "options": {"a": 1}},
        {"patience": None, "batch_size": None, "init": "glorot"},  # None defaults: any type
        {"init": 3},
        {"patience": 0, "batch_size": 1, "dropout": 0, "attn_dropout": 0.999},
        {},
    ],
)
def test_valid_values_come_back_as_given(values):
    checked = check_options(values, SCHEMA, "test")
    assert checked == values and checked is not values
    assert all(type(checked[k]) is type(v) for k, v in values.items())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": "abc"}, "hidden must be an integer, got 'abc' (str)"),
        ({"hidden": 64.0}, "hidden must be an integer, got 64.0 (float)"),
        ({"hidden": True}, "hidden must be an integer, got True (bool)"),  # bool is not an int
        ({"lr": "abc"}, "lr must be a number, got 'abc' (str)"),
        ({"lr": False}, "lr must be a number, got False (bool)"),
        ({"residual": 1}, "residual must be a boolean (true or false), got 1 (int)"),
        ({"residual": "yes"}, "residual must be a boolean (true or false), got 'yes' (str)"),
        ({"select": 3}, "select must be a string, got 3 (int)"),
        ({"fanouts": "10,5"}, "fanouts must be a list, got '10,5' (str)"),
        ({"options": ["lr=0.1"]}, "options must be a mapping (key: value), got ['lr=0.1'] (list)"),
        ({"batch_size": "abc"}, "batch_size must be an integer >= 1, got 'abc'"),  # None default
    ],
)
def test_wrong_types_name_key_type_and_value(values, message):
    with pytest.raises(TypeError) as err:
        check_options(values, SCHEMA, "where")
    assert str(err.value) == f"where: {message}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": -3}, "hidden must be an integer >= 1, got -3"),
        ({"hidden": 0}, "hidden must be an integer >= 1, got 0"),
        ({"lr": 0}, "lr must be a number > 0, got 0"),
        ({"lr": -0.1}, "lr must be a number > 0, got -0.1"),
        ({"lr": math.nan}, "lr must be a number > 0, got nan"),
        ({"dropout": 1.0}, "dropout must be a number in [0, 1), got 1.0"),
        ({"dropout": -0.1}, "dropout must be a number in [0, 1), got -0.1"),
        ({"attn_dropout": 1.5}, "attn_dropout must be a number in [0, 1), got 1.5"),  # any *dropout
        ({"patience": -1}, "patience must be an integer >= 0, got -1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ],
)
def test_out_of_range_values_name_key_range_and_value(values, message):
    with pytest.raises(ValueError) as err:
        check_options(values, SCHEMA, "where")
    assert str(err.value) == f"where: {message}"


def test_unknown_keys_are_refused_with_a_did_you_mean():
    with pytest.raises(TypeError, match="where: unknown option 'lrr'. Did you mean lr\\? Valid: "):
        check_options({"lrr": 0.1}, SCHEMA, "where")
    with pytest.raises(TypeError, match="Did you mean hidden\\?"):
        check_options({"hiden": 8}, SCHEMA, "where")
    with pytest.raises(TypeError, match="unknown option 'x'. Valid: none: it takes no options"):
        check_options({"x": 1}, {}, "where")
    with pytest.raises(TypeError, match="options must be a mapping"):
        check_options(["lr=0.1"], SCHEMA, "where")


def test_ranges_describe_themselves():
    assert str(RANGES["hidden"]) == "an integer >= 1"
    assert str(RANGES["lr"]) == "a number > 0"
    assert str(RANGES["weight_decay"]) == "a number >= 0"
    assert str(PROBABILITY) == "a number in [0, 1)"
    assert str(Range(0, 1)) == "a number in [0, 1]" and str(Range(high=2)) == "a number <= 2"
    assert range_of("pred_edge_dropout") is PROBABILITY and range_of("alpha") is None
    for key in ("hidden", "epochs", "num_layers", "runs", "batch_size", "eval_every", "heads"):
        assert RANGES[key] == Range(1, integer=True), key


def _trainers():
    from graphlib_pyg.train.auxiliary import AUX_METHODS
    from graphlib_pyg.train.forward import VARIANTS
    from graphlib_pyg.train.topdown import TOPDOWN_TRAINERS

    return ["backprop", "heuristic", *VARIANTS, *TOPDOWN_TRAINERS, *AUX_METHODS]


def test_every_default_passes_its_own_check():
    """The schemas' own defaults and the published benchmark defaults are valid options."""
    for trainer in _trainers():
        for model in [*MODELS, "cn"]:
            for augment in ("none", "la"):
                schema = run_options(model, trainer, augment)
                assert schema is not None, (trainer, model)
                check_options(schema, schema, f"{model}/{trainer}")
    for model in MODELS:
        schema = run_options(model)
        pairs = [cfg for (_, m), cfg in PAIR_DEFAULTS.items() if m == model]
        for cfg in [MODEL_DEFAULTS.get(model, {}), *DATASET_DEFAULTS.values(), *pairs]:
            check_options(cfg, schema, model)


def test_run_options_are_what_each_trainer_accepts():
    from graphlib_pyg.augment.la import LA_OPTIONS
    from graphlib_pyg.train.backprop import TRAIN_DEFAULTS

    gat = run_options("gat")
    assert set(TRAIN_DEFAULTS) | set(MODELS["gat"].options) == set(gat)
    assert gat["heads"] == MODELS["gat"].options["heads"]  # the model's default wins
    assert set(run_options("gcn", augment="la")) == set(run_options("gcn")) | set(LA_OPTIONS)
    assert run_options("cn") == {} and run_options("cn", "heuristic") == {}
    assert "schedule" in run_options("gcn", "sf") and "heads" not in run_options("gcn", "sf")
    assert run_options("gat", "sf")["heads"] == 4
    assert "test_steps" in run_options("sage", "sf-top2loss")
    assert "momentum" in run_options("gcn", "man") and "pyramid" in run_options("gcn", "auglocal")
    assert run_options("gcn", "no-such-trainer") is None  # the trainer checks its own
    with pytest.raises(TypeError, match="la_stlye'. Did you mean la_style"):
        check_run_options({"la_stlye": "x"}, "gcn", augment="la")
    with pytest.raises(TypeError, match="options of cn .*takes no options"):
        check_run_options({"lr": 0.1}, "cn")


def test_run_benchmark_checks_options_before_loading_anything(monkeypatch):
    def load_task(*args, **kwargs):
        raise AssertionError("the task was loaded before the options were checked")

    monkeypatch.setattr(harness, "load_task", load_task)
    kw = {"runs": 1, "epochs": 1, "progress": False}
    with pytest.raises(ValueError, match="options of gcn .*hidden must be an integer >= 1"):
        harness.run_benchmark("gcn", "csbm", config={"hidden": -3}, **kw)
    with pytest.raises(TypeError, match="lr must be a number, got 'abc'"):
        harness.run_benchmark("gcn", "csbm", config={"lr": "abc"}, **kw)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.5"):
        harness.run_benchmark("sage", "csbm", trainer="sf", config={"dropout": 1.5}, **kw)
