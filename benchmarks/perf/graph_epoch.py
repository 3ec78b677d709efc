"""One Peptides-func training epoch: a plain PyG loop against the harness, float32 and bf16.

The baseline is what a PyG user writes: PyG's shuffled ``DataLoader`` over the training graphs,
``model(batch.x, batch.edge_index, batch.batch)`` (bond features too for models that read
them), Adam and binary cross-entropy, in float32. It trains the same module the harness
builds (the registry model inside :class:`~graphlib_pyg.nn.heads.GraphLevel`, the same
options). The harness is :class:`~graphlib_pyg.train.graph.GraphTrainer` itself, one epoch per
call; its epoch time is the ``step_time_s`` of its result (evaluation not included), with
``precision=fp32`` and ``precision=bf16``.

Each (model, size) trains on the same ``--graphs`` training graphs (a seeded sample of the
10,873), the three variants alternating in ``--rounds`` rounds after one untimed round; the
median seconds are scaled to a full epoch. Sizes: ``lrgb`` (the LRGB paper's configuration,
``--preset lrgb``), ``small`` (4 layers x 128) and ``tiny`` (width 16, the preset's depth).
``rel diff`` is the largest difference, relative to the largest output, between the plain loop's
outputs
(``edge_index``; GCN layers normalising it, as PyG's ``GCNConv`` does by default) and the
harness's (the normalised CSR adjacency for models that take one) from the same weights on one
batch, in float32. Models: those whose layers take ``edge_index`` or, like GCN, a normalised
adjacency PyG's layer can compute itself (gcn, gine, gatedgcn, gin).

    GRAPHLIB_DATA=../shared/data python benchmarks/perf/graph_epoch.py [--models gcn,gine]
        [--sizes lrgb,small,tiny] [--graphs 1024] [--rounds 2] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv

from graphlib_pyg.bench.defaults import resolve_config
from graphlib_pyg.data.graph import adjacency
from graphlib_pyg.data.graph_tasks import GraphSplit, GraphTask
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.nn.heads import GraphLevel
from graphlib_pyg.nn.registry import MODELS, build_model, reads_edge_attr
from graphlib_pyg.train.graph import GraphTrainer
from graphlib_pyg.train.options import RunOptions

SIZES = {"lrgb": {}, "small": {"hidden": 128, "num_layers": 4}, "tiny": {"hidden": 16}}


def subset_task(task: GraphTask, graphs: int, seed: int = 0) -> GraphTask:
    """``graphs`` training graphs of ``task`` (seeded sample), 64 validation and 64 test."""
    split = task.split(0)
    gen = torch.Generator().manual_seed(seed)
    train = split.train[torch.randperm(split.train.numel(), generator=gen)[:graphs]]
    ids = torch.cat([train, split.val[:64], split.test[:64]])
    small = [task.graphs[i] for i in ids]
    n = train.numel()
    parts = GraphSplit(torch.arange(n), torch.arange(n, n + 64), torch.arange(n + 64, n + 128))
    return GraphTask(task.name, small, parts, task.metric, task.categorical)


def plain_model(task: GraphTask, model: str, cfg: dict, edge_index: bool = False) -> GraphLevel:
    """The module the harness trains, built from the same options; with ``edge_index`` its
    ``GCNConv`` layers normalise again (PyG's default ``normalize=True``): the harness feeds
    them the normalised CSR adjacency, a PyG user feeds ``edge_index``."""
    o = RunOptions.parse(model, cfg)
    c = o.train
    body = build_model(model, c.hidden, c.hidden, c.hidden, c.num_layers, c.dropout,
                       c.input_dropout, **o.model)  # fmt: skip
    edges = task.num_edge_features if reads_edge_attr(MODELS[model], dict(o.model)) else None
    net = GraphLevel(body, task.num_features, c.hidden, task.num_classes, task.categorical,
                     edge_channels=edges, head_layers=c.head_layers,
                     head_dropout=c.head_dropout)  # fmt: skip
    for conv in net.modules():
        if edge_index and isinstance(conv, GCNConv):
            conv.normalize = True
    return net


def plain_epoch(task: GraphTask, model: str, cfg: dict) -> float:
    """Seconds of one epoch of the plain PyG loop (float32, ``edge_index``)."""
    torch.manual_seed(0)
    net = plain_model(task, model, cfg, edge_index=True)
    c = RunOptions.parse(model, cfg).train
    opt = torch.optim.Adam(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    graphs = [task.graphs[i] for i in task.split(0).train]
    edges = net.edge_encoder is not None
    loader = DataLoader(graphs, batch_size=c.batch_size or 128, shuffle=True)
    net.train()
    start = time.perf_counter()
    for batch in loader:
        opt.zero_grad()
        extra = {"edge_attr": batch.edge_attr} if edges else {}
        out = net(batch.x, batch.edge_index, batch.batch, **extra)
        F.binary_cross_entropy_with_logits(out, batch.y.float()).backward()
        opt.step()
    return time.perf_counter() - start


def harness_epoch(task: GraphTask, model: str, cfg: dict, precision: str) -> float:
    """Seconds of one training epoch of the harness's graph trainer."""
    cfg = {**cfg, "epochs": 1, "precision": precision, "checkpoint_every": 0}
    return GraphTrainer(task, model, cfg).run(0).step_time_s


def max_diff(task: GraphTask, model: str, cfg: dict) -> float:
    """max |plain - harness| / max |plain| over the outputs of one batch of 128 graphs, same
    weights, float32."""
    torch.manual_seed(0)
    plain = plain_model(task, model, cfg, edge_index=True).eval()
    ours = plain_model(task, model, cfg).eval()
    ours.load_state_dict(plain.state_dict())
    batch = next(iter(DataLoader(task.graphs, batch_size=128)))
    adj = MODELS[model].adj
    g = batch.edge_index
    if adj not in (None, "edge_index"):
        g = adjacency(batch.edge_index, batch.num_nodes, adj)
    extra = {"edge_attr": batch.edge_attr} if plain.edge_encoder is not None else {}
    with torch.no_grad():
        a = plain(batch.x, batch.edge_index, batch.batch, **extra)
        b = ours(batch.x, g, batch.batch, **extra)
    return float((a - b).abs().max() / a.abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="gcn,gine")
    p.add_argument("--sizes", default="lrgb,small,tiny")
    p.add_argument("--graphs", type=int, default=1024, help="training graphs per timed epoch")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="256 graphs, 1 round, small + tiny")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.quick:
        a.graphs, a.rounds, a.sizes = 256, 1, "small,tiny"

    full = load_task("peptides-func")
    scale = full.split(0).train.numel() / a.graphs  # seconds of the subset -> a full epoch
    task = subset_task(full, a.graphs)
    variants = {
        "pyg fp32": lambda m, c: plain_epoch(task, m, c),
        "ours fp32": lambda m, c: harness_epoch(task, m, c, "fp32"),
        "ours bf16": lambda m, c: harness_epoch(task, m, c, "bf16"),
    }
    rows = []
    for model in a.models.split(","):
        for size in a.sizes.split(","):
            cfg = resolve_config(model, "peptides-func", SIZES[size])
            times: dict[str, list[float]] = {k: [] for k in variants}
            for fn in variants.values():  # untimed: one-off costs (PyG's generated propagate
                fn(model, cfg)  # code, thread pools, cached task properties) are not an epoch's
            for _ in range(a.rounds):
                for name, fn in variants.items():
                    times[name].append(scale * fn(model, cfg))
            sec = {k: statistics.median(v) for k, v in times.items()}
            params = sum(p.numel() for p in plain_model(task, model, cfg).parameters())
            rows.append({
                "model": model, "size": size, "hidden": cfg.get("hidden"),
                "layers": cfg.get("num_layers"), "params": params, "epoch_s": sec,
                "rounds_epoch_s": times, "rel_diff_fp32": max_diff(task, model, cfg),
                "speedup_fp32": sec["pyg fp32"] / sec["ours fp32"],
                "speedup_bf16": sec["pyg fp32"] / sec["ours bf16"],
            })  # fmt: skip

    print(f"peptides-func epoch ({full.split(0).train.numel()} training graphs, batch 128; "
          f"timed on {a.graphs} graphs x {a.rounds} rounds, scaled)")  # fmt: skip
    head = f"{'model':<9}{'size':<7}{'params':>9}{'pyg fp32 s':>12}{'ours fp32 s':>13}"
    print(head + f"{'ours bf16 s':>13}{'fp32 x':>8}{'bf16 x':>8}{'rel diff':>10}")
    for r in rows:
        s = r["epoch_s"]
        print(f"{r['model']:<9}{r['size']:<7}{r['params']:>9,}{s['pyg fp32']:>12.1f}"
              f"{s['ours fp32']:>13.1f}{s['ours bf16']:>13.1f}{r['speedup_fp32']:>8.2f}"
              f"{r['speedup_bf16']:>8.2f}{r['rel_diff_fp32']:>10.1e}")  # fmt: skip
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"config": vars(a), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
