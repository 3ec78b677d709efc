"""The results store refuses to lose or corrupt data: checked writes (full disk), files that are
not results files, unwritable folders, and processes sharing one file."""

import errno
import json
import multiprocessing as mp
import os
import time

import pytest

from graphlib_pyg.bench import harness, results
from graphlib_pyg.bench.harness import run_benchmark
from graphlib_pyg.bench.results import append_result, check_store, read_results
from graphlib_pyg.cli import main

SMALL = {"num_nodes": 200}
BENCH = "bench --model mlp --dataset csbm --epochs 2 --no-progress data.num_nodes=200".split()


def _row(run=0, **over):
    row = {"model": "m", "dataset": "d", "run": run, "metric": "accuracy", "val": 0.5}
    return {**row, "test": 0.5, "config": {"lr": 0.01}, "curve": {"val": [0.1] * 50}, **over}


def _fake_write(monkeypatch, path, fake):
    """Route ``os.write`` calls on ``path`` (already existing) through ``fake(real, fd, data)``."""
    real, ino = os.write, os.stat(path).st_ino

    def write(fd, data):
        return fake(real, fd, data) if os.fstat(fd).st_ino == ino else real(fd, data)

    monkeypatch.setattr(os, "write", write)


# ---------------------------------------------------------------- 1. checked writes


def test_short_writes_are_continued(tmp_path, monkeypatch):
    out = tmp_path / "r.jsonl"
    append_result(out, _row(0))
    _fake_write(monkeypatch, out, lambda real, fd, data: real(fd, bytes(data[:7])))
    append_result(out, _row(1))
    append_result(out, _row(2))
    assert [r["run"] for r in read_results(out)] == [0, 1, 2]


@pytest.mark.parametrize("failure", ["enospc_after_part", "zero_bytes"])
def test_full_disk_truncates_back_and_raises(tmp_path, monkeypatch, failure):
    out = tmp_path / "r.jsonl"
    append_result(out, _row(0))
    before = out.read_bytes()
    calls = []

    def fake(real, fd, data):
        calls.append(len(data))
        if failure == "zero_bytes":
            return 0
        if len(calls) == 1:
            return real(fd, bytes(data[:20]))  # part of the line fits, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    _fake_write(monkeypatch, out, fake)
    with pytest.raises(OSError, match="r.jsonl.*truncated back") as err:
        append_result(out, _row(1))
    assert err.value.errno == errno.ENOSPC
    assert out.read_bytes() == before  # still parseable: no cut line
    monkeypatch.undo()
    append_result(out, _row(1))
    assert [r["run"] for r in read_results(out)] == [0, 1]


def test_cli_full_disk_exits_non_zero(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.jsonl"
    out.touch()

    def enospc(real, fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    _fake_write(monkeypatch, out, enospc)
    assert main([*BENCH, "--runs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out) in err
    assert "results appended" not in err and "Traceback" not in err
    assert out.read_bytes() == b""


# ---------------------------------------------------------------- 2. not a results file


@pytest.mark.parametrize(
    "text",
    [
        "models: [mlp]\ndatasets: [csbm]\n",  # the YAML grid given to --config
        '{"lr": 0.01}\n',  # JSON, but not a result row
        '{\n  "model": "gcn"\n}\n',  # pretty-printed JSON
        "model,dataset,test\ngcn,cora,0.8\n",
    ],
)
def test_a_file_that_is_not_a_results_file_is_refused(tmp_path, text):
    path = tmp_path / "file.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path} is not a results file"):
        check_store(path)
    with pytest.raises(ValueError, match="not a results file"):
        run_benchmark("mlp", "csbm", runs=1, epochs=1, out=path, data=SMALL, progress=False)
    assert path.read_text() == text


def test_results_files_with_crash_cut_lines_are_accepted(tmp_path):
    good = json.dumps(_row(0)) + "\n"
    for text in ["", "\n", good, good + '{"model": "m", "data', '{"model": "m"\n' + good]:
        path = tmp_path / "r.jsonl"
        path.write_text(text)
        check_store(path)
    check_store(tmp_path / "new" / "r.jsonl")  # created, with its folder
    assert (tmp_path / "new" / "r.jsonl").read_text() == ""


def test_cli_refuses_the_config_file_as_out(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    text = "models: [mlp]\ndatasets: [csbm]\nruns: 1\nepochs: 2\ndata: {num_nodes: 150}\n"
    grid.write_text(text)
    assert main(["bench", "--config", str(grid), "--out", str(grid), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{grid} is not a results file" in err and len(err.strip().splitlines()) == 1
    assert grid.read_text() == text


# ---------------------------------------------------------------- 3. writable before training


def _no_training(monkeypatch):
    def load_task(*args, **kwargs):
        raise AssertionError("the task was loaded (training would start) before the check")

    monkeypatch.setattr(harness, "load_task", load_task)


def test_uncreatable_folder_fails_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub" / "r.jsonl"  # a folder below a regular file
    _no_training(monkeypatch)
    with pytest.raises(OSError, match="cannot write results file .*file/sub/r.jsonl"):
        run_benchmark("mlp", "csbm", runs=1, epochs=1, out=out, data=SMALL, progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_fails_before_training(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    _no_training(monkeypatch)
    with pytest.raises(OSError, match="cannot write results file"):
        run_benchmark("mlp", "csbm", runs=1, epochs=1, out=folder / "r.jsonl", progress=False)


def test_cli_unwritable_out_fails_before_training(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    _no_training(monkeypatch)
    out = tmp_path / "file" / "r.jsonl"
    assert main([*BENCH, "--model", "gcn", "--runs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write results file {out}" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- 4. processes sharing a file


def test_a_run_finished_meanwhile_by_another_process_is_skipped(tmp_path, monkeypatch):
    out = tmp_path / "r.jsonl"
    written = []

    def append_and_other(path, row):  # while we ran run r, "another process" finished r + 1
        written.append(row["run"])
        append_result(path, row)
        if row["run"] == 0:
            append_result(path, {**row, "run": 1, "seed": 1, "by": "other"})

    monkeypatch.setattr(harness, "append_result", append_and_other)
    rows = run_benchmark("mlp", "csbm", runs=3, epochs=2, out=out, data=SMALL, progress=False)
    assert written == [0, 2]  # run 1 was not trained again
    assert [r["run"] for r in read_results(out)] == [0, 1, 2]
    assert [r["run"] for r in rows] == [0, 1, 2] and rows[1]["by"] == "other"


def _hold_run(path, base, run, ready, wait_for_run):
    """Another process: claims ``run``, waits until ``wait_for_run`` is stored, then stores
    ``run`` itself and exits (releasing the claim)."""
    claims = results.claim_runs(path, base, [run])
    assert next(claims) == (run, None)
    ready.set()
    while not any(r.get("run") == wait_for_run for r in read_results(path)):
        time.sleep(0.05)
    append_result(path, {**base, "run": run, "seed": run, "metric": "accuracy", "val": 0.0,
                         "test": 0.0, "by": "other"})  # fmt: skip


def test_a_run_another_process_is_running_is_waited_for_not_repeated(tmp_path):
    out = tmp_path / "r.jsonl"
    first = run_benchmark("mlp", "csbm", runs=1, epochs=2, out=out, data=SMALL, progress=False)
    base = {k: first[0][k] for k in ("model", "dataset", "trainer", "augment", "config")}
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    other = ctx.Process(target=_hold_run, args=(str(out), base, 1, ready, 2))
    other.start()
    try:
        assert ready.wait(60)
        rows = run_benchmark("mlp", "csbm", runs=3, epochs=2, out=out, data=SMALL, progress=False)
    finally:
        other.join(60)
    assert other.exitcode == 0
    lines = read_results(out)
    assert sorted(r["run"] for r in lines) == [0, 1, 2]  # each run once
    assert [r["run"] for r in lines] == [0, 2, 1]  # run 1 was put off, then came from the other
    assert [r["run"] for r in rows] == [0, 1, 2] and rows[1]["by"] == "other"


def _bench(argv):
    os.environ["OMP_NUM_THREADS"] = "1"
    raise SystemExit(main(argv))


def test_two_processes_with_overlapping_seeds_run_each_seed_once(tmp_path):
    out = str(tmp_path / "r.jsonl")
    ctx = mp.get_context("spawn")
    argv = [*BENCH, "--epochs", "20", "--runs", "6", "--out", out]
    procs = [ctx.Process(target=_bench, args=([*argv, "--start", s],)) for s in ("0", "3")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(r["run"] for r in read_results(out)) == [0, 1, 2, 3, 4, 5]
