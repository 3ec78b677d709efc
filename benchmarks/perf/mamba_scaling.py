"""Graph Mamba layers vs full-attention GPS as the graph grows: time and peak memory.

One training step (forward + backward, full batch) of, on random graphs of growing size
(average degree ``--degree``, ``--features`` features, hidden ``--hidden``):

* ``graph_mamba``: one :class:`GraphMambaLayer` (GCN local branch, Mamba over degree-ordered
  nodes) between a linear encoder and head;
* ``gmn``: :class:`GMN` with one token BiMamba block (random-walk tokens, ``walk_length`` 2,
  one sample, mean token encoder) and its degree-ordered BiMamba node layer with a GCN branch;
* ``gps``: PyG's ``GPSConv`` (GCN local branch, multihead attention over all nodes, 1 head),
  the same encoder and head.

Each (model, size) runs in its own process with an address-space cap (``--mem-gb``), so a
model that cannot allocate reports ``OOM`` instead of taking the machine down. Peak memory is
the process's peak RSS minus its RSS before the first step (graph and model already built).
``growth`` is the time ratio to the previous size (2x nodes); ``memory_ratio`` keys compare
ours with GPS at ``--ratio-nodes`` nodes.

    python benchmarks/perf/mamba_scaling.py [--quick] [--sizes 10000,20000,40000,80000] [--json P]
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
from torch import nn

MODELS = ("graph_mamba", "gmn", "gps")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_graph(n: int, degree: int, features: int, seed: int):
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(seed)
    edge_index = to_undirected(torch.randint(0, n, (2, n * degree // 2), generator=g), num_nodes=n)
    x = torch.randn(n, features, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, edge_index, y


class _Wrapped(nn.Module):
    def __init__(self, layer: nn.Module, features: int, hidden: int) -> None:
        super().__init__()
        self.enc, self.layer, self.head = nn.Linear(features, hidden), layer, nn.Linear(hidden, 10)

    def forward(self, x, edge_index):
        return self.head(self.layer(self.enc(x), edge_index))


def make_model(name: str, features: int, hidden: int) -> nn.Module:
    from torch_geometric.nn import GCNConv, GPSConv

    from graphlib_pyg.nn.mamba import GMN, GraphMambaLayer

    if name == "graph_mamba":
        return _Wrapped(GraphMambaLayer(hidden, GCNConv(hidden, hidden)), features, hidden)
    if name == "gmn":
        return GMN(
            features, hidden, 10, num_layers=1, walk_length=2, num_samples=1, token_encoder="mean"
        )
    if name == "gps":
        return _Wrapped(GPSConv(hidden, GCNConv(hidden, hidden), heads=1), features, hidden)
    raise ValueError(name)


def worker(name: str, n: int, args) -> dict:
    x, edge_index, y = random_graph(n, args.degree, args.features, args.seed)
    torch.manual_seed(args.seed)
    model = make_model(name, args.features, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rss_before = current_rss_mb()
    times = []
    try:
        for _ in range(args.steps + 1):  # the first step is a warm-up
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x, edge_index), y).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
    except (RuntimeError, MemoryError) as err:
        if "alloc" not in str(err).lower() and not isinstance(err, MemoryError):
            raise
        return {"model": name, "nodes": n, "oom": True, "error": str(err).splitlines()[0][:200]}
    return {
        "model": name,
        "nodes": n,
        "edges": int(edge_index.size(1)),
        "oom": False,
        "step_s": statistics.median(times[1:]),
        "step_times_s": times[1:],
        "peak_rss_mb": peak_rss_mb(),
        "rss_increase_mb": peak_rss_mb() - rss_before,
        "threads": torch.get_num_threads(),
    }


def run(name: str, n: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--worker-nodes", str(n)]
    for flag in ("degree", "features", "hidden", "steps", "seed", "mem_gb"):
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["(no output)"]
        return {
            "model": name,
            "nodes": n,
            "oom": True,
            "error": f"exit {proc.returncode}: {tail[0]}",
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 4,000 nodes")
    parser.add_argument("--sizes", default=None, help="node counts (10000,20000,40000,80000)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after a warm-up")
    parser.add_argument("--mem-gb", type=float, default=16.0, help="address-space cap per run")
    parser.add_argument("--ratio-nodes", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-nodes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cap = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        print(json.dumps(worker(args.worker, args.worker_nodes, args)), flush=True)
        return
    sizes = [
        int(s)
        for s in (args.sizes or ("2000,4000" if args.quick else "10000,20000,40000,80000")).split(
            ","
        )
    ]
    rows, ratios = [], {}
    print(f"{'model':>12} {'nodes':>7} {'step s':>8} {'growth':>7} {'peak MB':>8} {'+MB':>8}")
    for name in args.models.split(","):
        prev, oom = None, False
        for n in sizes:
            row = (
                {"model": name, "nodes": n, "oom": True, "error": "skipped after OOM"}
                if oom
                else run(name, n, args)
            )
            rows.append(row)
            if row["oom"]:
                oom = True
                print(f"{name:>12} {n:>7} {'OOM':>8}   ({row.get('error', '')[:60]})")
                continue
            growth = row["step_s"] / prev if prev else float("nan")
            row["growth"] = growth
            prev = row["step_s"]
            print(
                f"{name:>12} {n:>7} {row['step_s']:>8.3f} {growth:>7.2f} "
                f"{row['peak_rss_mb']:>8.0f} {row['rss_increase_mb']:>8.0f}",
                flush=True,
            )
    by = {(r["model"], r["nodes"]): r for r in rows}
    for name in ("graph_mamba", "gmn"):
        ours, gps = by.get((name, args.ratio_nodes)), by.get(("gps", args.ratio_nodes))
        if ours and gps and not ours["oom"] and not gps["oom"]:
            ratios[f"{name}_vs_gps_{args.ratio_nodes}_memory_ratio"] = (
                ours["rss_increase_mb"] / gps["rss_increase_mb"]
            )
            ratios[f"{name}_vs_gps_{args.ratio_nodes}_speedup_ratio"] = (
                gps["step_s"] / ours["step_s"]
            )
        growths = [
            r["growth"]
            for r in rows
            if r["model"] == name and r.get("growth") == r.get("growth") and "growth" in r
        ]
        if growths:
            ratios[f"{name}_max_growth_per_doubling"] = max(growths)
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rows": rows,
                    **ratios,
                    "config": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
                    "torch": torch.__version__,
                },
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
