"""Forward learning (ForwardGNN SF) vs backpropagation: peak memory and time per epoch vs depth.

A GCN of depth L (2, 4, 8, 16, 32; hidden 128) on a uniform random graph of 100,000 nodes
(500,000 undirected edges stored in both directions, 128 features, 10 classes, 10% of the nodes
labelled for training). Each (mode, depth) runs in its own process and reports its peak RSS and
the part added after the graph, the features and the adjacency were built (``added_mb``).

Modes:

* ``bp-pyg``    -- backpropagation through ``torch_geometric.nn.models.GCN`` fed ``edge_index``
  (PyG's reference usage: it normalises and scatters over the edges on every call);
* ``bp``        -- the same model on our cached normalised sparse adjacency (the faster BP);
* ``sf``        -- :class:`graphlib_pyg.train.forward.SFObjective` trained greedily by
  :class:`graphlib_pyg.train.local.LocalEngine` with the cached path: ``Â·X`` once per layer,
  then per step only the rows the loss reads, ``(Â·X)[train ∪ classes]·W``;
* ``sf-nocache`` -- the same engine with ``cache=False``: every step propagates the (frozen)
  input over the whole graph.

An epoch is one optimiser step of every layer: for BP one forward/backward pass, for SF the sum,
over layers, of the median step time of that layer (``LocalResult.layer_step_s``). ``fit_s`` is
SF's whole ``fit`` (steps + 1 steps per layer, the per-layer caching and one evaluation each).

    python benchmarks/perf/forward_memory.py [--quick] [--steps 5] [--pyg-max-depth 8]
        [--modes bp sf] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch_geometric.nn import models as pyg_models

FULL = {"num_nodes": 100_000, "num_edges": 500_000}
QUICK = {"num_nodes": 10_000, "num_edges": 50_000}
FEATURES, CLASSES, HIDDEN, TRAIN_FRACTION = 128, 10, 128, 0.1
MODES = ("bp-pyg", "bp", "sf", "sf-nocache")
DEPTHS = (2, 4, 8, 16, 32)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _task(size: dict, seed: int):
    from graphlib_pyg.data.splits import NodeSplit
    from graphlib_pyg.data.synthetic import random_graph
    from graphlib_pyg.data.tasks import NodeTask

    data = random_graph(size["num_nodes"], size["num_edges"], FEATURES, CLASSES, seed)
    n = data.num_nodes
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    t, v = int(TRAIN_FRACTION * n), int(0.2 * n)
    split = NodeSplit(perm[:t], perm[t : t + v], perm[t + v :])
    return NodeTask("random", data, "accuracy", "random", splits=[split]), split


def worker(mode: str, depth: int, size: dict, steps: int, seed: int) -> dict:
    """Measure one (mode, depth) in this process."""
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.nn.models import build_model
    from graphlib_pyg.train.forward import SFObjective
    from graphlib_pyg.train.local import LocalEngine

    torch.set_num_threads(1)
    task, split = _task(size, seed)
    data = task.data
    torch.manual_seed(seed)
    times, fit_s = [], 0.0
    if mode.startswith("bp"):
        if mode == "bp-pyg":
            model, graph = pyg_models.GCN(FEATURES, HIDDEN, depth, CLASSES), data.edge_index
        else:
            model = build_model("gcn", FEATURES, HIDDEN, CLASSES, depth, 0.0)
            graph = GraphIndex(data.edge_index, data.num_nodes).adj_t("gcn")
            graph.transposed()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        y = data.y[split.train]
        base = rss_mb()
        for _ in range(steps + 1):  # the first is a warm-up
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(data.x, graph)[split.train], y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        epoch_s = statistics.median(times[1:])
    else:  # the library's greedy engine: steps + 1 steps per layer, one evaluation at the end
        obj = SFObjective(task, split)
        obj.streams["graph"].graph.adj("gcn")  # built before the baseline, as bp's adjacency
        base = rss_mb()
        engine = LocalEngine(
            "gcn", depth, HIDDEN, epochs=steps + 1, eval_every=steps + 1, patience=0,
            cache=mode == "sf",
        )  # fmt: skip
        t0 = time.perf_counter()
        result = engine.fit(obj)
        fit_s = time.perf_counter() - t0
        epoch_s = sum(result.layer_step_s)
    peak = peak_mb()
    return {
        "mode": mode,
        "depth": depth,
        "epoch_s": round(epoch_s, 4),
        "fit_s": round(fit_s, 3),
        "peak_rss_mb": round(peak, 1),
        "base_rss_mb": round(base, 1),
        "added_mb": round(peak - base, 1),
    }


def run_worker(mode: str, depth: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--depth", str(depth)]
    cmd += ["--steps", str(args.steps), "--seed", str(args.seed)]
    cmd += ["--quick"] if args.quick else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {mode} depth {depth} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 nodes, depths 2 and 4")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per layer (BP: epochs)")
    parser.add_argument("--depths", type=int, nargs="+", default=None)
    parser.add_argument(
        "--pyg-max-depth", type=int, default=8, help="run bp-pyg (slow) up to this depth"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the rows and ratios to this file")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.worker:
        print(json.dumps(worker(args.worker, args.depth, size, args.steps, args.seed)))
        return
    depths = args.depths or ((2, 4) if args.quick else DEPTHS)
    rows = []
    head = f"{'mode':<11} {'depth':>5} {'epoch s':>9} {'fit s':>8} {'peak MB':>8} {'added MB':>9}"
    print(
        f"{size['num_nodes']:,} nodes, {2 * size['num_edges']:,} directed edges, GCN hidden "
        f"{HIDDEN}, 1 thread, median of {args.steps} steps\n{head}",
        flush=True,
    )
    for depth in depths:
        for mode in args.modes:
            if mode == "bp-pyg" and depth > args.pyg_max_depth:
                continue
            r = run_worker(mode, depth, args)
            rows.append(r)
            print(
                f"{mode:<11} {depth:>5} {r['epoch_s']:>9.4f} {r['fit_s']:>8.3f} "
                f"{r['peak_rss_mb']:>8.1f} {r['added_mb']:>9.1f}",
                flush=True,
            )
    by = {(r["mode"], r["depth"]): r for r in rows}
    ratios = {}
    print(f"\n{'depth':>5} {'bp/sf time':>11} {'bp-pyg/sf time':>15} {'sf/bp added MB':>15}")
    for depth in depths:
        if ("sf", depth) not in by or ("bp", depth) not in by:
            continue
        sf, bp, pyg = by["sf", depth], by["bp", depth], by.get(("bp-pyg", depth))
        ratios[depth] = {
            "speedup_vs_bp": round(bp["epoch_s"] / sf["epoch_s"], 2),
            "speedup_vs_bp_pyg": round(pyg["epoch_s"] / sf["epoch_s"], 2) if pyg else None,
            "added_memory_ratio_vs_bp": round(sf["added_mb"] / bp["added_mb"], 3),
        }
        q = ratios[depth]
        vs_pyg = f"{q['speedup_vs_bp_pyg']:.2f}" if pyg else "-"
        print(
            f"{depth:>5} {q['speedup_vs_bp']:>11.2f} {vs_pyg:>15} "
            f"{q['added_memory_ratio_vs_bp']:>15.3f}"
        )
    if args.json:
        config = {**size, "features": FEATURES, "classes": CLASSES, "hidden": HIDDEN}
        config.update(steps=args.steps, seed=args.seed, threads=1, torch=torch.__version__)
        with open(args.json, "w") as f:
            json.dump({"config": config, "rows": rows, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
