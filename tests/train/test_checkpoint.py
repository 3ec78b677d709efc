"""Mid-run checkpoints: an interrupted run resumes to the row an uninterrupted run writes.

Interruptions are simulated in-process (SIGINT raised during epoch ``k``: the epoch finishes and
is saved; or ``KeyboardInterrupt`` raised by the step: the epoch is abandoned and the last
periodic checkpoint is resumed) and once with real signals to a ``graphlib bench`` process.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from graphlib_pyg.bench.harness import checkpoint_path, run_benchmark
from graphlib_pyg.bench.results import read_results, run_key
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train import common
from graphlib_pyg.train.node import NodeTrainer

#: name -> (model, dataset, data options, training options)
CASES = {
    "full-batch node": ("gcn", "csbm", {"num_nodes": 300}, {"epochs": 12}),
    "full-batch node, patience": (
        "gcn",
        "csbm",
        {"num_nodes": 300},
        {"epochs": 40, "patience": 3, "lr": 0.05},
    ),
    "sampled node": (
        "sage",
        "csbm",
        {"num_nodes": 300},
        {"epochs": 8, "batch_size": 64, "sampler": "neighbor"},
    ),
    "link": ("gcn", "sbm-link", {"num_nodes": 200}, {"epochs": 8, "batch_size": 256}),
    "ncn": ("ncn", "sbm-link", {"num_nodes": 200}, {"epochs": 4, "hidden": 16}),
    "graph": ("gcn", "graph-sbm", {"num_graphs": 60}, {"epochs": 8, "batch_size": 16}),
    "graph, cosine schedule": (
        "gcn",
        "graph-sbm",
        {"num_graphs": 60},
        {
            "epochs": 8,
            "batch_size": 16,
            "scheduler": "cosine",
            "warmup_epochs": 2,
            "optimizer": "adamw",
            "clip_grad_norm": 0.5,
        },
    ),
    "graph, plateau schedule": (
        "gcn",
        "graph-sbm",
        {"num_graphs": 60},
        {
            "epochs": 8,
            "batch_size": 16,
            "scheduler": "plateau",
            "plateau_patience": 0,
            "plateau_factor": 0.5,
        },
    ),
}
SAME = ("val", "test", "best_step", "curve")


def _bench(case: str, out: Path, **extra) -> dict:
    model, dataset, data, cfg = CASES[case]
    cfg = {"checkpoint_every": 3, **cfg, **extra}
    (row,) = run_benchmark(model, dataset, runs=1, out=out, data=data, config=cfg, progress=False)
    return row


def _interrupt(monkeypatch, epoch: int, how: str) -> dict:
    """The next run is interrupted during ``epoch``: ``how="signal"``: SIGINT arrives as the
    epoch starts; ``"raise"``: the step raises ``KeyboardInterrupt`` instead of training."""
    real, fired = common.fit, {"epoch": None}

    def fit(step, evaluate, **kwargs):
        calls = 0

        def interrupted() -> float:
            nonlocal calls
            calls += 1
            if fired["epoch"] is None and calls == epoch:
                fired["epoch"] = epoch
                if how == "raise":
                    raise KeyboardInterrupt
                signal.raise_signal(signal.SIGINT)
            return step()

        return real(interrupted, evaluate, **kwargs)

    monkeypatch.setattr(common, "fit", fit)
    return fired


def _saved_epoch(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["loop"]["epoch"])


@pytest.mark.parametrize(
    ("case", "how"),
    [
        ("full-batch node", "signal"),
        ("full-batch node, patience", "raise"),
        ("sampled node", "signal"),
        ("sampled node", "raise"),
        ("link", "signal"),
        ("ncn", "signal"),
        ("graph", "signal"),
        ("graph", "raise"),
        ("graph, cosine schedule", "signal"),
        ("graph, plateau schedule", "raise"),
    ],
)
def test_an_interrupted_run_resumes_to_the_uninterrupted_row(tmp_path, monkeypatch, case, how):
    ref = _bench(case, tmp_path / "ref.jsonl")
    assert not (tmp_path / "ref.jsonl.ckpt").exists()  # finished runs delete their checkpoint
    assert "checkpoint_every" not in ref["config"]  # not part of the run's identity
    ran = ref["curve"]["step"][-1]  # epochs the run trained (fewer with patience)
    k = random.Random(f"{case}/{how}").randint(2, ran)  # a random epoch of the run
    out = tmp_path / "r.jsonl"
    fired = _interrupt(monkeypatch, k, how)
    with pytest.raises(KeyboardInterrupt):
        _bench(case, out)
    assert fired["epoch"] == k and not read_results(out)
    path = checkpoint_path(out, run_key({**ref, "run": 0}))
    if how == "signal":  # the epoch finished and was saved before the signal went on
        assert _saved_epoch(path) == k
    elif k > 3:  # abandoned: the last periodic checkpoint stays
        assert _saved_epoch(path) == (k - 1) // 3 * 3
    else:
        assert not path.exists()
    row = _bench(case, out)
    assert {key: row[key] for key in SAME} == {key: ref[key] for key in SAME}
    assert not path.exists() and not path.parent.exists()
    assert [r["val"] for r in read_results(out)] == [ref["val"]]


def _node(cfg: dict, path: Path | None, progress=None) -> NodeTrainer:
    task = load_task("csbm", num_nodes=300)
    trainer = NodeTrainer(task, "gcn", {"epochs": 6, "checkpoint_every": 2, **cfg}, progress)
    trainer.checkpoint = path
    return trainer


def _stop_at(epoch: int, *signals: int):
    """A progress callback that raises ``signals`` (default: SIGINT) after ``epoch``'s
    evaluation."""

    def progress(step: int, loss: float, val: float) -> None:
        if step == epoch:
            for sig in signals or (signal.SIGINT,):
                signal.raise_signal(sig)

    return progress


def _same(a, b) -> bool:
    return (a.val, a.test, a.best_step, a.curve.to_dict()) == (
        b.val,
        b.test,
        b.best_step,
        b.curve.to_dict(),
    )


def test_la_redraw_evaluation_counters_are_part_of_the_checkpoint(tmp_path):
    """``la_eval=redraw`` seeds evaluation k's draw with k: a hidden counter to restore."""
    task, path = load_task("csbm", num_nodes=300), tmp_path / "run.pt"
    cfg = {"epochs": 6, "checkpoint_every": 2, "la_eval": "redraw", "la_samples": 2}
    cfg["la_pretrain_epochs"] = 1.0
    ref = NodeTrainer(task, "gcn", cfg, augment="la").run(0)
    trainer = NodeTrainer(task, "gcn", cfg, _stop_at(3), augment="la")
    trainer.checkpoint = path
    with pytest.raises(KeyboardInterrupt):
        trainer.run(0)
    model = torch.load(path, weights_only=True)["parts"]["model"]  # the model's state dict
    assert [v for k, v in model.items() if k.endswith("_extra_state")] == [{"evals": 3}]
    trainer = NodeTrainer(task, "gcn", cfg, augment="la")
    trainer.checkpoint = path
    assert _same(trainer.run(0), ref)


class _Payload:
    """Unpickling this would create ``path``: what a crafted checkpoint could run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (_touch, (self.path,))


def _touch(path: str) -> None:
    Path(path).write_text("code ran")


def test_a_pickled_checkpoint_is_refused_and_nothing_in_it_runs(tmp_path):
    path, marker = tmp_path / "run.pt", tmp_path / "ran"
    torch.save({"format": 1, "parts": _Payload(str(marker))}, path)
    torch.load(path, weights_only=False)  # a live payload: an unrestricted load runs it
    assert marker.exists()
    marker.unlink()
    with pytest.warns(UserWarning, match=f"ignoring checkpoint {path}: it is not a weights-only"):
        result = _node({}, path).run(0)
    assert not marker.exists()
    assert _same(result, _node({}, None).run(0)) and not path.exists()


def test_a_checkpoint_of_another_configuration_is_ignored_with_a_warning(tmp_path):
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        _node({"lr": 0.05}, path, _stop_at(4)).run(0)
    assert _saved_epoch(path) == 4
    with pytest.warns(UserWarning, match=f"ignoring checkpoint {path}: .*another configuration"):
        result = _node({"lr": 0.02}, path).run(0)
    assert _same(result, _node({"lr": 0.02}, None).run(0))
    with pytest.raises(KeyboardInterrupt):  # another seed is another run
        _node({}, path, _stop_at(3)).run(0)
    with pytest.warns(UserWarning, match="another configuration"):
        _node({}, path).run(1)


def test_checkpoints_are_kept_when_asked_and_none_are_written_when_off(tmp_path):
    path = tmp_path / "run.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = _node({"keep_checkpoints": True}, path).run(0)
    assert _saved_epoch(path) == 6  # the finished state; a rerun returns it at once
    state = torch.load(path, weights_only=True)
    assert state["loop"]["done"] and set(state["parts"]) == {"model", "opt", "batching"}
    assert _same(_node({"keep_checkpoints": True}, path).run(0), kept)
    off = tmp_path / "off.pt"
    with pytest.raises(KeyboardInterrupt):
        _node({"checkpoint_every": 0}, off, _stop_at(3)).run(0)
    assert not off.exists()
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 0"):
        _node({"checkpoint_every": -1}, off)


def test_signals_go_on_to_the_handlers_there_before_and_a_second_one_stops_at_once(tmp_path):
    class Terminated(Exception):
        pass

    def handler(signum, frame):
        raise Terminated

    path = tmp_path / "run.pt"
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(Terminated):
            _node({}, path, _stop_at(3, signal.SIGTERM)).run(0)
        assert _saved_epoch(path) == 3  # epoch 3 finished and was saved first
        assert signal.getsignal(signal.SIGTERM) is handler
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C twice: epoch 5 is not saved
            _node({}, path, _stop_at(5, signal.SIGINT, signal.SIGINT)).run(0)
        assert _saved_epoch(path) == 4  # the periodic save (checkpoint_every=2)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert _same(_node({}, path).run(0), _node({}, None).run(0))


def test_the_cli_saves_on_ctrl_c_exits_130_and_the_same_command_resumes(
    tmp_path, monkeypatch, capsys
):
    from graphlib_pyg.cli import main

    out = tmp_path / "r.jsonl"
    ref = _bench("full-batch node", tmp_path / "ref.jsonl")
    argv = ["bench", "--model", "gcn", "--dataset", "csbm", "--runs", "1", "--no-progress"]
    argv += ["--out", str(out), "epochs=12", "checkpoint_every=3", "data.num_nodes=300"]
    _interrupt(monkeypatch, 5, "signal")
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("graphlib bench: interrupted")
    assert _saved_epoch(checkpoint_path(out, run_key({**ref, "run": 0}))) == 5
    assert main(argv) == 0
    (row,) = read_results(out)
    assert {key: row[key] for key in SAME} == {key: ref[key] for key in SAME}
    assert not Path(f"{out}.ckpt").exists()


#: ``graphlib bench`` with each epoch slowed down (so that a signal arrives mid-run).
SLOW_CLI = """
import sys, time
from graphlib_pyg import cli
from graphlib_pyg.train import common
real = common.fit
def fit(step, evaluate, **kw):
    return real(lambda: time.sleep(0.05) or step(), evaluate, **kw)
common.fit = fit
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_benchmark_process_killed_by_sigterm_resumes_to_the_same_row(tmp_path):
    out, epochs = tmp_path / "r.jsonl", 30
    argv = ["bench", "--model", "gcn", "--dataset", "csbm", "--runs", "1", "--no-progress"]
    argv += ["--out", str(out), f"epochs={epochs}", "checkpoint_every=1", "data.num_nodes=300"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLI, *argv],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpts, deadline = Path(f"{out}.ckpt"), time.monotonic() + 120
    while not any(ckpts.glob("*.pt")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err  # it ends as SIGTERM ended it before
    (path,) = ckpts.glob("*.pt")
    assert 0 < _saved_epoch(path) < epochs and not read_results(out)
    row = _bench("full-batch node", out, epochs=epochs, checkpoint_every=1)
    assert path == checkpoint_path(out, run_key(row)) and not path.exists()
    ref = _bench("full-batch node", tmp_path / "ref.jsonl", epochs=epochs, checkpoint_every=1)
    assert {key: row[key] for key in SAME} == {key: ref[key] for key in SAME}
    assert json.loads(out.read_text())["val"] == ref["val"]
