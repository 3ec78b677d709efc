import json
import re

import pandas as pd
import pytest

from graphlib_pyg.bench.report import (
    SUMMARY_COLUMNS,
    config_id,
    read_results,
    render_report,
    summarize,
    to_markdown,
)

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
