"""Graph-level training on Peptides-func: random batches vs batches of similar graph size.

Graph-Mamba (and GMN's node mixer, GPS's dense attention) pad every graph of a batch to the
batch's largest graph. This script trains one model on the same training graphs with both
batch orders of the harness (``batch_order=random``, PyG's shuffled ``DataLoader``, and
``batch_order=size``, :class:`~graphlib_pyg.data.loaders.SizeBucketSampler`), alternating
``--batches`` training steps of each order in ``--rounds`` rounds inside one process, and prints
the median milliseconds per 1,000 real nodes (an epoch's time is that times the training set's
nodes, whichever batches a short run happens to draw), the padded node slots per real node and
the ratio.

    GRAPHLIB_DATA=../shared/data python benchmarks/perf/graph_batching.py [--model graph_mamba]
        [--batches 4] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch_geometric.loader import DataLoader

from graphlib_pyg.data.loaders import SizeBucketSampler
from graphlib_pyg.data.tasks import load_task
from graphlib_pyg.nn.models import GraphLevel, build_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="graph_mamba")
    p.add_argument("--local-conv", default="gin")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=4, help="training steps per order per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()

    torch.manual_seed(0)
    task = load_task("peptides-func")
    graphs = [task.graphs[i] for i in task.split(0).train]
    sizes = torch.tensor([g.num_nodes for g in graphs])
    body = build_model(a.model, a.hidden, a.hidden, a.hidden, 2, 0.1, local_conv=a.local_conv)
    model = GraphLevel(body, task.num_features, a.hidden, task.num_classes, task.categorical)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loaders = {
        "random": DataLoader(
            graphs,
            batch_size=a.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        ),
        "size": DataLoader(
            graphs,
            batch_sampler=SizeBucketSampler(
                sizes, a.batch_size, generator=torch.Generator().manual_seed(0)
            ),
        ),
    }
    streams = {k: itertools.cycle(v) for k, v in loaders.items()}
    per_node: dict[str, list[float]] = {k: [] for k in loaders}
    padding: dict[str, list[float]] = {k: [] for k in loaders}
    model.train()
    for _ in range(a.rounds):
        for order, stream in streams.items():
            nodes, start = 0, time.perf_counter()
            for _ in range(a.batches):
                batch = next(stream)
                counts = torch.bincount(batch.batch)
                padding[order].append(float(counts.max() * counts.numel() / counts.sum()))
                opt.zero_grad()
                out = model(batch.x, batch.edge_index, batch.batch)
                F.binary_cross_entropy_with_logits(out, batch.y.float()).backward()
                opt.step()
                nodes += batch.num_nodes
            per_node[order].append(1e6 * (time.perf_counter() - start) / nodes)

    rows = {
        k: {
            "ms_per_1k_nodes": statistics.median(per_node[k]),
            "padding": statistics.mean(padding[k]),
            "rounds_ms_per_1k_nodes": per_node[k],
        }
        for k in loaders
    }
    ratio = rows["random"]["ms_per_1k_nodes"] / rows["size"]["ms_per_1k_nodes"]
    print(
        f"{a.model} on peptides-func, batch {a.batch_size}, {a.batches} steps x {a.rounds} rounds"
    )
    print(f"{'batch order':<12} {'ms / 1k nodes':>14} {'padded / real nodes':>20}")
    for k, r in rows.items():
        print(f"{k:<12} {r['ms_per_1k_nodes']:>14.1f} {r['padding']:>20.2f}")
    print(f"speedup of size-bucketed batches: {ratio:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"config": vars(a), "rows": rows, "speedup": ratio}, f, indent=2)


if __name__ == "__main__":
    main()
