import base64
import json
import re

import pandas as pd
import pytest

from graphlib_pyg.bench.leaderboard import leaderboard, leaderboard_cells
from graphlib_pyg.bench.report import (
    SUMMARY_COLUMNS,
    config_id,
    read_results,
    render_report,
    summarize,
    to_markdown,
)
from graphlib_pyg.bench.report_plots import plot_curves, plot_scores
from graphlib_pyg.bench.report_table import variant_labels
from graphlib_pyg.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(seed=0, test=0.8, val=0.7, model="gcn", dataset="cora", curve=False, **over):
    row = dict(
        model=model,
        dataset=dataset,
        trainer="backprop",
        augment=None,
        run=seed,
        seed=seed,
        metric="accuracy",
        val=val,
        test=test,
        best_epoch=10,
        params=1000,
        epoch_time_s=0.1 * (seed + 1),
        peak_rss_mb=100.0 + seed,
        config={"lr": 0.01, "hidden": 64, "seed": seed},
    )
    if curve:
        row["curve"] = {
            "epoch": [0, 5, 10],
            "train_loss": [1.0, 0.5, 0.3],
            "val": [0.3, 0.6, val],
            "test": [0.3, 0.6, test],
        }
    row.update(over)
    return row


def _write(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def _three_runs(**over):
    return [
        _row(s, test=t, val=v, **over)
        for s, (t, v) in enumerate([(0.80, 0.70), (0.82, 0.80), (0.84, 0.90)])
    ]


def test_summarize_mean_and_unbiased_std():
    df = summarize(_three_runs())
    assert list(df.columns) == SUMMARY_COLUMNS
    assert len(df) == 1
    r = df.iloc[0]
    assert r["runs"] == 3 and r["metric"] == "accuracy"
    assert r["test_mean"] == pytest.approx(0.82, abs=1e-12)
    assert r["test_std"] == pytest.approx(0.02, abs=1e-12)  # ddof=1; ddof=0 gives 0.0163
    assert r["val_mean"] == pytest.approx(0.80, abs=1e-12)
    assert r["val_std"] == pytest.approx(0.10, abs=1e-12)
    assert r["epoch_time_s"] == pytest.approx(0.2)  # median
    assert r["peak_rss_mb"] == pytest.approx(102.0)  # max
    assert r["params"] == 1000
    assert r["config_id"] == config_id({"lr": 0.01, "hidden": 64})
    assert "seed" not in json.loads(r["config"])


def test_single_run_std_is_zero():
    r = summarize([_row(0, test=0.5)]).iloc[0]
    assert r["runs"] == 1 and r["test_std"] == 0.0 and r["val_std"] == 0.0


def test_config_groups_split_by_hyper_parameters_not_seed():
    rows = _three_runs() + [_row(s, config={"lr": 0.1, "hidden": 64, "seed": s}) for s in (0, 1)]
    df = summarize(rows)
    assert sorted(df["runs"]) == [2, 3]
    assert df["config_id"].nunique() == 2
    # Key order in the config does not matter; the seed does not either.
    assert config_id({"a": 1, "b": 2, "seed": 0}) == config_id({"b": 2, "a": 1, "seed": 5})
    assert config_id({"a": 1}) != config_id({"a": 2})


def test_duplicate_seed_counts_once_last_wins():
    rows = [_row(0, test=0.1), _row(0, test=0.9)]
    with pytest.warns(UserWarning, match="duplicate seed"):
        r = summarize(rows).iloc[0]
    assert r["runs"] == 1 and r["test_mean"] == pytest.approx(0.9)


def test_broken_last_line_is_skipped_with_warning(tmp_path):
    path = _write(tmp_path / "results.jsonl", _three_runs()[:2], tail='{"model": "gcn", "data')
    with pytest.warns(UserWarning, match="line 3"):
        rows = read_results(path)
    assert [r["seed"] for r in rows] == [0, 1]


def test_missing_file_error_names_path(tmp_path):
    path = tmp_path / "nope" / "results.jsonl"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_results(path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        render_report(path, tmp_path / "out")


def test_markdown_formats_percentages():
    md = to_markdown(summarize(_three_runs()))
    assert "82.00 ± 2.00" in md and "80.00 ± 10.00" in md
    lines = md.strip().splitlines()
    assert len(lines) == 3 and all(ln.startswith("|") and ln.endswith("|") for ln in lines)
    assert len({ln.count("|") for ln in lines}) == 1


def test_markdown_keeps_metrics_outside_unit_interval():
    md = to_markdown(
        summarize([_row(s, test=t, val=t, metric="mae") for s, t in enumerate([2.0, 4.0])])
    )
    assert "3.00 ± 1.41" in md


def test_render_report_without_curves(tmp_path):
    rows = _three_runs() + _three_runs(model="gat") + _three_runs(dataset="citeseer")
    out = tmp_path / "out" / "nested"
    (out).mkdir(parents=True)
    paths = render_report(_write(tmp_path / "results.jsonl", rows), out)
    assert set(paths) == {"markdown", "csv", "test_metric"}
    assert not (out / "curves.png").exists()
    assert paths["test_metric"].read_bytes()[:8] == PNG_MAGIC
    assert len(pd.read_csv(paths["csv"])) == 3
    md = paths["markdown"].read_text()
    assert "82.00 ± 2.00" in md and "test_metric.png" in md and "curves.png" not in md


def test_render_report_with_curves(tmp_path):
    rows = _three_runs(curve=True) + _three_runs(model="gat")
    out = tmp_path / "out"
    paths = render_report(_write(tmp_path / "results.jsonl", rows), out)
    assert set(paths) == {"markdown", "csv", "test_metric", "curves"}
    for key in ("test_metric", "curves"):
        data = paths[key].read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert len(pd.read_csv(paths["csv"])) == 2
    assert "curves.png" in paths["markdown"].read_text()


def test_val_as_input_splits_groups_and_shows_in_markdown():
    rows = _three_runs(val_as_input=True) + _three_runs(val_as_input=False)
    df = summarize(rows)
    assert len(df) == 2 and sorted(df["val_as_input"]) == [False, True]
    assert "val as input" in to_markdown(df)
    assert "val as input" not in to_markdown(summarize(_three_runs()))


def test_render_report_never_deletes_a_file_it_did_not_write(tmp_path):
    """``--out-dir`` may be a folder of the user's: a ``curves.png`` there is theirs."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "curves.png").write_bytes(b"the user's own figure")
    (out / "notes.txt").write_text("keep")
    paths = render_report(_write(tmp_path / "results.jsonl", _three_runs()), out)
    assert "curves" not in paths and "curves.png" not in paths["markdown"].read_text()
    assert (out / "curves.png").read_bytes() == b"the user's own figure"
    assert (out / "notes.txt").read_text() == "keep"


# --------------------------------------------------------------------------------------------
# labels, score plot, leaderboard, HTML


def _gmn(epochs, dataset="tolokers", test=0.84, **extra):
    cfg = {"epochs": epochs, "hidden": 32, "data": {"split": "official"}, **extra}
    return [
        _row(s, test=test + 0.01 * s, model="gmn", dataset=dataset, config={**cfg, "seed": s})
        for s in range(3)
    ]


def test_labels_name_the_options_that_differ_and_the_hash_stays_in_the_csv(tmp_path):
    rows = _gmn(100) + _gmn(250) + _gmn(150, node_layers=3) + _three_runs(dataset="tolokers")
    df = summarize(rows)
    labels = dict(zip(df["config_id"], variant_labels(df), strict=True))
    assert sorted(labels.values()) == [
        "gcn",
        "gmn epochs=100",
        "gmn epochs=150 node_layers=3",
        "gmn epochs=250",
    ]
    paths = render_report(_write(tmp_path / "r.jsonl", rows), tmp_path / "out", html=True)
    csv = pd.read_csv(paths["csv"])
    assert set(csv["label"]) == set(labels.values())
    assert dict(zip(csv["config_id"], csv["label"], strict=True)) == labels
    for key in ("markdown", "html"):
        text = paths[key].read_text()
        assert "gmn epochs=150 node_layers=3" in text
        assert not any(cid in text for cid in labels), f"a config hash in {key}"


def test_a_label_is_the_same_on_every_dataset():
    """An option that differs only between datasets (a per-dataset default) names nothing; one
    that differs within a dataset is named on every dataset, so a variant is one row."""
    rows = (
        _three_runs(config={"lr": 0.01})
        + _three_runs(dataset="citeseer", config={"lr": 0.02})
        + _gmn(100, dataset="cora")
        + _gmn(200, dataset="cora")
        + _gmn(100, dataset="citeseer")
    )
    df = summarize(rows)
    got = sorted(zip(df["dataset"], variant_labels(df), strict=True))
    assert got == [
        ("citeseer", "gcn"),
        ("citeseer", "gmn epochs=100"),
        ("cora", "gcn"),
        ("cora", "gmn epochs=100"),
        ("cora", "gmn epochs=200"),
    ]


def test_trainers_and_augmentations_are_named_in_plots_and_have_columns_in_the_table():
    rows = _three_runs(augment="none") + _three_runs(trainer="sf", augment="none", config={})
    rows += _three_runs(augment="la", config={"lr": 0.01, "hidden": 64, "la_tem": 0.5})
    df = summarize(rows)
    assert sorted(variant_labels(df)) == [
        "gcn trainer=backprop augment=la",
        "gcn trainer=backprop augment=none",
        "gcn trainer=sf augment=none",
    ]
    body = to_markdown(df).splitlines()[2:]
    assert [line.split("|")[1].strip() for line in body] == ["gcn", "gcn", "gcn"]


def test_score_plot_sorts_points_on_an_axis_fitted_to_the_data_without_a_legend(tmp_path):
    rows = [_row(s, test=t, model=m) for m, ts in (("gcn", (0.82, 0.84)), ("gat", (0.85, 0.86)))
            for s, t in enumerate(ts)] + _three_runs(model="sage", dataset="citeseer")  # fmt: skip
    df = summarize(rows)
    fig = plot_scores(df, variant_labels(df), tmp_path / "s.png")
    axes = [ax for ax in fig.axes if ax.get_title()]  # the panels (twins carry the numbers)
    assert [ax.get_title().split(":")[0] for ax in axes] == ["citeseer", "cora"]
    cora = axes[1]
    assert [t.get_text() for t in cora.get_yticklabels()] == ["gcn", "gat"]  # best on top
    lo, hi = cora.get_xlim()
    assert 80 < lo < 83 - 1.41 and 85.5 + 0.71 < hi < 88  # spans mean ± std (in %), not 0..100
    assert all(ax.get_legend() is None for ax in fig.axes) and not fig.legends
    right = [t.get_text() for t in fig.axes[3].get_yticklabels()]
    assert right == ["83.00 ± 1.41", "85.50 ± 0.71"]


def test_curves_have_a_std_band_and_one_legend_beside_the_panels(tmp_path):
    rows = [_row(s, curve=True, val=v) for s, v in enumerate([0.7, 0.9])]
    df = summarize(rows)
    fig = plot_curves(rows, df, variant_labels(df), tmp_path / "c.png")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == pytest.approx([30.0, 60.0, 80.0])  # mean of the runs
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(80 + 100 * 0.2 / 2**0.5)  # mean + std at the last step
    assert ax.get_legend() is None and len(fig.legends) == 1
    assert plot_curves(_three_runs(), df, ["gcn"], tmp_path / "none.png") is None


def test_leaderboard_marks_the_best_per_column_and_averages_ranks():
    rows = []
    for model, scores in (("gcn", (0.80, 0.70, 0.60)), ("gat", (0.82, 0.69, None))):
        for dataset, score in zip(("cora", "citeseer", "pubmed"), scores, strict=True):
            if score is not None:
                rows += [_row(s, test=score, model=model, dataset=dataset) for s in range(2)]
    df = summarize(rows)
    board = leaderboard(df, variant_labels(df))
    assert list(board.index) == ["gcn", "gat"]  # avg ranks 1.33 (3 datasets) and 1.5 (2)
    assert board.loc["gcn", ("avg rank", "")] == pytest.approx(4 / 3)
    header, _, body = leaderboard_cells(board)
    assert header == ["model", "citeseer (accuracy)", "cora (accuracy)", "pubmed (accuracy)",
                      "avg rank"]  # fmt: skip
    assert body[0] == ["gcn", "**70.00 ± 0.00**", "80.00 ± 0.00", "**60.00 ± 0.00**", "1.33"]
    assert body[1] == ["gat", "69.00 ± 0.00", "**82.00 ± 0.00**", "–", "1.50 (2/3)"]


def test_report_shows_a_leaderboard_only_for_several_datasets(tmp_path):
    one = render_report(_write(tmp_path / "a.jsonl", _three_runs()), tmp_path / "a")
    assert "Leaderboard" not in one["markdown"].read_text()
    rows = _three_runs() + _three_runs(dataset="citeseer")
    rows += [_row(s, model="gat", test=0.7) for s in range(2)]
    two = render_report(_write(tmp_path / "b.jsonl", rows), tmp_path / "b")
    md = two["markdown"].read_text()
    assert md.index("## Leaderboard") < md.index("## All runs") < md.index("test_metric.png")
    board = md[md.index("## Leaderboard") : md.index("## All runs")].strip().splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in board[2:]]
    assert cells[0] == ["model", "citeseer (accuracy)", "cora (accuracy)", "avg rank"]
    assert cells[2:] == [
        ["gcn", "**82.00 ± 2.00**", "**82.00 ± 2.00**", "1.00"],
        ["gat", "–", "70.00 ± 0.00", "2.00 (1/2)"],
    ]


def test_html_report_is_self_contained(tmp_path):
    rows = _three_runs(curve=True) + [_row(0, dataset="citeseer", model="gat", test=0.9)]
    paths = render_report(_write(tmp_path / "r.jsonl", rows), tmp_path / "out", html=True)
    page = paths["html"].read_text()
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    assert base64.b64decode(images[0]) == paths["test_metric"].read_bytes()
    assert base64.b64decode(images[1]) == paths["curves"].read_bytes()
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    assert "<strong>" in page and "<th>Leaderboard" not in page and page.count("<table>") == 2


def test_report_command_html_flag(tmp_path, capsys):
    path = _write(tmp_path / "r.jsonl", _three_runs())
    assert main(["report", str(path), "--html"]) == 0
    assert (tmp_path / "r-report" / "report.html").is_file()
    assert "# Benchmark report" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2


def test_a_single_run_shows_no_spread(tmp_path):
    rows = _three_runs() + [_row(0, model="mlp", test=0.5)] + _three_runs(dataset="citeseer")
    df = summarize(rows)
    fig = plot_scores(df, variant_labels(df), tmp_path / "s.png")
    cora = [ax for ax in fig.axes if not ax.get_title()][1]  # the numbers beside cora's rows
    assert [t.get_text() for t in cora.get_yticklabels()] == ["50.00 (1 run)", "82.00 ± 2.00 (n=3)"]
    _, _, body = leaderboard_cells(leaderboard(df, variant_labels(df)))
    assert body[1] == ["mlp", "–", "50.00 (1 run)", "2.00 (1/2)"]
