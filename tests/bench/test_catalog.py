"""``graphlib models``, ``trainers`` and ``options``: read from the tool's own tables."""

import re
from pathlib import Path

from graphlib_pyg.bench.catalog import options_table
from graphlib_pyg.cli import main
from graphlib_pyg.nn.registry import MODELS
from graphlib_pyg.train.options import TRAIN_DEFAULTS
from graphlib_pyg.train.registry import TRAINERS

ROOT = Path(__file__).resolve().parents[2]


def test_models_and_trainers_list_every_entry_with_a_description(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    described = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
    assert set(MODELS) | {"lp", "cn", "aa", "ra"} <= set(described)
    assert main(["trainers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines} == set(TRAINERS)
    assert all(len(line.split()) > 3 for line in lines)  # a real description on every line
    assert not any("`" in line or ":class:" in line for line in lines)  # plain text


def test_options_show_types_values_and_their_source():
    rows = {k: (t, v, w) for k, t, v, w in options_table("gat", dataset="cora")}
    assert set(rows) == set(TRAIN_DEFAULTS) | set(MODELS["gat"].options)
    assert rows["lr"] == ("float", 0.005, "bench default for gat")  # the GAT paper's setting
    assert rows["patience"][0] == "int | None"
    assert rows["v2"] == ("bool", False, "model gat")
    assert rows["num_layers"] == ("int", 2, "trainer backprop")
    sf = {k: (v, w) for k, _, v, w in options_table("gcn", trainer="sf", dataset="cora")}
    assert sf["lr"] == (0.001, "trainer sf")  # ForwardGNN's own defaults, not the bench ones
    la = {k: w for k, _, _, w in options_table("gcn", augment="la")}
    assert la["la_tem"] == "augment la"


def test_an_unknown_model_is_one_line_with_a_suggestion(capsys):
    assert main(["options", "gnc"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean gcn?" in err and len(err.strip().splitlines()) == 1


def test_options_say_where_each_source_is_written(capsys):
    assert main(["options", "ncn", "--dataset", "cora"]) == 0
    out = capsys.readouterr().out
    table, legend = out.split("written in:")
    sources = dict(re.split(r"\s{2,}", line.strip()) for line in legend.strip().splitlines())
    froms = {line.rsplit("  ", 1)[-1].strip() for line in table.strip().splitlines()[1:]}
    assert set(sources) == froms  # every source named in the table, and only those
    assert sources["bench default for cora/ncn"].startswith(
        "graphlib_pyg/bench/defaults.py (PAIR_DEFAULTS); reference code: NCN's README"
    )
    assert sources["trainer backprop"] == "graphlib_pyg/train/options.py (TrainOptions); ours"
    for where in sources.values():
        assert (ROOT / where.split()[0]).is_file()
    assert main(["options", "cn"]) == 0
    assert "takes no options" in capsys.readouterr().out


def test_the_options_name_where_each_benchmark_default_comes_from():
    from graphlib_pyg.bench.catalog import options_text

    text = options_text("gcn", dataset="peptides-func")
    assert "(PAIR_DEFAULTS); reference code: the LRGB" in text
    assert "(TrainOptions); ours" in text
    assert "paper: Platonov et al. 2023" in options_text("gat", dataset="tolokers")
    assert "(MODEL_DEFAULTS); paper: Kipf & Welling 2017" in options_text("gcn", dataset="cora")
