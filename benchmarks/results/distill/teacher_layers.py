"""Diagnostic for issue 24: which difference from GLNN's reference makes our SAGE teacher weaker
on the Amazon graphs. Trains a 2-layer teacher (hidden 128, lr 0.01, weight decay 5e-4, no
dropout, 200 epochs, patience 50, the epoch of best validation accuracy kept, ties to the later
epoch as the reference) on the CPF split of ``DATASET`` for each variant ``LAYER-GRAPH-FANOUT``:

- LAYER ``root``: PyG's SAGEConv (mean over the neighbours, plus a separate root weight: the
  registry's ``sage``); ``dgl``: DGL's SAGEConv with the ``gcn`` aggregator, as the reference's
  ``SAGE`` (one weight on ``(sum of neighbours + self) / (degree + 1)``, Xavier-initialised);
- GRAPH ``nl``: the graph without self-loops (ours); ``sl``: with them (the reference's CPF loader
  builds its DGL graph from ``A + I``);
- FANOUT: neighbours sampled per node and layer in training (the reference: 5), 0 for all.
  Evaluation always uses every neighbour.

Usage: python benchmarks/results/distill/teacher_layers.py DATASET VARIANT[,VARIANT] SEED[,SEED]
e.g. ``amazon-photo root-nl-0,dgl-sl-0,dgl-sl-5 0,1,2``. Prints test accuracy per seed and the
mean ± std.
"""

import copy
import statistics
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlib_pyg.data.tasks import load_task


def sample_in_edges(edge_index: Tensor, k: int, n: int, gen: torch.Generator) -> Tensor:
    """Up to ``k`` in-edges per target node, drawn without replacement (all for ``k`` 0)."""
    if k <= 0:
        return edge_index
    e = edge_index[:, torch.randperm(edge_index.size(1), generator=gen)]
    e = e[:, torch.argsort(e[1], stable=True)]
    count = torch.bincount(e[1], minlength=n)
    rank = torch.arange(e.size(1)) - (torch.cumsum(count, 0) - count)[e[1]]
    return e[:, rank < k]


class Layer(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.lin = nn.Linear(fan_in, fan_out)
        if kind == "root":
            self.root = nn.Linear(fan_in, fan_out, bias=False)
        else:
            nn.init.xavier_uniform_(self.lin.weight, gain=nn.init.calculate_gain("relu"))
            nn.init.zeros_(self.lin.bias)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        n = h.size(0)
        hw = h @ self.lin.weight.t()
        total = torch.zeros_like(hw).index_add_(0, edge_index[1], hw[edge_index[0]])
        deg = torch.bincount(edge_index[1], minlength=n).unsqueeze(1).to(h.dtype)
        if self.kind == "root":
            return total / deg.clamp_min(1) + self.lin.bias + self.root(h)
        return (total + hw) / (deg + 1) + self.lin.bias


def run(task, variant: str, seed: int) -> float:
    kind, graph, fanout = variant.split("-")
    data, split = task.data, task.split(seed)
    x, y, n = data.x.float(), data.y, data.num_nodes
    edges = data.edge_index
    if graph == "sl":
        loops = torch.arange(n)
        edges = torch.cat([edges, torch.stack([loops, loops])], 1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    layers = nn.ModuleList([Layer(x.size(1), 128, kind), Layer(128, int(y.max()) + 1, kind)])
    opt = torch.optim.Adam(layers.parameters(), lr=0.01, weight_decay=5e-4)

    def forward(e1: Tensor, e2: Tensor) -> Tensor:
        return layers[1](F.relu(layers[0](x, e1)), e2)

    best, state, waited = -1.0, None, 0
    for _ in range(200):
        layers.train()
        opt.zero_grad()
        e1, e2 = (sample_in_edges(edges, int(fanout), n, gen) for _ in range(2))
        F.cross_entropy(forward(e1, e2)[split.train], y[split.train]).backward()
        opt.step()
        layers.eval()
        with torch.no_grad():
            val = float((forward(edges, edges)[split.val].argmax(1) == y[split.val]).float().mean())
        if val >= best:
            best, state, waited = val, copy.deepcopy(layers.state_dict()), 0
        else:
            waited += 1
            if waited == 50:
                break
    layers.load_state_dict(state)
    layers.eval()
    with torch.no_grad():
        out = forward(edges, edges)
    return float((out[split.test].argmax(1) == y[split.test]).float().mean())


def main() -> None:
    name, variants, seeds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    task = load_task(name, split="cpf")
    for variant in variants:
        tests = [100 * run(task, variant, int(s)) for s in seeds]
        for s, t in zip(seeds, tests, strict=True):
            print(f"{name} {variant} seed {s}: test {t:.2f}", flush=True)
        std = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"== {name} {variant}: {statistics.mean(tests):.2f} ± {std:.2f}", flush=True)


if __name__ == "__main__":
    main()
