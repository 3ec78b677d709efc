"""LA generator pre-training: pairs sampled per batch from the CSR graph vs all pairs materialised.

The reference LA-GNN code stacks the features of every (centre, neighbour) pair into two dense
``(2E, F)`` matrices before training. Ours (:func:`graphlib_pyg.augment.pretrain_generator`)
draws each batch's edge positions from the CSR index and gathers only those rows.

On a random graph the size of ogbn-arxiv (169,343 nodes, 1,166,243 undirected edges stored in
both directions, 128 features) and on graphs with more and fewer edges, each mode runs in its own
process: build the graph, then ``--steps`` generator steps of ``--batch`` pairs (the reference's
large-graph batch is 8192). Reported: peak RSS of the process (graph included), the part of it
added by pre-training (peak minus RSS after the graph is built), and time per 1k pairs.

    python benchmarks/perf/la_pretrain.py [--quick] [--json PATH]
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

ARXIV_NODES, ARXIV_EDGES, ARXIV_FEATURES = 169_343, 1_166_243, 128


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, edges: int, steps: int, batch: int) -> dict:
    """One measurement in this process (called through a fresh subprocess)."""
    from graphlib_pyg.augment.generator import NeighborGenerator
    from graphlib_pyg.augment.pretrain import pretrain_generator
    from graphlib_pyg.data.graph import GraphIndex
    from graphlib_pyg.data.synthetic import random_graph

    torch.set_num_threads(1)
    data = random_graph(ARXIV_NODES, edges, ARXIV_FEATURES, num_classes=40, seed=0)
    index = GraphIndex(data.edge_index, data.num_nodes)
    x = data.x
    base = rss_mb()
    t0 = time.perf_counter()
    if mode == "ours":
        pretrain_generator(x, index, epochs=steps * batch / index.num_edges, batch_size=batch)
    else:  # the reference's layout: every (neighbour, centre) pair's features, then batches
        center = index.rows()
        x_nbr, x_center = x[index.indices], x[center]  # (2E, F) each
        del center
        gen = NeighborGenerator(x.size(1), recon="mse")
        opt = torch.optim.Adam(gen.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(0)
        for _ in range(steps):
            pick = torch.randint(x_nbr.size(0), (batch,), generator=g)
            loss = gen.loss(x_nbr[pick], x_center[pick])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    return {
        "mode": mode,
        "edges": int(index.num_edges),
        "steps": steps,
        "batch": batch,
        "seconds": round(seconds, 3),
        "s_per_1k_pairs": round(1000 * seconds / (steps * batch), 5),
        "peak_rss_mb": round(peak_mb(), 1),
        "graph_rss_mb": round(base, 1),
        "added_mb": round(peak_mb() - base, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps, two graph sizes")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--child", nargs=4, metavar=("MODE", "EDGES", "STEPS", "BATCH"), help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if args.child:
        mode, edges, steps, batch = args.child
        print(json.dumps(child(mode, int(edges), int(steps), int(batch))))
        return
    steps = args.steps or (20 if args.quick else 100)
    factors = (0.5, 1.0) if args.quick else (0.5, 1.0, 2.0)
    rows = []
    for factor in factors:
        for mode in ("ours", "materialised"):
            cmd = [sys.executable, __file__, "--child", mode, str(int(ARXIV_EDGES * factor))]
            cmd += [str(steps), str(args.batch)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{mode} at {factor}x edges failed:\n{out.stderr[-2000:]}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["edge_factor"] = factor
            rows.append(row)
            print(
                f"{mode:>13} edges={row['edges']:>9,} peak RSS {row['peak_rss_mb']:>8.1f} MB "
                f"(+{row['added_mb']:>7.1f} MB for pre-training)  "
                f"{row['s_per_1k_pairs'] * 1000:.2f} ms / 1k pairs",
                flush=True,
            )
    by = {(r["mode"], r["edge_factor"]): r for r in rows}
    print(
        "\n| edges | ours peak RSS MB | materialised peak RSS MB | memory_ratio | ours ms/1k pairs "
        "| materialised ms/1k pairs | speedup_ratio |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|")
    summary = {}
    for factor in factors:
        o, m = by[("ours", factor)], by[("materialised", factor)]
        mem = o["peak_rss_mb"] / m["peak_rss_mb"]
        speed = m["s_per_1k_pairs"] / o["s_per_1k_pairs"]
        print(
            f"| {o['edges']:,} | {o['peak_rss_mb']:.0f} | {m['peak_rss_mb']:.0f} | {mem:.3f} | "
            f"{o['s_per_1k_pairs'] * 1000:.2f} | {m['s_per_1k_pairs'] * 1000:.2f} | {speed:.2f} |"
        )
        summary[f"edges_{factor}x_memory_ratio"] = round(mem, 4)
        summary[f"edges_{factor}x_speedup_ratio"] = round(speed, 3)
    lo, hi = by[("ours", factors[0])], by[("ours", factors[-1])]
    summary["ours_added_mb_growth_ratio"] = round(hi["added_mb"] / max(lo["added_mb"], 1e-9), 3)
    print(
        f"\nours: pre-training adds {lo['added_mb']:.0f} MB at {lo['edges']:,} edges and "
        f"{hi['added_mb']:.0f} MB at {hi['edges']:,} edges"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, **summary}, f, indent=2)


if __name__ == "__main__":
    main()
