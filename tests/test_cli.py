import json

from graphlib_pyg.cli import main


def test_bench_writes_results_and_prints_table(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    bench = "bench --dataset csbm --runs 2 --epochs 3 --no-progress data.num_nodes=200".split()
    code = main([*bench, "--model", "gcn,mlp", "--out", str(out), "lr=0.02"])
    assert code == 0
    table = capsys.readouterr().out
    assert "| gcn" in table and "| mlp" in table and "±" in table
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4 and all(r["config"]["lr"] == 0.02 for r in rows)
    assert all(r["config"]["data"]["num_nodes"] == 200 for r in rows)


def test_report_renders_files(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    bench = "bench --dataset csbm --runs 2 --epochs 3 --no-progress data.num_nodes=200".split()
    main([*bench, "--model", "mlp", "--out", str(out)])
    capsys.readouterr()
    assert main(["report", str(out), "--out-dir", str(tmp_path / "rep")]) == 0
    assert "| mlp" in capsys.readouterr().out
    for name in ("report.md", "report.csv", "test_metric.png", "curves.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0


def test_yaml_grid(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "models: [mlp]\ndatasets: [csbm]\nruns: 1\nepochs: 2\n"
        "options: {hidden: 8}\ndata: {num_nodes: 150}\n"
    )
    assert main(["bench", "--config", str(grid), "--no-progress"]) == 0
    assert "| mlp" in capsys.readouterr().out
    grid.write_text("modles: [mlp]\n")
    assert main(["bench", "--config", str(grid)]) == 2
    assert "unknown option 'modles'. Did you mean models?" in capsys.readouterr().err


def test_unknown_names_exit_2_with_choices(capsys):
    assert main(["bench", "--model", "gcm", "--dataset", "csbm", "--no-progress"]) == 2
    assert "Valid:" in capsys.readouterr().err
    assert main(["bench", "--model", "gcn", "oops"]) == 2
    assert "expected key=value, got 'oops'" in capsys.readouterr().err


def test_report_missing_file(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_datasets_lists_status(tmp_path, capsys):
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "csbm" in out and "built-in" in out
    assert "cora " in out and "missing" in out and "ind.cora" in out
    assert "peptides-func        graph missing    LRGB/peptides-functional/raw/" in out


def test_exponent_floats_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads "5e-4" as a string; the CLI must pass a float to the optimiser.
    out = tmp_path / "r.jsonl"
    bench = "bench --dataset csbm --runs 1 --epochs 2 --no-progress data.num_nodes=150".split()
    assert main([*bench, "--model", "mlp", "--out", str(out), "weight_decay=5e-4", "lr=1E-2"]) == 0
    cfg = json.loads(out.read_text())["config"]
    assert cfg["weight_decay"] == 5e-4 and cfg["lr"] == 0.01
    grid = tmp_path / "grid.yaml"
    grid.write_text("models: [mlp]\ndatasets: [csbm]\nruns: 1\nepochs: 2\noptions: {lr: 3e-3}\n")
    assert main(["bench", "--config", str(grid), "--no-progress", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[-1]["config"]["lr"] == 3e-3
