"""Accuracy vs depth: DAGNN with K propagation steps vs a GCN with K layers, same harness.

Prints a table (test accuracy mean ± std over seeds per depth) and, with ``--json``, writes the
rows plus ``dagnn_minus_gcn_at_max_depth`` for the deepest setting. Runs are appended to
``--out`` (resumable) so the table is rendered from the results file.

    python benchmarks/depth.py --dataset cora --runs 3 --json depth.json
"""

from __future__ import annotations

import argparse
import json
import statistics

from graphlib_pyg.bench.harness import run_benchmark


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--depths", default="2,5,10,20,40")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", default="depth.jsonl")
    p.add_argument("--json", default=None)
    p.add_argument("--quick", action="store_true", help="depths 2,10 and 1 run")
    args = p.parse_args()
    depths = [2, 10] if args.quick else [int(d) for d in args.depths.split(",")]
    runs = 1 if args.quick else args.runs
    rows = []
    print(f"{'depth':>5} {'dagnn (K hops)':>16} {'gcn (K layers)':>16}")
    for k in depths:
        cells = {}
        for model, cfg in (("dagnn", {"K": k}), ("gcn", {"num_layers": k})):
            res = run_benchmark(
                model, args.dataset, runs=runs, out=args.out, config=cfg, progress=False
            )
            tests = [r["test"] for r in res]
            mean = statistics.mean(tests)
            std = statistics.stdev(tests) if len(tests) > 1 else 0.0
            cells[model] = f"{100 * mean:.2f} ± {100 * std:.2f}"
            rows.append(
                {"model": model, "depth": k, "test_mean": mean, "test_std": std, "runs": len(tests)}
            )
        print(f"{k:>5} {cells['dagnn']:>16} {cells['gcn']:>16}")
    deepest = max(depths)
    by = {(r["model"], r["depth"]): r["test_mean"] for r in rows}
    gap = by[("dagnn", deepest)] - by[("gcn", deepest)]
    print(f"at depth {deepest}: DAGNN - GCN = {100 * gap:.2f} points")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"rows": rows, "dagnn_minus_gcn_at_max_depth": gap, "dataset": args.dataset},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
