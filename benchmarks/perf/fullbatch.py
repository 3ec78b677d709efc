"""Full-batch training epoch: PyG over ``edge_index`` vs. graphlib's cached sparse adjacency.

Times one epoch (forward + backward + Adam step, cross-entropy on all nodes) of a 3-layer GCN and
a 3-layer GraphSAGE (and with ``--models``, a 3-layer GAT; hidden 256, dropout 0.5) on a uniform
random graph of ogbn-arxiv's size (169,343 nodes, 1,166,243 undirected edges stored in both
directions, 128 features, 40 classes).

Variants, each measured in its own subprocess so that peak RSS is per variant:

* ``pyg-gcn``       -- ``torch_geometric.nn.models.GCN`` fed ``edge_index`` (normalises and
  scatters over the edges on every call);
* ``graphlib-gcn``  -- ``build_model("gcn", ...)`` fed ``GraphIndex(...).adj_t("gcn")``;
* ``pyg-sage``      -- ``torch_geometric.nn.models.GraphSAGE`` (mean aggregation) fed
  ``edge_index``;
* ``graphlib-sage`` -- ``build_model("sage", ...)`` fed ``adj_t("mean")``;
* ``pyg-gat``       -- ``torch_geometric.nn.models.GAT`` (``--heads`` heads of hidden / heads)
  fed ``edge_index`` (only with ``--models ...,gat``);
* ``graphlib-gat``  -- ``build_model("gat", ...)`` (:class:`CSRGATConv` layers) fed the same
  ``edge_index``; each layer builds its attention pattern in the warm-up epoch.

Building the index and adjacency (and its cached transpose) is reported once as ``setup_s``, not
inside the epoch time. Before timing, the parent checks on a small graph that ours and the
baseline give the same logits and gradients from the same initialisation.

Usage::

    python benchmarks/perf/fullbatch.py [--quick] [--epochs 3] [--threads T] [--json PATH]
        [--features F] [--hidden H] [--models gcn,sage,gat] [--heads 4] [--nodes N --edges E]

``--features 6805 --hidden 64 --quick`` is close to Coauthor-CS (18,333 nodes, 6,805 features),
where the SAGE layers' projection before aggregation matters most. ``--nodes 11758 --edges
519000 --features 10`` is tolokers' size (edges counted once, stored in both directions).
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

from graphlib_pyg.data.graph import GraphIndex
from graphlib_pyg.data.synthetic import random_graph
from graphlib_pyg.nn.models import build_model

KINDS = ("gcn", "sage", "gat")
VARIANTS = tuple(f"{lib}-{kind}" for kind in KINDS for lib in ("pyg", "graphlib"))
FULL = {"num_nodes": 169_343, "num_edges": 1_166_243}  # ogbn-arxiv
QUICK = {"num_nodes": 20_000, "num_edges": 140_000}
MODEL = {
    "num_features": 128,
    "num_classes": 40,
    "hidden": 256,
    "num_layers": 3,
    "dropout": 0.5,
    "heads": 4,
}
CHECK_NODES, CHECK_EDGES, CHECK_TOL = 2_000, 14_000, 1e-4


def make_model(variant: str) -> torch.nn.Module:
    """The model of ``variant``; with the same seed, ours and the baseline get the same weights."""
    f, h, c = MODEL["num_features"], MODEL["hidden"], MODEL["num_classes"]
    layers, p = MODEL["num_layers"], MODEL["dropout"]
    if variant == "pyg-gcn":
        return pyg_models.GCN(f, h, layers, c, dropout=p)
    if variant == "pyg-sage":
        return pyg_models.GraphSAGE(f, h, layers, c, dropout=p)
    if variant == "pyg-gat":
        return pyg_models.GAT(f, h, layers, c, dropout=p, heads=MODEL["heads"])
    if variant == "graphlib-gat":  # build_model's hidden is per head
        return build_model("gat", f, h // MODEL["heads"], c, layers, p, heads=MODEL["heads"])
    return build_model(variant.split("-")[1], f, h, c, layers, p)


def graph_input(variant: str, edge_index: torch.Tensor, num_nodes: int):
    """(second argument of ``model(x, .)``, setup seconds). Ours builds and caches its adjacency."""
    if variant.startswith("pyg-") or variant.endswith("gat"):
        return edge_index, 0.0
    t0 = time.perf_counter()
    adj = GraphIndex(edge_index, num_nodes).adj_t("gcn" if variant.endswith("gcn") else "mean")
    adj.transposed()  # built lazily on the first backward otherwise; count it as setup
    return adj, time.perf_counter() - t0


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def train_epoch(model, opt, x, graph, y) -> float:
    t0 = time.perf_counter()
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x, graph), y)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def worker(variant: str, size: dict, epochs: int, seed: int) -> dict:
    """Time ``variant`` in this process; returns one row."""
    data = random_graph(
        size["num_nodes"], size["num_edges"], MODEL["num_features"], MODEL["num_classes"], seed
    )
    graph, setup_s = graph_input(variant, data.edge_index, data.num_nodes)
    torch.manual_seed(seed)
    model = make_model(variant)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    rss_before = current_rss_mb()
    warmup_s = train_epoch(model, opt, data.x, graph, data.y)
    times = [train_epoch(model, opt, data.x, graph, data.y) for _ in range(epochs)]
    peak = peak_rss_mb()
    return {
        "variant": variant,
        "epoch_s": statistics.median(times),
        "setup_s": setup_s,
        "peak_rss_mb": peak,
        "rss_increase_mb": peak - rss_before,
        "rss_before_mb": rss_before,
        "warmup_s": warmup_s,
        "epoch_times_s": times,
        "threads": torch.get_num_threads(),
    }


def check_equal(kinds, seed: int = 0) -> list[str]:
    """Ours vs. baseline on a small graph: same init -> same eval logits and gradients."""
    data = random_graph(CHECK_NODES, CHECK_EDGES, MODEL["num_features"], MODEL["num_classes"], seed)
    lines = []
    for kind in kinds:
        outs, grads = [], []
        for variant in (f"pyg-{kind}", f"graphlib-{kind}"):
            torch.manual_seed(seed)
            model = make_model(variant).eval()
            graph, _ = graph_input(variant, data.edge_index, data.num_nodes)
            out = model(data.x, graph)
            F.cross_entropy(out, data.y).backward()
            outs.append(out.detach())
            grads.append([p.grad for p in model.parameters()])
        logit_diff = float((outs[0] - outs[1]).abs().max())
        grad_diff = max(float((a - b).abs().max()) for a, b in zip(*grads, strict=True))
        ok = logit_diff < CHECK_TOL and grad_diff < CHECK_TOL
        lines.append(
            f"check {kind}: {CHECK_NODES} nodes, max |logit diff| {logit_diff:.2e}, "
            f"max |grad diff| {grad_diff:.2e} (< {CHECK_TOL:g}) {'OK' if ok else 'FAIL'}"
        )
        print(lines[-1], flush=True)
        assert ok, lines[-1]
    return lines


def run_variant(variant: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant]
    cmd += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--features", str(MODEL["num_features"]), "--hidden", str(MODEL["hidden"])]
    cmd += ["--heads", str(MODEL["heads"])]
    if args.nodes is not None:
        cmd += ["--nodes", str(args.nodes), "--edges", str(args.edges)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {variant} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 nodes / 140,000 edges")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs (3; quick: 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write rows and ratios to this file")
    parser.add_argument("--features", type=int, default=MODEL["num_features"])
    parser.add_argument("--hidden", type=int, default=MODEL["hidden"])
    parser.add_argument("--models", default="gcn,sage", help="comma-separated: gcn, sage, gat")
    parser.add_argument("--heads", type=int, default=MODEL["heads"], help="GAT heads")
    parser.add_argument("--nodes", type=int, default=None, help="graph size instead of a preset")
    parser.add_argument("--edges", type=int, default=None, help="undirected edges (with --nodes)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [k for k in args.models.split(",") if k]
    if any(k not in KINDS for k in kinds) or not kinds:
        parser.error(f"--models: choose from {', '.join(KINDS)}, got {args.models!r}")
    if "gat" in kinds and args.hidden % args.heads:
        parser.error(f"--hidden {args.hidden} must be divisible by --heads {args.heads}")
    MODEL.update(num_features=args.features, hidden=args.hidden, heads=args.heads)
    if args.epochs is None:
        args.epochs = 2 if args.quick else 3
    if args.threads:
        torch.set_num_threads(args.threads)
    size = QUICK if args.quick else FULL
    if (args.nodes is None) != (args.edges is None):
        parser.error("--nodes and --edges go together")
    if args.nodes is not None:
        size = {"num_nodes": args.nodes, "num_edges": args.edges}

    if args.worker:
        print(json.dumps(worker(args.worker, size, args.epochs, args.seed)), flush=True)
        return

    checks = check_equal(kinds, args.seed)
    rows = {}
    for kind in kinds:
        for variant in (f"pyg-{kind}", f"graphlib-{kind}"):
            rows[variant] = run_variant(variant, args)
    config = {
        **size,
        "directed_edges": 2 * size["num_edges"],
        **MODEL,
        "epochs": args.epochs,
        "warmup_epochs": 1,
        "threads": next(iter(rows.values()))["threads"],
        "quick": args.quick,
        "seed": args.seed,
        "torch": torch.__version__,
        "torch_geometric": __import__("torch_geometric").__version__,
    }
    ratios = {}
    for kind in kinds:
        base, ours = rows[f"pyg-{kind}"], rows[f"graphlib-{kind}"]
        ratios[f"{kind}_speedup_ratio"] = base["epoch_s"] / ours["epoch_s"]
        ratios[f"{kind}_memory_ratio"] = ours["peak_rss_mb"] / base["peak_rss_mb"]

    print(
        f"\nfull-batch epoch, {size['num_nodes']:,} nodes, {2 * size['num_edges']:,} directed "
        f"edges, {MODEL['num_layers']} layers x {MODEL['hidden']}, threads {config['threads']}, "
        f"median of {args.epochs} epochs"
    )
    cols = ("variant", "epoch_s", "setup_s", "peak_rss_mb", "rss_increase_mb")
    print(f"{cols[0]:<15}" + "".join(f"{c:>17}" for c in cols[1:]))
    for r in rows.values():
        print(
            f"{r['variant']:<15}{r['epoch_s']:>17.3f}{r['setup_s']:>17.3f}"
            f"{r['peak_rss_mb']:>17.0f}{r['rss_increase_mb']:>17.0f}"
        )
    print()
    for kind in kinds:
        print(
            f"{kind}: speedup {ratios[f'{kind}_speedup_ratio']:.2f}x (pyg / graphlib epoch), "
            f"memory {ratios[f'{kind}_memory_ratio']:.2f} (graphlib / pyg peak RSS)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"rows": list(rows.values()), **ratios, "config": config, "checks": checks},
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
