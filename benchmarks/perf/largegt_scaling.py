"""LargeGT as the graph grows: time per 1k training seeds and peak RSS, next to GPS full attention.

Uniform random graphs of 100k, 400k and 1.6M nodes (average degree 14: ``7 N`` sampled pairs
stored in both directions; 128 features, 40 classes). Each configuration runs in its own process
and reports its peak RSS, the graph's own storage (features, labels, ``edge_index``) and what the
model added on top of the loaded graph.

* ``largegt``: :class:`graphlib_pyg.nn.transformer.LargeGT` (hidden 64, 2 layers, 4 heads,
  ``num_samples`` 20, 256 centroids). ``prepare`` (the ``[x, Âx, Â²x]`` hop features and the
  CSR index) is timed separately; then one epoch over ``--seeds`` training seeds in batches of
  ``--batch``: forward, backward, Adam step. Reported: seconds per 1k seeds. ``--hop-cache``
  ``on`` precomputes the hop features for the whole graph (3 x the feature matrix), ``off``
  computes each batch's hop rows from its sample's 2-hop edges (``hop_cache=False``); the
  default runs both, and the summary lines give each mode's peak-RSS growth from the smallest to
  the largest graph against the growth of the graph's own storage.
* ``gps``: PyG's ``GPSConv`` (our :class:`graphlib_pyg.nn.models.GPS`, hidden 64, 2 layers, 4
  heads, multihead attention) on the whole graph, one full-batch training step, with the address
  space capped at ``--gps-limit-gb``: full attention materialises ``heads x N x N`` scores, so it
  stops fitting between 20k and 40k nodes here; the table says where.

    python benchmarks/perf/largegt_scaling.py [--sizes 100000 400000 1600000] [--seeds 4096]
        [--batch 512] [--gps-sizes 5000 10000 20000 40000] [--hop-dtype float16]
        [--hop-cache on|off|both] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

FEATURES, CLASSES, HIDDEN, DEGREE = 128, 40, 64, 14


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _graph(n: int, seed: int):
    from graphlib_pyg.data.synthetic import random_graph

    data = random_graph(n, DEGREE * n // 2, FEATURES, CLASSES, seed)
    storage = sum(t.numel() * t.element_size() for t in (data.x, data.y, data.edge_index))
    return data, storage / 2**20


def worker(mode: str, n: int, args, hop_cache: bool = True) -> dict:
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.nn.models import GPS
    from graphlib_pyg.nn.transformer import LargeGT  # imported before the baseline RSS

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data, storage_mb = _graph(n, args.seed)
    base = rss_mb()
    row = {"mode": mode, "nodes": n, "graph_mb": round(storage_mb, 1)}
    if mode == "largegt":
        row["hop_cache"] = hop_cache
    if mode == "largegt":
        model = LargeGT(
            FEATURES, HIDDEN, CLASSES, num_layers=2, num_samples=20, heads=4,
            hop_dtype=args.hop_dtype, hop_cache=hop_cache,
        )  # fmt: skip
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        index = GraphIndex(data.edge_index, n)
        model.prepare(data.x, index.adj_t("gcn"), index)
        row["prepare_s"] = round(time.perf_counter() - t0, 2)
        seeds = torch.randperm(n)[: args.seeds]
        times = []
        for chunk in seeds.split(args.batch):
            t0 = time.perf_counter()
            loss = F.cross_entropy(model.forward_seeds(chunk), data.y[chunk])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        row["s_per_1k_seeds"] = round(sum(times[1:]) / (seeds.numel() - args.batch) * 1000, 3)
        row["ok"] = True
    else:
        limit = int(args.gps_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        model = GPS(FEATURES, HIDDEN, CLASSES, num_layers=2, heads=4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        try:
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(data.x, data.edge_index), data.y)
            loss.backward()
            opt.step()
            row["step_s"] = round(time.perf_counter() - t0, 2)
            row["ok"] = True
        except (RuntimeError, MemoryError) as err:  # cannot allocate the N x N attention
            row["ok"], row["error"] = False, str(err).splitlines()[0][:120]
    peak = peak_mb()
    row.update(peak_rss_mb=round(peak, 1), added_mb=round(peak - base, 1))
    return row


def run_worker(mode: str, n: int, args, hop_cache: bool = True) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--n", str(n)]
    cmd += ["--hop-cache", "on" if hop_cache else "off"]
    cmd += ["--seeds", str(args.seeds), "--batch", str(args.batch), "--seed", str(args.seed)]
    cmd += ["--gps-limit-gb", str(args.gps_limit_gb), "--threads", str(args.threads)]
    cmd += ["--hop-dtype", args.hop_dtype]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        if mode == "gps":  # killed while allocating attention scores
            return {"mode": mode, "nodes": n, "ok": False, "error": f"exit {proc.returncode}"}
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {mode} n={n} failed with exit code {proc.returncode}")
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000, 1_600_000])
    p.add_argument("--gps-sizes", type=int, nargs="*", default=[5_000, 10_000, 20_000, 40_000])
    p.add_argument("--seeds", type=int, default=4096, help="training seeds in the epoch")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--gps-limit-gb", type=float, default=16.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hop-dtype", default="float32", choices=("float32", "float16"))
    p.add_argument(
        "--hop-cache",
        default="both",
        choices=("on", "off", "both"),
        help="precomputed [x, Ax, A^2x] (on), per-batch hop rows (off), or both side by side",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", choices=("largegt", "gps"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args, args.hop_cache != "off")))
        return
    rows = []
    print(
        f"LargeGT: {args.seeds} seeds in batches of {args.batch}, {args.threads} thread(s), "
        f"hop features in {args.hop_dtype}"
    )
    print("| hop features | nodes | graph MB | prepare s | s / 1k seeds | peak RSS MB | added MB |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.hop_cache]
    for cache in modes:
        for n in args.sizes:
            r = run_worker("largegt", n, args, cache)
            rows.append(r)
            print(
                f"| {'precomputed' if cache else 'per batch'} | {n:,} | {r['graph_mb']:.0f} "
                f"| {r['prepare_s']:.1f} | {r['s_per_1k_seeds']:.3f} "
                f"| {r['peak_rss_mb']:.0f} | {r['added_mb']:.0f} |",
                flush=True,
            )
    for cache in modes:  # growth from the smallest to the largest graph, against its storage
        rs = [r for r in rows if r.get("hop_cache") == cache]
        if len(rs) > 1:
            grow = rs[-1]["peak_rss_mb"] - rs[0]["peak_rss_mb"]
            store = rs[-1]["graph_mb"] - rs[0]["graph_mb"]
            print(
                f"{'precomputed' if cache else 'per batch'}: peak RSS grew {grow:.0f} MB for "
                f"{store:.0f} MB more graph storage ({grow / store:.2f}x)"
            )
    if args.gps_sizes:
        limit = args.gps_limit_gb
        print(f"\nGPS, full attention, one full-batch step, address space <= {limit} GB")
        print("| nodes | step s | peak RSS MB | result |")
        print("|--:|--:|--:|:--|")
    for n in args.gps_sizes:
        r = run_worker("gps", n, args)
        rows.append(r)
        step = f"{r['step_s']:.1f}" if r.get("ok") else "-"
        peak = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
        print(f"| {n:,} | {step} | {peak} | {'ok' if r['ok'] else r['error']} |", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
