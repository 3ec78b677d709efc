"""``graphlib tune`` end to end on a tiny synthetic task: the study, resume, two processes on one
SQLite file, pruning from the trainer's evaluations, --jobs, the report and the dashboard."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from graphlib_pyg.bench.results import read_results
from graphlib_pyg.bench.tune_run import Reporter, TrialSetup, run_seed
from graphlib_pyg.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--model", "gcn", "--dataset", "csbm", "--epochs", "4", "data.num_nodes=200"]
SPACE = ["lr=log(1e-3..1e-1)", "hidden=[8,16]"]
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def tune(tmp, *extra, study="s"):
    out = tmp / "r.jsonl"
    argv = ["tune", *TINY, *SPACE, "--study", study, "--out", str(out), "--no-progress", *extra]
    return main(argv), out


def load(out, study="s"):
    return optuna.load_study(study_name=study, storage=f"sqlite:///{out.with_suffix('.tune.db')}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished study: 4 trials of 2 seeds, the best rerun for 3 seeds."""
    tmp = tmp_path_factory.mktemp("tune")
    rc, out = tune(tmp, "--trials", "4", "--runs-per-trial", "2", "--runs", "3", "--seed", "1")
    assert rc == 0
    return out


def test_best_by_validation_rerun_by_the_harness(finished):
    study = load(finished)
    trials = study.get_trials(states=DONE)
    assert len(trials) == 4
    for t in trials:  # the value is the mean of the trial's seeds' validation scores
        assert len(t.user_attrs["val_runs"]) == 2
        assert t.value == pytest.approx(sum(t.user_attrs["val_runs"]) / 2)
    assert study.best_trial.value == max(t.value for t in trials)
    rows = read_results(finished)  # only the rerun lands in the results file
    assert [r["run"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert r["config"]["lr"] == study.best_trial.params["lr"]
        assert r["config"]["hidden"] == study.best_trial.params["hidden"]
    report = finished.parent / "r-tune-s"
    md = (report / "tune.md").read_text()
    assert f"Best: trial {study.best_trial.number}" in md and "| rank | trial |" in md
    for name in ("history", "importances", "slice_lr", "slice_hidden"):
        assert (report / f"{name}.png").stat().st_size > 1000


def test_rerun_continues_the_study(tmp_path):
    assert tune(tmp_path, "--trials", "3", "--no-rerun", "--seed", "3")[0] == 0
    before = {t.number: (t.params, t.datetime_start) for t in load(tmp_path / "r.jsonl").trials}
    assert tune(tmp_path, "--trials", "5", "--no-rerun", "--seed", "3")[0] == 0
    after = load(tmp_path / "r.jsonl").get_trials(states=DONE)
    assert sorted(t.number for t in after) == [0, 1, 2, 3, 4]  # two new trials, none rerun
    assert len({t.params["lr"] for t in after}) == 5  # the seeded sampler does not redraw
    for t in after:
        if t.number in before:
            assert (t.params, t.datetime_start) == before[t.number]
    assert tune(tmp_path, "--trials", "5", "--no-rerun")[0] == 0  # nothing left to run
    assert len(load(tmp_path / "r.jsonl").trials) == 5


def test_another_setup_under_the_same_name_is_refused(tmp_path, capsys):
    assert tune(tmp_path, "--trials", "1", "--no-rerun")[0] == 0
    out = tmp_path / "r.jsonl"
    argv = ["tune", *TINY, "lr=0.01..0.1", "--study", "s", "--out", str(out), "--no-rerun"]
    assert main(argv) == 2
    assert "was run with another space; give --study NAME" in capsys.readouterr().err


def test_two_processes_share_one_sqlite_study(tmp_path):
    out = tmp_path / "r.jsonl"
    argv = [sys.executable, "-m", "graphlib_pyg.cli", "tune", *TINY, *SPACE, "--study", "s"]
    argv += ["--out", str(out), "--trials", "6", "--no-rerun", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    trials = load(out).trials
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers) and 6 <= len(trials) <= 7  # one may overshoot
    assert all(t.state in DONE for t in trials)
    assert all("Trial" in e and "finished" in e for e in errs)  # both processes ran trials


def _study_with_a_good_curve(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    pruner = {"n_startup_trials": 1, "n_warmup_steps": 0}
    study = optuna.create_study(study_name="p", storage=url, direction="maximize")
    good = study.ask()
    for step in range(1, 6):
        good.report(1.0, step)
    study.tell(good, 1.0)
    setup = TrialSetup("gcn", "csbm", "backprop", "none", url, "p", data={"num_nodes": 200})
    return study, TrialSetup(**{**setup.__dict__, "pruner": pruner, "epochs": 5})


def test_reporter_prunes_a_hopeless_curve(tmp_path):
    study, setup = _study_with_a_good_curve(tmp_path)
    trial = study.ask()
    report = Reporter(setup, trial._trial_id, first=True)
    with pytest.raises(optuna.TrialPruned, match="pruned at step 1"):
        report(1, 0.5, 0.2)  # below the median (1.0) of the earlier trial at step 1
    assert load_trial(study, trial).intermediate_values == {1: 0.2}
    other = Reporter(setup, study.ask()._trial_id, first=False)
    other(1, 0.5, 0.2)  # only the first seed reports and prunes


def load_trial(study, trial):
    return next(t for t in study.get_trials() if t.number == trial.number)


def test_trainer_evaluations_feed_the_pruner(tmp_path):
    study, setup = _study_with_a_good_curve(tmp_path)
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):  # the real trainer's progress callback reports
        run_seed(setup, {"lr": 1e-4, "hidden": 8}, 0, trial._trial_id, True)
    assert list(load_trial(study, trial).intermediate_values) == [1]


def test_jobs_run_the_same_seeds(tmp_path):
    grid = ["--sampler", "grid", "--runs-per-trial", "2", "--no-rerun", "--pruner", "none"]
    base = ["tune", *TINY, "hidden=[8,16]", "lr=0.05", "--no-progress", *grid]
    assert main([*base, "--out", str(tmp_path / "a.jsonl"), "--study", "a"]) == 0
    assert main([*base, "--out", str(tmp_path / "b.jsonl"), "--study", "b", "--jobs", "2"]) == 0

    def runs(name):
        study = load(tmp_path / f"{name}.jsonl", name)
        return {t.params["hidden"]: t.user_attrs["val_runs"] for t in study.trials}

    assert runs("a") == runs("b") and len(runs("a")) == 2  # grid size: 2 trials


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, deadline):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_dashboard_serves_the_study(finished):
    pytest.importorskip("optuna_dashboard")
    exe = shutil.which("optuna-dashboard")
    if exe is None:
        pytest.skip("the optuna-dashboard command is not on PATH")
    port, url = _free_port(), f"sqlite:///{finished.with_suffix('.tune.db')}"
    proc = subprocess.Popen([exe, url, "--host", "127.0.0.1", "--port", str(port), "--quiet"])
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        studies = _get(f"{base}/api/studies", deadline)["study_summaries"]
        sid = next(s["study_id"] for s in studies if s["study_name"] == "s")
        trials = _get(f"{base}/api/studies/{sid}", deadline)["trials"]
    finally:
        proc.terminate()
        proc.wait(10)
    served = {t["number"]: t["values"][0] for t in trials}
    assert served == pytest.approx({t.number: t.value for t in load(finished).trials})
