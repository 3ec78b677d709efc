"""Inference cost of a distilled MLP vs its GNN teacher, side by side in one run.

A deployed GNN must fetch each query node's neighbourhood before it can predict; an MLP student
(GLNN, VQGraph) reads the node's own features only. For batches of ``--batch`` random query
nodes of a uniform random graph (``graphlib_pyg.data.synthetic.random_graph``; default
ogbn-products' size: 2,449,029 nodes, 61,859,140 directed edges, 100 features, 47 classes):

* ``teacher`` -- a 2-layer GraphSAGE (the registry's ``sage``, mean aggregation) on the exact
  2-hop neighbourhood of the batch, gathered from the cached CSR graph
  (:func:`graphlib_pyg.data.loaders.exact_batch`) and its features: the gather is timed;
* ``student`` -- PyG's ``MLP`` (2 layers, the same width) on the batch's features.

Both run on the same batches, alternating, ``--batches`` of them; the table gives the median
seconds per batch, nodes read per batch, and the memory each needs per batch (the features and
adjacency it reads plus its hidden activations), plus the state both share (features, CSR) and
the process's peak RSS. ``speedup_ratio`` = teacher / student time (> 1: the student is faster),
``memory_ratio`` = student / teacher per-batch memory.

Usage::

    python benchmarks/perf/distill_inference.py [--quick] [--nodes N] [--edges E] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch
from torch_geometric.nn import MLP

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.loaders import exact_batch
from graphlib_pyg.data.synthetic import random_graph
from graphlib_pyg.nn.registry import build_model

PRODUCTS = {"nodes": 2_449_029, "edges": 61_859_140 // 2}  # undirected pairs, both directions
QUICK = {"nodes": 50_000, "edges": 600_000}
MB = 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a 50k-node graph")
    p.add_argument("--nodes", type=int, help="number of nodes (default: ogbn-products')")
    p.add_argument("--edges", type=int, help="undirected pairs (stored in both directions)")
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--classes", type=int, default=47)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=4096, help="query nodes per batch")
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the rows and ratios here")
    a = p.parse_args()
    size = QUICK if a.quick else PRODUCTS
    nodes, edges = a.nodes or size["nodes"], a.edges or size["edges"]
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    data = random_graph(nodes, edges, a.features, a.classes, seed=0)
    index = GraphIndex(data.edge_index, nodes)
    index.adj_t("mean")  # the cached CSR the teacher reads (built once, not timed)
    x, directed = data.x, data.edge_index.size(1)
    del data  # only the features and the CSR graph stay, as in a serving process
    setup_s = time.perf_counter() - t0
    adj = index.adj_t("mean")
    state_mb = (x.numel() * 4 + adj.values().numel() * 12 + adj.crow_indices().numel() * 8) / MB

    torch.manual_seed(0)
    teacher = build_model("sage", a.features, a.hidden, a.classes, 2, 0.0).eval()
    student = MLP(in_channels=a.features, hidden_channels=a.hidden, out_channels=a.classes,
                  num_layers=2, norm=None).eval()  # fmt: skip
    table = torch.full((nodes,), -1, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    times = {"teacher": [], "student": []}
    read = {"teacher": [], "student": []}
    work = {"teacher": [], "student": []}
    with torch.inference_mode():
        for _ in range(a.batches + 1):  # the first batch warms up and is not counted
            seeds = torch.randperm(nodes, generator=g)[: a.batch]
            t = time.perf_counter()
            n_id, sub = exact_batch(index, seeds, 2, "mean", table)
            h = x[n_id]
            out_t = teacher(h, sub)[: a.batch]
            dt_teacher = time.perf_counter() - t
            t = time.perf_counter()
            out_s = student(x[seeds])
            dt_student = time.perf_counter() - t
            assert out_t.shape == out_s.shape == (a.batch, a.classes)
            times["teacher"].append(dt_teacher)
            times["student"].append(dt_student)
            read["teacher"].append(n_id.numel())
            read["student"].append(seeds.numel())
            nnz = sub._nnz() if sub.layout != torch.strided else 0
            work["teacher"].append((h.numel() + n_id.numel() * a.hidden) * 4 + nnz * 12)
            work["student"].append((a.batch * a.features + a.batch * a.hidden) * 4)
    rows = []
    for name in ("teacher", "student"):
        rows.append({
            "method": name,
            "model": "sage (2-hop gathered)" if name == "teacher" else "mlp (features only)",
            "s_per_batch": statistics.median(times[name][1:]),
            "nodes_read": statistics.median(read[name][1:]),
            "batch_mb": statistics.median(work[name][1:]) / MB,
        })  # fmt: skip
    speedup = rows[0]["s_per_batch"] / rows[1]["s_per_batch"]
    memory = rows[1]["batch_mb"] / rows[0]["batch_mb"]
    print(f"graph: {nodes:,} nodes, {directed:,} directed edges, {a.features} features; "
          f"shared state (features + CSR) {state_mb:,.0f} MB; built in {setup_s:.1f} s; "
          f"batch {a.batch} query nodes, {a.batches} batches, {a.threads} thread(s)")  # fmt: skip
    print("| method | model | s / batch | nodes read / batch | MB / batch |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['model']} | {r['s_per_batch']:.4f} | "
              f"{r['nodes_read']:,.0f} | {r['batch_mb']:.1f} |")  # fmt: skip
    peak = peak_rss_mb()
    print(f"speedup_ratio (teacher / student time) = {speedup:.1f}; memory_ratio (student / "
          f"teacher per-batch MB) = {memory:.4f}; peak RSS {peak:,.0f} MB")  # fmt: skip
    if a.json:
        out = {"nodes": nodes, "directed_edges": directed, "features": a.features,
               "batch": a.batch, "threads": a.threads, "state_mb": state_mb,
               "peak_rss_mb": peak, "rows": rows, "speedup_ratio": speedup,
               "memory_ratio": memory}  # fmt: skip
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
