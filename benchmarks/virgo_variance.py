"""Per-layer variance at initialisation: Xavier vs Virgo in an 8-layer GCN (forward and backward).

For a PyG ``GCN`` (hidden 64, no dropout, eval mode) on a dataset's full graph, initialised with
Xavier or Virgo (``virgo_``'s modes ``mean`` (default), ``forward``, ``backward``), it records for
every layer ``l``:

* forward: the variance of the layer's output ``H_l`` (before the ReLU),
* backward: the variance of the gradient ``dL/dH_l`` of the training loss (cross-entropy, mean
  over the training nodes),

averaged over seeds, and prints one table per direction, plus Virgo's predicted forward moment
(``LayerVariance.output_moment``). With ``--json`` it writes the rows and headline ratios:
``*_last_to_first_ratio`` (layer 8 / layer 1; 1 = no drift) per init and direction.

    GRAPHLIB_DATA=../shared/data python benchmarks/virgo_variance.py \
        --json benchmarks/results/virgo/variance.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from graphlib_pyg.data import load_task
from graphlib_pyg.nn.init import virgo_, virgo_variances, xavier_
from graphlib_pyg.nn.models import MODELS, build_model, graph_input

INITS = {
    "xavier": lambda m, x, adj: xavier_(m, x, adj),
    "virgo": lambda m, x, adj: virgo_(m, x, adj, mode="mean"),
    "virgo-fwd": lambda m, x, adj: virgo_(m, x, adj, mode="forward"),
    "virgo-bwd": lambda m, x, adj: virgo_(m, x, adj, mode="backward"),
}


def layer_stats(model, x, adj, y, train) -> tuple[list[float], list[float]]:
    """Variance of each conv output and of the loss gradient with respect to it."""
    outs: list[torch.Tensor] = []

    def keep(module, inputs, out):
        out.retain_grad()
        outs.append(out)

    hooks = [conv.register_forward_hook(keep) for conv in model.convs]
    model.eval()
    model.zero_grad()
    loss = F.cross_entropy(model(x, adj)[train], y[train])
    loss.backward()
    for h in hooks:
        h.remove()
    return [float(o.detach().var()) for o in outs], [float(o.grad.var()) for o in outs]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--json", default=None)
    p.add_argument("--quick", action="store_true", help="4 layers, 2 seeds")
    args = p.parse_args()
    layers, seeds = (4, 2) if args.quick else (args.layers, args.seeds)

    task = load_task(args.dataset)
    data, split = task.data, task.split(0)
    adj = graph_input(MODELS["gcn"], task.index(data), data.edge_index)
    fwd: dict[str, list[list[float]]] = {k: [] for k in INITS}
    bwd: dict[str, list[list[float]]] = {k: [] for k in INITS}
    predicted: list[float] = []
    for seed in range(seeds):
        for name, init in INITS.items():
            torch.manual_seed(seed)
            model = build_model(
                "gcn", data.x.size(1), args.hidden, task.num_classes, layers, dropout=0.0
            )
            init(model, data.x, adj)
            f, b = layer_stats(model, data.x, adj, data.y, split.train)
            fwd[name].append(f)
            bwd[name].append(b)
    predicted = [v.output_moment for v in virgo_variances(model, data.x, adj)]

    def mean(runs: list[list[float]]) -> list[float]:
        return [statistics.mean(col) for col in zip(*runs, strict=True)]

    fwd_m = {k: mean(v) for k, v in fwd.items()}
    bwd_m = {k: mean(v) for k, v in bwd.items()}
    print(
        f"{args.dataset}: {layers}-layer GCN, hidden {args.hidden}, eval mode, mean of {seeds} "
        f"seeds; input feature variance {float(data.x.var()):.3e}"
    )
    for title, table, extra in (
        ("forward: Var(H_l), layer outputs", fwd_m, predicted),
        ("backward: Var(dL/dH_l), loss gradients", bwd_m, None),
    ):
        print(f"\n{title}")
        head = "| layer | " + " | ".join(INITS) + (" | virgo predicted |" if extra else " |")
        print(head)
        print("|---:|" + "---:|" * (len(INITS) + (1 if extra else 0)))
        for layer in range(layers):
            cells = [f"{table[k][layer]:.3e}" for k in INITS]
            if extra:
                cells.append(f"{extra[layer]:.3e}")
            print(f"| {layer + 1} | " + " | ".join(cells) + " |")
        ratios = " ".join(f"{k} {table[k][-1] / table[k][0]:.3g}" for k in INITS)
        print(f"layer {layers} / layer 1: {ratios}")

    if args.json:
        rows = [
            {
                "init": k,
                "layer": layer + 1,
                "output_var": fwd_m[k][layer],
                "grad_var": bwd_m[k][layer],
            }
            for k in INITS
            for layer in range(layers)
        ]
        out = {
            "dataset": args.dataset,
            "layers": layers,
            "hidden": args.hidden,
            "seeds": seeds,
            "input_var": float(data.x.var()),
            "virgo_predicted_output_moment": predicted,
            "rows": rows,
        }
        for k in INITS:
            key = k.replace("-", "_")
            out[f"{key}_forward_last_to_first_ratio"] = fwd_m[k][-1] / fwd_m[k][0]
            out[f"{key}_backward_last_to_first_ratio"] = bwd_m[k][-1] / bwd_m[k][0]
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
