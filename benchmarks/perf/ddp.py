"""Data-parallel training: epoch time with 1 and N processes (gloo on CPU, nccl on GPUs).

Trains a 2-layer GCN (hidden 128) with sampled mini-batches (fanouts 10, 5) on a synthetic
cSBM node task through the harness (``run_benchmark``), once per configuration, each in its own
process group:

* ``1 proc``: one process, global batch ``B`` seeds per step, ``--threads-single`` threads;
* ``N procs``: N processes (``graphlib_pyg.distributed.launch``), ``B / N`` seeds per rank and
  step, ``--threads`` threads each: the same number of optimiser steps per epoch.

The epoch time is the harness's median over epochs (evaluation excluded). Each configuration
writes its row to a results file; the table and a JSON summary with the speed-up come last.

    python benchmarks/perf/ddp.py [--nodes 50000] [--nproc 2] [--epochs 4] [--json PATH]

On a multi-GPU node the same comparison is one command per configuration, e.g. for 8 GPUs:

    torchrun --nproc_per_node 8 -m graphlib_pyg.cli bench --model gcn --dataset csbm \\
        --runs 1 --epochs 4 data.num_nodes=1000000 batch_size=512 fanouts=[10,5] hidden=128
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def _config(args, nproc: int) -> dict:
    return {
        "batch_size": args.batch // nproc,
        "fanouts": [10, 5],
        "hidden": 128,
        "num_layers": 2,
        "eval_every": args.epochs,  # evaluate once, at the end
        "sampler": "neighbor",
    }


def _data(args) -> dict:
    return {"num_nodes": args.nodes, "num_features": 128, "avg_degree": 14.0}


def _bench(args, nproc: int, threads: int, out: str) -> None:
    import torch

    from graphlib_pyg.bench.harness import run_benchmark

    torch.set_num_threads(threads)
    run_benchmark(
        "gcn",
        "csbm",
        runs=1,
        epochs=args.epochs,
        out=out,
        config=_config(args, nproc),
        data=_data(args),
        progress=False,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=50_000)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch", type=int, default=2048, help="global seeds per step")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="threads per rank (N procs)")
    p.add_argument("--threads-single", type=int, default=None, help="default: nproc x threads")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    single_threads = args.threads_single or args.nproc * args.threads
    from graphlib_pyg.bench.results import read_results
    from graphlib_pyg.distributed import launch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, nproc, threads in (
            ("1 proc", 1, single_threads),
            (f"{args.nproc} procs", args.nproc, args.threads),
        ):
            out = os.path.join(tmp, f"{nproc}.jsonl")
            if nproc == 1:
                _bench(args, 1, threads, out)
            else:
                launch(_bench, nproc, (args, nproc, threads, out))
            (row,) = read_results(out)
            rows.append(
                {
                    "config": label,
                    "processes": nproc,
                    "threads_per_process": threads,
                    "seeds_per_step_per_process": args.batch // nproc,
                    "epoch_s": row["epoch_time_s"],
                    "test": row["test"],
                }
            )
    base = rows[0]["epoch_s"]
    print(f"GCN, {args.nodes:,} nodes, global batch {args.batch}, fanouts [10, 5]")
    print("| config | threads/proc | seeds/step/proc | epoch s | speed-up | test acc |")
    print("|:--|--:|--:|--:|--:|--:|")
    for r in rows:
        r["speedup"] = base / r["epoch_s"]
        print(
            f"| {r['config']} | {r['threads_per_process']} | {r['seeds_per_step_per_process']} "
            f"| {r['epoch_s']:.3f} | {r['speedup']:.2f}x | {r['test']:.4f} |"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
