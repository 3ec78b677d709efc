"""``precision=bf16`` on node-level models: epoch seconds and test score against float32.

Each model trains on one node task with its benchmark defaults (``graphlib_pyg.bench.defaults``)
for ``--epochs`` epochs in float32 and in bf16 (:mod:`graphlib_pyg.train.precision`), the two
alternating in ``--rounds`` rounds after an untimed warm-up epoch; the table shows the median
training epoch seconds (the result's ``step_time_s``, evaluation not included), the ratio and
each run's test score (the same seeds: the score difference is what bf16 costs or not).

    GRAPHLIB_DATA=../shared/data python benchmarks/perf/precision_node.py
        [--dataset amazon-computers] [--models gmn,gps,largegt] [--epochs 5] [--rounds 2]
        [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics

from graphlib_pyg.bench.defaults import resolve_config
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.train.backprop import BackpropTrainer

#: Options that keep a model affordable on this 2-core machine (on top of its defaults).
EXTRA = {"largegt": {"batch_size": 1024}, "gps": {"attn_type": "performer"}}


def run(task, model: str, cfg: dict, precision: str):
    cfg = {**cfg, "precision": precision, "checkpoint_every": 0}
    return BackpropTrainer(task, model, cfg).run(0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="amazon-computers")
    p.add_argument("--models", default="gcn,gmn,gps,largegt")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="cora, 2 epochs, 1 round")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.quick:
        a.dataset, a.epochs, a.rounds = "cora", 2, 1

    task = load_task(a.dataset)
    rows = []
    for model in a.models.split(","):
        cfg = resolve_config(model, a.dataset, {**EXTRA.get(model, {}), "epochs": a.epochs})
        run(task, model, {**cfg, "epochs": 1}, "fp32")  # warm-up: one-off costs, untimed
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        scores: dict[str, float] = {}
        for _ in range(a.rounds):
            for precision in times:
                result = run(task, model, cfg, precision)
                times[precision].append(result.step_time_s)
                scores[precision] = result.test
        sec = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"model": model, "epoch_s": sec, "rounds_epoch_s": times, "test": scores,
                     "speedup": sec["fp32"] / sec["bf16"]})  # fmt: skip

    print(f"{a.dataset}: {a.epochs} epochs per run, {a.rounds} rounds, median epoch seconds")
    print(f"{'model':<10}{'fp32 s':>9}{'bf16 s':>9}{'ratio':>7}{'test fp32':>11}{'test bf16':>11}")
    for r in rows:
        s, t = r["epoch_s"], r["test"]
        print(f"{r['model']:<10}{s['fp32']:>9.3f}{s['bf16']:>9.3f}{r['speedup']:>7.2f}"
              f"{t['fp32']:>11.4f}{t['bf16']:>11.4f}")  # fmt: skip
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"config": vars(a), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
