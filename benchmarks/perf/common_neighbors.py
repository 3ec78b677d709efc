"""Common-neighbour pooling throughput: NeighborSets fast paths vs. the previous path and baselines.

For P node pairs ``(i, j)``, find the common neighbours ``N(i) & N(j)`` and sum a (N, F) state
matrix over them (what an NCN predictor does per batch; F = 256 by default). Graphs:

* ``ddi``   -- ogbl-ddi's message-passing graph (4,267 nodes, ~2.1M directed edges, average
  degree ~500), pairs = its validation positives + negatives (235,371);
* ``arxiv`` -- a uniform random graph of ogbn-arxiv's size (169,343 nodes, 1,166,243 edges,
  symmetrised), pairs = half random edges, half random node pairs.

Methods, timed side by side (interleaved, ``--repeats`` rounds, median):

* ``ours``          -- ``NeighborSets.overlap`` (``method="auto"``) + ``pool`` (``embedding_bag``);
* ``ours:<path>``   -- the same with one membership path forced (``bitmap``/``segment``/``search``);
* ``before``        -- the previous implementation, kept in the library as ``method="reference"``
  (global ``searchsorted`` over all edge keys) + ``pool(method="sparse")`` (CSR product);
* ``dense``         -- dense 0/1 rows ``A[i] * A[j]`` (float, built from the CSR lists in chunks
  of ``--dense-chunk`` pairs) times the states;
* ``sets``          -- Python ``set`` intersection per pair, then a NumPy sum of the states
  (built once, not timed);
* ``torch_sparse``  -- ``(adj[i] * adj[j]) @ h`` with ``torch_sparse.SparseTensor`` (as the NCN
  reference code does), only when ``torch_sparse`` imports.

Slow baselines run on a subsample (``--dense-pairs``, ``--sets-pairs``); every method's pooled
sums are compared with ``ours`` on the pairs it ran (max abs diff), and ``ours`` must return
exactly the same common-neighbour lists as ``before``.

Usage::

    GRAPHLIB_DATA=/path/to/data python benchmarks/perf/common_neighbors.py [--quick]
        [--graphs ddi,arxiv] [--pairs P] [--features F] [--repeats R] [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from graphlib_pyg.data.synthetic import random_graph
from graphlib_pyg.nn.link.neighbors import NeighborSets, pool

ARXIV = {"num_nodes": 169_343, "num_edges": 1_166_243}
QUICK_ARXIV = {"num_nodes": 20_000, "num_edges": 140_000}
PATHS = ("bitmap", "segment", "search")
DENSE_BYTES = 1 << 26  # one (chunk, N) float block of the dense baseline
DENSE_ENTRIES = 200_000_000  # default dense-baseline subsample: pairs * N about this


def load_ddi() -> tuple[torch.Tensor, int, torch.Tensor]:
    """ogbl-ddi's message-passing graph and its validation positives + negatives."""
    from graphlib_pyg.data import load_task

    split = load_task("ogbl-ddi").split(0)
    pairs = torch.cat([split.val_pos, split.val_neg], 1)
    return split.graph.edge_index, split.graph.num_nodes, pairs


def load_arxiv(size: dict, num_pairs: int, seed: int) -> tuple[torch.Tensor, int, torch.Tensor]:
    """A random graph of ``size``; pairs: half random edges, half random node pairs."""
    data = random_graph(size["num_nodes"], size["num_edges"], 1, 2, seed)
    g = torch.Generator().manual_seed(seed + 1)
    ei, n = data.edge_index, data.num_nodes
    edges = ei[:, torch.randint(0, ei.size(1), (num_pairs // 2,), generator=g)]
    rand = torch.randint(0, n, (2, num_pairs - num_pairs // 2), generator=g)
    return ei, n, torch.cat([edges, rand], 1)


# ---------------------------------------------------------------------------- methods
def run_library(sets: NeighborSets, pairs, h, method: str, pool_method: str) -> dict:
    t0 = time.perf_counter()
    (cn,) = sets.overlap(pairs, method=method)
    t1 = time.perf_counter()
    out = pool(*cn, pairs.size(1), h, method=pool_method)
    t2 = time.perf_counter()
    return {"out": out, "cn": cn, "seconds": t2 - t0, "cn_s": t1 - t0, "pool_s": t2 - t1}


def dense_rows(sets: NeighborSets, nodes: torch.Tensor) -> torch.Tensor:
    """(B, N) float 0/1 rows of the adjacency, from the CSR lists."""
    deg = sets.degree[nodes]
    row = torch.repeat_interleave(torch.arange(nodes.numel()), deg)
    start = torch.repeat_interleave(sets.indptr[nodes] - (deg.cumsum(0) - deg), deg)
    col = sets.cols[start + torch.arange(row.numel())]
    out = torch.zeros(nodes.numel(), sets.num_nodes)
    out[row, col] = 1.0
    return out


def run_dense(sets: NeighborSets, pairs, h, chunk: int) -> dict:
    t0 = time.perf_counter()
    outs = []
    for part in pairs.split(chunk, dim=1):
        outs.append((dense_rows(sets, part[0]) * dense_rows(sets, part[1])) @ h)  # (B, F)
    out = torch.cat(outs) if outs else h.new_zeros(0, h.size(1))
    return {"out": out, "seconds": time.perf_counter() - t0}


def python_sets(sets: NeighborSets) -> list[set]:
    cols = sets.cols.tolist()
    ptr = sets.indptr.tolist()
    return [set(cols[ptr[v] : ptr[v + 1]]) for v in range(sets.num_nodes)]


def run_sets(adj: list[set], pairs, h_np: np.ndarray) -> dict:
    t0 = time.perf_counter()
    out = np.zeros((pairs.size(1), h_np.shape[1]), dtype=h_np.dtype)
    for p, (i, j) in enumerate(pairs.t().tolist()):
        common = adj[i] & adj[j]
        if common:
            out[p] = h_np[sorted(common)].sum(0)
    return {"out": torch.from_numpy(out), "seconds": time.perf_counter() - t0}


def run_torch_sparse(adj, pairs, h) -> dict:
    t0 = time.perf_counter()
    cn = adj[pairs[0]] * adj[pairs[1]]  # (P, N) sparse-sparse elementwise product
    out = cn @ h
    return {"out": out, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- driver
def bench_graph(name: str, edge_index, n: int, pairs, args) -> list[dict]:
    t0 = time.perf_counter()
    sets = NeighborSets.from_edge_index(edge_index, n)
    build_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(args.seed)
    h = torch.randn(n, args.features, generator=g)
    perm = torch.randperm(pairs.size(1), generator=g)
    dense_pairs = args.dense_pairs
    if dense_pairs is None:  # about 2e8 row entries: ddi 4,000 pairs, arxiv 1,181
        dense_pairs = min(4_000, DENSE_ENTRIES // n)
    sub = {
        "dense": pairs[:, perm[:dense_pairs]],
        "sets": pairs[:, perm[: args.sets_pairs]],
        "torch_sparse": pairs[:, perm[:dense_pairs]],
    }
    print(
        f"\n{name}: {n:,} nodes, {sets.num_entries:,} directed edges, {pairs.size(1):,} pairs, "
        f"F={args.features}, threads {torch.get_num_threads()} (NeighborSets built in "
        f"{build_s:.2f} s)",
        flush=True,
    )
    methods = {
        "ours": lambda: run_library(sets, pairs, h, "auto", "embedding_bag"),
        "before": lambda: run_library(sets, pairs, h, "reference", "sparse"),
    }
    if not args.no_paths:
        for path in PATHS:
            methods[f"ours:{path}"] = lambda p=path: run_library(sets, pairs, h, p, "embedding_bag")
    if sub["dense"].size(1) > 0:
        chunk = args.dense_chunk or max(1, DENSE_BYTES // (4 * n))
        methods["dense"] = lambda: run_dense(sets, sub["dense"], h, chunk)
    if sub["sets"].size(1) > 0:
        adj_sets, h_np = python_sets(sets), h.numpy()
        methods["sets"] = lambda: run_sets(adj_sets, sub["sets"], h_np)
    try:
        from torch_sparse import SparseTensor
    except ImportError:
        print("torch_sparse: not installed, skipped")
    else:
        adj = SparseTensor(row=sets.keys // n, col=sets.cols, sparse_sizes=(n, n))
        methods["torch_sparse"] = lambda: run_torch_sparse(adj, sub["torch_sparse"], h)

    warm = pairs[:, : min(pairs.size(1), 2_000)]  # first calls pay one-off costs: not timed
    for method in ("auto", "reference", *PATHS):
        run_library(sets, warm, h, method, "sparse" if method == "reference" else "embedding_bag")
    run_dense(sets, warm[:, :100], h, 100)

    runs: dict[str, list[dict]] = {k: [] for k in methods}
    ours = None
    order = list(methods)
    for r in range(args.repeats):  # interleaved rounds, rotated: drift hits every method alike
        for key in order[r % len(order) :] + order[: r % len(order)]:
            res = methods[key]()
            if ours is None:  # the first "ours" run is the reference for every comparison
                ours = {"out": res["out"], "cn": res["cn"]}
            ref = ours["out"] if key not in sub else ours["out"][perm[: sub[key].size(1)]]
            out = res.pop("out")
            res["max_abs_diff"] = float((out - ref).abs().max()) if out.numel() else 0.0
            res["max_abs_value"] = float(ref.abs().max()) if ref.numel() else 0.0
            cn = res.pop("cn", None)
            if cn is not None:
                res["same_cn"] = all(torch.equal(a, b) for a, b in zip(cn, ours["cn"], strict=True))
            runs[key].append(res)
            del out, cn

    rows = []
    for key, rs in runs.items():
        npairs = sub[key].size(1) if key in sub else pairs.size(1)
        secs = statistics.median(r["seconds"] for r in rs)
        row = {"graph": name, "method": key, "pairs": npairs, "seconds": secs}
        row["pairs_per_s"] = npairs / secs if secs > 0 else float("inf")
        for part in ("cn_s", "pool_s"):
            if part in rs[0]:
                row[part] = statistics.median(r[part] for r in rs)
        row["max_abs_diff"] = max(r["max_abs_diff"] for r in rs)
        row["max_abs_value"] = rs[0]["max_abs_value"]
        if "same_cn" in rs[0]:
            row["same_cn"] = all(r["same_cn"] for r in rs)
        row["seconds_all"] = [r["seconds"] for r in rs]
        rows.append(row)
    base = rows[0]["pairs_per_s"]  # "ours"
    for row in rows:
        row["ours_speedup"] = base / row["pairs_per_s"]
    return rows


def print_table(rows: list[dict]) -> None:
    head = ("graph", "method", "pairs", "seconds", "cn_s", "pool_s", "pairs/s", "ours x")
    print(f"{head[0]:<7}{head[1]:<16}" + "".join(f"{c:>11}" for c in head[2:]) + "  max|diff|")
    for r in rows:
        cn_s = f"{r['cn_s']:.3f}" if "cn_s" in r else "-"
        pool_s = f"{r['pool_s']:.3f}" if "pool_s" in r else "-"
        same = "" if "same_cn" not in r else ("  same CN" if r["same_cn"] else "  CN DIFFER")
        print(
            f"{r['graph']:<7}{r['method']:<16}{r['pairs']:>11,}{r['seconds']:>11.3f}{cn_s:>11}"
            f"{pool_s:>11}{r['pairs_per_s']:>11,.0f}{r['ours_speedup']:>11.2f}"
            f"  {r['max_abs_diff']:.1e}{same}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--graphs", default="ddi,arxiv", help="comma list of ddi, arxiv")
    parser.add_argument("--pairs", type=int, default=None, help="pairs per graph (ddi: cap)")
    parser.add_argument("--features", type=int, default=256, help="state size F")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (3; quick 1)")
    parser.add_argument("--dense-pairs", type=int, default=None, help="dense baseline subsample")
    parser.add_argument(
        "--dense-chunk", type=int, default=None, help="pairs per dense chunk (64 MB rows)"
    )
    parser.add_argument("--sets-pairs", type=int, default=None, help="Python-set subsample")
    parser.add_argument("--no-paths", action="store_true", help="skip the forced-path rows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write rows and ratios to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    q = args.quick
    args.repeats = args.repeats or (1 if q else 3)
    args.dense_pairs = 1_000 if args.dense_pairs is None and q else args.dense_pairs
    args.sets_pairs = 500 if args.sets_pairs is None and q else args.sets_pairs or 4_000
    rows = []
    for name in args.graphs.split(","):
        if name == "ddi":
            ei, n, pairs = load_ddi()
            cap = args.pairs or (20_000 if q else None)
            if cap is not None and cap < pairs.size(1):
                keep = torch.randperm(pairs.size(1), generator=torch.Generator().manual_seed(0))
                pairs = pairs[:, keep[:cap]]
        elif name == "arxiv":
            size = QUICK_ARXIV if q else ARXIV
            ei, n, pairs = load_arxiv(size, args.pairs or (50_000 if q else 1_000_000), args.seed)
        else:
            raise SystemExit(f"unknown graph {name!r}; valid: ddi, arxiv")
        graph_rows = bench_graph(name, ei, n, pairs, args)
        print_table(graph_rows)
        rows += graph_rows

    ratios = {}
    for r in rows:
        if r["method"] != "ours":
            key = r["method"].replace(":", "_")
            ratios[f"{r['graph']}_vs_{key}_speedup_ratio"] = r["ours_speedup"]
    for g in {r["graph"] for r in rows}:
        ratios[f"{g}_speedup_ratio"] = ratios.get(f"{g}_vs_before_speedup_ratio")
    print("\nall tables")
    print_table(rows)
    print()
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    if args.json:
        config = {
            "features": args.features,
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "quick": q,
            "seed": args.seed,
            "torch": torch.__version__,
        }
        with open(args.json, "w") as f:
            json.dump({"rows": rows, **ratios, "config": config}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
